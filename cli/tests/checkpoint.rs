//! `checkpoint` and `restore` through CRIU: a round trip where CRIU works on the host,
//! and a clear error that leaves the container as it was where it does not.

mod common;

use common::{Guard, ocirun, run_ok, run_status, state};
use test_support::{Bundle, require_prerequisites, unique_id};

fn criu_works() -> bool {
    std::process::Command::new("criu")
        .arg("check")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn checkpoint_and_restore_round_trip_or_fail_clearly() {
    require_prerequisites();
    let b = Bundle::new(&["sh", "-c", "i=0; while true; do i=$((i+1)); sleep 0.1; done"]);
    b.write();
    let root = b.state_root();
    let id = unique_id("cliCR");
    let _g = Guard(root.clone(), id.clone());
    detached(
        ocirun(&root)
            .args(["run", "--detach", "--bundle"])
            .arg(b.path())
            .arg(&id),
    );
    let images = b.path().join("images");
    let (ok, err) = run_status(ocirun(&root).args(["checkpoint", "--image-path"]).arg(&images).arg(&id));
    if !criu_works() {
        // Debian's CRIU cannot run on this host: the error says so, and the container runs on.
        assert!(!ok, "checkpoint succeeded although `criu check` fails");
        assert!(
            err.contains("criu check") && err.contains("CRIU cannot work on this host"),
            "{err}"
        );
        assert_eq!(state(&root, &id)["status"], "running");
        let id2 = unique_id("cliCR");
        let (ok, err) = run_status(
            ocirun(&root)
                .args(["restore", "--image-path"])
                .arg(&images)
                .arg("--bundle")
                .arg(b.path())
                .arg(&id2),
        );
        assert!(!ok && err.contains("CRIU cannot work on this host"), "{err}");
        assert!(!root.join(&id2).exists(), "restore left a state directory");
        return;
    }
    assert!(ok, "checkpoint: {err}");
    assert_eq!(state(&root, &id)["status"], "stopped");
    run_ok(ocirun(&root).args(["delete", &id]));
    detached(
        ocirun(&root)
            .args(["restore", "--detach", "--image-path"])
            .arg(&images)
            .arg("--bundle")
            .arg(b.path())
            .arg(&id),
    );
    assert_eq!(state(&root, &id)["status"], "running");
}

/// Runs `cmd` (`run --detach` or `restore --detach`) with no stdio for the container: CRIU can
/// dump only files it finds inside the container (stdio on /dev/null is the container's own),
/// as with runc, whose clients give pipes or /dev/null.
fn detached(cmd: &mut std::process::Command) {
    use std::process::Stdio;
    let out = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(out.success(), "{cmd:?} failed ({out})");
}

/// Whether CRIU works here; on the VM host of scripts/vm-test.sh it must.
fn criu_round_trip_possible() -> bool {
    if criu_works() {
        return true;
    }
    assert!(
        std::env::var_os("OCIRUN_VM_TEST").is_none(),
        "`criu check` fails on the VM test host"
    );
    eprintln!("skipped: `criu check` fails on this host (the error is tested above)");
    false
}

/// Polls `f` until it holds, for up to a minute (emulated VMs are slow), and says if it did.
fn eventually(mut f: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    f()
}

/// A pre-dump, then a dump on top of it (`--parent-path`), then a restore: the counter the
/// container keeps in a shell variable continues from where it was, it does not start again.
#[test]
fn pre_dump_dump_and_restore_continue_the_state_in_memory() {
    require_prerequisites();
    if !criu_round_trip_possible() {
        return;
    }
    let (b, count) = test_support::counter_bundle();
    b.write();
    let root = b.state_root();
    let id = unique_id("criuPre");
    let _g = Guard(root.clone(), id.clone());
    detached(
        ocirun(&root)
            .args(["run", "--detach", "--bundle"])
            .arg(b.path())
            .arg(&id),
    );
    assert!(
        eventually(|| test_support::counter(&count) > 0),
        "the counter never ran"
    );
    let images = b.path().join("images");
    run_ok(
        ocirun(&root)
            .args(["checkpoint", "--pre-dump", "--image-path"])
            .arg(images.join("pre"))
            .arg(&id),
    );
    assert_eq!(
        state(&root, &id)["status"],
        "running",
        "a pre-dump stopped the container"
    );
    let after_pre = test_support::counter(&count);
    assert!(
        eventually(|| test_support::counter(&count) > after_pre),
        "the counter stopped after the pre-dump"
    );
    run_ok(
        ocirun(&root)
            .args(["checkpoint", "--parent-path", "../pre", "--image-path"])
            .arg(images.join("final"))
            .arg(&id),
    );
    assert_eq!(state(&root, &id)["status"], "stopped");
    let at_dump = test_support::counter(&count);
    run_ok(ocirun(&root).args(["delete", &id]));
    detached(
        ocirun(&root)
            .args(["restore", "--detach", "--image-path"])
            .arg(images.join("final"))
            .arg("--bundle")
            .arg(b.path())
            .arg(&id),
    );
    assert_eq!(state(&root, &id)["status"], "running");
    let mut first = None;
    assert!(
        eventually(|| {
            let now = test_support::counter(&count);
            first.get_or_insert(now);
            now > at_dump
        }),
        "the restored counter did not move past {at_dump}"
    );
    assert!(
        first.unwrap() >= at_dump,
        "the counter started again: {first:?} after {at_dump}"
    );
    run_ok(ocirun(&root).args(["delete", "--force", &id]));
}

/// `--leave-running` keeps the container going; with `--tcp-established` a TCP connection
/// inside it (over its loopback) is dumped, and after a restore the stream goes on.
#[test]
fn leave_running_and_an_established_tcp_connection_survive_a_round_trip() {
    require_prerequisites();
    if !criu_round_trip_possible() {
        return;
    }
    // busybox's nc carries a stream only between programs it runs (-e): a server that keeps
    // the last number it got in /tmp/recv, a client that counts.
    let mut b = Bundle::new(&[
        "sh",
        "-c",
        "nc -l -p 5555 -e sh /srv.sh & sleep 0.5; exec nc 127.0.0.1 5555 -e sh /count.sh",
    ]);
    b.spec["root"]["readonly"] = serde_json::json!(false);
    b.write();
    std::fs::write(
        b.rootfs().join("srv.sh"),
        "while read -r l; do echo $l > /tmp/recv.new; mv /tmp/recv.new /tmp/recv; done\n",
    )
    .unwrap();
    std::fs::write(
        b.rootfs().join("count.sh"),
        "i=0; while true; do i=$((i+1)); echo $i; usleep 50000; done\n",
    )
    .unwrap();
    let recv = b.rootfs().join("tmp/recv");
    let last = || {
        std::fs::read_to_string(&recv)
            .unwrap_or_default()
            .lines()
            .last()
            .and_then(|l| l.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    let root = b.state_root();
    let id = unique_id("criuTcp");
    let _g = Guard(root.clone(), id.clone());
    detached(
        ocirun(&root)
            .args(["run", "--detach", "--bundle"])
            .arg(b.path())
            .arg(&id),
    );
    assert!(
        eventually(|| last() >= 3),
        "no data over the container's TCP connection"
    );
    let images = b.path().join("images");
    run_ok(
        ocirun(&root)
            .args(["checkpoint", "--leave-running", "--tcp-established", "--image-path"])
            .arg(&images)
            .arg(&id),
    );
    assert_eq!(state(&root, &id)["status"], "running");
    let after_dump = last();
    assert!(
        eventually(|| last() > after_dump),
        "the stream stopped after --leave-running"
    );
    run_ok(ocirun(&root).args(["delete", "--force", &id]));
    let before_restore = last();
    detached(
        ocirun(&root)
            .args(["restore", "--detach", "--tcp-established", "--image-path"])
            .arg(&images)
            .arg("--bundle")
            .arg(b.path())
            .arg(&id),
    );
    assert_eq!(state(&root, &id)["status"], "running");
    assert!(
        eventually(|| last() > before_restore),
        "the restored connection carried nothing past {before_restore}"
    );
    run_ok(ocirun(&root).args(["delete", "--force", &id]));
}
