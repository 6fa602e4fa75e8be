//! End-to-end tests of runtime-spec fields runc and youki accept and ocirun refused or ignored
//! (issue 15): each reads its effect from inside the container or checks the error text.

mod common;

use common::{Guard, ocirun};
use serde_json::json;
use test_support::{Bundle, require_prerequisites, unique_id};

/// Runs the bundle's container to its end with `ocirun run`; returns (exit code, stdout, stderr).
fn run(b: &Bundle, prefix: &str, global: &[&str]) -> (Option<i32>, String, String) {
    b.write();
    let id = unique_id(prefix);
    let _g = Guard(b.state_root(), id.clone());
    let out = ocirun(&b.state_root())
        .args(global)
        .args(["run", "--bundle"])
        .arg(b.path())
        .arg(&id)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn memory_kernel_warns_and_the_container_runs() {
    require_prerequisites();
    let mut b = Bundle::new(&["cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes"]);
    b.spec["linux"]["resources"]["memory"] = json!({"limit": 67108864, "kernel": 33554432});
    let log = b.path().join("ocirun.log");
    let log_arg = log.to_str().unwrap().to_string();
    let (code, out, err) = run(&b, "kmem", &["--log", &log_arg]);
    assert_eq!(code, Some(0), "{err}");
    // The rest of the memory resources is applied.
    assert_eq!(out.trim(), "67108864");
    assert!(
        err.contains("warning") && err.contains("linux.resources.memory.kernel"),
        "{err}"
    );
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("level=warning") && logged.contains("linux.resources.memory.kernel"),
        "{logged}"
    );
}
