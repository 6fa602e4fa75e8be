//! Device access rules: v1 devices.allow/deny, and on cgroup v2 an eBPF
//! `BPF_PROG_TYPE_CGROUP_DEVICE` program attached to the container's cgroup.
//!
//! Rules go through an emulator of the v1 kernel semantics first (as runc does), so both
//! versions enforce the same thing: the result is a default (allow or deny) plus exceptions.

use std::collections::BTreeMap;
use std::path::Path;

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use crate::error::{CgroupError, Result};
use ocirun_sys::bpf::{self, Insn};

use crate::{Cgroup, fsio};

const FIELD: &str = "linux.resources.devices";

/// bpf_cgroup_dev_ctx access bits (and our permission set): m, r, w.
const ACC_MKNOD: u8 = 1;
const ACC_READ: u8 = 2;
const ACC_WRITE: u8 = 4;
const ACC_ALL: u8 = ACC_MKNOD | ACC_READ | ACC_WRITE;

/// Which devices an exception covers; `None` is the wildcard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Meta {
    /// b'b' or b'c'.
    kind: u8,
    major: Option<u32>,
    minor: Option<u32>,
}

/// The effective device policy: a default plus exceptions with their permissions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Policy {
    pub(crate) default_allow: bool,
    pub(crate) rules: BTreeMap<Meta, u8>,
}

fn bad(value: String, reason: &'static str) -> CgroupError {
    CgroupError::InvalidValue {
        field: FIELD,
        value,
        reason,
    }
}

fn perms_of(access: Option<&str>) -> Result<u8> {
    // As crun: no access means all of "rwm".
    let Some(a) = access else {
        return Ok(ACC_ALL);
    };
    if a.is_empty() {
        return Err(bad(a.to_owned(), "access is empty"));
    }
    let mut p = 0;
    for c in a.chars() {
        p |= match c {
            'r' => ACC_READ,
            'w' => ACC_WRITE,
            'm' => ACC_MKNOD,
            _ => {
                return Err(bad(a.to_owned(), "access takes only the letters r, w and m"));
            }
        };
    }
    Ok(p)
}

fn perms_str(p: u8) -> String {
    let mut s = String::with_capacity(3);
    if p & ACC_READ != 0 {
        s.push('r');
    }
    if p & ACC_WRITE != 0 {
        s.push('w');
    }
    if p & ACC_MKNOD != 0 {
        s.push('m');
    }
    s
}

fn number(v: Option<i64>, what: &'static str) -> Result<Option<u32>> {
    match v {
        None | Some(-1) => Ok(None),
        Some(n) => u32::try_from(n)
            .ok()
            .filter(|n| *n <= i32::MAX as u32)
            .map(Some)
            .ok_or_else(|| bad(n.to_string(), what)),
    }
}

impl Policy {
    /// A fresh cgroup: everything allowed.
    fn allow_all() -> Policy {
        Policy {
            default_allow: true,
            rules: BTreeMap::new(),
        }
    }

    /// Applies spec rules in order with the v1 kernel's semantics (runc's devices emulator).
    pub(crate) fn from_rules(rules: &[LinuxDeviceCgroup]) -> Result<Policy> {
        let mut p = Policy::allow_all();
        for r in rules {
            let perms = perms_of(r.access().as_deref())?;
            let kind = match r.typ().unwrap_or_default() {
                LinuxDeviceType::A => {
                    // The kernel resets on type "a" whatever the numbers and access say.
                    p.default_allow = r.allow();
                    p.rules.clear();
                    continue;
                }
                LinuxDeviceType::B => b'b',
                LinuxDeviceType::C => b'c',
                LinuxDeviceType::U | LinuxDeviceType::P => {
                    return Err(bad(
                        r.typ().unwrap_or_default().as_str().to_owned(),
                        "a device cgroup rule's type is a, b or c",
                    ));
                }
            };
            let meta = Meta {
                kind,
                major: number(r.major(), "not a major number")?,
                minor: number(r.minor(), "not a minor number")?,
            };
            // In an allow-list an allow rule adds; in a deny-list it removes (and vice versa).
            if r.allow() != p.default_allow {
                *p.rules.entry(meta).or_insert(0) |= perms;
            } else {
                p.remove(meta, perms)?;
            }
        }
        Ok(p)
    }

    fn remove(&mut self, meta: Meta, perms: u8) -> Result<()> {
        // cgroup v1 silently ignores removing part of a wildcard exception: refuse, as runc does.
        let partial = [
            Meta { major: None, ..meta },
            Meta { minor: None, ..meta },
            Meta {
                major: None,
                minor: None,
                ..meta
            },
        ];
        for w in partial {
            if w != meta && self.rules.get(&w).is_some_and(|p| p & perms != 0) {
                return Err(bad(
                    rule_string(meta, perms),
                    "cannot punch a hole in a wildcard device rule",
                ));
            }
        }
        if let Some(p) = self.rules.get_mut(&meta) {
            *p &= !perms;
            if *p == 0 {
                self.rules.remove(&meta);
            }
        }
        Ok(())
    }

    /// Parses v1 devices.list: "a *:* rwm" is allow-all (the deny exceptions cannot be seen).
    fn from_list(text: &str) -> Option<Policy> {
        let mut p = Policy {
            default_allow: false,
            rules: BTreeMap::new(),
        };
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let mut it = line.split_whitespace();
            let (kind, nums, access) = (it.next()?, it.next()?, it.next()?);
            if kind == "a" {
                return Some(Policy::allow_all());
            }
            let (maj, min) = nums.split_once(':')?;
            let num = |s: &str| -> Option<Option<u32>> { if s == "*" { Some(None) } else { s.parse().ok().map(Some) } };
            let meta = Meta {
                kind: *kind.as_bytes().first()?,
                major: num(maj)?,
                minor: num(min)?,
            };
            *p.rules.entry(meta).or_insert(0) |= perms_of(Some(access)).ok()?;
        }
        Some(p)
    }
}

fn rule_string(m: Meta, perms: u8) -> String {
    let n = |v: Option<u32>| v.map_or_else(|| "*".to_owned(), |v| v.to_string());
    format!(
        "{} {}:{} {}",
        char::from(m.kind),
        n(m.major),
        n(m.minor),
        perms_str(perms)
    )
}

/// The v1 writes (file, rule) that move a cgroup from `from` to `to`, as runc's Transition.
pub(crate) fn transition(from: &Policy, to: &Policy) -> Vec<(&'static str, String)> {
    let file = |allow: bool| {
        if allow { "devices.allow" } else { "devices.deny" }
    };
    let mut out = Vec::new();
    let empty = BTreeMap::new();
    // devices.list cannot show a deny-list's exceptions: reset from one always.
    let old = if from.default_allow || from.default_allow != to.default_allow {
        out.push((file(to.default_allow), "a *:* rwm".to_owned()));
        &empty
    } else {
        &from.rules
    };
    for (meta, perms) in old {
        let dropped = perms & !to.rules.get(meta).copied().unwrap_or(0);
        if dropped != 0 {
            out.push((file(to.default_allow), rule_string(*meta, dropped)));
        }
    }
    for (meta, perms) in &to.rules {
        let gained = perms & !old.get(meta).copied().unwrap_or(0);
        if gained != 0 {
            out.push((file(!to.default_allow), rule_string(*meta, gained)));
        }
    }
    out
}

/// Applies device rules: v1 devices controller where mounted (moving from the current
/// devices.list, so an update does not briefly deny what stays allowed), else the v2 eBPF program.
pub(crate) fn apply(cg: &Cgroup, rules: &[LinuxDeviceCgroup]) -> Result<()> {
    let target = Policy::from_rules(rules)?;
    if let Some(d) = cg.dirs.iter().find(|d| !d.h.v2 && d.h.has("devices")) {
        return apply_v1(&d.path, &target);
    }
    if let Some(d) = cg.v2_dir() {
        return apply_bpf(&d.path, &target);
    }
    Err(CgroupError::MissingController {
        field: FIELD,
        controller: "devices",
    })
}

fn apply_v1(dir: &Path, target: &Policy) -> Result<()> {
    let current = fsio::read_opt(dir, "devices.list")?
        .and_then(|t| Policy::from_list(&t))
        .unwrap_or_else(Policy::allow_all);
    // One open of devices.allow and of devices.deny for all the rules (runc opens per rule).
    let mut writer = fsio::Writer::new(dir);
    for (file, rule) in transition(&current, target) {
        writer.set(file, &rule, FIELD)?;
    }
    Ok(())
}

const R0: u8 = 0;
const R1: u8 = 1;
const R2: u8 = 2;
const R3: u8 = 3;
const R4: u8 = 4;
const R5: u8 = 5;

fn ins(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: dst | (src << 4),
        off,
        imm,
    }
}
/// dst = *(u32 *)(src + off)
fn ldxw(dst: u8, src: u8, off: i16) -> Insn {
    ins(0x61, dst, src, off, 0)
}
/// dst &= imm (32-bit)
fn and32(dst: u8, imm: i32) -> Insn {
    ins(0x54, dst, 0, 0, imm)
}
/// dst >>= imm (32-bit)
fn rsh32(dst: u8, imm: i32) -> Insn {
    ins(0x74, dst, 0, 0, imm)
}
/// dst = src (32-bit)
fn mov32_reg(dst: u8, src: u8) -> Insn {
    ins(0xbc, dst, src, 0, 0)
}
/// dst = imm (64-bit)
fn mov64(dst: u8, imm: i32) -> Insn {
    ins(0xb7, dst, 0, 0, imm)
}
/// if dst != imm goto +off
fn jne(dst: u8, imm: i32, off: i16) -> Insn {
    ins(0x55, dst, 0, off, imm)
}
/// if dst != src goto +off
fn jne_reg(dst: u8, src: u8, off: i16) -> Insn {
    ins(0x5d, dst, src, off, 0)
}
/// if dst == imm goto +off
fn jeq(dst: u8, imm: i32, off: i16) -> Insn {
    ins(0x15, dst, 0, off, imm)
}
fn exit() -> Insn {
    ins(0x95, 0, 0, 0, 0)
}

/// Compiles a policy to a cgroup device program (returns 1 to allow, 0 to deny).
///
/// An allow-list exception matches when it holds every requested access bit; a deny-list
/// exception when it holds any of them, which is how the v1 kernel matches them.
pub(crate) fn program(p: &Policy) -> Vec<Insn> {
    let mut out = vec![
        // R2 = device type, R3 = requested access, R4 = major, R5 = minor.
        ldxw(R2, R1, 0),
        and32(R2, 0xffff),
        ldxw(R3, R1, 0),
        rsh32(R3, 16),
        ldxw(R4, R1, 4),
        ldxw(R5, R1, 8),
    ];
    let verdict = i32::from(!p.default_allow);
    for (meta, perms) in &p.rules {
        // Jumps use placeholder offsets, fixed once the block length is known.
        let mut block = vec![jne(R2, if meta.kind == b'b' { 1 } else { 2 }, 0)];
        if *perms != ACC_ALL {
            block.push(mov32_reg(R1, R3));
            block.push(and32(R1, i32::from(*perms)));
            if p.default_allow {
                block.push(jeq(R1, 0, 0));
            } else {
                block.push(jne_reg(R1, R3, 0));
            }
        }
        if let Some(m) = meta.major {
            block.push(jne(R4, m as i32, 0));
        }
        if let Some(m) = meta.minor {
            block.push(jne(R5, m as i32, 0));
        }
        block.push(mov64(R0, verdict));
        block.push(exit());
        let len = block.len();
        for (i, insn) in block.iter_mut().enumerate() {
            if matches!(insn.code, 0x55 | 0x5d | 0x15) {
                // Past this block: from the next instruction, skip the rest of it.
                insn.off = i16::try_from(len - i - 1).unwrap_or(i16::MAX);
            }
        }
        out.extend(block);
    }
    out.push(mov64(R0, i32::from(p.default_allow)));
    out.push(exit());
    out
}

/// Loads the program for `target` and attaches it to `dir`, then detaches the programs that
/// were there before, so the cgroup is never without a filter (as runc does).
pub(crate) fn apply_bpf(dir: &Path, target: &Policy) -> Result<()> {
    let bpf_err = |op, log: String, source| CgroupError::Bpf {
        op,
        path: dir.to_path_buf(),
        log,
        source,
    };
    let insns = program(target);
    let prog = bpf::prog_load_cgroup_device(&insns).map_err(|(e, log)| bpf_err("prog load", log, e))?;
    let cg = ocirun_sys::fs::open_dir(dir).map_err(|source| CgroupError::Open {
        path: dir.to_path_buf(),
        source,
    })?;
    let old = bpf::prog_query_cgroup_device(&cg).map_err(|e| bpf_err("prog query", String::new(), e))?;
    bpf::prog_attach_cgroup_device(&cg, &prog).map_err(|e| bpf_err("prog attach", String::new(), e))?;
    for id in old {
        match bpf::prog_get_fd_by_id(id) {
            Ok(fd) => bpf::prog_detach_cgroup_device(&cg, &fd)
                .or_else(|e| {
                    if e.raw_os_error() == Some(libc::ENOENT) {
                        Ok(())
                    } else {
                        Err(e)
                    }
                })
                .map_err(|e| bpf_err("prog detach", String::new(), e))?,
            // Detached meanwhile.
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(bpf_err("prog get fd by id", String::new(), e)),
        }
    }
    Ok(())
}

/// The device rules runc adds after the spec's own (its AllowedDevices): mknod of any device,
/// and rwm on /dev/null, random, full, tty, zero, urandom, /dev/pts/*, ptmx and net/tun.
pub fn default_device_rules() -> Vec<LinuxDeviceCgroup> {
    let rule = |typ, major: Option<i64>, minor: Option<i64>, access: &str| {
        let mut r = LinuxDeviceCgroup::default();
        r.set_allow(true)
            .set_typ(Some(typ))
            .set_major(major)
            .set_minor(minor)
            .set_access(Some(access.to_owned()));
        r
    };
    use LinuxDeviceType::{B, C};
    vec![
        rule(C, None, None, "m"),
        rule(B, None, None, "m"),
        rule(C, Some(1), Some(3), "rwm"),
        rule(C, Some(1), Some(8), "rwm"),
        rule(C, Some(1), Some(7), "rwm"),
        rule(C, Some(5), Some(0), "rwm"),
        rule(C, Some(1), Some(5), "rwm"),
        rule(C, Some(1), Some(9), "rwm"),
        rule(C, Some(136), None, "rwm"),
        rule(C, Some(5), Some(2), "rwm"),
        rule(C, Some(10), Some(200), "rwm"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::process::{Command, Stdio};

    fn rules(json: &str) -> Vec<LinuxDeviceCgroup> {
        serde_json::from_str(json).expect("rules json")
    }

    /// Runs a device program the way the kernel would, for the instructions we emit.
    fn run(prog: &[Insn], typ: u32, access: u32, major: u32, minor: u32) -> u64 {
        let ctx = [(access << 16) | typ, major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        for _ in 0..10_000 {
            let i = prog[pc];
            let (dst, src) = (usize::from(i.regs & 0xf), usize::from(i.regs >> 4));
            let imm = i.imm as i64 as u64;
            pc += 1;
            let jump = |cond: bool, pc: &mut usize| {
                if cond {
                    *pc += usize::try_from(i.off).expect("forward jump");
                }
            };
            match i.code {
                0x61 => r[dst] = u64::from(ctx[usize::try_from(i.off / 4).expect("offset")]),
                0x54 => r[dst] = u64::from((r[dst] as u32) & (i.imm as u32)),
                0x74 => r[dst] = u64::from((r[dst] as u32) >> i.imm),
                0xbc => r[dst] = u64::from(r[src] as u32),
                0xb7 => r[dst] = imm,
                0x55 => jump(r[dst] != imm, &mut pc),
                0x5d => jump(r[dst] != r[src], &mut pc),
                0x15 => jump(r[dst] == imm, &mut pc),
                0x95 => return r[0],
                c => panic!("unexpected opcode {c:#x}"),
            }
        }
        panic!("program did not exit")
    }

    const R: u32 = ACC_READ as u32;
    const W: u32 = ACC_WRITE as u32;
    const M: u32 = ACC_MKNOD as u32;

    #[test]
    fn allow_list_program_matches_v1_semantics() {
        let mut spec = rules(r#"[{"allow":false,"access":"rwm"}]"#);
        spec.extend(default_device_rules());
        spec.extend(rules(r#"[{"allow":true,"type":"c","major":4,"minor":1,"access":"r"}]"#));
        let p = Policy::from_rules(&spec).expect("policy");
        assert!(!p.default_allow);
        let prog = program(&p);
        let (blk, chr) = (1, 2);
        assert_eq!(run(&prog, chr, R | W, 1, 3), 1, "/dev/null rw");
        assert_eq!(run(&prog, chr, R, 1, 4), 0, "/dev/port");
        assert_eq!(run(&prog, chr, M, 1, 4), 1, "mknod of any char device");
        assert_eq!(run(&prog, blk, M, 8, 0), 1, "mknod of any block device");
        assert_eq!(run(&prog, blk, R, 8, 0), 0, "reading a disk");
        assert_eq!(run(&prog, chr, R | W, 136, 7), 1, "/dev/pts/7");
        assert_eq!(run(&prog, chr, R, 4, 1), 1, "read-only tty1");
        assert_eq!(run(&prog, chr, R | W, 4, 1), 0, "tty1 is read-only");
    }

    #[test]
    fn deny_list_program_denies_any_overlap() {
        let p = Policy::from_rules(&rules(
            r#"[{"allow":true,"access":"rwm"},
                {"allow":false,"type":"b","major":8,"access":"w"}]"#,
        ))
        .expect("policy");
        assert!(p.default_allow);
        let prog = program(&p);
        assert_eq!(run(&prog, 1, R, 8, 0), 1);
        assert_eq!(run(&prog, 1, R | W, 8, 16), 0, "any requested bit in a deny rule");
        assert_eq!(run(&prog, 1, R | W, 9, 0), 1);
        assert_eq!(run(&prog, 2, W, 8, 0), 1, "char 8:0 is another device");
    }

    #[test]
    fn emulator_resets_merges_and_refuses_holes() {
        let p = Policy::from_rules(&rules(
            r#"[{"allow":false,"access":"rwm"},
                {"allow":true,"type":"c","major":1,"minor":3,"access":"r"},
                {"allow":true,"type":"c","major":1,"minor":3,"access":"w"},
                {"allow":false,"type":"c","major":1,"minor":3,"access":"r"}]"#,
        ))
        .expect("policy");
        assert_eq!(p.rules.len(), 1);
        assert_eq!(p.rules.values().next(), Some(&ACC_WRITE));
        // A later "a" rule resets everything before it.
        let p = Policy::from_rules(&rules(
            r#"[{"allow":false,"access":"rwm"},
                {"allow":true,"type":"c","major":1,"minor":3,"access":"rwm"},
                {"allow":true,"access":"rwm"}]"#,
        ))
        .expect("policy");
        assert_eq!(p, Policy::allow_all());
        let hole = Policy::from_rules(&rules(
            r#"[{"allow":false,"access":"rwm"},
                {"allow":true,"type":"c","major":136,"access":"rwm"},
                {"allow":false,"type":"c","major":136,"minor":1,"access":"r"}]"#,
        ));
        assert!(matches!(hole, Err(CgroupError::InvalidValue { .. })));
        for bad in [
            r#"[{"allow":true,"type":"c","major":1,"minor":3,"access":"rx"}]"#,
            r#"[{"allow":true,"type":"c","major":1,"minor":3,"access":""}]"#,
            r#"[{"allow":true,"type":"c","major":-5,"minor":3,"access":"r"}]"#,
            r#"[{"allow":true,"type":"u","major":1,"minor":3,"access":"r"}]"#,
        ] {
            assert!(Policy::from_rules(&rules(bad)).is_err(), "{bad}");
        }
    }

    /// A cgroup dir made by this test in the host's v2 mount, removed (after its processes) on drop.
    struct V2Dir(std::path::PathBuf);

    impl Drop for V2Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir(&self.0);
        }
    }

    fn opens(dir: &Path) -> String {
        let mut child = Command::new("/bin/sh")
            .arg("-c")
            .arg("read x; (exec 3</dev/null) 2>/dev/null && echo null-ok; (exec 3</dev/zero) 2>/dev/null && echo zero-ok; exit 0")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn sh");
        let moved = std::fs::write(dir.join("cgroup.procs"), child.id().to_string());
        if let Err(e) = moved {
            let _ = child.kill();
            let _ = child.wait();
            panic!("move into {}: {e}", dir.display());
        }
        let mut out = String::new();
        let _ = child.stdin.take().map(|mut s| s.write_all(b"go\n"));
        let _ = child.stdout.take().map(|mut s| s.read_to_string(&mut out));
        let _ = child.wait();
        out
    }

    #[test]
    fn bpf_program_attached_on_the_real_kernel_filters_opens() {
        let h = crate::Hierarchies::detect().expect("detect");
        let Some(mnt) = h.unified_mountpoint() else {
            eprintln!("skipped: no cgroup v2 mount on this host");
            return;
        };
        if ocirun_sys::process::unprivileged() {
            eprintln!("skipped: needs root to load BPF programs and create cgroups");
            return;
        }
        let dir = V2Dir(mnt.join(format!("ocirun-test-bpf-{}", std::process::id())));
        std::fs::create_dir(&dir.0).expect("mkdir");
        let only_null = Policy::from_rules(&rules(
            r#"[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":3,"access":"rwm"}]"#,
        ))
        .expect("policy");
        apply_bpf(&dir.0, &only_null).expect("attach");
        assert_eq!(opens(&dir.0), "null-ok\n");
        // An update replaces the program: one attached, the new rules in force.
        let both = Policy::from_rules(&rules(
            r#"[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":1,"access":"rwm"}]"#,
        ))
        .expect("policy");
        apply_bpf(&dir.0, &both).expect("replace");
        let fd = ocirun_sys::fs::open_dir(&dir.0).expect("open");
        assert_eq!(bpf::prog_query_cgroup_device(&fd).expect("query").len(), 1);
        assert_eq!(opens(&dir.0), "null-ok\nzero-ok\n");
    }
}
