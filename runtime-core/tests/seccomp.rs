//! End-to-end seccomp: profiles loaded in real containers, looked at from inside
//! with a syscall probe that prints what each raw system call returned.

mod common;

use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::run_capture;
use serde_json::{Value, json};
use test_support::{Bundle, require_prerequisites};

/// The probe, compiled once per test run as a static binary (it runs in a busybox rootfs).
fn probe() -> &'static Path {
    static PROBE: OnceLock<PathBuf> = OnceLock::new();
    PROBE.get_or_init(|| {
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("seccomp-probe-{}", std::process::id()));
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/probe/probe.c");
        let status = std::process::Command::new("cc")
            .args(["-static", "-O1", "-o"])
            .arg(&out)
            .arg(&src)
            .status()
            .expect("run cc (.ci/run installs gcc and libc6-dev)");
        assert!(status.success(), "cc failed to build the probe");
        out
    })
}

/// A bundle whose process runs `script` in sh, with the probe at /bin/probe and `profile` as linux.seccomp.
fn bundle(script: &str, profile: Value) -> Bundle {
    let mut b = Bundle::new(&["sh", "-c", script]);
    std::fs::copy(probe(), b.rootfs().join("bin/probe")).expect("copy the probe");
    b.spec["linux"]["seccomp"] = profile;
    b
}

fn docker_default() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../seccomp/tests/fixtures/docker-default.json");
    serde_json::from_slice(&std::fs::read(path).expect("read Docker's default profile")).expect("profile parses")
}

/// The errno the probe printed for `name`, 0 when the call succeeded.
fn errno_of(out: &str, name: &str) -> i32 {
    let line = out
        .lines()
        .find(|l| l.starts_with(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no {name} line in {out:?}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

#[test]
fn dockers_default_profile_blocks_unshare_mount_keyctl_and_lets_a_shell_work() {
    require_prerequisites();
    // mount with null pointers would be EFAULT from the kernel: EPERM can only come from the filter.
    let script = "echo shell-works; ls / >/dev/null && echo ls-works; \
                  probe unshare 0x20000; probe mount 0 0 0 0 0; probe keyctl 0 -3 0; \
                  probe personality 0; probe getppid";
    let (code, out) = run_capture(&bundle(script, docker_default()));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("shell-works\nls-works\n"), "{out}");
    for name in ["unshare", "mount", "keyctl"] {
        assert_eq!(errno_of(&out, name), libc::EPERM, "{name}: {out}");
    }
    assert_eq!(errno_of(&out, "personality"), 0, "{out}");
    assert_eq!(errno_of(&out, "getppid"), 0, "{out}");
}

#[test]
fn without_a_profile_the_same_calls_reach_the_kernel() {
    require_prerequisites();
    let mut b = bundle("probe mount 0 0 0 0 0", Value::Null);
    b.spec["linux"].as_object_mut().unwrap().remove("seccomp");
    let (code, out) = run_capture(&b);
    assert_eq!(code, 0, "{out}");
    // The control for the test above: the kernel itself answers EFAULT.
    assert_eq!(errno_of(&out, "mount"), libc::EFAULT, "{out}");
}

#[test]
fn errno_ret_and_an_argument_rule_mean_what_they_say() {
    require_prerequisites();
    let profile = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [
            {"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 42},
            {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
             "args": [{"index": 0, "value": 4294967295u32, "op": "SCMP_CMP_NE"}]}
        ]
    });
    let (code, out) = run_capture(&bundle(
        "probe getppid; probe personality 0xffffffff; probe personality 8",
        profile,
    ));
    assert_eq!(code, 0, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "getppid -1 42", "{out}");
    // personality(0xffffffff) only reads the persona: the one allowed value.
    assert!(
        lines[1].starts_with("personality ") && lines[1].ends_with(" 0"),
        "{out}"
    );
    assert_eq!(lines[2], "personality -1 13", "{out}");
}

#[test]
fn without_no_new_privileges_a_non_root_process_still_gets_the_filter() {
    require_prerequisites();
    // Loading without no_new_privs needs CAP_SYS_ADMIN, which uid 1000 lacks after the
    // switch: the filter must be loaded before it, as runc does.
    let mut b = bundle(
        "probe getppid",
        json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 7}]
        }),
    );
    b.spec["process"]["noNewPrivileges"] = json!(false);
    b.spec["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    let (code, out) = run_capture(&b);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out.trim(), "getppid -1 7");
}

/// seccomp_notif and seccomp_notif_resp from <linux/seccomp.h>.
#[repr(C)]
#[derive(Default)]
struct Notif {
    id: u64,
    pid: u32,
    flags: u32,
    nr: i32,
    arch: u32,
    ip: u64,
    args: [u64; 6],
}

#[repr(C)]
struct NotifResp {
    id: u64,
    val: i64,
    error: i32,
    flags: u32,
}

const SECCOMP_IOCTL_NOTIF_RECV: libc::c_ulong = 0xc050_2100;
const SECCOMP_IOCTL_NOTIF_SEND: libc::c_ulong = 0xc018_2101;

/// `SECCOMP_USER_NOTIF_FLAG_CONTINUE`: the kernel runs the notified call as if allowed.
const NOTIF_FLAG_CONTINUE: u32 = 1;

/// The agent's side of the hand-over: the state and the listener fd the runtime sends.
fn receive_listener(listener: UnixListener) -> (Value, OwnedFd) {
    let (conn, _) = listener.accept().expect("accept the runtime");
    let mut buf = vec![0u8; 64 * 1024];
    let mut fds = [None];
    let (n, count) = ocirun_sys::socket::recv_with_fds(conn.as_fd(), &mut buf, &mut fds)
        .map_err(std::io::Error::from_raw_os_error)
        .expect("recvmsg");
    assert_eq!(count, 1, "the runtime sent an fd");
    let fd = fds[0].take().expect("the runtime sent an fd");
    let mut rest = Vec::new();
    let mut conn = conn;
    conn.read_to_end(&mut rest).expect("read the rest of the state");
    let mut json = buf[..n].to_vec();
    json.extend(rest);
    (serde_json::from_slice(&json).expect("the state is JSON"), fd)
}

/// Receives one notification on `fd` and answers it with `error` (a negative errno) and
/// `flags`; returns the syscall number it was for.
fn answer(fd: &OwnedFd, error: i32, flags: u32) -> i32 {
    let mut notif = Notif::default();
    // SAFETY: notif is a writable seccomp_notif the kernel fills.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), SECCOMP_IOCTL_NOTIF_RECV, &mut notif) };
    assert_eq!(r, 0, "NOTIF_RECV: {}", std::io::Error::last_os_error());
    let resp = NotifResp {
        id: notif.id,
        val: 0,
        error,
        flags,
    };
    // SAFETY: resp is a valid seccomp_notif_resp for the notification just received.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), SECCOMP_IOCTL_NOTIF_SEND, &resp) };
    assert_eq!(r, 0, "NOTIF_SEND: {}", std::io::Error::last_os_error());
    notif.nr
}

/// A bundle running `script` whose profile allows everything but notifies `call`, and the
/// agent's socket at its listenerPath.
fn notify_bundle(script: &str, call: &str) -> (Bundle, UnixListener) {
    let mut b = bundle(script, json!({}));
    let sock = b.path().join("agent.sock");
    let listener = UnixListener::bind(&sock).expect("bind the agent socket");
    b.spec["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": sock,
        "syscalls": [{"names": [call], "action": "SCMP_ACT_NOTIFY"}]
    });
    (b, listener)
}

/// An agent that answers one notification with EOPNOTSUPP; returns the state and the
/// syscall number it saw.
fn agent(listener: UnixListener) -> (Value, i32) {
    let (state, fd) = receive_listener(listener);
    (state, answer(&fd, -libc::EOPNOTSUPP, 0))
}

#[test]
fn a_notify_rule_reaches_the_agent_which_answers_it() {
    require_prerequisites();
    let (mut b, listener) = notify_bundle("probe mkdirat -100 s:/tmp/x 0755", "mkdirat");
    b.spec["linux"]["seccomp"]["listenerMetadata"] = json!("test-metadata");
    b.spec["root"]["readonly"] = json!(false);
    let agent = std::thread::spawn(move || agent(listener));
    let (code, out) = run_capture(&b);
    let (state, nr) = agent.join().expect("the agent ran");
    assert_eq!(code, 0, "{out}");
    assert_eq!(out.trim(), format!("mkdirat -1 {}", libc::EOPNOTSUPP));
    assert_eq!(nr as libc::c_long, libc::SYS_mkdirat);
    assert_eq!(state["fds"], json!(["seccompFd"]), "{state}");
    assert_eq!(state["metadata"], json!("test-metadata"), "{state}");
    assert!(state["pid"].as_i64().is_some_and(|p| p > 0), "{state}");
    assert_eq!(state["state"]["status"], json!("creating"), "{state}");
    assert!(
        state["state"]["id"].as_str().is_some_and(|id| id.starts_with("cap-")),
        "{state}"
    );
    assert!(
        !b.rootfs().join("tmp/x").exists(),
        "the agent's answer, not the kernel, decided"
    );
}

#[test]
fn the_agent_has_the_listener_when_the_init_makes_a_notified_call_of_its_own() {
    require_prerequisites();
    // Without noNewPrivileges the filter is loaded before the switch to the process's user,
    // so the init's own setresuid is notified before its Ready. Only the agent can answer
    // it: the runtime hands the listener over as it comes, as runc does, or the init waits
    // for ever.
    let (mut b, listener) = notify_bundle("id -u", "setresuid");
    b.spec["process"]["noNewPrivileges"] = json!(false);
    b.spec["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    b.write();
    let agent = std::thread::spawn(move || {
        let (_, fd) = receive_listener(listener);
        let mut seen = Vec::new();
        // Every notification is let through, until the filter's last process is gone.
        loop {
            let mut fds = [ocirun_sys::io::PollFd::new(fd.as_fd(), libc::POLLIN)];
            match ocirun_sys::io::poll(&mut fds, 30_000) {
                Ok(n) if n > 0 && fds[0].revents() & libc::POLLIN != 0 => {
                    seen.push(answer(&fd, 0, NOTIF_FLAG_CONTINUE))
                }
                _ => return seen,
            }
        }
    });
    let cgroup = b.cgroups_path().to_owned();
    let (done, finished) = std::sync::mpsc::channel();
    let runner = std::thread::spawn(move || {
        let _ = done.send(run_capture(&b));
    });
    let Ok((code, out)) = finished.recv_timeout(std::time::Duration::from_secs(60)) else {
        // The init waits on a notification nobody has the listener to answer: end it.
        for procs in [
            format!("/sys/fs/cgroup/unified{cgroup}/cgroup.procs"),
            format!("/sys/fs/cgroup{cgroup}/cgroup.procs"),
        ] {
            let text = std::fs::read_to_string(procs).unwrap_or_default();
            for pid in text
                .split_whitespace()
                .filter_map(|p| p.parse::<i32>().ok())
                .filter(|&p| p > 1)
            {
                // SAFETY: kill takes integers only; each pid is a process of the container's cgroup.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        // The run then fails, and its thread removes the bundle as it unwinds.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !runner.is_finished() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("the container did not start in 60 s: its init waits on its own notified setresuid");
    };
    assert_eq!(code, 0, "{out}");
    assert_eq!(out.trim(), "1000");
    let seen = agent.join().expect("the agent ran");
    assert!(seen.contains(&(libc::SYS_setresuid as i32)), "{seen:?}");
}

#[test]
fn a_filter_that_kills_exec_kills_the_container_at_start() {
    require_prerequisites();
    // The filter is in place before the runtime's last syscalls: execve itself is filtered.
    let b = bundle(
        "true",
        json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["execve"], "action": "SCMP_ACT_KILL_PROCESS"}]
        }),
    );
    let (code, _) = run_capture(&b);
    assert_eq!(code, 128 + libc::SIGSYS, "the container died of SIGSYS at exec");
}
