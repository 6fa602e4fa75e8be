//! `ocirun run` of `true` 200 times in a row leaks nothing: alone in its test
//! binary, so no other test disturbs the counts of fds, mounts and cgroups.

mod common;

use common::ocirun;
use test_support::{Bundle, footprint, require_prerequisites, unique_id};

#[test]
fn two_hundred_runs_leak_nothing() {
    require_prerequisites();
    let b = Bundle::new(&["true"]);
    b.write();
    let root = b.state_root();
    // Warm up once so lazily created directories do not count.
    let warm = ocirun(&root)
        .args(["run", "-b"])
        .arg(b.path())
        .arg(unique_id("warm"))
        .status()
        .unwrap();
    assert!(warm.success());
    let before = footprint();
    for _ in 0..200 {
        let id = unique_id("loop");
        let out = ocirun(&root)
            .args(["run", "-b"])
            .arg(b.path())
            .arg(&id)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "run {id}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(footprint(), before);
    assert_eq!(
        std::fs::read_dir(&root).unwrap().count(),
        0,
        "state directories left behind"
    );
}
