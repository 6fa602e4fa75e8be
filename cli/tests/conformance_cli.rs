//! runc's contract as its clients and the OCI conformance suites see it (issue 15): process.json
//! defaults, exit codes, error texts, hooks, mounts and cgroups, through the binary.

mod common;

use std::process::Stdio;

use common::{Guard, ocirun, run_detached, run_ok};
use serde_json::json;
use test_support::{Bundle, require_prerequisites, unique_id};

/// A running container that sleeps, detached, from `b`.
fn run_sleeper(b: &Bundle, prefix: &str) -> (String, Guard) {
    let id = unique_id(prefix);
    let guard = Guard(b.state_root(), id.clone());
    run_detached(
        ocirun(&b.state_root())
            .args(["run", "--detach", "--bundle"])
            .arg(b.path())
            .arg(&id),
    );
    (id, guard)
}

/// A sleeping busybox container's bundle.
fn sleeper_bundle() -> Bundle {
    require_prerequisites();
    let b = Bundle::new(&["sleep", "1000"]);
    b.write();
    b
}

/// `exec -p` with a process.json that has no `user` runs as root, as runc's (issue 15 item 22).
#[test]
fn exec_process_json_without_user_runs_as_root() {
    let b = sleeper_bundle();
    let (id, _g) = run_sleeper(&b, "nouser");
    let process = b.path().join("process.json");
    std::fs::write(
        &process,
        json!({"args": ["sh", "-c", "echo $(id -u):$(id -g)"], "cwd": "/"}).to_string(),
    )
    .unwrap();
    let out = run_ok(
        ocirun(&b.state_root())
            .args(["exec", "-p"])
            .arg(&process)
            .arg(&id)
            .stdin(Stdio::null()),
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "0:0\n");
}
