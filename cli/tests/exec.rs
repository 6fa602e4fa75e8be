//! `ocirun exec` and the foreground processes' signals, through the binary.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use common::{Guard, ocirun, run_detached, run_ok, state};
use serde_json::json;
use test_support::{Bundle, require_prerequisites, unique_id};

/// A running container that sleeps, detached.
fn sleeper(prefix: &str) -> (Bundle, String) {
    require_prerequisites();
    let b = Bundle::new(&["sleep", "1000"]);
    b.write();
    let id = unique_id(prefix);
    run_detached(
        ocirun(&b.state_root())
            .args(["run", "--detach", "--bundle"])
            .arg(b.path())
            .arg(&id),
    );
    (b, id)
}

#[test]
fn exec_runs_with_the_flags_and_returns_the_exit_code() {
    let (b, id) = sleeper("cliexec");
    let root = b.state_root();
    let _g = Guard(root.clone(), id.clone());
    let out = ocirun(&root)
        .args(["exec", "--env", "FOO=bar", "--cwd", "/tmp", "--user", "nobody", &id])
        .args(["sh", "-c", "echo $FOO $(pwd) $(id -u):$(id -g) pid=$$; exit 5"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("bar /tmp 65534:65534 pid="), "{text}");
    // Not the init: a second process in the same pid namespace.
    assert!(!text.contains("pid=1\n"), "{text}");

    // The whole process from a process.json.
    let process = b.path().join("process.json");
    std::fs::write(
        &process,
        json!({"args": ["sh", "-c", "echo from-json $A"], "cwd": "/", "env": ["A=1"], "user": {"uid": 0, "gid": 0}})
            .to_string(),
    )
    .unwrap();
    let out = run_ok(
        ocirun(&root)
            .args(["exec", "--process"])
            .arg(&process)
            .arg(&id)
            .stdin(Stdio::null()),
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "from-json 1\n");
}

#[test]
fn exec_detach_writes_the_pid_of_a_process_in_the_container() {
    let (b, id) = sleeper("cliexecd");
    let root = b.state_root();
    let _g = Guard(root.clone(), id.clone());
    let pid_file = b.path().join("exec.pid");
    run_detached(
        ocirun(&root)
            .args(["exec", "--detach", "--pid-file"])
            .arg(&pid_file)
            .args([&id, "sleep", "1000"]),
    );
    let pid: i32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    let init = state(&root, &id)["pid"].as_i64().unwrap();
    let ns = |pid: i64, kind: &str| std::fs::read_link(format!("/proc/{pid}/ns/{kind}")).unwrap();
    for kind in ["pid", "mnt", "net"] {
        assert_eq!(ns(pid.into(), kind), ns(init, kind), "{kind}");
    }
    // kill --all reaches it too.
    run_ok(ocirun(&root).args(["kill", "--all", &id, "KILL"]));
}

#[test]
fn exec_refuses_bad_input_and_leaves_nothing() {
    let (b, id) = sleeper("cliexecbad");
    let root = b.state_root();
    let _g = Guard(root.clone(), id.clone());
    let procs =
        || std::fs::read_to_string(format!("/proc/{}/task/{0}/children", state(&root, &id)["pid"])).unwrap_or_default();
    let before = procs();
    let bad_json = b.path().join("bad.json");
    std::fs::write(&bad_json, "{ nope").unwrap();
    for (args, want) in [
        (vec!["exec", "no-such-container", "true"], "no-such-container"),
        (
            vec!["exec", "--user", "alice", &id, "true"],
            "no such user in the container's /etc/passwd",
        ),
        (
            vec!["exec", "--user", "0:wheel", &id, "true"],
            "no such group \"wheel\"",
        ),
        (vec!["exec", "--process", bad_json.to_str().unwrap(), &id], "bad.json"),
        (vec!["exec", "--cap", "CAP_FLY", &id, "true"], "CAP_FLY"),
        (vec!["exec", &id, "no-such-binary"], "no-such-binary"),
    ] {
        let out = ocirun(&root).args(&args).stdin(Stdio::null()).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(err.contains(want), "{args:?}: {err:?} does not mention {want:?}");
    }
    assert_eq!(procs(), before, "a process was left in the container");
    // A stopped container.
    run_ok(ocirun(&root).args(["kill", &id, "KILL"]));
    for _ in 0..500 {
        if state(&root, &id)["status"] == "stopped" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let out = ocirun(&root).args(["exec", &id, "true"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("stopped"), "{out:?}");
}

#[test]
fn foreground_run_and_exec_forward_signals_and_reset_what_ocirun_ignores() {
    require_prerequisites();
    let b = Bundle::new(&[
        "sh",
        "-c",
        "grep SigIgn /proc/self/status; trap 'echo got-term; exit 9' TERM; echo ready; while :; do sleep 0.1; done",
    ]);
    b.write();
    let id = unique_id("clisig");
    let root = b.state_root();
    let _g = Guard(root.clone(), id.clone());
    let mut child = ocirun(&root)
        .args(["run", "--bundle"])
        .arg(b.path())
        .arg(&id)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // Rust ignores SIGPIPE in ocirun; the container must not inherit that.
    assert_eq!(lines.next().unwrap().unwrap(), "SigIgn:\t0000000000000000");
    assert_eq!(lines.next().unwrap().unwrap(), "ready");
    // SAFETY: signalling the ocirun process this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert_eq!(lines.next().unwrap().unwrap(), "got-term");
    assert_eq!(child.wait().unwrap().code(), Some(9));

    // The same through a foreground exec.
    let (b, id) = sleeper("cliexecsig");
    let root = b.state_root();
    let _g = Guard(root.clone(), id.clone());
    let mut child = ocirun(&root)
        .args([
            "exec",
            &id,
            "sh",
            "-c",
            "trap 'echo got-term; exit 8' TERM; echo ready; while :; do sleep 0.1; done",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "ready");
    // SAFETY: signalling the ocirun process this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert_eq!(lines.next().unwrap().unwrap(), "got-term");
    assert_eq!(child.wait().unwrap().code(), Some(8));
}

/// The pid a pidfd names, from its fdinfo.
fn pidfd_pid(fd: &std::os::fd::OwnedFd) -> i64 {
    use std::os::fd::AsRawFd;
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd())).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("Pid:"))
        .expect("a pidfd's fdinfo has Pid")
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn pidfd_socket_receives_the_init_and_the_exec_process() {
    require_prerequisites();
    let b = Bundle::new(&["sleep", "1000"]);
    b.write();
    let root = b.state_root();
    let id = unique_id("clipidfd");
    let _g = Guard(root.clone(), id.clone());
    let socket = test_support::ConsoleSocket::new();
    run_detached(
        ocirun(&root)
            .args(["run", "--detach", "--pidfd-socket"])
            .arg(socket.path())
            .arg("--bundle")
            .arg(b.path())
            .arg(&id),
    );
    let (fd, name) = socket.accept_master();
    assert_eq!(name, "pidfd");
    assert_eq!(pidfd_pid(&fd), state(&root, &id)["pid"].as_i64().unwrap());

    let pid_file = b.path().join("exec.pid");
    run_detached(
        ocirun(&root)
            .args(["exec", "--detach", "--pidfd-socket"])
            .arg(socket.path())
            .arg("--pid-file")
            .arg(&pid_file)
            .args([&id, "sleep", "1000"]),
    );
    let (fd, _) = socket.accept_master();
    let pid: i64 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    assert_eq!(pidfd_pid(&fd), pid);

    // Nobody listening: a clear error, and no container.
    let dead = b.path().join("dead.sock");
    let id2 = unique_id("clipidfd");
    let (ok, err) = common::run_status(
        ocirun(&root)
            .args(["run", "--detach", "--pidfd-socket"])
            .arg(&dead)
            .arg("--bundle")
            .arg(b.path())
            .arg(&id2),
    );
    assert!(
        !ok && err.contains("--pidfd-socket") && err.contains("dead.sock"),
        "{err}"
    );
    assert!(!root.join(&id2).exists(), "a state directory was left behind");
}
