//! Compiling profiles and checking the programs with the interpreter, plus a few
//! real loads in forked children.

use seccomp::action::{RET_ALLOW, RET_ENOSYS, RET_ERRNO, RET_KILL_THREAD, RET_TRAP};
use seccomp::arch::{AUDIT_ARCH_AARCH64, AUDIT_ARCH_ARM, AUDIT_ARCH_I386, AUDIT_ARCH_X86_64};
use seccomp::bpf::{SeccompData, interpret};
use seccomp::{ScmpArch, SeccompError, SeccompProgram, parse_profile};

fn compile(json: &str) -> SeccompProgram {
    let p = parse_profile(json.as_bytes()).expect("parse");
    SeccompProgram::compile_for(&p, ScmpArch::X86_64).expect("compile")
}

fn run(p: &SeccompProgram, arch: u32, nr: u32, args: [u64; 6]) -> u32 {
    let d = SeccompData {
        nr,
        arch,
        instruction_pointer: 0,
        args,
    };
    interpret(p.instructions(), &d).expect("interpret").ret
}

fn x64(p: &SeccompProgram, name: &str, args: [u64; 6]) -> u32 {
    let nr = seccomp::syscalls::syscall_number(ScmpArch::X86_64, name).expect("name");
    run(p, AUDIT_ARCH_X86_64, nr, args)
}

#[test]
fn simple_allow_list() {
    let p = compile(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64"],
            "syscalls":[{"names":["read","write","getpid"],"action":"SCMP_ACT_ALLOW"},
                        {"names":["mount"],"action":"SCMP_ACT_TRAP"}]}"#,
    );
    assert_eq!(x64(&p, "read", [0; 6]), RET_ALLOW);
    assert_eq!(x64(&p, "getpid", [0; 6]), RET_ALLOW);
    assert_eq!(x64(&p, "mount", [0; 6]), RET_TRAP);
    assert_eq!(x64(&p, "open", [0; 6]), RET_ERRNO | 1);
    // Above the highest listed syscall (mount, 165): ENOSYS, runc's stub.
    assert_eq!(x64(&p, "clone3", [0; 6]), RET_ENOSYS);
    // Another architecture: killed.
    assert_eq!(run(&p, AUDIT_ARCH_I386, 3, [0; 6]), RET_KILL_THREAD);
    // An x32 number on an x86_64-only filter: bad arch; -1 gets the default.
    assert_eq!(run(&p, AUDIT_ARCH_X86_64, 0x4000_0000, [0; 6]), RET_KILL_THREAD);
    assert_eq!(run(&p, AUDIT_ARCH_X86_64, u32::MAX, [0; 6]), RET_ERRNO | 1);
    assert!(!p.needs_listener());
    assert_eq!(p.flags(), 0);
}

#[test]
fn every_operator_on_64_bit_arguments() {
    let big = 0x1_0000_0005u64;
    let p = compile(&format!(
        r#"{{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
          {{"names":["read"],"action":"SCMP_ACT_ERRNO","errnoRet":1,"args":[{{"index":0,"value":{big},"op":"SCMP_CMP_EQ"}}]}},
          {{"names":["write"],"action":"SCMP_ACT_ERRNO","errnoRet":2,"args":[{{"index":1,"value":{big},"op":"SCMP_CMP_NE"}}]}},
          {{"names":["open"],"action":"SCMP_ACT_ERRNO","errnoRet":3,"args":[{{"index":2,"value":{big},"op":"SCMP_CMP_LT"}}]}},
          {{"names":["close"],"action":"SCMP_ACT_ERRNO","errnoRet":4,"args":[{{"index":3,"value":{big},"op":"SCMP_CMP_LE"}}]}},
          {{"names":["stat"],"action":"SCMP_ACT_ERRNO","errnoRet":5,"args":[{{"index":4,"value":{big},"op":"SCMP_CMP_GE"}}]}},
          {{"names":["fstat"],"action":"SCMP_ACT_ERRNO","errnoRet":6,"args":[{{"index":5,"value":{big},"op":"SCMP_CMP_GT"}}]}},
          {{"names":["lstat"],"action":"SCMP_ACT_ERRNO","errnoRet":7,"args":[{{"index":0,"value":{mask},"valueTwo":{big},"op":"SCMP_CMP_MASKED_EQ"}}]}}
        ]}}"#,
        mask = 0xffff_ffff_0000_00ffu64
    ));
    let e = |n: u32| RET_ERRNO | n;
    let at = |i: usize, v: u64| {
        let mut a = [0u64; 6];
        a[i] = v;
        a
    };
    for v in [0, 5, big - 1, big, big + 1, 0xffff_ffff_ffff_ffff, 0x2_0000_0000] {
        let expect = |cond: bool, n: u32| if cond { e(n) } else { RET_ALLOW };
        assert_eq!(x64(&p, "read", at(0, v)), expect(v == big, 1), "eq {v:#x}");
        assert_eq!(x64(&p, "write", at(1, v)), expect(v != big, 2), "ne {v:#x}");
        assert_eq!(x64(&p, "open", at(2, v)), expect(v < big, 3), "lt {v:#x}");
        assert_eq!(x64(&p, "close", at(3, v)), expect(v <= big, 4), "le {v:#x}");
        assert_eq!(x64(&p, "stat", at(4, v)), expect(v >= big, 5), "ge {v:#x}");
        assert_eq!(x64(&p, "fstat", at(5, v)), expect(v > big, 6), "gt {v:#x}");
        let m = 0xffff_ffff_0000_00ffu64;
        assert_eq!(x64(&p, "lstat", at(0, v)), expect(v & m == big & m, 7), "masked {v:#x}");
    }
}

#[test]
fn conditions_and_rules_combine_as_libseccomp() {
    // Two conditions on different args: AND. Two rules: OR.
    let p = compile(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
          {"names":["personality"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":0,"op":"SCMP_CMP_EQ"}]},
          {"names":["personality"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":8,"op":"SCMP_CMP_EQ"}]},
          {"names":["kill"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":1,"op":"SCMP_CMP_EQ"},{"index":1,"value":9,"op":"SCMP_CMP_EQ"}]},
          {"names":["tkill"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":1,"op":"SCMP_CMP_EQ"},{"index":0,"value":2,"op":"SCMP_CMP_EQ"}]},
          {"names":["uname"],"action":"SCMP_ACT_TRAP","args":[{"index":0,"value":1,"op":"SCMP_CMP_EQ"}]},
          {"names":["uname"],"action":"SCMP_ACT_ALLOW"}
        ]}"#,
    );
    let eperm = RET_ERRNO | 1;
    assert_eq!(x64(&p, "personality", [0, 0, 0, 0, 0, 0]), RET_ALLOW);
    assert_eq!(x64(&p, "personality", [8, 0, 0, 0, 0, 0]), RET_ALLOW);
    assert_eq!(x64(&p, "personality", [9, 0, 0, 0, 0, 0]), eperm);
    assert_eq!(x64(&p, "kill", [1, 9, 0, 0, 0, 0]), RET_ALLOW);
    assert_eq!(x64(&p, "kill", [1, 8, 0, 0, 0, 0]), eperm);
    // Same argument twice: runc splits into two rules (OR).
    assert_eq!(x64(&p, "tkill", [1, 0, 0, 0, 0, 0]), RET_ALLOW);
    assert_eq!(x64(&p, "tkill", [2, 0, 0, 0, 0, 0]), RET_ALLOW);
    assert_eq!(x64(&p, "tkill", [3, 0, 0, 0, 0, 0]), eperm);
    // An unconditional rule wins over conditional ones.
    assert_eq!(x64(&p, "uname", [1, 0, 0, 0, 0, 0]), RET_ALLOW);
}

#[test]
fn x86_socket_calls_also_match_through_socketcall() {
    let p = compile(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86"],
            "syscalls":[{"names":["socket","read","open"],"action":"SCMP_ACT_ALLOW"},
                        {"names":["pidfd_open"],"action":"SCMP_ACT_TRAP"}]}"#,
    );
    // runc's stub counts no socket name on x86 (libseccomp resolves them to pseudo
    // numbers there), so without pidfd_open (434) socket (359) would get ENOSYS.
    assert_eq!(run(&p, AUDIT_ARCH_I386, 359, [0; 6]), RET_ALLOW);
    assert_eq!(run(&p, AUDIT_ARCH_I386, 102, [1, 0, 0, 0, 0, 0]), RET_ALLOW);
    assert_eq!(run(&p, AUDIT_ARCH_I386, 102, [2, 0, 0, 0, 0, 0]), RET_ERRNO | 1);
    assert_eq!(run(&p, AUDIT_ARCH_I386, 3, [0; 6]), RET_ALLOW);
}

#[test]
fn other_architectures_compile() {
    let json = r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_AARCH64","SCMP_ARCH_ARM"],
            "syscalls":[{"names":["read","openat","set_tls"],"action":"SCMP_ACT_ALLOW"}]}"#;
    let p = compile(json);
    assert_eq!(run(&p, AUDIT_ARCH_AARCH64, 63, [0; 6]), RET_ALLOW);
    assert_eq!(run(&p, AUDIT_ARCH_AARCH64, 56, [0; 6]), RET_ALLOW);
    assert_eq!(run(&p, AUDIT_ARCH_ARM, 3, [0; 6]), RET_ALLOW);
    assert_eq!(run(&p, AUDIT_ARCH_ARM, 0x0f_0005, [0; 6]), RET_ALLOW);
    let prof = parse_profile(json.as_bytes()).expect("parse");
    let native_arm = SeccompProgram::compile_for(&prof, ScmpArch::Aarch64).expect("compile");
    assert_eq!(run(&native_arm, AUDIT_ARCH_X86_64, 0, [0; 6]), RET_KILL_THREAD);
}

#[test]
fn bad_input_is_an_error_naming_it() {
    let err = |json: &str| -> String {
        match parse_profile(json.as_bytes()) {
            Err(e) => e.to_string(),
            Ok(p) => match SeccompProgram::compile_for(&p, ScmpArch::X86_64) {
                Err(e) => e.to_string(),
                Ok(_) => panic!("accepted {json}"),
            },
        }
    };
    let e = err(r#"{"defaultAction":"SCMP_ACT_FOO"}"#);
    assert!(e.contains("defaultAction") && e.contains("SCMP_ACT_FOO"), "{e}");
    let e = err(r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_BAR"}]}"#);
    assert!(e.contains("syscalls[0].action") && e.contains("SCMP_ACT_BAR"), "{e}");
    let e = err(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":1,"op":"SCMP_CMP_XX"}]}]}"#,
    );
    assert!(e.contains("syscalls[0].args[0].op") && e.contains("SCMP_CMP_XX"), "{e}");
    let e = err(r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_VAX"]}"#);
    assert!(e.contains("architectures[0]") && e.contains("SCMP_ARCH_VAX"), "{e}");
    let e = err(r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_MIPS"]}"#);
    assert!(e.contains("SCMP_ARCH_MIPS") && e.contains("not supported"), "{e}");
    let e = err(r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":[],"action":"SCMP_ACT_ERRNO"}]}"#);
    assert!(e.contains("syscalls[0].names is empty"), "{e}");
    let e = err(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO","args":[{"index":6,"value":1,"op":"SCMP_CMP_EQ"}]}]}"#,
    );
    assert!(e.contains("syscalls[0].args[0].index"), "{e}");
    let e = err(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_KILL","errnoRet":3}]}"#,
    );
    assert!(e.contains("syscalls[0].errnoRet"), "{e}");
    let e = err(r#"{"defaultAction":"SCMP_ACT_NOTIFY"}"#);
    assert!(e.contains("defaultAction"), "{e}");
    let e = err(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/x","syscalls":[{"names":["write"],"action":"SCMP_ACT_NOTIFY"}]}"#,
    );
    assert!(e.contains("write"), "{e}");
    let e = err(r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_NOTIFY"}]}"#);
    assert!(e.contains("listenerPath"), "{e}");
    let e = err(r#"{"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]}"#);
    assert!(e.contains("SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"), "{e}");
    let e = err(r#"{"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_NOPE"]}"#);
    assert!(e.contains("flags[0]"), "{e}");
    assert!(matches!(
        parse_profile(b"{").map(|_| ()),
        Err(SeccompError::Parse { .. })
    ));
}

#[test]
fn flags_map_to_kernel_bits() {
    let p = compile(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/run/agent.sock",
            "flags":["SECCOMP_FILTER_FLAG_TSYNC","SECCOMP_FILTER_FLAG_LOG","SECCOMP_FILTER_FLAG_SPEC_ALLOW","SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
            "syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_NOTIFY"}]}"#,
    );
    assert!(p.needs_listener());
    assert_eq!(p.flags(), 1 | 2 | 4 | 8 | 16 | 32);
}

/// Fork, load `p` in the child, run `probe` there and return its exit code.
fn in_child(p: &SeccompProgram, probe: fn() -> i32) -> i32 {
    // SAFETY: fork in a test; the child only makes raw syscalls and _exits.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork");
    if pid == 0 {
        // SAFETY: prctl with integer arguments.
        unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
        let code = match p.load() {
            Ok(_) => probe(),
            Err(_) => 100,
        };
        // SAFETY: ends the child without running destructors.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waits for the child forked above.
    let r = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(r, pid);
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        200 + libc::WTERMSIG(status)
    }
}

fn errno_of(rc: libc::c_long) -> i32 {
    if rc < 0 {
        std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
    } else {
        0
    }
}

#[cfg(target_arch = "x86_64")]
#[test]
fn loads_for_real_in_a_child() {
    let json = r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":13,"architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86","SCMP_ARCH_X32"],
        "syscalls":[{"names":["exit_group","exit","getpid","getppid"],"action":"SCMP_ACT_ALLOW"},
                    {"names":["getuid"],"action":"SCMP_ACT_ERRNO","errnoRet":42},
                    {"names":["kill"],"action":"SCMP_ACT_ALLOW","args":[{"index":1,"value":0,"op":"SCMP_CMP_EQ"}]}]}"#;
    let p = SeccompProgram::compile(&parse_profile(json.as_bytes()).expect("parse")).expect("compile");
    // Allowed syscalls work, errnoRet and defaultErrnoRet come back, argument checks hold,
    // and a syscall above the profile's highest gets ENOSYS.
    let code = in_child(&p, || {
        // SAFETY: plain syscalls with integer arguments.
        unsafe {
            if libc::syscall(libc::SYS_getpid) <= 0 {
                return 1;
            }
            if errno_of(libc::syscall(libc::SYS_getuid)) != 42 {
                return 2;
            }
            if errno_of(libc::syscall(libc::SYS_getgid)) != 13 {
                return 3;
            }
            if libc::syscall(libc::SYS_kill, libc::getpid(), 0) != 0 {
                return 4;
            }
            if errno_of(libc::syscall(libc::SYS_kill, 1, 9)) != 13 {
                return 5;
            }
            if errno_of(libc::syscall(libc::SYS_clone3, 0, 0)) != libc::ENOSYS {
                return 6;
            }
        }
        0
    });
    assert_eq!(code, 0);
}

#[cfg(target_arch = "x86_64")]
#[test]
fn kill_process_action_kills_for_real() {
    let json =
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["getuid"],"action":"SCMP_ACT_KILL_PROCESS"}]}"#;
    let p = SeccompProgram::compile(&parse_profile(json.as_bytes()).expect("parse")).expect("compile");
    let code = in_child(&p, || {
        // SAFETY: getuid has no arguments.
        unsafe { libc::syscall(libc::SYS_getuid) };
        0
    });
    assert_eq!(code, 200 + libc::SIGSYS);
}

#[cfg(target_arch = "x86_64")]
#[test]
fn notify_returns_a_listener_fd() {
    let json = r#"{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/unused","syscalls":[{"names":["mkdirat"],"action":"SCMP_ACT_NOTIFY"}]}"#;
    let p = SeccompProgram::compile(&parse_profile(json.as_bytes()).expect("parse")).expect("compile");
    let code = in_child(&p, || 0);
    assert_eq!(code, 0);
    // SAFETY: fork; the child makes raw syscalls only and _exits.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: prctl with integer arguments.
        unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
        let code = match p.load() {
            // SAFETY: F_GETFD on an integer fd.
            Ok(Some(fd)) if unsafe { libc::fcntl(std::os::fd::AsRawFd::as_raw_fd(&fd), libc::F_GETFD) } >= 0 => 0,
            _ => 1,
        };
        // SAFETY: ends the child.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waits for our child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
}
