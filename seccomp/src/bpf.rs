//! Classic BPF: instruction encoding, a back-to-front assembler with long-jump
//! handling, and an interpreter with the kernel's seccomp semantics (for tests,
//! benchmarks and instruction counts).

use std::collections::HashMap;

use libc::sock_filter;

/// `BPF_LD | BPF_W | BPF_ABS`: A = 32-bit word at offset k of `seccomp_data`.
pub const LD_W_ABS: u16 = 0x20;
/// `BPF_ALU | BPF_AND | BPF_K`: A &= k.
pub const ALU_AND_K: u16 = 0x54;
/// `BPF_JMP | BPF_JA`: pc += k.
pub const JMP_JA: u16 = 0x05;
/// `BPF_JMP | BPF_JEQ | BPF_K`.
pub const JMP_JEQ_K: u16 = 0x15;
/// `BPF_JMP | BPF_JGT | BPF_K`.
pub const JMP_JGT_K: u16 = 0x25;
/// `BPF_JMP | BPF_JGE | BPF_K`.
pub const JMP_JGE_K: u16 = 0x35;
/// `BPF_JMP | BPF_JSET | BPF_K`.
pub const JMP_JSET_K: u16 = 0x45;
/// `BPF_RET | BPF_K`: return k.
pub const RET_K: u16 = 0x06;

/// Offset of `nr` in `struct seccomp_data`.
pub const OFF_NR: u32 = 0;
/// Offset of `arch` in `struct seccomp_data`.
pub const OFF_ARCH: u32 = 4;

/// Offset of the low 32 bits of argument `i` (little endian).
pub fn off_arg_lo(i: u8) -> u32 {
    16 + 8 * u32::from(i)
}

/// Offset of the high 32 bits of argument `i` (little endian).
pub fn off_arg_hi(i: u8) -> u32 {
    off_arg_lo(i) + 4
}

/// Build one instruction.
pub const fn insn(code: u16, jt: u8, jf: u8, k: u32) -> sock_filter {
    sock_filter { code, jt, jf, k }
}

/// A place in the program under construction, counted from its end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Label(usize);

/// Where a conditional jump goes.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Target {
    /// An instruction already emitted.
    At(Label),
    /// A `ret k`: reuses a nearby copy or emits a new one.
    Ret(u32),
}

/// Assembles a program from its last instruction to its first, so every jump
/// target is known when the jump is written. Conditional jumps reach 255
/// instructions; farther targets get a `ja` trampoline, or a fresh copy of the
/// `ret` they aim at, placed right after the jump.
#[derive(Default)]
pub(crate) struct Builder {
    /// Instructions in reverse order: `rev[0]` is the program's last instruction.
    rev: Vec<sock_filter>,
    /// The most recently emitted `ret k` for each k.
    rets: HashMap<u32, Label>,
}

impl Builder {
    /// The label the next emitted instruction will get.
    fn next(&self) -> usize {
        self.rev.len()
    }

    /// Emit one non-jump instruction before everything emitted so far.
    pub(crate) fn emit(&mut self, code: u16, k: u32) -> Label {
        self.rev.push(insn(code, 0, 0, k));
        Label(self.rev.len() - 1)
    }

    /// Emit `ret k`; later jumps to `Target::Ret(k)` reuse it while it is in reach.
    pub(crate) fn ret(&mut self, k: u32) -> Label {
        let l = self.emit(RET_K, k);
        self.rets.insert(k, l);
        l
    }

    /// Distance a jump placed at the next position would encode to reach `to`.
    fn dist(&self, to: usize) -> usize {
        self.next() - to - 1
    }

    fn resolve(&mut self, t: Target) -> usize {
        match t {
            Target::At(l) => l.0,
            Target::Ret(k) => match self.rets.get(&k) {
                Some(l) if self.dist(l.0) <= 255 => l.0,
                _ => self.ret(k).0,
            },
        }
    }

    fn near(&mut self, t: Target, to: usize) -> usize {
        match t {
            Target::Ret(k) => self.ret(k).0,
            Target::At(_) => {
                let off = self.dist(to);
                // A program never exceeds BPF_MAXINSNS, checked before loading.
                let off = u32::try_from(off).unwrap_or(u32::MAX);
                self.emit(JMP_JA, off).0
            }
        }
    }

    /// Emit a conditional jump `code k` going to `jt` when true and `jf` when false.
    pub(crate) fn jump(&mut self, code: u16, k: u32, jt: Target, jf: Target) -> Label {
        let mut t = self.resolve(jt);
        let mut f = self.resolve(jf);
        loop {
            let (dt, df) = (self.dist(t), self.dist(f));
            if let (Ok(dt), Ok(df)) = (u8::try_from(dt), u8::try_from(df)) {
                self.rev.push(insn(code, dt, df, k));
                return Label(self.rev.len() - 1);
            }
            if dt > 255 {
                t = self.near(jt, t);
            } else {
                f = self.near(jf, f);
            }
        }
    }

    /// The finished program, first instruction first.
    pub(crate) fn finish(mut self) -> Vec<sock_filter> {
        self.rev.reverse();
        self.rev
    }
}

/// Why a program could not be run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum InterpretError {
    /// The program counter left the program.
    OutOfBounds {
        /// The program counter.
        pc: usize,
    },
    /// An instruction this interpreter does not implement.
    Unsupported {
        /// Its index.
        pc: usize,
        /// Its opcode.
        code: u16,
    },
    /// A load from outside `seccomp_data` or not 4-byte aligned.
    BadLoad {
        /// Its index.
        pc: usize,
        /// The offset.
        k: u32,
    },
}

/// The result of running a filter on one syscall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// The `SECCOMP_RET_*` value the filter returned.
    pub ret: u32,
    /// How many instructions ran, the `ret` included.
    pub executed: usize,
}

/// The `seccomp_data` a filter sees, in a form easy to build in tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SeccompData {
    /// Syscall number.
    pub nr: u32,
    /// `AUDIT_ARCH_*`.
    pub arch: u32,
    /// Instruction pointer.
    pub instruction_pointer: u64,
    /// The six arguments.
    pub args: [u64; 6],
}

impl SeccompData {
    fn word(&self, k: u32) -> Option<u32> {
        // Each u64 field is read as two little-endian 32-bit words, as on x86 and arm.
        let lo_hi = |v: u64, hi: bool| {
            if hi { (v >> 32) as u32 } else { v as u32 }
        };
        match k {
            0 => Some(self.nr),
            4 => Some(self.arch),
            8 => Some(lo_hi(self.instruction_pointer, false)),
            12 => Some(lo_hi(self.instruction_pointer, true)),
            16..=60 if k & 3 == 0 => {
                let i = usize::try_from((k - 16) / 8).ok()?;
                let v = *self.args.get(i)?;
                Some(lo_hi(v, (k - 16) % 8 == 4))
            }
            _ => None,
        }
    }
}

/// Run a seccomp filter the way the kernel does (the subset of classic BPF that
/// seccomp programs use: loads of `seccomp_data` words, ALU with constants,
/// jumps, `ret`). Returns what it returns and how many instructions ran.
pub fn interpret(prog: &[sock_filter], data: &SeccompData) -> Result<Outcome, InterpretError> {
    let mut a: u32 = 0;
    let mut x: u32 = 0;
    let mut pc: usize = 0;
    let mut executed = 0;
    loop {
        let ins = *prog.get(pc).ok_or(InterpretError::OutOfBounds { pc })?;
        executed += 1;
        let k = ins.k;
        let mut next = pc + 1;
        match ins.code {
            0x20 => a = data.word(k).ok_or(InterpretError::BadLoad { pc, k })?,
            0x00 => a = k, // ld imm
            0x01 => x = k, // ldx imm
            0x87 => x = a, // tax
            0x07 => a = x, // txa
            0x04 => a = a.wrapping_add(k),
            0x14 => a = a.wrapping_sub(k),
            0x24 => a = a.wrapping_mul(k),
            0x44 => a |= k,
            0x54 => a &= k,
            0x64 => a = a.checked_shl(k).unwrap_or(0),
            0x74 => a = a.checked_shr(k).unwrap_or(0),
            0x84 => a = a.wrapping_neg(),
            0xa4 => a ^= k,
            0x0c => a = a.wrapping_add(x),
            0x5c => a &= x,
            0x4c => a |= x,
            0x05 => next = pc + 1 + k as usize,
            0x15 | 0x25 | 0x35 | 0x45 | 0x1d | 0x2d | 0x3d | 0x4d => {
                let rhs = if ins.code & 0x08 != 0 { x } else { k };
                let taken = match ins.code & 0xf0 {
                    0x10 => a == rhs,
                    0x20 => a > rhs,
                    0x30 => a >= rhs,
                    _ => a & rhs != 0,
                };
                next = pc + 1 + usize::from(if taken { ins.jt } else { ins.jf });
            }
            0x06 => return Ok(Outcome { ret: k, executed }),
            0x16 => return Ok(Outcome { ret: a, executed }),
            code => return Err(InterpretError::Unsupported { pc, code }),
        }
        pc = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_jumps_get_trampolines() {
        let mut b = Builder::default();
        let far = b.ret(1);
        for _ in 0..300 {
            b.emit(LD_W_ABS, OFF_NR);
        }
        b.jump(JMP_JEQ_K, 7, Target::At(far), Target::Ret(2));
        b.emit(LD_W_ABS, OFF_NR);
        let prog = b.finish();
        let hit = interpret(
            &prog,
            &SeccompData {
                nr: 7,
                ..Default::default()
            },
        );
        let miss = interpret(
            &prog,
            &SeccompData {
                nr: 8,
                ..Default::default()
            },
        );
        assert_eq!(hit.map(|o| o.ret), Ok(1));
        assert_eq!(miss.map(|o| o.ret), Ok(2));
    }

    #[test]
    fn loads_read_little_endian_halves() {
        let d = SeccompData {
            args: [0, 0x1122_3344_5566_7788, 0, 0, 0, 0],
            ..Default::default()
        };
        assert_eq!(d.word(off_arg_lo(1)), Some(0x5566_7788));
        assert_eq!(d.word(off_arg_hi(1)), Some(0x1122_3344));
        assert_eq!(d.word(64), None);
    }
}
