//! End-to-end tests of the cgroup commands of the `ocirun` binary (`pause`, `resume`, `ps`,
//! `events`, `update`) and of resource limits set through it, on this host's real cgroups.
//!
//! The tests take one lock in turn: the bad-input test compares the host's footprint (fds,
//! mounts, test cgroups, children) before and after, which a concurrent test would disturb.

use std::io::{BufRead, BufReader, Write as _};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

mod common;

use common::{Guard, ocirun, run_err, run_ok, serial, state};
use serde_json::{Value, json};
use test_support::{Bundle, alive, counter, footprint, read_trimmed, require_prerequisites, unique_id};

/// `ocirun run --detach` of the bundle's config.json; returns the id and its guard.
fn run_detached(b: &Bundle, prefix: &str) -> (String, Guard) {
    b.write();
    let root = b.state_root();
    let id = unique_id(prefix);
    let guard = Guard(root.clone(), id.clone());
    common::run_detached(
        ocirun(&root)
            .args(["run", "--detach", "--bundle"])
            .arg(b.path())
            .arg(&id),
    );
    (id, guard)
}

fn stats(root: &Path, id: &str) -> Value {
    let out = run_ok(ocirun(root).args(["events", "--stats", id]));
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 1, "one event: {text}");
    let event: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(event["type"], "stats", "{text}");
    assert_eq!(event["id"], json!(id), "{text}");
    event["data"].clone()
}

fn pids(root: &Path, id: &str) -> Vec<i64> {
    let out = run_ok(ocirun(root).args(["ps", "--format", "json", id]));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_memory_limit_oom_kills_and_delete_removes_every_cgroup() {
    require_prerequisites();
    let _s = serial();
    let b = test_support::oom_bundle();
    b.write();
    let root = b.state_root();
    let id = unique_id("clioom");
    let _g = Guard(root.clone(), id.clone());
    let out = ocirun(&root)
        .args(["run", "--keep", "--bundle"])
        .arg(b.path())
        .arg(&id)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    // The init was the allocation: SIGKILL by the OOM killer, 128 + 9.
    assert_eq!(out.status.code(), Some(137), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(state(&root, &id)["status"], "stopped");
    assert!(test_support::oom_kills(&b) >= 1, "no OOM kill counted");
    // As runc: no events of a stopped container.
    let err = run_err(ocirun(&root).args(["events", "--stats", &id]));
    assert!(err.contains("is not running"), "{err}");
    for dir in b.cgroup_dirs_everywhere() {
        assert!(dir.is_dir(), "{} missing before delete", dir.display());
    }
    run_ok(ocirun(&root).args(["delete", &id]));
    b.assert_no_cgroup_left();
}

#[test]
fn a_pids_limit_caps_a_fork_loop() {
    require_prerequisites();
    let _s = serial();
    let mut b = Bundle::new(&[
        "sh",
        "-c",
        "sh -c 'while true; do sleep 1000 & done' 2>/dev/null; echo $? > /dev/shm/inner; exec sleep 1000",
    ]);
    b.spec["linux"]["resources"]["pids"] = json!({"limit": 8});
    let (id, _g) = run_detached(&b, "clipids");
    let root = b.state_root();
    let dir = b.cgroup_dir("pids");
    // pids.events counts the forks the limit refused.
    while read_trimmed(&dir, "pids.events") == "max 0" {
        std::thread::sleep(Duration::from_millis(5));
    }
    let listed = pids(&root, &id);
    assert!(!listed.is_empty() && listed.len() <= 8, "{listed:?}");
    let data = stats(&root, &id);
    assert_eq!(data["pids"]["limit"], 8, "{data}");
    assert!(data["pids"]["current"].as_u64().unwrap() <= 8, "{data}");
    assert_eq!(read_trimmed(&dir, "pids.max"), "8");
}

#[test]
fn cpu_quota_from_the_spec_and_from_update_is_in_the_cgroup_files() {
    require_prerequisites();
    let _s = serial();
    let mut b = Bundle::new(&["sleep", "1000"]);
    b.spec["linux"]["resources"]["cpu"] = json!({"quota": 20000, "period": 100000});
    let (id, _g) = run_detached(&b, "clicpu");
    let root = b.state_root();
    let cpu = b.cgroup_dir("cpu");
    // v1's two files, or v2's cpu.max "quota period" ("max" unlimited).
    let quota_period = || {
        if test_support::pure_v2() {
            read_trimmed(&cpu, "cpu.max").replace(' ', "/")
        } else {
            format!(
                "{}/{}",
                read_trimmed(&cpu, "cpu.cfs_quota_us"),
                read_trimmed(&cpu, "cpu.cfs_period_us")
            )
        }
    };
    assert_eq!(quota_period(), "20000/100000");
    run_ok(ocirun(&root).args([
        "update",
        "--cpu-quota",
        "30000",
        "--cpu-period",
        "50000",
        "--cpu-share",
        "256",
        &id,
    ]));
    assert_eq!(quota_period(), "30000/50000");
    if test_support::pure_v2() {
        // runc's conversion of 256 shares.
        assert_eq!(read_trimmed(&cpu, "cpu.weight"), "10");
    } else {
        assert_eq!(read_trimmed(&cpu, "cpu.shares"), "256");
    }
    run_ok(ocirun(&root).args(["update", "--cpu-quota", "-1", &id]));
    let unlimited = if test_support::pure_v2() {
        "max/50000"
    } else {
        "-1/50000"
    };
    assert_eq!(quota_period(), unlimited);
}

#[test]
fn a_device_rule_denies_access() {
    require_prerequisites();
    let _s = serial();
    // The host's /dev/kmsg, which is not among runc's always-allowed devices, bound in.
    let mut b = Bundle::new(&[
        "sh",
        "-c",
        "(: > /dev/xkmsg) 2>/dev/null && echo kmsg=open || echo kmsg=denied",
    ]);
    let mut mounts = b.spec["mounts"].as_array().unwrap().clone();
    mounts.push(json!({"destination": "/dev/xkmsg", "type": "bind", "source": "/dev/kmsg", "options": ["bind"]}));
    b.spec["mounts"] = json!(mounts);
    let root = b.state_root();
    for (rules, want) in [
        (
            json!([{"allow": true, "access": "rwm"},
                   {"allow": false, "type": "c", "major": 1, "minor": 11, "access": "rwm"}]),
            "kmsg=denied\n",
        ),
        (json!([{"allow": true, "access": "rwm"}]), "kmsg=open\n"),
    ] {
        b.spec["linux"]["resources"]["devices"] = rules;
        b.write();
        let out = run_ok(
            ocirun(&root)
                .args(["run", "--bundle"])
                .arg(b.path())
                .arg(unique_id("clidev"))
                .stdin(Stdio::null()),
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout), want);
    }
}

#[test]
fn pause_freezes_resume_thaws_and_delete_force_of_a_paused_container_cleans_up() {
    require_prerequisites();
    let _s = serial();
    let (b, count) = test_support::counter_bundle();
    let (id, _g) = run_detached(&b, "clipause");
    let root = b.state_root();
    while counter(&count) < 10 {
        std::thread::sleep(Duration::from_millis(1));
    }
    let err = run_err(ocirun(&root).args(["resume", &id]));
    assert!(err.contains("running"), "{err}");

    run_ok(ocirun(&root).args(["pause", &id]));
    assert_eq!(state(&root, &id)["status"], "paused");
    let list = run_ok(ocirun(&root).args(["list", "--format", "json"]));
    let list: Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(list[0]["status"], "paused");
    let table = run_ok(ocirun(&root).arg("list"));
    assert!(
        String::from_utf8_lossy(&table.stdout).contains(" paused "),
        "list table"
    );
    let frozen = if test_support::pure_v2() {
        read_trimmed(&b.cgroup_dir("freezer"), "cgroup.freeze") == "1"
    } else {
        read_trimmed(&b.cgroup_dir("freezer"), "freezer.state") == "FROZEN"
    };
    assert!(frozen, "the cgroup is not frozen");
    let frozen_at = counter(&count);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(counter(&count), frozen_at, "the counter moved while paused");
    let err = run_err(ocirun(&root).args(["pause", &id]));
    assert!(err.contains("paused"), "{err}");
    let err = run_err(ocirun(&root).args(["delete", &id]));
    assert!(err.contains("paused"), "{err}");

    run_ok(ocirun(&root).args(["resume", &id]));
    assert_eq!(state(&root, &id)["status"], "running");
    while counter(&count) <= frozen_at {
        std::thread::sleep(Duration::from_millis(1));
    }

    run_ok(ocirun(&root).args(["pause", &id]));
    let held = pids(&root, &id);
    assert!(!held.is_empty());
    run_ok(ocirun(&root).args(["delete", "--force", &id]));
    assert!(!root.join(&id).exists());
    b.assert_no_cgroup_left();
    for pid in held {
        assert!(!alive(pid), "process {pid} left behind");
    }
}

#[test]
fn kill_of_a_paused_container_stops_it() {
    require_prerequisites();
    let _s = serial();
    let b = Bundle::new(&["sleep", "1000"]);
    let (id, _g) = run_detached(&b, "clipkill");
    let root = b.state_root();
    run_ok(ocirun(&root).args(["pause", &id]));
    run_ok(ocirun(&root).args(["kill", &id, "KILL"]));
    while state(&root, &id)["status"] != "stopped" {
        std::thread::sleep(Duration::from_millis(5));
    }
    run_ok(ocirun(&root).args(["delete", &id]));
    b.assert_no_cgroup_left();
}

#[test]
fn update_changes_a_running_containers_memory_limit() {
    require_prerequisites();
    let _s = serial();
    let mut b = Bundle::new(&["sleep", "1000"]);
    b.spec["linux"]["resources"]["memory"] = json!({"limit": 64 << 20});
    let (id, _g) = run_detached(&b, "cliupd");
    let root = b.state_root();
    let memory = b.cgroup_dir("memory");
    let limit_file = test_support::cgroup_file("memory.limit_in_bytes", "memory.max");
    assert_eq!(read_trimmed(&memory, limit_file), (64u64 << 20).to_string());

    // runc's sizes: binary units.
    run_ok(ocirun(&root).args(["update", "--memory", "48m", "--pids-limit", "30", &id]));
    assert_eq!(read_trimmed(&memory, limit_file), (48u64 << 20).to_string());
    assert_eq!(read_trimmed(&b.cgroup_dir("pids"), "pids.max"), "30");
    // events reads what the kernel holds: the updated limit.
    assert_eq!(stats(&root, &id)["memory"]["usage"]["limit"], 48 << 20);

    // -r with a file, and with stdin.
    let file = b.path().join("resources.json");
    std::fs::write(&file, r#"{"memory": {"limit": 41943040}, "pids": {"limit": 0}}"#).unwrap();
    run_ok(ocirun(&root).args(["update", "-r"]).arg(&file).arg(&id));
    assert_eq!(read_trimmed(&memory, limit_file), (40u64 << 20).to_string());
    assert_eq!(
        read_trimmed(&b.cgroup_dir("pids"), "pids.max"),
        "30",
        "pids.limit 0 is unchanged"
    );
    let mut child = ocirun(&root)
        .args(["update", "--resources", "-", &id])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(br#"{"memory": {"limit": 37748736}}"#)
        .unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(read_trimmed(&memory, limit_file), (36u64 << 20).to_string());

    // Bad input: a clear error, and the limit stays.
    for (args, want) in [
        (vec!["--memory", "-5"], "--memory"),
        (vec!["--memory", "12 parsecs"], "--memory"),
        (vec!["--memory", "4096"], "below the current usage"),
        (vec!["--cpu-share", "99999999999"], "linux.resources.cpu.shares"),
        (vec!["--pids-limit", "-3"], "linux.resources.pids.limit"),
        (vec!["--l3-cache-schema", "L3:0=f"], "Intel RDT"),
        (vec!["--mem-bw-schema", "MB:0=50"], "Intel RDT"),
        (vec!["-r", "/nonexistent.json"], "/nonexistent.json"),
    ] {
        if args == ["--memory", "4096"] && test_support::pure_v2() {
            // v2 takes a limit below the usage (and reclaims or OOM-kills); v1 refuses it.
            continue;
        }
        let err = run_err(ocirun(&root).arg("update").args(&args).arg(&id));
        assert!(err.contains(want), "update {args:?}: {err:?} does not mention {want:?}");
        assert_eq!(read_trimmed(&memory, limit_file), (36u64 << 20).to_string());
    }
    let err = run_err(
        ocirun(&root)
            .args(["update", "-r"])
            .arg(&file)
            .args(["--memory", "1g", &id]),
    );
    assert!(err.contains("--resources") && err.contains("--memory"), "{err}");
    std::fs::write(&file, r#"{"memory": {"limit": "lots"}}"#).unwrap();
    let err = run_err(ocirun(&root).args(["update", "-r"]).arg(&file).arg(&id));
    assert!(err.contains("linux.resources"), "{err}");
    let err = run_err(ocirun(&root).args(["update", "--memory", "1g", "nosuch"]));
    assert!(err.contains("does not exist"), "{err}");
}

#[test]
fn events_reports_memory_used_once_and_as_a_stream() {
    require_prerequisites();
    let _s = serial();
    let b = Bundle::new(&["sleep", "1000"]);
    let (id, _g) = run_detached(&b, "clievents");
    let root = b.state_root();
    let data = stats(&root, &id);
    assert!(data["memory"]["usage"]["usage"].as_u64().unwrap() > 0, "{data}");
    assert!(data["cpu"]["usage"]["total"].as_u64().unwrap() > 0, "{data}");
    assert_eq!(data["pids"]["current"], 1, "{data}");

    let err = run_err(ocirun(&root).args(["events", "--interval", "0s", &id]));
    assert!(err.contains("greater than 0"), "{err}");

    // The stream: one stats event per interval until the container stops.
    let mut child = ocirun(&root)
        .args(["events", "--interval", "50ms", &id])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for _ in 0..2 {
        let line = lines.next().unwrap().unwrap();
        let event: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(event["type"], "stats", "{line}");
        assert_eq!(event["id"], json!(id), "{line}");
        assert!(
            event["data"]["memory"]["usage"]["usage"].as_u64().unwrap() > 0,
            "{line}"
        );
    }
    run_ok(ocirun(&root).args(["kill", &id, "KILL"]));
    for line in lines {
        let event: Value = serde_json::from_str(&line.unwrap()).unwrap();
        assert_eq!(event["type"], "stats");
    }
    assert!(child.wait().unwrap().success(), "events ends with the container");
}

#[test]
fn ps_shows_the_containers_processes() {
    require_prerequisites();
    let _s = serial();
    let b = Bundle::new(&["sh", "-c", "sleep 1000 & exec sleep 1001"]);
    let (id, _g) = run_detached(&b, "clips");
    let root = b.state_root();
    let init = state(&root, &id)["pid"].as_i64().unwrap();
    let mut listed = pids(&root, &id);
    while listed.len() < 2 {
        std::thread::sleep(Duration::from_millis(5));
        listed = pids(&root, &id);
    }
    assert!(listed.contains(&init), "{listed:?}");
    // The table: ps(1)'s header, and only the container's processes.
    let out = run_ok(ocirun(&root).args(["ps", &id]));
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    assert!(lines.next().unwrap().split_whitespace().any(|c| c == "PID"), "{text}");
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 2, "{text}");
    assert!(rows.iter().any(|r| r.contains("sleep 1001")), "{text}");
    // ps options after the id go to ps(1), -f included.
    let out = run_ok(ocirun(&root).args(["ps", &id, "-o", "pid,comm"]));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.lines()
            .any(|l| l.split_whitespace().eq([init.to_string().as_str(), "sleep"])),
        "{text}"
    );
    let out = run_ok(ocirun(&root).args(["ps", &id, "-f"]));
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 3);
    let err = run_err(ocirun(&root).args(["ps", &id, "-o", "comm"]));
    assert!(err.contains("PID"), "{err}");
}

/// `ocirun create` of a bad bundle fails naming `want` and leaves nothing behind.
fn expect_create_error(b: &Bundle, want: &str) {
    b.write();
    let root = b.state_root();
    let before = footprint();
    let id = unique_id("clicgbad");
    let err = run_err(
        ocirun(&root)
            .args(["create", "--bundle"])
            .arg(b.path())
            .arg(&id)
            .stdin(Stdio::null()),
    );
    assert!(err.contains(want), "error {err:?} does not mention {want:?}");
    assert!(!root.join(&id).exists(), "state directory left behind");
    if !b.spec["linux"]["cgroupsPath"].as_str().unwrap().contains("..") {
        b.assert_no_cgroup_left();
    }
    assert_eq!(footprint(), before, "something leaked after: {err}");
}

#[test]
fn bad_resources_and_bad_commands_are_named_and_leave_nothing() {
    require_prerequisites();
    let _s = serial();
    for (b, want) in test_support::bad_resource_bundles() {
        expect_create_error(&b, want);
    }
    // The commands on a container that does not exist, or is stopped.
    let b = Bundle::new(&["true"]);
    let root = b.state_root();
    for cmd in [
        vec!["pause", "nosuch"],
        vec!["resume", "nosuch"],
        vec!["ps", "nosuch"],
        vec!["events", "--stats", "nosuch"],
    ] {
        let err = run_err(ocirun(&root).args(&cmd));
        assert!(err.contains("does not exist"), "{cmd:?}: {err}");
    }
    b.write();
    let id = unique_id("clistopped");
    let _g = Guard(root.clone(), id.clone());
    run_ok(
        ocirun(&root)
            .args(["run", "--keep", "--bundle"])
            .arg(b.path())
            .arg(&id)
            .stdin(Stdio::null()),
    );
    for (cmd, want) in [("pause", "stopped"), ("resume", "stopped"), ("update", "stopped")] {
        let err = run_err(ocirun(&root).args([cmd, &id]));
        assert!(err.contains(want), "{cmd}: {err}");
    }
    run_ok(ocirun(&root).args(["delete", &id]));
    b.assert_no_cgroup_left();
}

#[test]
fn events_streams_an_oom_event_when_the_kernel_reports_one() {
    require_prerequisites();
    let _s = serial();
    let b = test_support::oom_on_demand_bundle();
    let (id, _g) = run_detached(&b, "clioomev");
    let root = b.state_root();
    // A long interval: the first line is an OOM event, not a stats one.
    let mut child = ocirun(&root)
        .args(["events", "--interval", "1h", &id])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    std::fs::write(b.rootfs().join("tmp/go"), "").unwrap();
    let line = lines.next().unwrap().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let event: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(event, json!({"type": "oom", "id": id}), "{line}");
}
