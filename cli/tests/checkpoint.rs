//! `checkpoint` and `restore` through CRIU: a round trip where CRIU works on the host,
//! and a clear error that leaves the container as it was where it does not.

mod common;

use common::{Guard, ocirun, run_detached, run_ok, run_status, state};
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
    run_detached(
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
    run_detached(
        ocirun(&root)
            .args(["restore", "--detach", "--image-path"])
            .arg(&images)
            .arg("--bundle")
            .arg(b.path())
            .arg(&id),
    );
    assert_eq!(state(&root, &id)["status"], "running");
}
