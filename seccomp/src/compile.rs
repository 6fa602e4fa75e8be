//! From an OCI `linux.seccomp` profile to a classic-BPF program.
//!
//! The meaning follows runc (which drives libseccomp), so a profile behaves here
//! as it does under runc:
//! - The filter covers the native architecture plus every listed one (libseccomp
//!   always keeps the native one). A call from any other architecture gets
//!   `SECCOMP_RET_KILL_THREAD` (libseccomp's default bad-architecture action).
//! - Each entry of `syscalls` adds one rule per name. A name that an architecture
//!   does not have is skipped on that architecture; a name no architecture has is
//!   skipped everywhere (runc logs it at debug level and goes on).
//! - A rule whose action (and errno) equals the default action is dropped, as runc
//!   drops it before libseccomp sees it.
//! - The conditions of one rule are ANDed. If two conditions of a rule name the same
//!   argument, runc adds each condition as a rule of its own (ORed), and so do we.
//! - Several rules on one syscall: a rule without conditions wins over every rule
//!   with conditions, and the first such rule wins over later ones (libseccomp drops
//!   the rest). Among rules with conditions, any rule that matches applies; if rules
//!   with different actions match the same call, the most restrictive action wins
//!   (the kernel's order between filters: KILL_PROCESS, KILL_THREAD, TRAP, ERRNO,
//!   USER_NOTIF, TRACE, LOG, ALLOW), then the first listed. libseccomp's answer for
//!   such overlaps depends on its internal tree and it refuses some of them, so
//!   real profiles keep rules with different actions disjoint.
//! - Conditions compare 64-bit arguments on x86_64 and aarch64; on x86, x32 and arm
//!   only the low 32 bits of the argument and of the value count (libseccomp's
//!   ARCH_SIZE_32). `SCMP_CMP_MASKED_EQ` compares `arg & value == valueTwo & value`;
//!   with a mask of zero it always matches.
//! - On x86 the socket and SysV IPC syscalls also match through `socketcall(2)` and
//!   `ipc(2)` with the call number in the first argument (replacing a condition on
//!   the first argument), as libseccomp does.
//! - runc's ENOSYS stub: unless the default action is ALLOW, LOG or TRACE, a syscall
//!   number above the highest one the profile names for a listed architecture gets
//!   `ENOSYS`, so a new syscall (clone3, ...) makes libc fall back instead of failing
//!   with the default errno. On x86_64 the x32 numbers are judged separately.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use libc::sock_filter;
use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator};

use crate::action::{self, RET_ENOSYS, RET_KILL_THREAD, RET_USER_NOTIF};
use crate::arch::ScmpArch;
use crate::bpf::{self, Builder, Label, Target};
use crate::error::SeccompError;
use crate::syscalls::{self, X32_SYSCALL_BIT, X86_IPC, X86_SOCKETCALL};

/// `BPF_MAXINSNS`: the longest program the kernel loads.
pub const MAX_INSTRUCTIONS: usize = 4096;

/// `SECCOMP_FILTER_FLAG_TSYNC`.
pub const FLAG_TSYNC: u32 = 1;
/// `SECCOMP_FILTER_FLAG_LOG`.
pub const FLAG_LOG: u32 = 2;
/// `SECCOMP_FILTER_FLAG_SPEC_ALLOW`.
pub const FLAG_SPEC_ALLOW: u32 = 4;
/// `SECCOMP_FILTER_FLAG_NEW_LISTENER`.
pub const FLAG_NEW_LISTENER: u32 = 8;
/// `SECCOMP_FILTER_FLAG_TSYNC_ESRCH`.
pub const FLAG_TSYNC_ESRCH: u32 = 16;
/// `SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV`.
pub const FLAG_WAIT_KILLABLE_RECV: u32 = 32;

/// What a bad architecture gets (libseccomp's default `SCMP_ACT_KILL`).
pub const RET_BAD_ARCH: u32 = RET_KILL_THREAD;

/// The syscalls[] name that runc refuses to notify on (the runtime writes after loading).
const NOTIFY_FORBIDDEN: &str = "write";

/// One comparison of a rule, as written in the profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Cond {
    arg: u8,
    op: LinuxSeccompOperator,
    value: u64,
    value_two: u64,
}

/// A rule before it is placed on an architecture.
#[derive(Clone, Debug)]
struct Rule {
    action: u32,
    names: Vec<String>,
    conds: Vec<Cond>,
}

/// A comparison normalised for one architecture's argument width.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Cmp {
    arg: u8,
    op: LinuxSeccompOperator,
    /// Masked datum for MASKED_EQ, the value otherwise (truncated on 32-bit ABIs).
    datum: u64,
    /// The mask for MASKED_EQ, all ones otherwise.
    mask: u64,
    wide: bool,
}

/// The rules one syscall number has on one ABI, resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Verdict {
    /// A rule without conditions decides.
    Always(u32),
    /// Rules with conditions, most restrictive first; the default when none matches.
    Check(Vec<(u32, Vec<Cmp>)>),
}

/// What one syscall number leads to inside an architecture section.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Handler {
    Ret(u32),
    Check(ScmpArch, u32),
}

/// Everything the code generator needs, computed from the profile.
struct Plan {
    default: u32,
    /// ABIs in the filter, native first.
    arches: Vec<ScmpArch>,
    /// ABIs the profile lists (runc builds its ENOSYS stub only for these).
    listed: BTreeSet<ScmpArch>,
    /// Per ABI, per syscall number (x32 with its bit): the resolved rules.
    verdicts: HashMap<ScmpArch, BTreeMap<u32, Verdict>>,
    /// Per listed ABI, the highest syscall number the profile names (runc's stub).
    stub_max: HashMap<ScmpArch, u32>,
    stub: bool,
}

/// A compiled, ready-to-load filter.
#[derive(Clone)]
pub struct SeccompProgram {
    filter: Vec<sock_filter>,
    flags: u32,
    listener: bool,
}

impl std::fmt::Debug for SeccompProgram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeccompProgram")
            .field("instructions", &self.filter.len())
            .field("flags", &self.flags)
            .field("listener", &self.listener)
            .finish()
    }
}

impl SeccompProgram {
    /// Compile `profile` for the architecture this program runs on.
    pub fn compile(profile: &LinuxSeccomp) -> Result<SeccompProgram, SeccompError> {
        let native = ScmpArch::native().ok_or(SeccompError::UnsupportedHost {
            host: std::env::consts::ARCH,
        })?;
        Self::compile_for(profile, native)
    }

    /// Compile `profile` as if `native` were the host's architecture (for tests and tools).
    pub fn compile_for(profile: &LinuxSeccomp, native: ScmpArch) -> Result<SeccompProgram, SeccompError> {
        let (plan, flags, listener) = plan(profile, native)?;
        let filter = generate(&plan);
        if filter.len() > MAX_INSTRUCTIONS {
            return Err(SeccompError::ProgramTooLarge {
                len: filter.len(),
                max: MAX_INSTRUCTIONS,
            });
        }
        Ok(SeccompProgram {
            filter,
            flags,
            listener,
        })
    }

    /// The BPF instructions, first to last.
    pub fn instructions(&self) -> &[sock_filter] {
        &self.filter
    }

    /// The `SECCOMP_FILTER_FLAG_*` bits `load` passes to seccomp(2).
    pub fn flags(&self) -> u32 {
        self.flags
    }

    /// Whether some rule is SCMP_ACT_NOTIFY, so loading returns a listener fd.
    pub fn needs_listener(&self) -> bool {
        self.listener
    }
}

fn plan(profile: &LinuxSeccomp, native: ScmpArch) -> Result<(Plan, u32, bool), SeccompError> {
    if profile.default_action() == LinuxSeccompAction::ScmpActNotify {
        return Err(SeccompError::NotifyMisuse {
            field: "defaultAction".into(),
            reason: "cannot be the default action (the runtime itself must still write after loading)",
        });
    }
    let default = action::action_value(profile.default_action(), profile.default_errno_ret(), "defaultErrnoRet")?;

    let mut arches = vec![native];
    let mut listed = BTreeSet::new();
    for a in profile.architectures().iter().flatten() {
        let a = ScmpArch::from_oci(*a, native)?;
        listed.insert(a);
        if !arches.contains(&a) {
            arches.push(a);
        }
    }

    let mut rules = Vec::new();
    let mut listener = false;
    for (i, sc) in profile.syscalls().iter().flatten().enumerate() {
        if sc.names().is_empty() {
            return Err(SeccompError::EmptyNames { index: i });
        }
        if sc.names().iter().any(String::is_empty) {
            return Err(SeccompError::EmptyName { index: i });
        }
        let act = action::action_value(sc.action(), sc.errno_ret(), &format!("syscalls[{i}].errnoRet"))?;
        if act == RET_USER_NOTIF {
            listener = true;
            if sc.names().iter().any(|n| n == NOTIFY_FORBIDDEN) {
                return Err(SeccompError::NotifyMisuse {
                    field: format!("syscalls[{i}].action"),
                    reason: "cannot be used for write (the runtime writes the listener fd after loading)",
                });
            }
        }
        let mut conds = Vec::new();
        for (j, a) in sc.args().iter().flatten().enumerate() {
            let arg = u8::try_from(a.index())
                .ok()
                .filter(|x| *x < 6)
                .ok_or(SeccompError::ArgumentIndex {
                    index: i,
                    arg: j,
                    value: a.index(),
                })?;
            conds.push(Cond {
                arg,
                op: a.op(),
                value: a.value(),
                value_two: a.value_two().unwrap_or(0),
            });
        }
        rules.push(Rule {
            action: act,
            names: sc.names().clone(),
            conds,
        });
    }
    if listener && profile.listener_path().is_none() {
        return Err(SeccompError::NotifyMisuse {
            field: "listenerPath".into(),
            reason: "is used but listenerPath is not set, nobody would answer",
        });
    }

    let mut flags = 0;
    for f in profile.flags().iter().flatten() {
        flags |= match f {
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => FLAG_TSYNC,
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => FLAG_LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => FLAG_SPEC_ALLOW,
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => {
                if !listener {
                    return Err(SeccompError::Flag {
                        flag: f.to_string(),
                        reason: "needs a SCMP_ACT_NOTIFY rule",
                    });
                }
                FLAG_WAIT_KILLABLE_RECV
            }
        };
    }
    if listener {
        flags |= FLAG_NEW_LISTENER;
        if flags & FLAG_TSYNC != 0 {
            // The kernel refuses TSYNC with NEW_LISTENER unless TSYNC failures report ESRCH.
            flags |= FLAG_TSYNC_ESRCH;
        }
    }

    // runc's stub: the highest number any listed name resolves to, per listed ABI.
    // On x86 the socket/IPC names resolve to libseccomp pseudo numbers and do not count.
    let mut stub_max = HashMap::new();
    for a in &listed {
        let max = rules
            .iter()
            .flat_map(|r| r.names.iter())
            .filter(|n| !(*a == ScmpArch::X86 && is_x86_multiplexed(n)))
            .filter_map(|n| syscalls::syscall_number(*a, n))
            .max()
            .unwrap_or(0);
        if max != 0 {
            stub_max.insert(*a, max);
        }
    }

    let mut verdicts = HashMap::new();
    for a in &arches {
        verdicts.insert(*a, place(&rules, default, *a));
    }
    let plan = Plan {
        default,
        arches,
        listed,
        verdicts,
        stub_max,
        stub: !action::is_permissive(default),
    };
    Ok((plan, flags, listener))
}

fn is_x86_multiplexed(name: &str) -> bool {
    syscalls::x86_socketcall(name).is_some() || syscalls::x86_ipc(name).is_some()
}

/// Place every rule on `arch`: which syscall numbers get which verdict.
fn place(rules: &[Rule], default: u32, arch: ScmpArch) -> BTreeMap<u32, Verdict> {
    let mut per_nr: BTreeMap<u32, Vec<(u32, Vec<Cond>)>> = BTreeMap::new();
    for r in rules {
        if r.action == default {
            continue;
        }
        // runc: two conditions on one argument make one rule per condition.
        let mut seen = [false; 6];
        let repeated = r.conds.iter().any(|c| {
            let slot = &mut seen[usize::from(c.arg)];
            std::mem::replace(slot, true)
        });
        let variants: Vec<Vec<Cond>> = if repeated {
            r.conds.iter().map(|c| vec![*c]).collect()
        } else {
            vec![r.conds.clone()]
        };
        for name in &r.names {
            let mux = if arch == ScmpArch::X86 {
                syscalls::x86_socketcall(name)
                    .map(|c| (X86_SOCKETCALL, c))
                    .or_else(|| syscalls::x86_ipc(name).map(|c| (X86_IPC, c)))
            } else {
                None
            };
            for conds in &variants {
                if let Some((nr, call)) = mux {
                    let mut c: Vec<Cond> = conds.iter().filter(|c| c.arg != 0).copied().collect();
                    c.push(Cond {
                        arg: 0,
                        op: LinuxSeccompOperator::ScmpCmpEq,
                        value: u64::from(call),
                        value_two: 0,
                    });
                    per_nr.entry(nr).or_default().push((r.action, c));
                }
                if let Some(nr) = syscalls::syscall_number(arch, name) {
                    per_nr.entry(nr).or_default().push((r.action, conds.clone()));
                }
            }
        }
    }
    per_nr
        .into_iter()
        .map(|(nr, rs)| (nr, resolve(rs, arch.args_are_64bit())))
        .collect()
}

fn normalise(c: &Cond, wide: bool) -> Option<Cmp> {
    let width_mask = if wide { u64::MAX } else { u64::from(u32::MAX) };
    let (mask, datum) = if c.op == LinuxSeccompOperator::ScmpCmpMaskedEq {
        let m = c.value & width_mask;
        if m == 0 {
            // libseccomp drops a comparison that masks every bit away: it always matches.
            return None;
        }
        (m, c.value_two & m)
    } else {
        (width_mask, c.value & width_mask)
    };
    Some(Cmp {
        arg: c.arg,
        op: c.op,
        datum,
        mask,
        wide,
    })
}

fn resolve(rules: Vec<(u32, Vec<Cond>)>, wide: bool) -> Verdict {
    let mut checks: Vec<(u32, Vec<Cmp>)> = Vec::new();
    for (act, conds) in rules {
        let mut cmps: Vec<Cmp> = conds.iter().filter_map(|c| normalise(c, wide)).collect();
        if cmps.is_empty() {
            return Verdict::Always(act);
        }
        cmps.sort_by_key(|c| c.arg);
        if !checks.contains(&(act, cmps.clone())) {
            checks.push((act, cmps));
        }
    }
    checks.sort_by_key(|(act, _)| action::precedence(*act));
    Verdict::Check(checks)
}

/// Which audit-arch sections the program has, in order, with their ABIs.
fn sections(plan: &Plan) -> Vec<(u32, Vec<ScmpArch>)> {
    let mut out: Vec<(u32, Vec<ScmpArch>)> = Vec::new();
    for a in &plan.arches {
        match out.iter_mut().find(|(audit, _)| *audit == a.audit_arch()) {
            Some((_, v)) => v.push(*a),
            None => out.push((a.audit_arch(), vec![*a])),
        }
    }
    out
}

impl Plan {
    fn stub_for(&self, a: ScmpArch) -> Option<u32> {
        if self.stub && self.listed.contains(&a) {
            self.stub_max.get(&a).copied()
        } else {
            None
        }
    }

    fn lookup(&self, a: ScmpArch, nr: u32) -> Handler {
        match self.verdicts.get(&a).and_then(|m| m.get(&nr)) {
            None => Handler::Ret(self.default),
            Some(Verdict::Always(v)) => Handler::Ret(*v),
            Some(Verdict::Check(_)) => Handler::Check(a, nr),
        }
    }

    /// What syscall `nr` gets in the section of `abis` (one audit arch).
    fn eval(&self, abis: &[ScmpArch], nr: u32) -> Handler {
        let x32_bit = nr & X32_SYSCALL_BIT != 0;
        let has = |a| abis.contains(&a);
        if has(ScmpArch::X86_64) || has(ScmpArch::X32) {
            // runc's stub on x86-64 (jset on the x32 bit), then libseccomp's filter.
            let (s64, s32) = (self.stub_for(ScmpArch::X86_64), self.stub_for(ScmpArch::X32));
            let over = |m: Option<u32>| m.is_some_and(|m| nr > m);
            if (x32_bit && s32.is_some() && over(s32)) || (!x32_bit && s64.is_some() && over(s64)) {
                return Handler::Ret(RET_ENOSYS);
            }
            return match (has(ScmpArch::X86_64), has(ScmpArch::X32)) {
                (true, true) => {
                    if nr >= X32_SYSCALL_BIT {
                        self.lookup(ScmpArch::X32, nr)
                    } else {
                        self.lookup(ScmpArch::X86_64, nr)
                    }
                }
                (true, false) => {
                    if nr == u32::MAX {
                        Handler::Ret(self.default)
                    } else if nr >= X32_SYSCALL_BIT {
                        Handler::Ret(RET_BAD_ARCH)
                    } else {
                        self.lookup(ScmpArch::X86_64, nr)
                    }
                }
                _ => {
                    if nr >= X32_SYSCALL_BIT {
                        self.lookup(ScmpArch::X32, nr)
                    } else {
                        Handler::Ret(RET_BAD_ARCH)
                    }
                }
            };
        }
        let Some(a) = abis.first().copied() else {
            return Handler::Ret(RET_BAD_ARCH);
        };
        if self.stub_for(a).is_some_and(|m| nr > m) {
            return Handler::Ret(RET_ENOSYS);
        }
        self.lookup(a, nr)
    }

    /// The section's syscall numbers cut into runs with one handler each.
    fn intervals(&self, abis: &[ScmpArch]) -> Vec<(u32, Handler)> {
        let mut cuts: BTreeSet<u32> = [0, X32_SYSCALL_BIT, 0x8000_0000, 0xc000_0000, u32::MAX]
            .into_iter()
            .collect();
        for a in abis {
            if let Some(m) = self.verdicts.get(a) {
                for nr in m.keys() {
                    cuts.insert(*nr);
                    cuts.extend(nr.checked_add(1));
                }
            }
            if let Some(m) = self.stub_for(*a) {
                cuts.extend(m.checked_add(1));
            }
        }
        let mut out: Vec<(u32, Handler)> = Vec::new();
        for c in cuts {
            let h = self.eval(abis, c);
            if out
                .last()
                .is_some_and(|(_, last)| *last == h && matches!(h, Handler::Ret(_)))
            {
                continue;
            }
            out.push((c, h));
        }
        out
    }
}

fn generate(plan: &Plan) -> Vec<sock_filter> {
    let mut b = Builder::default();
    let secs = sections(plan);
    let mut entries = Vec::new();
    for (audit, abis) in secs.iter().rev() {
        let ivs = plan.intervals(abis);
        let tree = gen_tree(&mut b, plan, &ivs);
        let tree = match tree {
            Target::At(l) => l,
            Target::Ret(k) => b.ret(k),
        };
        let start = if needs_nr(&ivs) {
            b.emit(bpf::LD_W_ABS, bpf::OFF_NR)
        } else {
            tree
        };
        entries.push((*audit, start));
    }
    let mut next = Target::Ret(RET_BAD_ARCH);
    for (audit, start) in &entries {
        next = Target::At(b.jump(bpf::JMP_JEQ_K, *audit, Target::At(*start), next));
    }
    b.emit(bpf::LD_W_ABS, bpf::OFF_ARCH);
    b.finish()
}

fn needs_nr(ivs: &[(u32, Handler)]) -> bool {
    ivs.len() > 1
}

/// A binary search over the runs: `jge` on the first number of the upper half.
fn gen_tree(b: &mut Builder, plan: &Plan, ivs: &[(u32, Handler)]) -> Target {
    match ivs {
        [] => Target::Ret(plan.default),
        [(_, h)] => gen_handler(b, plan, h),
        _ => {
            let mid = ivs.len() / 2;
            let (lo, hi) = ivs.split_at(mid);
            let pivot = hi.first().map_or(0, |(s, _)| *s);
            let t = gen_tree(b, plan, hi);
            let f = gen_tree(b, plan, lo);
            Target::At(b.jump(bpf::JMP_JGE_K, pivot, t, f))
        }
    }
}

fn gen_handler(b: &mut Builder, plan: &Plan, h: &Handler) -> Target {
    match h {
        Handler::Ret(k) => Target::Ret(*k),
        Handler::Check(a, nr) => match plan.verdicts.get(a).and_then(|m| m.get(nr)) {
            Some(Verdict::Check(rules)) => gen_rules(b, rules, plan.default),
            Some(Verdict::Always(k)) => Target::Ret(*k),
            None => Target::Ret(plan.default),
        },
    }
}

/// Rules in order; each failing comparison moves on to the next rule, the last to the default.
fn gen_rules(b: &mut Builder, rules: &[(u32, Vec<Cmp>)], default: u32) -> Target {
    let mut fail = Target::Ret(default);
    for (act, cmps) in rules.iter().rev() {
        let mut pass = Target::Ret(*act);
        for c in cmps.iter().rev() {
            pass = Target::At(gen_cmp(b, c, pass, fail));
        }
        fail = pass;
    }
    fail
}

/// One comparison; returns the label of its first instruction.
fn gen_cmp(b: &mut Builder, c: &Cmp, pass: Target, fail: Target) -> Label {
    use LinuxSeccompOperator as Op;
    use bpf::{JMP_JEQ_K as JEQ, JMP_JGE_K as JGE, JMP_JGT_K as JGT};
    let lo_off = bpf::off_arg_lo(c.arg);
    let hi_off = bpf::off_arg_hi(c.arg);
    let (dlo, dhi) = (c.datum as u32, (c.datum >> 32) as u32);
    let (mlo, mhi) = (c.mask as u32, (c.mask >> 32) as u32);

    // The low word: a final comparison with pass/fail targets.
    let lo = |b: &mut Builder| -> Label {
        match c.op {
            Op::ScmpCmpEq => b.jump(JEQ, dlo, pass, fail),
            Op::ScmpCmpNe => b.jump(JEQ, dlo, fail, pass),
            Op::ScmpCmpGt => b.jump(JGT, dlo, pass, fail),
            Op::ScmpCmpGe => b.jump(JGE, dlo, pass, fail),
            Op::ScmpCmpLt => b.jump(JGE, dlo, fail, pass),
            Op::ScmpCmpLe => b.jump(JGT, dlo, fail, pass),
            Op::ScmpCmpMaskedEq => {
                let j = b.jump(JEQ, dlo, pass, fail);
                if mlo != u32::MAX {
                    b.emit(bpf::ALU_AND_K, mlo);
                }
                j
            }
        };
        b.emit(bpf::LD_W_ABS, lo_off)
    };

    if !c.wide {
        return lo(b);
    }
    match c.op {
        Op::ScmpCmpMaskedEq => {
            let next = if mlo == 0 { pass } else { Target::At(lo(b)) };
            if mhi == 0 {
                return match next {
                    Target::At(l) => l,
                    // Both halves masked away cannot happen: normalise drops it.
                    Target::Ret(k) => b.ret(k),
                };
            }
            b.jump(JEQ, dhi, next, fail);
            if mhi != u32::MAX {
                b.emit(bpf::ALU_AND_K, mhi);
            }
            b.emit(bpf::LD_W_ABS, hi_off)
        }
        Op::ScmpCmpEq => {
            let l = lo(b);
            b.jump(JEQ, dhi, Target::At(l), fail);
            b.emit(bpf::LD_W_ABS, hi_off)
        }
        Op::ScmpCmpNe => {
            let l = lo(b);
            b.jump(JEQ, dhi, Target::At(l), pass);
            b.emit(bpf::LD_W_ABS, hi_off)
        }
        Op::ScmpCmpGt | Op::ScmpCmpGe => {
            // hi > D: pass; hi == D: decide on lo; hi < D: fail.
            let l = lo(b);
            let eq = b.jump(JEQ, dhi, Target::At(l), fail);
            b.jump(JGT, dhi, pass, Target::At(eq));
            b.emit(bpf::LD_W_ABS, hi_off)
        }
        Op::ScmpCmpLt | Op::ScmpCmpLe => {
            // hi > D: fail; hi == D: decide on lo; hi < D: pass.
            let l = lo(b);
            let eq = b.jump(JEQ, dhi, Target::At(l), pass);
            b.jump(JGT, dhi, fail, Target::At(eq));
            b.emit(bpf::LD_W_ABS, hi_off)
        }
    }
}
