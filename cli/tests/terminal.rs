//! `ocirun` with `process.terminal`: `--console-socket` for create and `run --detach` (runc's
//! protocol, received here as runc's recvtty would), a foreground `run` relaying its own stdio
//! to the pty, and runc's rules on when a console socket is allowed.

use std::io::{Read, Write};

use std::process::Stdio;

mod common;

use common::{Guard, ocirun, run_status};
use serde_json::json;
use test_support::{Bundle, ConsoleSocket, read_pty_until, require_prerequisites, unique_id};

fn terminal_bundle(args: &[&str]) -> Bundle {
    let mut b = Bundle::new(args);
    b.spec["process"]["terminal"] = json!(true);
    b.write();
    b
}

#[test]
fn create_sends_the_pty_master_to_the_console_socket() {
    require_prerequisites();
    let b = terminal_bundle(&["sh"]);
    let root = b.state_root();
    let id = unique_id("clitty");
    let _g = Guard(root.clone(), id.clone());
    let console = ConsoleSocket::new();
    let (ok, err) = run_status(
        ocirun(&root)
            .args(["create", "--console-socket"])
            .arg(console.path())
            .arg("--bundle")
            .arg(b.path())
            .arg(&id),
    );
    assert!(ok, "create failed: {err}");
    let (master, name) = console.accept_master();
    assert_eq!(name, "/dev/pts/ptmx");
    let (ok, err) = run_status(ocirun(&root).args(["start", &id]));
    assert!(ok, "start failed: {err}");

    let mut input = std::fs::File::from(master.try_clone().unwrap());
    input.write_all(b"echo hello-$((6*7)) from $(tty)\n").unwrap();
    let out = read_pty_until(&master, Some("hello-42 from /dev/pts/0\n"));
    assert!(out.contains("hello-42 from /dev/pts/0\n"), "{out:?}");
    input.write_all(b"exit 3\n").unwrap();
    read_pty_until(&master, None);
    // The pty closes as the container's processes go (their files close before they are
    // zombies); its init then stays a zombie until delete, so the state comes to say stopped.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut status = common::state(&root, &id)["status"].clone();
    while status != "stopped" && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
        status = common::state(&root, &id)["status"].clone();
    }
    assert_eq!(status, "stopped");
    let (ok, err) = run_status(ocirun(&root).args(["delete", &id]));
    assert!(ok, "delete failed: {err}");
}

#[test]
fn run_detach_sends_the_pty_master_to_the_console_socket() {
    require_prerequisites();
    let mut b = terminal_bundle(&["sh", "-c", "stty size; read line; echo got-$line"]);
    b.spec["process"]["consoleSize"] = json!({"height": 40, "width": 120});
    b.write();
    let root = b.state_root();
    let id = unique_id("clitty");
    let _g = Guard(root.clone(), id.clone());
    let console = ConsoleSocket::new();
    let (ok, err) = run_status(
        ocirun(&root)
            .args(["run", "--detach", "--console-socket"])
            .arg(console.path())
            .arg("--bundle")
            .arg(b.path())
            .arg(&id),
    );
    assert!(ok, "run --detach failed: {err}");
    let (master, _) = console.accept_master();
    let out = read_pty_until(&master, Some("40 120\n"));
    assert!(out.contains("40 120\n"), "{out:?}");
    std::fs::File::from(master.try_clone().unwrap())
        .write_all(b"ping\n")
        .unwrap();
    let out = read_pty_until(&master, None);
    assert!(out.contains("got-ping\n"), "{out:?}");
}

#[test]
fn foreground_run_relays_its_stdio_to_the_pty_and_returns_the_exit_code() {
    require_prerequisites();
    let b = terminal_bundle(&["sh"]);
    let root = b.state_root();
    let id = unique_id("clitty");
    let _g = Guard(root.clone(), id.clone());
    let mut child = ocirun(&root)
        .args(["run", "--bundle"])
        .arg(b.path())
        .arg(&id)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    stdin.write_all(b"echo hello-$((6*7)) on $(tty)\n").unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    let want = "hello-42 on /dev/pts/0\n";
    while !String::from_utf8_lossy(&out).replace('\r', "").contains(want) {
        let n = stdout.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "ocirun's stdout ended without {want:?}: {:?}",
            String::from_utf8_lossy(&out)
        );
        out.extend_from_slice(&buf[..n]);
    }
    stdin.write_all(b"exit 3\n").unwrap();
    drop(stdin);
    stdout.read_to_end(&mut out).unwrap();
    let status = child.wait().unwrap();
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert_eq!(status.code(), Some(3), "stderr: {err}");
    assert!(!root.join(&id).exists(), "run deletes the container after it exits");
}

#[test]
fn console_socket_rules_and_bad_sockets_are_named_and_leave_nothing() {
    require_prerequisites();
    let tty = terminal_bundle(&["true"]);
    let plain = Bundle::new(&["true"]);
    plain.write();
    let console = ConsoleSocket::new();
    let live = console.path();
    let dir = tempfile::tempdir().unwrap();
    let dead = dir.path().join("dead.sock");
    drop(std::os::unix::net::UnixListener::bind(&dead).unwrap());
    let missing = dir.path().join("missing.sock");

    let cases: [(&Bundle, Vec<&std::ffi::OsStr>, &[&str]); 6] = [
        (
            &tty,
            vec!["create".as_ref()],
            &["cannot allocate tty if ocirun will detach without setting console socket"],
        ),
        (
            &tty,
            vec!["run".as_ref(), "--detach".as_ref()],
            &["cannot allocate tty if ocirun will detach without setting console socket"],
        ),
        (
            &tty,
            vec!["run".as_ref(), "--console-socket".as_ref(), live.as_os_str()],
            &["cannot use console socket if ocirun will not detach or allocate tty"],
        ),
        (
            &plain,
            vec!["create".as_ref(), "--console-socket".as_ref(), live.as_os_str()],
            &["cannot use console socket if ocirun will not detach or allocate tty"],
        ),
        (
            &tty,
            vec!["create".as_ref(), "--console-socket".as_ref(), dead.as_os_str()],
            &["--console-socket", "dead.sock", "Connection refused"],
        ),
        (
            &tty,
            vec![
                "run".as_ref(),
                "-d".as_ref(),
                "--console-socket".as_ref(),
                missing.as_os_str(),
            ],
            &["--console-socket", "missing.sock", "No such file"],
        ),
    ];
    for (b, args, want) in cases {
        let root = b.state_root();
        let id = unique_id("clittybad");
        let _g = Guard(root.clone(), id.clone());
        let (ok, err) = run_status(ocirun(&root).args(&args).arg("--bundle").arg(b.path()).arg(&id));
        assert!(!ok, "{args:?} succeeded");
        for w in want {
            assert!(err.contains(w), "{args:?}: {err:?} does not mention {w:?}");
        }
        assert!(!root.join(&id).exists(), "{args:?} left a state directory");
        assert!(!cgroup_exists(b), "{args:?} left a cgroup");
    }
}

/// Whether the bundle's cgroup exists in any hierarchy.
fn cgroup_exists(b: &Bundle) -> bool {
    let path = b.spec["linux"]["cgroupsPath"].as_str().unwrap().trim_start_matches('/');
    std::fs::read_dir("/sys/fs/cgroup")
        .unwrap()
        .flatten()
        .any(|h| h.path().join(path).exists())
}

#[test]
fn exec_tty_sends_a_pty_of_the_containers_devpts_to_the_console_socket() {
    require_prerequisites();
    let b = Bundle::new(&["sleep", "1000"]);
    b.write();
    let root = b.state_root();
    let id = unique_id("cliexectty");
    let _g = Guard(root.clone(), id.clone());
    let (ok, err) = run_status(
        ocirun(&root)
            .args(["run", "--detach", "--bundle"])
            .arg(b.path())
            .arg(&id),
    );
    assert!(ok, "{err}");
    let console = ConsoleSocket::new();
    let (ok, err) = run_status(
        ocirun(&root)
            .args(["exec", "--tty", "--detach", "--console-socket"])
            .arg(console.path())
            .args([&id, "sh"]),
    );
    assert!(ok, "{err}");
    let (master, _) = console.accept_master();
    let mut m = std::fs::File::from(master.try_clone().unwrap());
    m.write_all(b"echo tty=$(tty); exit\n").unwrap();
    let out = read_pty_until(&master, Some("tty=/dev/pts/"));
    assert!(out.contains("tty=/dev/pts/0"), "{out}");
    // The init has no terminal: its /dev/console is not the exec'd process's pty.
    let (ok, err) = run_status(ocirun(&root).args(["exec", &id, "test", "!", "-c", "/dev/console"]));
    assert!(ok, "/dev/console appeared in the container after exec --tty: {err}");

    // runc's rules hold for exec too.
    let (ok, err) = run_status(ocirun(&root).args(["exec", "--tty", "--detach", &id, "true"]));
    assert!(
        !ok && err.contains("cannot allocate tty if ocirun will detach without setting console socket"),
        "{err}"
    );
    let (ok, err) = run_status(ocirun(&root).args(["exec", "--console-socket", "/x", &id, "true"]));
    assert!(!ok && err.contains("cannot use console socket"), "{err}");
}
