//! Seccomp: the cost of compiling Docker's default profile, and how many BPF
//! instructions a typical allowed syscall runs under it, ours against libseccomp's.
//!
//! The instruction counts are printed before the timings. libseccomp's program comes
//! from the differential test's C helper (seccomp/tests/helper/libseccomp_ref.c),
//! built here with `cc -lseccomp`; without libseccomp only our counts are printed.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::Value;

use seccomp::arch::AUDIT_ARCH_X86_64;
use seccomp::bpf::{SeccompData, interpret};
use seccomp::{ScmpArch, SeccompProgram, parse_profile};

fn seccomp_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../seccomp")
}

fn docker_json() -> Vec<u8> {
    std::fs::read(seccomp_dir().join("tests/fixtures/docker-default.json"))
        .expect("read seccomp/tests/fixtures/docker-default.json")
}

/// libseccomp's program for `profile`, built as runc builds it, or None without libseccomp.
fn libseccomp_program(profile: &Value, optimize: bool) -> Option<Vec<libc::sock_filter>> {
    let dir = std::env::temp_dir().join(format!("ocirun-bench-seccomp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    let bin = dir.join("libseccomp_ref");
    let built = Command::new("cc")
        .arg("-O1")
        .arg("-o")
        .arg(&bin)
        .arg(seccomp_dir().join("tests/helper/libseccomp_ref.c"))
        .arg("-lseccomp")
        .output()
        .ok()?
        .status
        .success();
    if !built {
        let _ = std::fs::remove_dir_all(&dir);
        return None;
    }
    let value = |a: &Value| -> u32 {
        let e = a.get("errnoRet").and_then(Value::as_u64).unwrap_or(1) as u32;
        match a["action"].as_str().unwrap_or("") {
            "SCMP_ACT_ALLOW" => 0x7fff_0000,
            "SCMP_ACT_ERRNO" => 0x0005_0000 | e,
            other => panic!("the Docker profile has no {other}"),
        }
    };
    let default = 0x0005_0000 | profile["defaultErrnoRet"].as_u64().unwrap_or(1) as u32;
    let mut input = format!("default {default}\n");
    for a in profile["architectures"].as_array().into_iter().flatten() {
        let tok: u32 = match a.as_str().unwrap_or("") {
            "SCMP_ARCH_X86_64" => 0xc000_003e,
            "SCMP_ARCH_X86" => 0x4000_0003,
            _ => 0x4000_003e,
        };
        input += &format!("arch {tok}\n");
    }
    if optimize {
        input += "optimize 2\n";
    }
    for e in profile["syscalls"].as_array().into_iter().flatten() {
        let act = value(e);
        let conds: Vec<String> = e["args"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| {
                let op = match a["op"].as_str().unwrap_or("") {
                    "SCMP_CMP_NE" => 1,
                    "SCMP_CMP_EQ" => 4,
                    _ => 7,
                };
                format!(
                    "{} {op} {} {}",
                    a["index"],
                    a["value"],
                    a.get("valueTwo").and_then(Value::as_u64).unwrap_or(0)
                )
            })
            .collect();
        for n in e["names"].as_array().into_iter().flatten() {
            let n = n.as_str().unwrap_or("");
            input += &format!("rule {act} {n} {} {}\n", conds.len(), conds.join(" "));
        }
    }
    let out = dir.join("prog.bpf");
    let mut child = Command::new(&bin)
        .arg(&out)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .ok()?;
    child.stdin.take()?.write_all(input.as_bytes()).ok()?;
    let ok = child.wait().ok()?.success();
    let bytes = std::fs::read(&out).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    if !ok {
        return None;
    }
    Some(
        bytes
            .chunks_exact(8)
            .map(|c| libc::sock_filter {
                code: u16::from_ne_bytes([c[0], c[1]]),
                jt: c[2],
                jf: c[3],
                k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
            })
            .collect(),
    )
}

fn data(name: &str, args: [u64; 6]) -> SeccompData {
    SeccompData {
        nr: seccomp::syscalls::syscall_number(ScmpArch::X86_64, name).expect("x86_64 syscall"),
        arch: AUDIT_ARCH_X86_64,
        instruction_pointer: 0,
        args,
    }
}

const PROBES: &[(&str, [u64; 6])] = &[
    ("read", [0; 6]),
    ("write", [0; 6]),
    ("futex", [0; 6]),
    ("epoll_wait", [0; 6]),
    ("openat", [0; 6]),
    ("getpid", [0; 6]),
    ("clone", [0x0111_0011, 0, 0, 0, 0, 0]),
    ("personality", [8, 0, 0, 0, 0, 0]),
    ("mount", [0; 6]),
];

fn report(ours: &SeccompProgram, profile: &Value) {
    let lib_opt = libseccomp_program(profile, true);
    let lib_plain = libseccomp_program(profile, false);
    println!("\nseccomp: Docker's default profile (x86_64 + x86 + x32), instructions executed per syscall");
    println!(
        "program length: ours {}, libseccomp (binary tree, as runc sets it) {}, libseccomp (linear) {}",
        ours.instructions().len(),
        lib_opt.as_ref().map_or("n/a".into(), |p| p.len().to_string()),
        lib_plain.as_ref().map_or("n/a".into(), |p| p.len().to_string()),
    );
    println!(
        "{:<12} {:>6} {:>16} {:>18}",
        "syscall", "ours", "libseccomp tree", "libseccomp linear"
    );
    let count = |p: &[libc::sock_filter], d: &SeccompData| -> String {
        interpret(p, d).map_or("err".into(), |o| o.executed.to_string())
    };
    for (name, args) in PROBES {
        let d = data(name, *args);
        println!(
            "{:<12} {:>6} {:>16} {:>18}",
            name,
            count(ours.instructions(), &d),
            lib_opt.as_deref().map_or("n/a".into(), |p| count(p, &d)),
            lib_plain.as_deref().map_or("n/a".into(), |p| count(p, &d)),
        );
    }
    println!("(runc prepends its ENOSYS stub to libseccomp's program: about 6 more per syscall)\n");
}

fn bench(c: &mut Criterion) {
    let json = docker_json();
    let profile = parse_profile(&json).expect("Docker's profile parses");
    let value: Value = serde_json::from_slice(&json).expect("json");
    let ours = SeccompProgram::compile_for(&profile, ScmpArch::X86_64).expect("compiles");
    report(&ours, &value);

    c.bench_function("seccomp/compile docker-default", |b| {
        b.iter(|| SeccompProgram::compile_for(std::hint::black_box(&profile), ScmpArch::X86_64))
    });
    c.bench_function("seccomp/parse+compile docker-default", |b| {
        b.iter(|| {
            let p = parse_profile(std::hint::black_box(&json)).expect("parse");
            SeccompProgram::compile_for(&p, ScmpArch::X86_64)
        })
    });
    let read = data("read", [0; 6]);
    c.bench_function("seccomp/interpret read", |b| {
        b.iter(|| interpret(ours.instructions(), std::hint::black_box(&read)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
