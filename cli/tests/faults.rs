//! Faults the kernel can give (injected with `strace -e inject`): ocirun fails with a clear error
//! in bounded time and leaves nothing that `list` shows or the host keeps. Alone in its test
//! binary, so no other test disturbs the counts of mounts and cgroups.

mod common;

use std::process::{Command, Stdio};

use common::ocirun;
use test_support::{Bundle, footprint, require_prerequisites, unique_id};

/// Whether strace is installed (`.ci/run` installs it).
fn strace() -> bool {
    Command::new("strace").arg("-V").output().is_ok_and(|o| o.status.success())
}

/// A failed send of a message the init waits for (the uid maps written, Go with the cgroup's
/// fds) used to leave `create` and `run` waiting for ever on an init that waited too (issue 17:
/// an EIO from the first sendmsg hung ocirun). Now the command fails naming the send, its init
/// is killed and nothing is left.
#[test]
fn an_error_from_the_sync_socket_fails_create_and_run_without_a_hang_or_a_leak() {
    require_prerequisites();
    assert!(strace(), "strace is needed for fault injection (apt-get install strace)");
    let b = Bundle::new(&["sleep", "100"]);
    b.write();
    let root = b.state_root();
    let before = footprint();
    for cmd in ["create", "run"] {
        let id = unique_id("fault");
        // The deadline is strace's own: a hang ends as a killed ocirun, not a stuck test.
        let out = Command::new("timeout")
            .args(["-s", "KILL", "60", "strace", "-f", "-o", "/dev/null"])
            .args(["-e", "trace=sendmsg", "-e", "inject=sendmsg:error=EIO:when=1"])
            .arg(env!("CARGO_BIN_EXE_ocirun"))
            .arg("--root")
            .arg(&root)
            .args([cmd, "--bundle"])
            .arg(b.path())
            .arg(&id)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{cmd}: {:?} {err}", out.status);
        assert!(err.contains("send to the container init"), "{cmd}: {err}");
        let list = ocirun(&root).arg("list").arg("-q").output().unwrap();
        assert!(
            String::from_utf8_lossy(&list.stdout).trim().is_empty(),
            "{cmd}: a container is left"
        );
    }
    assert_eq!(footprint(), before, "something leaked");
}
