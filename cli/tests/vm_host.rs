//! What only a host of another kind can show: pure cgroup v2 seen from inside a container, and
//! the systemd driver against a real systemd. `scripts/vm-test.sh` runs these in a VM that has
//! both (it sets `OCIRUN_VM_TEST=1`, and then a missing requirement fails the test); on a host
//! without them each test says so and returns.

mod common;

use std::path::Path;
use std::process::Command;

use common::{Guard, ocirun, run_detached, run_ok};
use serde_json::json;
use test_support::{Bundle, require_prerequisites, unique_id};

/// Whether this host has `what`: on the VM host it must.
fn host_has(present: bool, what: &str) -> bool {
    if !present {
        assert!(
            std::env::var_os("OCIRUN_VM_TEST").is_none(),
            "the VM test host lacks {what}"
        );
        eprintln!("skipped: this host lacks {what}");
    }
    present
}

fn pure_v2() -> bool {
    host_has(
        Path::new("/sys/fs/cgroup/cgroup.controllers").exists(),
        "pure cgroup v2 at /sys/fs/cgroup",
    )
}

fn systemd_runs() -> bool {
    host_has(Path::new("/run/systemd/system").is_dir(), "systemd as pid 1")
}

/// `systemctl show -p NAME --value UNIT`.
fn unit_property(unit: &str, name: &str) -> String {
    let out = Command::new("systemctl")
        .args(["show", "-p", name, "--value", unit])
        .output()
        .expect("run systemctl");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The container's view of /sys/fs/cgroup on pure v2, with and without a cgroup namespace:
/// cgroup2 at /sys/fs/cgroup itself (not a tmpfs with a `cgroup` directory), its files the
/// container's own cgroup's, as runc and crun mount it; systemd, JVMs and Go read limits there.
#[test]
fn pure_v2_the_container_reads_its_own_limits_at_sys_fs_cgroup() {
    require_prerequisites();
    if !pure_v2() {
        return;
    }
    for cgroupns in [true, false] {
        let script = "cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max; \
                      test -e /sys/fs/cgroup/cgroup/memory.max && echo NESTED; \
                      grep -c ' /sys/fs/cgroup cgroup2 ' /proc/self/mounts; cat /proc/self/cgroup";
        let mut b = Bundle::new(&["sh", "-c", script]);
        b.spec["linux"]["resources"] = json!({"memory": {"limit": 33554432}, "pids": {"limit": 40}});
        if !cgroupns {
            let ns = b.spec["linux"]["namespaces"].as_array_mut().unwrap();
            ns.retain(|n| n["type"] != "cgroup");
        }
        b.write();
        let root = b.state_root();
        let id = unique_id("vmv2mount");
        let _g = Guard(root.clone(), id.clone());
        let out = run_ok(ocirun(&root).args(["run", "--bundle"]).arg(b.path()).arg(&id));
        let out = String::from_utf8_lossy(&out.stdout);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[..3], ["33554432", "40", "1"], "cgroupns={cgroupns}: {out}");
        // In its own cgroup namespace the container's cgroup is its root.
        let own = if cgroupns { "0::/".to_string() } else { format!("0::{}", b.cgroups_path()) };
        assert_eq!(lines.get(3).copied(), Some(own.as_str()), "cgroupns={cgroupns}: {out}");
        b.assert_no_cgroup_left();
    }
}

/// On pure v2 the container's cgroup gets its controllers through every ancestor's
/// cgroup.subtree_control, nested cgroups included, and the limits land in the leaf.
#[test]
fn pure_v2_controllers_are_enabled_up_the_tree_for_a_nested_cgroups_path() {
    require_prerequisites();
    if !pure_v2() {
        return;
    }
    let mut b = Bundle::new(&["sleep", "1000"]);
    let id = unique_id("vmv2nest");
    let parent = b.cgroups_path().to_string();
    b.spec["linux"]["cgroupsPath"] = json!(format!("{parent}-pod/{id}"));
    b.spec["linux"]["resources"] = json!({
        "memory": {"limit": 67108864}, "pids": {"limit": 30},
        "cpu": {"quota": 20000, "period": 100000, "cpus": "0"}
    });
    b.write();
    let root = b.state_root();
    let _g = Guard(root.clone(), id.clone());
    run_detached(ocirun(&root).args(["run", "--detach", "--bundle"]).arg(b.path()).arg(&id));
    let leaf = Path::new("/sys/fs/cgroup").join(b.cgroups_path().trim_start_matches('/'));
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    assert_eq!(read(&leaf.join("memory.max")).trim(), "67108864");
    assert_eq!(read(&leaf.join("pids.max")).trim(), "30");
    assert_eq!(read(&leaf.join("cpu.max")).trim(), "20000 100000");
    assert_eq!(read(&leaf.join("cpuset.cpus")).trim(), "0");
    let mut dir = leaf.parent().unwrap();
    while dir != Path::new("/sys/fs/cgroup").parent().unwrap() {
        let enabled = read(&dir.join("cgroup.subtree_control"));
        for c in ["cpu", "cpuset", "memory", "pids"] {
            assert!(
                enabled.split_whitespace().any(|e| e == c),
                "{c} not enabled in {}: {enabled}",
                dir.display()
            );
        }
        dir = dir.parent().unwrap();
    }
    run_ok(ocirun(&root).args(["delete", "--force", &id]));
    assert!(!leaf.exists(), "{} left", leaf.display());
    let pod = leaf.parent().unwrap();
    let _ = std::fs::remove_dir(pod);
}

/// `--systemd-cgroup` against the real systemd: a transient scope in the slice named by
/// `slice:prefix:name`, delegated, holding the init, with the limits in its cgroup; `delete`
/// stops it.
#[test]
fn systemd_driver_makes_a_delegated_scope_holding_the_init_and_delete_stops_it() {
    require_prerequisites();
    if !systemd_runs() {
        return;
    }
    let mut b = Bundle::new(&["sleep", "1000"]);
    let id = unique_id("vmsd");
    b.spec["linux"]["cgroupsPath"] = json!(format!("system.slice:ocirun-test:{id}"));
    b.spec["linux"]["resources"] = json!({"memory": {"limit": 67108864}, "pids": {"limit": 50}});
    b.write();
    let root = b.state_root();
    let _g = Guard(root.clone(), id.clone());
    run_detached(
        ocirun(&root)
            .args(["--systemd-cgroup", "run", "--detach", "--bundle"])
            .arg(b.path())
            .arg(&id),
    );
    let unit = format!("ocirun-test-{id}.scope");
    assert_eq!(unit_property(&unit, "ActiveState"), "active");
    assert_eq!(unit_property(&unit, "Delegate"), "yes");
    assert_eq!(unit_property(&unit, "Slice"), "system.slice");
    let state = common::state(&root, &id);
    let pid = state["pid"].as_i64().unwrap();
    let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert_eq!(cgroup.trim(), format!("0::/system.slice/{unit}"));
    let dir = Path::new("/sys/fs/cgroup/system.slice").join(&unit);
    assert_eq!(std::fs::read_to_string(dir.join("memory.max")).unwrap().trim(), "67108864");
    assert_eq!(std::fs::read_to_string(dir.join("pids.max")).unwrap().trim(), "50");
    // systemd owns the scope's own cgroup files: on a reload it writes them from the unit's
    // properties, so the limits must be properties too (runc sets MemoryMax, TasksMax, ...).
    assert_eq!(unit_property(&unit, "MemoryMax"), "67108864");
    assert_eq!(unit_property(&unit, "TasksMax"), "50");
    let reload = Command::new("systemctl").arg("daemon-reload").status().unwrap();
    assert!(reload.success());
    assert_eq!(std::fs::read_to_string(dir.join("memory.max")).unwrap().trim(), "67108864");
    assert_eq!(std::fs::read_to_string(dir.join("pids.max")).unwrap().trim(), "50");
    run_ok(ocirun(&root).args(["--systemd-cgroup", "delete", "--force", &id]));
    let after = unit_property(&unit, "ActiveState");
    assert!(after == "inactive" || after.is_empty(), "{unit} is {after} after delete");
    assert!(!dir.exists(), "{} left", dir.display());
}
