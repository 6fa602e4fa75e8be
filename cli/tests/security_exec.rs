//! Escapes through `ocirun exec` and the runtime's own binary, tried against the real binary
//! (issue 14, classes 5, 6, 10 and 11): each test performs the attack and checks on the host
//! that it failed.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;

use common::{Guard, ocirun, run_detached, run_ok, state};
use serde_json::json;
use test_support::{Bundle, require_prerequisites, unique_id};

/// Starts `b` detached as a new container; returns its id.
fn start(b: &Bundle, prefix: &str) -> String {
    b.write();
    let id = unique_id(prefix);
    run_detached(
        ocirun(&b.state_root())
            .args(["run", "--detach", "--bundle"])
            .arg(b.path())
            .arg(&id),
    );
    id
}

/// The init's pid, as `ocirun state` reports it.
fn init_pid(root: &Path, id: &str) -> i64 {
    state(root, id)["pid"].as_i64().expect("state has a pid")
}

/// A path inside the container's mount namespace, seen from the host through the init.
fn inside(root: &Path, id: &str, path: &str) -> PathBuf {
    PathBuf::from(format!("/proc/{}/root{path}", init_pid(root, id)))
}

/// `ocirun exec <id> <args>` with null stdin; returns (success, stdout, stderr).
fn exec(root: &Path, id: &str, flags: &[&str], args: &[&str]) -> (bool, String, String) {
    let out = ocirun(root)
        .arg("exec")
        .args(flags)
        .arg(id)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run ocirun exec");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Class 10: `exec --cgroup ..` would put the process in the parent of the container's
/// cgroup, outside its limits. Only sub-cgroups of the container's cgroup are accepted;
/// anything else is refused, naming `--cgroup`, before the process exists.
#[test]
fn exec_cgroup_outside_the_containers_cgroup_is_refused() {
    require_prerequisites();
    let b = Bundle::new(&["sleep", "1000"]);
    let id = start(&b, "secexec-cg");
    let root = b.state_root();
    let _g = Guard(root.clone(), id.clone());
    let escapes = [
        "..",
        "../..",
        "a/../../x",
        "/..",
        "./..",
        "sub/..",
        ".",
        "sub//sub",
        "sub/.",
    ];
    // A sub-cgroup that exists, so "sub/.." and "a/../../x" fail for their form, not for a missing directory.
    for dir in b.cgroup_dirs_everywhere() {
        if dir.is_dir() {
            std::fs::create_dir(dir.join("sub")).unwrap();
            // A v1 cpuset cgroup takes no process until it has cpus and mems.
            for file in ["cpuset.cpus", "cpuset.mems"] {
                if let Ok(value) = std::fs::read_to_string(dir.join(file)) {
                    std::fs::write(dir.join("sub").join(file), value.trim()).unwrap();
                }
            }
        }
    }
    for (i, sub) in escapes.iter().enumerate() {
        let marker = format!("/dev/shm/ran-{i}");
        let (ok, _, err) = exec(&root, &id, &["--cgroup", sub], &["touch", &marker]);
        assert!(!ok, "exec --cgroup {sub:?} was accepted");
        assert!(
            err.contains("--cgroup"),
            "exec --cgroup {sub:?}: the error does not name --cgroup: {err}"
        );
        assert!(
            !inside(&root, &id, &marker).exists(),
            "exec --cgroup {sub:?} failed but its process ran"
        );
    }
    // What is allowed still works: the container's own cgroup ("/", as runc) and a sub-cgroup.
    let rel = b.cgroups_path().to_string();
    let (ok, out, err) = exec(&root, &id, &["--cgroup", "/"], &["cat", "/proc/self/cgroup"]);
    assert!(ok, "exec --cgroup /: {err}");
    assert!(out.lines().all(|l| !l.ends_with("/sub")), "{out}");
    let (ok, out, err) = exec(&root, &id, &["--cgroup", "sub"], &["cat", "/proc/self/cgroup"]);
    assert!(ok, "exec --cgroup sub: {err}");
    // The container has a cgroup namespace: its own cgroup shows as "/", the sub-cgroup as "/sub".
    assert!(
        out.lines().any(|l| l.ends_with(":/sub")),
        "not in the sub-cgroup: {out} ({rel})"
    );
}
