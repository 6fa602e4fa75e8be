//! Attacks on the container's init through the real `ocirun` binary, each named after the
//! CVE whose class it belongs to, each asserting on the host that it failed: no host fd in
//! the init once the container's filesystem is in place (CVE-2024-21626), procfs writes that
//! a container mount cannot redirect (CVE-2025-52881), nothing to read in a created init
//! (CVE-2016-9962), and a console bind that follows no image symlink (CVE-2025-52565).

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

use common::{Guard, ocirun, run_status};
use serde_json::json;
use test_support::{Bundle, require_prerequisites, unique_id};

/// A host temp file with known content, and that content.
fn host_file(dir: &Path, name: &str) -> (PathBuf, &'static str) {
    let content = "host file: must stay exactly as it is\n";
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    (path, content)
}

#[test]
fn cve_2025_52881_oom_score_adj_write_is_not_redirected_by_a_bind_mount() {
    require_prerequisites();
    let mut b = Bundle::new(&["sleep", "1000"]);
    let host_dir = tempfile::tempdir().unwrap();
    let (target, content) = host_file(host_dir.path(), "oom-target");
    b.spec["process"]["oomScoreAdj"] = json!(789);
    b.spec["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/proc/1/oom_score_adj",
        "type": "bind",
        "source": target,
        "options": ["bind", "rw"]
    }));
    b.write();
    let root = b.state_root();
    let id = unique_id("sec52881");
    let _g = Guard(root.clone(), id.clone());
    let (created, err) = run_status(ocirun(&root).args(["create", "--bundle"]).arg(b.path()).arg(&id));
    assert_eq!(
        std::fs::read_to_string(&target).unwrap(),
        content,
        "the oom_score_adj write landed in the host file (create ok: {created}, {err})"
    );
    if created {
        let pid = common::state(&root, &id)["pid"].as_i64().unwrap();
        let adj = std::fs::read_to_string(format!("/proc/{pid}/oom_score_adj")).unwrap();
        assert_eq!(adj.trim(), "789", "the init's own oom_score_adj");
    }
}

#[test]
fn cve_2025_52881_sysctl_write_is_not_redirected_by_a_bind_mount() {
    require_prerequisites();
    let mut b = Bundle::new(&["sleep", "1000"]);
    let host_dir = tempfile::tempdir().unwrap();
    let (target, content) = host_file(host_dir.path(), "sysctl-target");
    b.spec["linux"]["sysctl"] = json!({"kernel.shmmax": "7654321"});
    b.spec["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/proc/sys/kernel/shmmax",
        "type": "bind",
        "source": target,
        "options": ["bind", "rw"]
    }));
    b.write();
    let root = b.state_root();
    let id = unique_id("sec52881s");
    let _g = Guard(root.clone(), id.clone());
    let (created, err) = run_status(ocirun(&root).args(["create", "--bundle"]).arg(b.path()).arg(&id));
    assert_eq!(
        std::fs::read_to_string(&target).unwrap(),
        content,
        "the sysctl write landed in the host file (create ok: {created}, {err})"
    );
    if created {
        // The container's ipc namespace has the value (read through the init's ipc namespace).
        let pid = common::state(&root, &id)["pid"].as_i64().unwrap();
        let out = Command::new("nsenter")
            .args(["--ipc", &format!("--target={pid}"), "cat", "/proc/sys/kernel/shmmax"])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "7654321");
    }
}
