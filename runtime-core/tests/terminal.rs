//! `process.terminal` through the library: the pty master reaches a console socket (runc's
//! protocol) or the embedding program, and the container's stdio is the pty's peer.

use std::io::Write;
use std::os::fd::OwnedFd;

mod common;

use common::{Guard, chain, serial, spec_of};
use runtime_core::Container;
use serde_json::json;
use test_support::{Bundle, ConsoleSocket, footprint, read_pty_until, require_prerequisites, unique_id};

fn terminal_bundle(args: &[&str]) -> Bundle {
    let mut b = Bundle::new(args);
    b.spec["process"]["terminal"] = json!(true);
    b
}

#[test]
fn console_socket_receives_the_pty_master_of_an_interactive_shell() {
    require_prerequisites();
    let _serial = serial();
    let before = footprint();
    let b = terminal_bundle(&["sh"]);
    let console = ConsoleSocket::new();
    let c = Container::builder(unique_id("tty"))
        .root(b.state_root())
        .bundle(b.path())
        .spec(spec_of(&b))
        .console_socket(console.path())
        .create()
        .unwrap_or_else(|e| panic!("create failed: {}", chain(&e)));
    let mut guard = Guard(Some(c));
    // The runtime has sent the master and closed its side before create returned.
    let (master, name) = console.accept_master();
    assert_eq!(name, "/dev/pts/ptmx", "runc sends the ptmx path with the fd");
    guard.0.as_mut().unwrap().start().unwrap();

    let mut input = std::fs::File::from(master.try_clone().unwrap());
    input.write_all(b"echo hello-$((6*7))\n").unwrap();
    let out = read_pty_until(&master, Some("hello-42\n"));
    assert!(out.contains("hello-42\n"), "no hello-42 in {out:?}");
    input.write_all(b"exit 3\n").unwrap();
    // Until EIO: every fd of the container's side of the pty is closed.
    read_pty_until(&master, None);
    let status = guard.0.as_mut().unwrap().wait().unwrap();
    assert_eq!(status.code(), 3);
    guard.0.take().unwrap().delete(false).unwrap();
    drop((input, master, console));
    assert_eq!(footprint(), before, "something leaked");
}

#[test]
fn the_pty_is_stdio_controlling_terminal_and_console_with_the_console_size() {
    require_prerequisites();
    let _serial = serial();
    let mut b = terminal_bundle(&[
        "sh",
        "-c",
        "tty; stty size; for fd in 0 1 2; do readlink /proc/self/fd/$fd; done; \
         echo session-ctty=$(cut -d' ' -f6,7 /proc/self/stat); echo console=$(stat -c %t:%T /dev/console); \
         echo owner=$(stat -c %u /dev/pts/0); echo fds=$(ls /proc/self/fd | wc -l)",
    ]);
    b.spec["process"]["consoleSize"] = json!({"height": 33, "width": 101});
    b.spec["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    let mut c = Container::builder(unique_id("tty"))
        .root(b.state_root())
        .bundle(b.path())
        .spec(spec_of(&b))
        .keep_pty_master(true)
        .run()
        .unwrap_or_else(|e| panic!("run failed: {}", chain(&e)));
    let master: OwnedFd = c.take_pty_master().expect("keep_pty_master keeps the master");
    assert!(c.take_pty_master().is_none(), "the master is handed out once");
    let mut guard = Guard(Some(c));
    let out = read_pty_until(&master, None);
    let status = guard.0.as_mut().unwrap().wait().unwrap();
    assert_eq!(status.code(), 0, "{out}");
    guard.0.take().unwrap().delete(false).unwrap();
    // 136 (0x88) is the major of Unix98 pty peers; pid 1 leads the session of tty 136:0.
    let want = "/dev/pts/0\n33 101\n/dev/pts/0\n/dev/pts/0\n/dev/pts/0\n\
                session-ctty=1 34816\nconsole=88:0\nowner=1000\nfds=4\n";
    assert_eq!(out, want);
}

#[test]
fn a_terminal_in_a_user_namespace_belongs_to_the_process_user() {
    require_prerequisites();
    let _serial = serial();
    let mut b = terminal_bundle(&["sh", "-c", "tty; id -u; stat -c %u /dev/pts/0; echo x >/dev/console"]);
    let mut ns = b.spec["linux"]["namespaces"].as_array().unwrap().clone();
    ns.push(json!({"type": "user"}));
    b.spec["linux"]["namespaces"] = json!(ns);
    b.spec["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    b.spec["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    b.spec["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    // The rootfs must be readable by the mapped root.
    std::process::Command::new("chown")
        .args(["-R", "100000:100000"])
        .arg(b.rootfs())
        .status()
        .unwrap();
    let mut c = Container::builder(unique_id("tty"))
        .root(b.state_root())
        .bundle(b.path())
        .spec(spec_of(&b))
        .keep_pty_master(true)
        .run()
        .unwrap_or_else(|e| panic!("run failed: {}", chain(&e)));
    let master = c.take_pty_master().expect("keep_pty_master keeps the master");
    let mut guard = Guard(Some(c));
    let out = read_pty_until(&master, None);
    let status = guard.0.as_mut().unwrap().wait().unwrap();
    assert_eq!(status.code(), 0, "{out}");
    guard.0.take().unwrap().delete(false).unwrap();
    // The process user can write to its console.
    assert_eq!(out, "/dev/pts/0\n1000\n1000\nx\n");
}

#[test]
fn bad_console_settings_are_named_and_leave_nothing() {
    require_prerequisites();
    let _serial = serial();
    // `make` runs after the first footprint: what it opens must be gone after the error.
    let check = |b: &Bundle, make: &dyn Fn() -> runtime_core::ContainerBuilder, id: &str, want: &[&str]| {
        let before = footprint();
        let err = make().root(b.state_root()).bundle(b.path()).create().unwrap_err();
        let text = chain(&err);
        for w in want {
            assert!(text.contains(w), "error {text:?} does not mention {w:?}");
        }
        assert!(!b.state_root().join(id).exists(), "state directory left behind");
        assert_eq!(footprint(), before, "something leaked after: {text}");
    };

    // A socket path nobody listens on.
    let b = terminal_bundle(&["true"]);
    b.write();
    let dir = tempfile::tempdir().unwrap();
    let dead = dir.path().join("dead.sock");
    drop(std::os::unix::net::UnixListener::bind(&dead).unwrap());
    let id = unique_id("ttybad");
    check(
        &b,
        &|| Container::builder(&id).console_socket(&dead),
        &id,
        &["--console-socket", "dead.sock", "connect", "Connection refused"],
    );

    // A socket path that does not exist.
    let id = unique_id("ttybad");
    let missing = dir.path().join("missing.sock");
    check(
        &b,
        &|| Container::builder(&id).console_socket(&missing),
        &id,
        &["--console-socket", "missing.sock", "No such file"],
    );

    // A terminal and nowhere to send its master.
    let id = unique_id("ttybad");
    check(
        &b,
        &|| Container::builder(&id),
        &id,
        &["process.terminal", "console socket"],
    );

    // A terminal and stdio given too.
    let id = unique_id("ttybad");
    let console = ConsoleSocket::new();
    let with_stdout = || {
        let (_r, w) = std::io::pipe().unwrap();
        Container::builder(&id)
            .console_socket(console.path())
            .stdout(OwnedFd::from(w))
    };
    check(&b, &with_stdout, &id, &["process.terminal", "stdout"]);

    // A console socket without a terminal.
    let plain = Bundle::new(&["true"]);
    plain.write();
    let id = unique_id("ttybad");
    check(
        &plain,
        &|| Container::builder(&id).console_socket(console.path()),
        &id,
        &["--console-socket", "process.terminal is false"],
    );
    let id = unique_id("ttybad");
    check(
        &plain,
        &|| Container::builder(&id).keep_pty_master(true),
        &id,
        &["process.terminal", "keep_pty_master"],
    );

    // A tmpfs, not a devpts, at /dev/pts: the init's console step fails, naming it.
    let mut b = terminal_bundle(&["true"]);
    let mounts: Vec<_> = b.spec["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| match m["destination"] == "/dev/pts" {
            true => json!({"destination": "/dev/pts", "type": "tmpfs", "source": "tmpfs"}),
            false => m.clone(),
        })
        .collect();
    b.spec["mounts"] = json!(mounts);
    b.write();
    let id = unique_id("ttybad");
    let make = || Container::builder(&id).console_socket(console.path());
    check(&b, &make, &id, &["console", "/dev/pts is a devpts mount"]);
    // The receiver sees the connection end without an fd.
    let (stream, _) = console.listener().accept().unwrap();
    let mut rest = Vec::new();
    std::io::Read::read_to_end(&mut &stream, &mut rest).unwrap();
    assert!(rest.is_empty(), "nothing was sent");
}
