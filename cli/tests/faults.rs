//! Faults the kernel can give (injected with `strace -e inject`): ocirun fails with a clear error
//! in bounded time and leaves nothing that `list` shows or the host keeps. Its tests run one at
//! a time, alone in their binary, so none disturbs another's counts of mounts and cgroups.

mod common;

use std::process::{Command, Stdio};

use common::{ocirun, serial};
use test_support::{Bundle, footprint, require_prerequisites, unique_id};

/// Whether strace is installed (`.ci/run` installs it).
fn strace() -> bool {
    Command::new("strace")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A failed send of a message the init waits for (the uid maps written, Go with the cgroup's
/// fds) used to leave `create` and `run` waiting for ever on an init that waited too (issue 17:
/// an EIO from the first sendmsg hung ocirun). Now the command fails naming the send, its init
/// is killed and nothing is left.
#[test]
fn an_error_from_the_sync_socket_fails_create_and_run_without_a_hang_or_a_leak() {
    require_prerequisites();
    let _s = serial();
    assert!(
        strace(),
        "strace is needed for fault injection (apt-get install strace)"
    );
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

/// `create` killed while it writes the state that names the init (held there by an injected
/// delay, then SIGKILLed) leaves no init behind: until the state is on disk the init dies with
/// its parent (issue 17: such an init lived on, reparented to pid 1, with no state naming it).
#[test]
fn create_killed_before_its_state_is_written_leaves_no_init() {
    require_prerequisites();
    let _s = serial();
    assert!(
        strace(),
        "strace is needed for fault injection (apt-get install strace)"
    );
    let b = Bundle::new(&["sleep", "100"]);
    b.write();
    let root = b.state_root();
    let id = unique_id("killed");
    let trace = b.path().join("trace");
    // The first rename of create is the state file's: held for 5 s there.
    let mut strace = Command::new("strace")
        .args(["-f", "-o"])
        .arg(&trace)
        .args([
            "-e",
            "trace=clone3,rename",
            "-e",
            "inject=rename:delay_enter=5000000:when=1",
        ])
        .arg(env!("CARGO_BIN_EXE_ocirun"))
        .arg("--root")
        .arg(&root)
        .args(["create", "--bundle"])
        .arg(b.path())
        .arg(&id)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // ocirun's pid and its init's, once the rename has begun.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let (runtime, init) = loop {
        let text = std::fs::read_to_string(&trace).unwrap_or_default();
        let init = text
            .lines()
            .find(|l| l.contains("clone3(") && l.contains("CLONE_NEWPID"))
            .and_then(|l| l.rsplit("= ").next())
            .and_then(|p| p.trim().parse::<i64>().ok());
        let runtime = text
            .lines()
            .find(|l| l.contains(" rename(") && l.contains("state.json"))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|p| p.parse::<i64>().ok());
        if let (Some(r), Some(i)) = (runtime, init) {
            break (r, i);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "create never reached its state write:\n{text}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    // SAFETY: kill takes plain integers; runtime is the ocirun this test started under strace.
    unsafe { libc::kill(runtime as i32, libc::SIGKILL) };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while test_support::alive(init) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let survived = test_support::alive(init);
    if survived {
        // SAFETY: kill takes plain integers; init is the orphan this test's create made.
        unsafe { libc::kill(init as i32, libc::SIGKILL) };
    }
    // strace follows the init too: it ends once nothing it traces is left.
    let _ = strace.kill();
    let _ = strace.wait();
    let _ = ocirun(&root).args(["delete", "--force", &id]).output();
    // Not yet recorded before they are made (issue 17's intent log): the cgroup directories
    // of a create killed before its state exists, which `delete --force` cannot find. Removed
    // here so the run leaves nothing; they hold no process (the init is gone).
    for dir in b.cgroup_dirs_everywhere() {
        let _ = std::fs::remove_dir(&dir);
    }
    assert!(
        !survived,
        "the init {init} outlived its killed create with no state naming it"
    );
}
