//! Differential test against libseccomp (the library runc, crun and youki use).
//!
//! A small C helper (tests/helper/libseccomp_ref.c, compiled here with `cc`) builds
//! the filter the way runc drives libseccomp and exports its BPF. Both programs then
//! run in the BPF interpreter on the same `seccomp_data` and must return the same
//! value (action and errno) every time. runc prepends an ENOSYS stub to libseccomp's
//! program; the expected value applies that stub (modelled here from runc's
//! patchbpf, with libseccomp's own name resolution) before libseccomp's answer.
//!
//! The test skips, loudly, only when libseccomp's header or library is missing.

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use libc::sock_filter;
use serde_json::{Value, json};

use seccomp::arch::{AUDIT_ARCH_AARCH64, AUDIT_ARCH_ARM, AUDIT_ARCH_I386, AUDIT_ARCH_X86_64};
use seccomp::bpf::{SeccompData, interpret};
use seccomp::{ScmpArch, SeccompProgram, parse_profile};

const X32_BIT: u32 = 0x4000_0000;
const ENOSYS_RET: u32 = 0x0005_0000 | libc::ENOSYS as u32;

/// The compiled helper, or None (after a loud message) when libseccomp is missing.
fn helper(test: &str) -> Option<PathBuf> {
    let header = ["/usr/include/seccomp.h", "/usr/local/include/seccomp.h"]
        .iter()
        .any(|p| Path::new(p).exists());
    if !header {
        eprintln!(
            "\n\n*** SKIPPED: libseccomp-dev is not installed (no seccomp.h); \
             the differential test against libseccomp did NOT run. ***\n\n"
        );
        return None;
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/helper/libseccomp_ref.c");
    let dir = std::env::temp_dir().join(format!("ocirun-seccomp-ref-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create helper dir");
    let bin = dir.join("libseccomp_ref");
    let out = Command::new("cc")
        .arg("-O1")
        .arg("-o")
        .arg(&bin)
        .arg(&src)
        .arg("-lseccomp")
        .output()
        .expect("run cc");
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        if err.contains("cannot find -lseccomp") {
            eprintln!("\n\n*** SKIPPED: libseccomp's library is missing: {err} ***\n\n");
            return None;
        }
        panic!("compiling the libseccomp helper failed: {err}");
    }
    Some(bin)
}

/// Removes the helper's directory when the test ends, pass or fail.
struct Cleanup(PathBuf);
impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(dir) = self.0.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// The exit code recorded when libseccomp did not finish in time.
const HUNG: i32 = -9;

struct RefRun {
    code: i32,
    stdout: String,
    program: Vec<sock_filter>,
}

fn run_helper(bin: &Path, input: &str, tag: &str) -> RefRun {
    let out_file = bin.with_file_name(format!("prog-{tag}.bpf"));
    let mut child = Command::new(bin)
        .arg(&out_file)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn helper");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write helper input");
    // libseccomp 2.5.4 loops forever on a few rule sets; give it 20 seconds.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while child.try_wait().expect("poll helper").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let _ = std::fs::remove_file(&out_file);
            return RefRun {
                code: HUNG,
                stdout: String::new(),
                program: Vec::new(),
            };
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let out = child.wait_with_output().expect("helper output");
    let bytes = std::fs::read(&out_file).unwrap_or_default();
    let _ = std::fs::remove_file(&out_file);
    let program = bytes
        .chunks_exact(8)
        .map(|c| sock_filter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect();
    RefRun {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        program,
    }
}

/// runc's getAction.
fn action_value(action: &str, errno: Option<u64>) -> u32 {
    let e = errno.unwrap_or(1) as u32;
    match action {
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => 0,
        "SCMP_ACT_KILL_PROCESS" => 0x8000_0000,
        "SCMP_ACT_TRAP" => 0x0003_0000,
        "SCMP_ACT_ERRNO" => 0x0005_0000 | e,
        "SCMP_ACT_TRACE" => 0x7ff0_0000 | e,
        "SCMP_ACT_NOTIFY" => 0x7fc0_0000,
        "SCMP_ACT_LOG" => 0x7ffc_0000,
        "SCMP_ACT_ALLOW" => 0x7fff_0000,
        other => panic!("action {other}"),
    }
}

fn op_value(op: &str) -> u32 {
    match op {
        "SCMP_CMP_NE" => 1,
        "SCMP_CMP_LT" => 2,
        "SCMP_CMP_LE" => 3,
        "SCMP_CMP_EQ" => 4,
        "SCMP_CMP_GE" => 5,
        "SCMP_CMP_GT" => 6,
        "SCMP_CMP_MASKED_EQ" => 7,
        other => panic!("op {other}"),
    }
}

fn arch_token(name: &str) -> u32 {
    match name {
        "SCMP_ARCH_X86_64" | "SCMP_ARCH_NATIVE" => 0xc000_003e,
        "SCMP_ARCH_X86" => 0x4000_0003,
        "SCMP_ARCH_X32" => 0x4000_003e,
        "SCMP_ARCH_AARCH64" => 0xc000_00b7,
        "SCMP_ARCH_ARM" => 0x4000_0028,
        other => panic!("arch {other}"),
    }
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

/// The helper input that makes libseccomp build what runc builds for `profile`.
fn runc_input(profile: &Value) -> (String, u32, Vec<u32>) {
    let default = action_value(
        profile["defaultAction"].as_str().expect("defaultAction"),
        profile.get("defaultErrnoRet").map(u),
    );
    let mut s = format!("default {default}\n");
    let mut listed = Vec::new();
    for a in profile["architectures"].as_array().into_iter().flatten() {
        let t = arch_token(a.as_str().expect("arch"));
        s += &format!("arch {t}\n");
        if !listed.contains(&t) {
            listed.push(t);
        }
    }
    let syscalls = profile["syscalls"].as_array().cloned().unwrap_or_default();
    let flat: usize = syscalls.iter().map(|e| e["names"].as_array().map_or(0, Vec::len)).sum();
    if flat > 32 {
        s += "optimize 2\n";
    }
    for e in &syscalls {
        let act = action_value(e["action"].as_str().expect("action"), e.get("errnoRet").map(u));
        let args = e["args"].as_array().cloned().unwrap_or_default();
        let conds: Vec<String> = args
            .iter()
            .map(|a| {
                format!(
                    "{} {} {} {}",
                    u(&a["index"]),
                    op_value(a["op"].as_str().expect("op")),
                    u(&a["value"]),
                    a.get("valueTwo").map_or(0, u)
                )
            })
            .collect();
        let mut idx = BTreeSet::new();
        let repeated = args.iter().any(|a| !idx.insert(u(&a["index"])));
        for n in e["names"].as_array().into_iter().flatten() {
            let name = n.as_str().expect("name");
            s += &format!("stubname {name}\n");
            if act == default {
                continue;
            }
            if conds.is_empty() {
                s += &format!("rule {act} {name} 0\n");
            } else if repeated {
                for c in &conds {
                    s += &format!("rule {act} {name} 1 {c}\n");
                }
            } else {
                s += &format!("rule {act} {name} {} {}\n", conds.len(), conds.join(" "));
            }
        }
    }
    for t in &listed {
        s += &format!("stubarch {t}\n");
    }
    (s, default, listed)
}

/// runc's ENOSYS stub in front of libseccomp's filter, as patchbpf generates it.
struct Stub {
    maxes: HashMap<u32, u32>,
    active: bool,
}

impl Stub {
    fn parse(stdout: &str, default: u32) -> Stub {
        let mut maxes = HashMap::new();
        for l in stdout.lines() {
            let f: Vec<&str> = l.split_whitespace().collect();
            if let ["max", tok, n] = f.as_slice() {
                let n: i64 = n.parse().expect("max");
                if n > 0 {
                    maxes.insert(tok.parse().expect("token"), n as u32);
                }
            }
        }
        let permissive = matches!(default & 0xffff_0000, 0x7fff_0000 | 0x7ffc_0000 | 0x7ff0_0000);
        Stub {
            maxes,
            active: !permissive,
        }
    }

    fn apply(&self, d: &SeccompData) -> Option<u32> {
        if !self.active {
            return None;
        }
        let over = |tok: u32| self.maxes.get(&tok).map(|m| d.nr > *m);
        let hit = match d.arch {
            AUDIT_ARCH_X86_64 => {
                let bit = d.nr & X32_BIT != 0;
                let (m64, m32) = (over(0xc000_003e), over(0x4000_003e));
                match (m64, m32) {
                    (Some(a), Some(b)) => {
                        if bit {
                            b
                        } else {
                            a
                        }
                    }
                    (Some(a), None) => !bit && a,
                    (None, Some(b)) => bit && b,
                    (None, None) => false,
                }
            }
            AUDIT_ARCH_I386 => over(0x4000_0003).unwrap_or(false),
            AUDIT_ARCH_AARCH64 => over(0xc000_00b7).unwrap_or(false),
            AUDIT_ARCH_ARM => over(0x4000_0028).unwrap_or(false),
            _ => false,
        };
        hit.then_some(ENOSYS_RET)
    }
}

/// A seeded generator (splitmix64), so a failure can be replayed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len())]
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// Syscall numbers that have conditional rules (argument-sensitive), per audit arch.
fn arg_sensitive(profile: &Value) -> BTreeSet<(u32, u32)> {
    let mut out = BTreeSet::new();
    for e in profile["syscalls"].as_array().into_iter().flatten() {
        if e["args"].as_array().is_none_or(Vec::is_empty) {
            continue;
        }
        for n in e["names"].as_array().into_iter().flatten() {
            let name = n.as_str().unwrap_or("");
            for a in ScmpArch::ALL {
                if let Some(nr) = seccomp::syscalls::syscall_number(a, name) {
                    out.insert((a.audit_arch(), nr));
                }
            }
            out.insert((AUDIT_ARCH_I386, 102));
            out.insert((AUDIT_ARCH_I386, 117));
        }
    }
    out
}

/// Argument vectors aimed at the profile's conditions: each rule satisfied, then nudged.
fn arg_vectors(profile: &Value, rng: &mut Rng) -> Vec<[u64; 6]> {
    let mut pool: Vec<u64> = vec![0, 1, 2, u64::MAX, 0xffff_ffff, 1 << 32, 0x1_0000_0001];
    let mut rules: Vec<Vec<(usize, String, u64, u64)>> = Vec::new();
    for e in profile["syscalls"].as_array().into_iter().flatten() {
        let mut r = Vec::new();
        for a in e["args"].as_array().into_iter().flatten() {
            let (v, v2) = (u(&a["value"]), a.get("valueTwo").map_or(0, u));
            for x in [v, v2, v & v2] {
                pool.extend([
                    x,
                    x.wrapping_add(1),
                    x.wrapping_sub(1),
                    x ^ (1 << 32),
                    x & 0xffff_ffff,
                    x | 0xffff_ffff_0000_0000,
                ]);
            }
            r.push((
                u(&a["index"]) as usize,
                a["op"].as_str().unwrap_or("").to_owned(),
                v,
                v2,
            ));
        }
        if !r.is_empty() {
            rules.push(r);
        }
    }
    let mut out = vec![[0u64; 6], [u64::MAX; 6]];
    for r in &rules {
        let mut base = [0u64; 6];
        for (i, v) in base.iter_mut().enumerate() {
            *v = if rng.chance(50) { 0 } else { *rng.pick(&pool) };
            let _ = i;
        }
        for (i, op, v, v2) in r {
            base[*i] = match op.as_str() {
                "SCMP_CMP_MASKED_EQ" => (v2 & v) | (rng.next() & !v),
                "SCMP_CMP_GT" => v.wrapping_add(1 + rng.next() % 3),
                "SCMP_CMP_LT" => v.wrapping_sub(1 + rng.next() % 3),
                "SCMP_CMP_NE" => v ^ (1 << rng.below(64)),
                _ => *v,
            };
        }
        out.push(base);
        for _ in 0..3 {
            let mut m = base;
            m[rng.below(6)] = *rng.pick(&pool);
            out.push(m);
        }
    }
    for _ in 0..8 {
        let mut m = [0u64; 6];
        for v in &mut m {
            *v = *rng.pick(&pool);
        }
        out.push(m);
    }
    out
}

fn probe_numbers() -> Vec<(u32, u32)> {
    let mut v = Vec::new();
    for arch in [
        AUDIT_ARCH_X86_64,
        AUDIT_ARCH_I386,
        AUDIT_ARCH_AARCH64,
        AUDIT_ARCH_ARM,
        0x1234_5678,
    ] {
        for nr in 0..=520u32 {
            v.push((arch, nr));
        }
        for nr in [
            0x3fff_ffff,
            0x4000_0000,
            0x7fff_ffff,
            0x8000_0000,
            0x8000_0005,
            0xc000_0000,
            0xffff_fffe,
            u32::MAX,
            0x000f_0000,
            0x000f_0001,
            0x000f_0002,
            0x000f_0005,
            0x000f_0006,
            0x000f_0007,
        ] {
            v.push((arch, nr));
        }
    }
    for nr in 0..=560u32 {
        v.push((AUDIT_ARCH_X86_64, nr | X32_BIT));
    }
    v
}

/// Instructions of a program that compare the wrong word. libseccomp 2.5.4 emits two
/// kinds: on 32-bit ABIs, after a failed condition on one argument it falls through
/// to a sibling condition on another without reloading, so different paths into one
/// comparison hold different words; and with three or more ABIs a section can start
/// without loading the syscall number, comparing the architecture word instead.
fn stale_accumulator_uses(prog: &[sock_filter]) -> BTreeSet<usize> {
    let mut inbound: Vec<BTreeSet<u64>> = vec![BTreeSet::new(); prog.len() + 1];
    let mut bad = BTreeSet::new();
    let mut reachable = vec![false; prog.len() + 1];
    if !prog.is_empty() {
        reachable[0] = true;
    }
    for pc in 0..prog.len() {
        if !reachable[pc] {
            continue;
        }
        let ins = prog[pc];
        let state = inbound[pc].clone();
        let uses_a = matches!(ins.code, 0x15 | 0x25 | 0x35 | 0x45 | 0x54 | 0x16);
        if uses_a && state.len() > 1 {
            bad.insert(pc);
        }
        // Comparing the architecture word with anything but an audit arch: the
        // section forgot to load the syscall number (seen with three or more ABIs).
        let audit = [AUDIT_ARCH_X86_64, AUDIT_ARCH_I386, AUDIT_ARCH_AARCH64, AUDIT_ARCH_ARM];
        if matches!(ins.code, 0x15 | 0x25 | 0x35 | 0x45)
            && state.len() == 1
            && state.contains(&(4u64 << 32))
            && !audit.contains(&ins.k)
        {
            bad.insert(pc);
        }
        let out: BTreeSet<u64> = match ins.code {
            0x20 => [u64::from(ins.k) << 32].into_iter().collect(),
            0x54 => state.iter().map(|s| s ^ u64::from(ins.k)).collect(),
            _ => state,
        };
        let mut flow = |to: usize| {
            if to < inbound.len() {
                reachable[to] = true;
                inbound[to].extend(out.iter().copied());
            }
        };
        match ins.code {
            0x06 | 0x16 => {}
            0x05 => flow(pc + 1 + ins.k as usize),
            0x15 | 0x25 | 0x35 | 0x45 => {
                flow(pc + 1 + usize::from(ins.jt));
                flow(pc + 1 + usize::from(ins.jf));
            }
            _ => flow(pc + 1),
        }
    }
    bad
}

/// The instructions one run of `prog` executes.
fn trace(prog: &[sock_filter], d: &SeccompData) -> Vec<usize> {
    let mut path = Vec::new();
    let mut pc = 0;
    let mut a = 0u32;
    let word = |k: u32| -> u32 {
        match k {
            0 => d.nr,
            4 => d.arch,
            8 => d.instruction_pointer as u32,
            12 => (d.instruction_pointer >> 32) as u32,
            _ => {
                let i = ((k - 16) / 8) as usize;
                let v = d.args[i];
                if (k - 16) % 8 == 4 { (v >> 32) as u32 } else { v as u32 }
            }
        }
    };
    while let Some(ins) = prog.get(pc) {
        path.push(pc);
        pc = match ins.code {
            0x20 => {
                a = word(ins.k);
                pc + 1
            }
            0x54 => {
                a &= ins.k;
                pc + 1
            }
            0x05 => pc + 1 + ins.k as usize,
            0x15 | 0x25 | 0x35 | 0x45 => {
                let t = match ins.code {
                    0x15 => a == ins.k,
                    0x25 => a > ins.k,
                    0x35 => a >= ins.k,
                    _ => a & ins.k != 0,
                };
                pc + 1 + usize::from(if t { ins.jt } else { ins.jf })
            }
            _ => break,
        };
    }
    path
}

struct Report {
    compared: usize,
    /// Inputs skipped because libseccomp's program compared a stale accumulator.
    stale: usize,
    ours_total: usize,
    ref_total: usize,
}

/// Compare our program and libseccomp's (+ runc's stub) on many inputs.
/// Returns None when libseccomp refused the profile.
fn compare(bin: &Path, profile: &Value, seed: u64, tag: &str) -> Option<Report> {
    let json = serde_json::to_vec(profile).expect("json");
    let ours = SeccompProgram::compile_for(&parse_profile(&json).expect("parse"), ScmpArch::X86_64)
        .unwrap_or_else(|e| panic!("compile {tag}: {e}\n{profile}"));
    let (input, default, _) = runc_input(profile);
    let r = run_helper(bin, &input, tag);
    if r.code == 3 || r.code == HUNG {
        return None;
    }
    assert_eq!(r.code, 0, "helper failed for {tag}: {}\ninput:\n{input}", r.stdout);
    let stub = Stub::parse(&r.stdout, default);
    let mut rng = Rng(seed ^ 0x5eed);
    let vectors = arg_vectors(profile, &mut rng);
    let sensitive = arg_sensitive(profile);
    let stale = stale_accumulator_uses(&r.program);
    let mut rep = Report {
        compared: 0,
        stale: 0,
        ours_total: 0,
        ref_total: 0,
    };
    for (arch, nr) in probe_numbers() {
        let base = nr & !X32_BIT;
        let argful = sensitive.contains(&(arch, nr))
            || sensitive.contains(&(arch, base))
            || (arch == AUDIT_ARCH_X86_64 && nr & X32_BIT != 0 && sensitive.iter().any(|(_, n)| *n == nr));
        let args_list: &[[u64; 6]] = if argful { &vectors } else { &vectors[..1] };
        for args in args_list {
            let d = SeccompData {
                nr,
                arch,
                instruction_pointer: 0x7fff_0000_1234,
                args: *args,
            };
            let o = interpret(ours.instructions(), &d).expect("our program runs");
            let expect = match stub.apply(&d) {
                Some(v) => v,
                None if !stale.is_empty() && trace(&r.program, &d).iter().any(|pc| stale.contains(pc)) => {
                    rep.stale += 1;
                    continue;
                }
                None => {
                    let x = interpret(&r.program, &d).expect("libseccomp program runs");
                    rep.ref_total += x.executed;
                    x.ret
                }
            };
            rep.ours_total += o.executed;
            rep.compared += 1;
            assert_eq!(
                o.ret, expect,
                "{tag}: arch {arch:#x} nr {nr:#x} args {args:x?}: ours {:#x}, libseccomp+runc {expect:#x}\nprofile: {profile}\nhelper input:\n{input}",
                o.ret
            );
        }
    }
    Some(rep)
}

fn docker_profile() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/docker-default.json");
    serde_json::from_slice(&std::fs::read(path).expect("read fixture")).expect("fixture json")
}

/// Names libseccomp 2.5 knows, so both sides see the same profile (runc with an older
/// libseccomp skips newer names; this crate knows them).
fn known_to_libseccomp(bin: &Path, names: &[&str]) -> BTreeSet<String> {
    let input: String = names.iter().map(|n| format!("resolve 3221225534 {n}\n")).collect();
    let r = run_helper(bin, &input, "known");
    r.stdout
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            match f.as_slice() {
                ["nr", name, n] if *n != "-1" => Some((*name).to_owned()),
                _ => None,
            }
        })
        .collect()
}

fn restrict_names(profile: &mut Value, known: &BTreeSet<String>) {
    if let Some(sc) = profile["syscalls"].as_array_mut() {
        for e in sc.iter_mut() {
            if let Some(n) = e["names"].as_array_mut() {
                n.retain(|x| x.as_str().is_some_and(|s| known.contains(s)));
            }
        }
        sc.retain(|e| e["names"].as_array().is_some_and(|n| !n.is_empty()));
    }
}

#[test]
fn syscall_tables_match_libseccomp() {
    let Some(bin) = helper("syscall_tables_match_libseccomp") else {
        return;
    };
    let _c = Cleanup(bin.clone());
    let mut checked = 0;
    let mut newer = Vec::new();
    for arch in ScmpArch::ALL {
        let tok = arch.scmp_token();
        let names: Vec<(&str, u32)> = seccomp::syscalls::syscall_names(arch).collect();
        let input: String = names
            .iter()
            .map(|(n, nr)| format!("resolve {tok} {n}\nrnum {tok} {nr}\n"))
            .collect();
        let r = run_helper(&bin, &input, "tables");
        let mut lines = r.stdout.lines();
        for (name, nr) in &names {
            let res = lines.next().expect("resolve line");
            let rnum = lines.next().expect("rnum line");
            let got: i64 = res.rsplit(' ').next().and_then(|x| x.parse().ok()).expect("number");
            if got == -1 {
                newer.push(format!("{arch:?}:{name}"));
                continue;
            }
            if got < 0 {
                // x86 socket/IPC names resolve to pseudo numbers; check the reverse.
                assert_eq!(rnum, format!("name {nr} {name}"), "{arch:?} {name}");
            } else {
                assert_eq!(got, i64::from(*nr), "{arch:?} {name}");
            }
            checked += 1;
        }
    }
    eprintln!(
        "checked {checked} syscall numbers; newer than libseccomp 2.5: {}",
        newer.join(" ")
    );
    assert!(checked > 1500);
}

#[test]
fn docker_default_profile_matches_libseccomp() {
    let Some(bin) = helper("docker_default_profile_matches_libseccomp") else {
        return;
    };
    let _c = Cleanup(bin.clone());
    let mut profile = docker_profile();
    let names: Vec<String> = profile["syscalls"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|e| e["names"].as_array().cloned().unwrap_or_default())
        .filter_map(|n| n.as_str().map(str::to_owned))
        .collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let known = known_to_libseccomp(&bin, &refs);
    restrict_names(&mut profile, &known);
    let rep = compare(&bin, &profile, 1, "docker").expect("libseccomp accepts Docker's profile");
    assert_eq!(rep.stale, 0, "no input skipped for Docker's profile");
    eprintln!(
        "docker profile: {} inputs agree; instructions run: ours {}, libseccomp {}",
        rep.compared, rep.ours_total, rep.ref_total
    );
    // The same without x32, and for an aarch64-style arch list.
    for arches in [
        json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]),
        json!(["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]),
    ] {
        let mut p = profile.clone();
        p["architectures"] = arches.clone();
        compare(&bin, &p, 2, &format!("docker {arches}")).expect("accepted");
    }
}

const NAME_POOL: &[&str] = &[
    "read",
    "write",
    "open",
    "close",
    "stat",
    "fstat",
    "mmap",
    "futex",
    "epoll_wait",
    "clone",
    "clone3",
    "personality",
    "socket",
    "bind",
    "connect",
    "accept",
    "accept4",
    "recv",
    "send",
    "sendmmsg",
    "recvmmsg",
    "socketcall",
    "ipc",
    "semop",
    "semget",
    "semtimedop",
    "msgsnd",
    "shmat",
    "shmctl",
    "mount",
    "umount2",
    "unshare",
    "setns",
    "keyctl",
    "ptrace",
    "kill",
    "tkill",
    "getpid",
    "uname",
    "ioctl",
    "prctl",
    "arch_prctl",
    "modify_ldt",
    "openat",
    "openat2",
    "pidfd_open",
    "io_uring_setup",
    "process_mrelease",
    "futex_waitv",
    "_llseek",
    "mmap2",
    "set_tls",
    "cacheflush",
    "rt_sigaction",
    "waitid",
    "exit_group",
    "time",
    "getrlimit",
    "ugetrlimit",
    "select",
    "_newselect",
    "chown32",
    "statx",
    "renameat",
    "epoll_pwait2",
];

const ACTIONS: &[&str] = &[
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_TRAP",
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_LOG",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_NOTIFY",
];

const VALUES: &[u64] = &[
    0,
    1,
    2,
    5,
    40,
    0xff,
    0x7e02_0000,
    0xffff_ffff,
    0x1_0000_0000,
    0x1_0000_0005,
    0xffff_ffff_0000_0000,
    0x8000_0000_0000_0000,
    u64::MAX,
];

fn random_action(rng: &mut Rng, names: &[&str]) -> Value {
    let a = *rng.pick(ACTIONS);
    let a = if a == "SCMP_ACT_NOTIFY" && names.contains(&"write") {
        "SCMP_ACT_ALLOW"
    } else {
        a
    };
    let mut e = json!({ "action": a });
    if matches!(a, "SCMP_ACT_ERRNO" | "SCMP_ACT_TRACE") && rng.chance(70) {
        e["errnoRet"] = json!(1 + rng.below(3));
    }
    e
}

/// Names that libseccomp also places on x86's socketcall/ipc with argument 0 rewritten.
const MUXED: &[&str] = &[
    "socketcall",
    "ipc",
    "socket",
    "bind",
    "connect",
    "accept",
    "accept4",
    "recv",
    "send",
    "sendmmsg",
    "recvmmsg",
    "semop",
    "semget",
    "semtimedop",
    "msgsnd",
    "shmat",
    "shmctl",
];

/// A random profile. Rules with different actions on one syscall are kept disjoint
/// from the first comparison on: each conditional rule carries a tag on argument 0
/// chosen by its action, so libseccomp's tree never merges them (it merges the first
/// levels of overlapping rules and then mixes up their actions; real profiles keep
/// rules with different actions apart). The x86-multiplexed names, whose argument 0
/// libseccomp rewrites, get conditions only in the one profile in five that uses a
/// single action; those profiles also repeat arguments (runc's one-rule-per-condition
/// path) and condition every argument.
fn random_profile(rng: &mut Rng, known: &BTreeSet<String>) -> Value {
    let pool: Vec<&str> = NAME_POOL.iter().copied().filter(|n| known.contains(*n)).collect();
    let default = loop {
        let d = random_action(rng, &[]);
        if d["action"] != "SCMP_ACT_NOTIFY" {
            break d;
        }
    };
    let single = rng.chance(20);
    let single_action = random_action(rng, &["write"]);
    let mut p = json!({ "defaultAction": default["action"], "listenerPath": "/run/agent.sock" });
    if let Some(e) = default.get("errnoRet") {
        p["defaultErrnoRet"] = e.clone();
    }
    let arch_sets: &[&[&str]] = &[
        &["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        &["SCMP_ARCH_X86_64"],
        &["SCMP_ARCH_X86"],
        &["SCMP_ARCH_X32"],
        &["SCMP_ARCH_X86_64", "SCMP_ARCH_X32"],
        &["SCMP_ARCH_X86", "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
        &[],
    ];
    let arches = *rng.pick(arch_sets);
    if !arches.is_empty() || rng.chance(50) {
        p["architectures"] = json!(arches);
    }
    let mut tags: Vec<String> = Vec::new();
    let mut entries = Vec::new();
    for _ in 0..1 + rng.below(20) {
        let names: Vec<&str> = (0..1 + rng.below(4)).map(|_| *rng.pick(&pool)).collect();
        let mut e = if single {
            single_action.clone()
        } else {
            random_action(rng, &names)
        };
        if e["action"] == "SCMP_ACT_NOTIFY" && names.contains(&"write") {
            e = json!({"action": "SCMP_ACT_ALLOW"});
        }
        let muxed = names.iter().any(|n| MUXED.contains(n));
        let conditional = rng.chance(60) && (single || !muxed);
        if conditional {
            let mut args = Vec::new();
            let mut used = BTreeSet::new();
            for _ in 0..1 + rng.below(3) {
                let idx = if single { rng.below(6) } else { 1 + rng.below(5) };
                if !single && !used.insert(idx) {
                    continue;
                }
                let op = *rng.pick(seccomp::OPERATORS);
                let mut a = json!({ "index": idx, "value": *rng.pick(VALUES), "op": op });
                if op == "SCMP_CMP_MASKED_EQ" || rng.chance(10) {
                    a["valueTwo"] = json!(*rng.pick(VALUES));
                }
                args.push(a);
            }
            if !single {
                let key = format!("{}/{}", e["action"], e.get("errnoRet").map_or(0, u));
                let tag = match tags.iter().position(|t| *t == key) {
                    Some(i) => i,
                    None => {
                        tags.push(key);
                        tags.len() - 1
                    }
                } as u64
                    + 1;
                args.push(if rng.chance(50) {
                    json!({"index": 0, "value": tag, "op": "SCMP_CMP_EQ"})
                } else {
                    json!({"index": 0, "value": 0xff00u64, "valueTwo": tag << 8, "op": "SCMP_CMP_MASKED_EQ"})
                });
            }
            e["args"] = json!(args);
        }
        e["names"] = json!(names);
        entries.push(e);
    }
    p["syscalls"] = json!(entries);
    p
}

#[test]
fn random_profiles_match_libseccomp() {
    let Some(bin) = helper("random_profiles_match_libseccomp") else {
        return;
    };
    let _c = Cleanup(bin.clone());
    let known = known_to_libseccomp(&bin, NAME_POOL);
    let seed: u64 = std::env::var("SECCOMP_DIFF_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_240_601);
    let count: usize = std::env::var("SECCOMP_DIFF_PROFILES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(150);
    let mut rng = Rng(seed);
    let (mut agreed, mut refused, mut inputs, mut stale) = (0, 0, 0, 0);
    for i in 0..count {
        let p = random_profile(&mut rng, &known);
        match compare(
            &bin,
            &p,
            seed.wrapping_add(i as u64),
            &format!("seed {seed} profile {i}"),
        ) {
            Some(rep) => {
                agreed += 1;
                inputs += rep.compared;
                stale += rep.stale;
            }
            None => refused += 1,
        }
    }
    eprintln!(
        "random profiles: {agreed} agree on {inputs} inputs ({stale} inputs skipped where \
         libseccomp compared a stale accumulator), {refused} refused by libseccomp (seed {seed})"
    );
    assert!(
        stale * 20 <= inputs,
        "too many inputs hit libseccomp's stale accumulator: {stale}"
    );
    // libseccomp refuses (EEXIST) or loops forever on some rule sets that runc would
    // then fail to start; those profiles compare nothing.
    assert!(
        agreed * 4 >= count * 3,
        "libseccomp refused too many profiles: {refused}"
    );
}

/// Load both filters for real in forked children and compare what syscalls return.
#[cfg(target_arch = "x86_64")]
#[test]
fn docker_profile_loaded_for_real_matches_libseccomp() {
    let Some(bin) = helper("docker_profile_loaded_for_real_matches_libseccomp") else {
        return;
    };
    let _c = Cleanup(bin.clone());
    let profile = docker_profile();
    let names: Vec<String> = profile["syscalls"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|e| e["names"].as_array().cloned().unwrap_or_default())
        .filter_map(|n| n.as_str().map(str::to_owned))
        .collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let known = known_to_libseccomp(&bin, &refs);
    let mut profile = profile;
    restrict_names(&mut profile, &known);
    let json = serde_json::to_vec(&profile).expect("json");
    let ours = SeccompProgram::compile(&parse_profile(&json).expect("parse")).expect("compile");
    let (input, default, _) = runc_input(&profile);
    let r = run_helper(&bin, &input, "real");
    assert_eq!(r.code, 0);
    let stub = Stub::parse(&r.stdout, default);
    // What each probe returns: (syscall, args) -> errno (0 = success).
    let probes: &[(libc::c_long, [u64; 3])] = &[
        (libc::SYS_getpid, [0, 0, 0]),
        (libc::SYS_mount, [0, 0, 0]),
        (libc::SYS_unshare, [0x2000_0000, 0, 0]),
        (libc::SYS_clone3, [0, 0, 0]),
        (libc::SYS_personality, [0xffff_ffff, 0, 0]),
        (libc::SYS_personality, [0x1234, 0, 0]),
        (libc::SYS_socket, [40, 1, 0]),
        (libc::SYS_keyctl, [0, 0, 0]),
        (libc::SYS_close, [9999, 0, 0]),
        (462, [0, 0, 0]),
    ];
    let ours_res = run_probes(Loader::Ours(&ours), probes);
    let ref_res = run_probes(Loader::Raw(&r.program, Some(&stub)), probes);
    assert_eq!(
        ours_res, ref_res,
        "errnos differ: ours {ours_res:?}, libseccomp+runc {ref_res:?}"
    );
    assert_eq!(ours_res[1], libc::EPERM, "mount is refused with EPERM");
    assert_eq!(ours_res[3], libc::ENOSYS, "clone3 gets ENOSYS");
}

enum Loader<'a> {
    Ours(&'a SeccompProgram),
    Raw(&'a [sock_filter], Option<&'a Stub>),
}

/// runc's stub as BPF for x86_64 only: ld arch; jne x86_64 -> filter; ld nr; jset x32 -> filter; jgt max -> ENOSYS.
fn with_stub(prog: &[sock_filter], stub: &Stub) -> Vec<sock_filter> {
    let Some(max) = stub.maxes.get(&0xc000_003e) else {
        return prog.to_vec();
    };
    let i = |code, jt, jf, k| sock_filter { code, jt, jf, k };
    let mut v = vec![
        i(0x20, 0, 0, 4),
        i(0x15, 0, 4, AUDIT_ARCH_X86_64),
        i(0x20, 0, 0, 0),
        i(0x45, 2, 0, X32_BIT),
        i(0x25, 0, 1, *max),
        i(0x06, 0, 0, ENOSYS_RET),
    ];
    v.extend_from_slice(prog);
    v
}

fn run_probes(loader: Loader<'_>, probes: &[(libc::c_long, [u64; 3])]) -> Vec<i32> {
    let prog: Vec<sock_filter> = match &loader {
        Loader::Ours(_) => Vec::new(),
        Loader::Raw(p, stub) => match stub {
            Some(s) if s.active => with_stub(p, s),
            _ => p.to_vec(),
        },
    };
    let mut out = Vec::new();
    for (nr, args) in probes {
        let mut fds = [0; 2];
        // SAFETY: pipe with a valid two-int array.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        // SAFETY: fork; the child only makes raw syscalls, writes to the pipe and _exits.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            // SAFETY: prctl with integer arguments.
            unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
            let loaded = match &loader {
                Loader::Ours(p) => p.load().is_ok(),
                Loader::Raw(..) => {
                    let fprog = libc::sock_fprog {
                        len: prog.len() as u16,
                        filter: prog.as_ptr().cast_mut(),
                    };
                    // SAFETY: fprog points at `prog`, alive for the call.
                    unsafe { libc::prctl(libc::PR_SET_SECCOMP, 2, &fprog as *const _ as libc::c_ulong, 0, 0) == 0 }
                }
            };
            let errno: i32 = if !loaded {
                -1
            } else {
                // SAFETY: a raw syscall with integer arguments in a throwaway child.
                let rc = unsafe { libc::syscall(*nr, args[0], args[1], args[2]) };
                if rc < 0 {
                    std::io::Error::last_os_error().raw_os_error().unwrap_or(-2)
                } else {
                    0
                }
            };
            let b = errno.to_ne_bytes();
            // SAFETY: writes 4 bytes from a stack buffer to our pipe, then exits.
            unsafe {
                libc::write(fds[1], b.as_ptr().cast(), 4);
                libc::_exit(0);
            }
        }
        // SAFETY: closing our copy of the write end.
        unsafe { libc::close(fds[1]) };
        let mut b = [0u8; 4];
        // SAFETY: reads at most 4 bytes into a stack buffer.
        let n = unsafe { libc::read(fds[0], b.as_mut_ptr().cast(), 4) };
        // SAFETY: closing the read end and reaping our child.
        unsafe {
            libc::close(fds[0]);
            let mut st = 0;
            libc::waitpid(pid, &mut st, 0);
        }
        out.push(if n == 4 { i32::from_ne_bytes(b) } else { -3 });
    }
    out
}
