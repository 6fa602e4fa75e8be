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
        let own = if cgroupns {
            "0::/".to_string()
        } else {
            format!("0::{}", b.cgroups_path())
        };
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
    run_detached(
        ocirun(&root)
            .args(["run", "--detach", "--bundle"])
            .arg(b.path())
            .arg(&id),
    );
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
    assert_eq!(
        std::fs::read_to_string(dir.join("memory.max")).unwrap().trim(),
        "67108864"
    );
    assert_eq!(std::fs::read_to_string(dir.join("pids.max")).unwrap().trim(), "50");
    // systemd owns the scope's own cgroup files: on a reload it writes them from the unit's
    // properties, so the limits must be properties too (runc sets MemoryMax, TasksMax, ...).
    assert_eq!(unit_property(&unit, "MemoryMax"), "67108864");
    assert_eq!(unit_property(&unit, "TasksMax"), "50");
    let reload = Command::new("systemctl").arg("daemon-reload").status().unwrap();
    assert!(reload.success());
    assert_eq!(
        std::fs::read_to_string(dir.join("memory.max")).unwrap().trim(),
        "67108864"
    );
    assert_eq!(std::fs::read_to_string(dir.join("pids.max")).unwrap().trim(), "50");
    run_ok(ocirun(&root).args(["--systemd-cgroup", "delete", "--force", &id]));
    let after = unit_property(&unit, "ActiveState");
    assert!(
        after == "inactive" || after.is_empty(),
        "{unit} is {after} after delete"
    );
    assert!(!dir.exists(), "{} left", dir.display());
}

/// Every v2 controller a spec can set, end to end on a real kernel, read back from inside the
/// container through its own /sys/fs/cgroup: memory, cpu, cpuset, io (weight, and a throttle
/// on the VM's virtio disk), pids, hugetlb and `unified` keys.
#[test]
fn pure_v2_every_controller_is_applied_and_read_from_inside() {
    require_prerequisites();
    if !pure_v2() {
        return;
    }
    let disk = std::fs::read_to_string("/sys/block/vda/dev").unwrap_or_default();
    if !host_has(!disk.is_empty(), "a virtio disk (vda) for io.max") {
        return;
    }
    let (major, minor) = disk.trim().split_once(':').unwrap();
    let files = "memory.max memory.low memory.swap.max memory.high cpu.weight cpu.max cpu.max.burst \
                 cpuset.cpus cpuset.mems io.weight io.max pids.max hugetlb.2MB.max";
    let mut b = Bundle::new(&[
        "sh",
        "-c",
        &format!("for f in {files}; do echo \"$f=$(cat /sys/fs/cgroup/$f)\"; done"),
    ]);
    b.spec["linux"]["resources"] = json!({
        "memory": {"limit": 67108864, "reservation": 16777216, "swap": 100663296},
        "cpu": {"shares": 2048, "quota": 30000, "period": 100000, "burst": 10000, "cpus": "0", "mems": "0"},
        "blockIO": {"weight": 300, "throttleReadBpsDevice": [
            {"major": major.parse::<i64>().unwrap(), "minor": minor.parse::<i64>().unwrap(), "rate": 1048576}
        ]},
        "pids": {"limit": 25},
        "hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}],
        "unified": {"memory.high": "50331648"}
    });
    b.write();
    let root = b.state_root();
    let id = unique_id("vmv2all");
    let _g = Guard(root.clone(), id.clone());
    let out = run_ok(ocirun(&root).args(["run", "--bundle"]).arg(b.path()).arg(&id));
    let out = String::from_utf8_lossy(&out.stdout).to_string();
    let want = [
        "memory.max=67108864".to_string(),
        "memory.low=16777216".into(),
        // The spec's swap is memory+swap; v2's is swap alone.
        "memory.swap.max=33554432".into(),
        "memory.high=50331648".into(),
        // runc's conversions: 2048 shares is weight 79, blkio weight 300 is io weight 2930.
        "cpu.weight=79".into(),
        "cpu.max=30000 100000".into(),
        "cpu.max.burst=10000".into(),
        "cpuset.cpus=0".into(),
        "cpuset.mems=0".into(),
        "io.weight=default 2930".into(),
        format!("io.max={major}:{minor} rbps=1048576 wbps=max riops=max wiops=max"),
        "pids.max=25".into(),
        "hugetlb.2MB.max=4194304".into(),
    ];
    assert_eq!(out.lines().collect::<Vec<_>>(), want, "{out}");
    b.assert_no_cgroup_left();
}

/// A container whose init is systemd itself (podman's `--systemd`): it needs its own cgroup
/// namespace with a writable cgroup2 at /sys/fs/cgroup to make its units' cgroups, and comes
/// up to its target inside the container's cgroup.
#[test]
fn a_container_runs_systemd_as_its_init() {
    require_prerequisites();
    if !pure_v2() || !host_has(Path::new("/lib/systemd/systemd").exists(), "systemd's binary") {
        return;
    }
    let mut b = Bundle::new(&["/lib/systemd/systemd", "--unit=sysinit.target", "--log-target=console"]);
    b.spec["process"]["env"] = json!(["container=oci", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"]);
    b.spec["root"]["readonly"] = json!(false);
    let mounts = b.spec["mounts"].as_array_mut().unwrap();
    for m in mounts.iter_mut() {
        if m["type"] == "cgroup" {
            // systemd makes its units' cgroups below its own root.
            m["options"] = json!(["nosuid", "noexec", "nodev", "rw"]);
        }
    }
    // The host's programs and libraries, read-only (a merged /usr's /lib and /lib64 links
    // are made in the rootfs below).
    let mut links = Vec::new();
    for dir in ["/usr", "/lib", "/lib64"] {
        match std::fs::read_link(dir) {
            Ok(target) => links.push((dir, target)),
            Err(_) if Path::new(dir).exists() => {
                mounts.push(json!({"destination": dir, "type": "bind", "source": dir, "options": ["rbind", "ro"]}));
            }
            Err(_) => {}
        }
    }
    // As podman's --systemd: the tmpfs systemd would mount itself (it has no CAP_SYS_ADMIN).
    for dir in ["/run", "/run/lock", "/tmp", "/var/log/journal"] {
        mounts.push(json!({"destination": dir, "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev"]}));
    }
    b.write();
    for (dir, target) in links {
        std::os::unix::fs::symlink(target, b.rootfs().join(dir.trim_start_matches('/'))).unwrap();
    }
    std::fs::create_dir_all(b.rootfs().join("etc")).unwrap();
    std::fs::create_dir_all(b.rootfs().join("var/log/journal")).unwrap();
    std::fs::write(b.rootfs().join("etc/machine-id"), "").unwrap();
    std::fs::write(b.rootfs().join("etc/os-release"), "ID=ocirun-test\n").unwrap();
    let root = b.state_root();
    let id = unique_id("vmsdinit");
    let _g = Guard(root.clone(), id.clone());
    // systemd logs to its stdout and stderr: a file, shown when it does not come up.
    let log_path = b.path().join("systemd.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let started = ocirun(&root)
        .args(["run", "--detach", "--bundle"])
        .arg(b.path())
        .arg(&id)
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .status()
        .unwrap();
    assert!(
        started.success(),
        "{}",
        std::fs::read_to_string(&log_path).unwrap_or_default()
    );
    // systemd reports its target active once it is up; emulation is slow: wait up to 3 minutes.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(180);
    let mut last = String::new();
    while std::time::Instant::now() < deadline {
        let out = ocirun(&root)
            .args(["exec", &id, "systemctl", "is-active", "sysinit.target"])
            .output()
            .unwrap();
        last = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if last.trim() == "active" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    assert_eq!(
        last.trim(),
        "active",
        "systemd in the container did not reach sysinit.target; it said:\n{}",
        std::fs::read_to_string(&log_path).unwrap_or_default()
    );
    // Its own units' cgroups are below the container's: init.scope holds pid 1.
    let pid = common::state(&root, &id)["pid"].as_i64().unwrap();
    let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert_eq!(cgroup.trim(), format!("0::{}/init.scope", b.cgroups_path()));
    run_ok(ocirun(&root).args(["delete", "--force", &id]));
    b.assert_no_cgroup_left();
}
