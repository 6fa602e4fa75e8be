//! End-to-end tests of resource control through the library, on this host's real cgroups:
//! limits that bite (memory, pids, cpu quota, devices), pause and resume, update, stats, and a
//! delete that leaves no cgroup directory in any hierarchy.
//!
//! The tests take one lock in turn: the bad-input test compares the host's footprint (fds,
//! mounts, test cgroups, children) before and after, which a concurrent test would disturb.

use std::io::{BufRead, BufReader};
use std::os::fd::OwnedFd;
use std::time::Duration;

mod common;

use common::{Guard, chain, serial};
use runtime_core::{Container, Error, ExitStatus, LinuxResources, Status};
use serde_json::json;
use test_support::{Bundle, alive, cgroup_mounts, counter, read_trimmed, require_prerequisites, unique_id};

/// Runs the bundle's config.json with stdout to a pipe; returns the container and the pipe.
fn run_piped(b: &Bundle) -> (Guard, BufReader<std::io::PipeReader>) {
    b.write();
    let (r, w) = std::io::pipe().unwrap();
    let c = Container::builder(unique_id("cg"))
        .root(b.state_root())
        .bundle(b.path())
        .stdout(OwnedFd::from(w))
        .run()
        .unwrap_or_else(|e| panic!("run failed: {}", chain(&e)));
    (Guard(Some(c)), BufReader::new(r))
}

/// Reads lines from the container until one starts with `prefix`; returns it.
fn read_until(r: &mut impl BufRead, prefix: &str) -> String {
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap() == 0 {
            panic!("the container closed its stdout before {prefix:?}; it printed {seen:?}");
        }
        if line.starts_with(prefix) {
            return line.trim_end().to_string();
        }
        seen.push_str(&line);
    }
}

#[test]
fn memory_limit_oom_kills_an_allocation_over_it() {
    require_prerequisites();
    let _s = serial();
    let b = test_support::oom_bundle();
    let (mut g, _out) = run_piped(&b);
    let status = g.c().wait().unwrap();
    assert_eq!(status, ExitStatus::Signaled(libc::SIGKILL));
    let memory = b.cgroup_dir("memory");
    assert_eq!(
        read_trimmed(&memory, "memory.limit_in_bytes"),
        (32u64 << 20).to_string()
    );
    assert!(test_support::oom_kills(&b) >= 1, "no OOM kill counted");
    // The stopped container's cgroup still reports, until delete: it never went over the limit.
    let stats = g.c().stats().unwrap();
    assert!(stats.memory.usage.max <= 32 << 20, "{:?}", stats.memory.usage);
    assert!(stats.memory.usage.max > 16 << 20, "{:?}", stats.memory.usage);
    g.0.take().unwrap().delete(false).unwrap();
}

#[test]
fn pids_limit_stops_a_fork_loop() {
    require_prerequisites();
    let _s = serial();
    // The inner shell forks sleepers until fork fails; the outer one then reports.
    let mut b = Bundle::new(&[
        "sh",
        "-c",
        "sh -c 'i=0; while [ $i -lt 50 ]; do sleep 1000 & i=$((i+1)); done' 2>/dev/null; echo inner=$?; \
         echo current=$(cat /sys/fs/cgroup/pids/pids.current); echo events=$(cat /sys/fs/cgroup/pids/pids.events); \
         exec sleep 1000",
    ]);
    b.spec["linux"]["resources"]["pids"] = json!({"limit": 10});
    let (mut g, mut out) = run_piped(&b);
    let inner = read_until(&mut out, "inner=");
    let current = read_until(&mut out, "current=");
    let events = read_until(&mut out, "events=");
    assert_eq!(inner, "inner=2", "the fork loop ended by fork failing");
    let n: u32 = current["current=".len()..].parse().unwrap();
    assert!((2..=10).contains(&n), "{current}");
    let failures: u32 = events.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(events.starts_with("events=max ") && failures >= 1, "{events}");
    let pids = b.cgroup_dir("pids");
    assert_eq!(read_trimmed(&pids, "pids.max"), "10");
    let now: u32 = read_trimmed(&pids, "pids.current").parse().unwrap();
    assert!(now <= 10, "pids.current {now}");
    assert_eq!(g.c().pids().unwrap().len(), now as usize);
    assert_eq!(g.c().stats().unwrap().pids.limit, 10);
}

#[test]
fn cpu_quota_is_in_the_cgroup_files() {
    require_prerequisites();
    let _s = serial();
    let mut b = Bundle::new(&[
        "sh",
        "-c",
        "echo quota=$(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us) period=$(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us); \
         exec sleep 1000",
    ]);
    b.spec["linux"]["resources"]["cpu"] = json!({"quota": 25000, "period": 100000, "shares": 512});
    let (_g, mut out) = run_piped(&b);
    // Inside (its cgroup namespace makes its cgroup the root) and on the host.
    assert_eq!(read_until(&mut out, "quota="), "quota=25000 period=100000");
    let cpu = b.cgroup_dir("cpu");
    assert_eq!(read_trimmed(&cpu, "cpu.cfs_quota_us"), "25000");
    assert_eq!(read_trimmed(&cpu, "cpu.cfs_period_us"), "100000");
    assert_eq!(read_trimmed(&cpu, "cpu.shares"), "512");
}

/// A shell that opens the host's /dev/kmsg (bound at /dev/xkmsg) for writing, with the given
/// device rules; returns what it printed. /dev/kmsg is not among runc's always-allowed devices.
fn open_kmsg_with(rules: serde_json::Value) -> String {
    let mut b = Bundle::new(&[
        "sh",
        "-c",
        "(: > /dev/xkmsg) 2>/dev/null && echo kmsg=open || echo kmsg=denied; \
         (: > /dev/null) && echo null=open",
    ]);
    let mut mounts = b.spec["mounts"].as_array().unwrap().clone();
    mounts.push(json!({"destination": "/dev/xkmsg", "type": "bind", "source": "/dev/kmsg", "options": ["bind"]}));
    b.spec["mounts"] = json!(mounts);
    b.spec["linux"]["resources"]["devices"] = rules;
    let (mut g, mut out) = run_piped(&b);
    let line = read_until(&mut out, "kmsg=");
    let null = read_until(&mut out, "null=");
    assert_eq!(null, "null=open", "runc's always-allowed devices stay open");
    assert_eq!(g.c().wait().unwrap().code(), 0);
    line
}

#[test]
fn a_device_rule_denies_access() {
    require_prerequisites();
    let _s = serial();
    let all = json!({"allow": true, "access": "rwm"});
    let deny_kmsg = json!({"allow": false, "type": "c", "major": 1, "minor": 11, "access": "rwm"});
    // Everything allowed, then one device denied: that device cannot be opened.
    assert_eq!(open_kmsg_with(json!([all, deny_kmsg])), "kmsg=denied");
    // The same container without the rule opens it: the rule made the difference.
    assert_eq!(open_kmsg_with(json!([all])), "kmsg=open");
    // runc's default: deny all but its list, which does not hold /dev/kmsg.
    assert_eq!(
        open_kmsg_with(json!([{"allow": false, "access": "rwm"}])),
        "kmsg=denied"
    );
}

#[test]
fn an_explicit_rule_denies_even_an_always_allowed_device() {
    require_prerequisites();
    let _s = serial();
    let open_null = |rules: serde_json::Value| {
        let mut b = Bundle::new(&["sh", "-c", "(: > /dev/null) 2>&- && echo null=open || echo null=denied"]);
        b.spec["linux"]["resources"]["devices"] = rules;
        let (mut g, mut out) = run_piped(&b);
        let line = read_until(&mut out, "null=");
        assert_eq!(g.c().wait().unwrap().code(), 0);
        line
    };
    let deny_all = json!({"allow": false, "access": "rwm"});
    // runc's default spec: everything denied but the always-allowed list, /dev/null among it.
    assert_eq!(open_null(json!([deny_all])), "null=open");
    // Denying /dev/null by its numbers takes it out of that list.
    let deny_null = json!({"allow": false, "type": "c", "major": 1, "minor": 3, "access": "rwm"});
    assert_eq!(open_null(json!([deny_all, deny_null])), "null=denied");
    // So does denying every minor of its major.
    let deny_major = json!({"allow": false, "type": "c", "major": 1, "access": "w"});
    assert_eq!(open_null(json!([deny_all, deny_major])), "null=denied");
}

#[test]
fn pause_freezes_and_resume_thaws() {
    require_prerequisites();
    let _s = serial();
    let (b, count) = test_support::counter_bundle();
    let (mut g, _out) = run_piped(&b);
    while counter(&count) < 10 {
        std::thread::sleep(Duration::from_millis(1));
    }
    let err = g.c().resume().unwrap_err();
    assert!(
        matches!(
            err,
            Error::BadStatus {
                op: "resume",
                status: Status::Running,
                ..
            }
        ),
        "{err}"
    );

    g.c().pause().unwrap();
    assert_eq!(g.c().status().unwrap(), Status::Paused);
    let loaded = Container::load(b.state_root(), g.c().id()).unwrap();
    assert_eq!(loaded.state().unwrap().status, Status::Paused);
    let listed = runtime_core::list(b.state_root()).unwrap();
    assert_eq!(listed[0].status, Status::Paused);
    let frozen_at = counter(&count);
    let cpu_at = g.c().stats().unwrap().cpu.usage.total;
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(counter(&count), frozen_at, "the counter moved while paused");
    assert_eq!(
        g.c().stats().unwrap().cpu.usage.total,
        cpu_at,
        "cpu time was used while paused"
    );
    let err = g.c().pause().unwrap_err();
    assert!(
        matches!(
            err,
            Error::BadStatus {
                op: "pause",
                status: Status::Paused,
                ..
            }
        ),
        "{err}"
    );
    let err = g.c().start().unwrap_err();
    assert!(matches!(err, Error::BadStatus { op: "start", .. }), "{err}");

    loaded.resume().unwrap();
    assert_eq!(g.c().status().unwrap(), Status::Running);
    while counter(&count) <= frozen_at {
        std::thread::sleep(Duration::from_millis(1));
    }

    // A paused container dies of SIGKILL: the runtime thaws it after the signal.
    g.c().pause().unwrap();
    g.c().kill(libc::SIGKILL, false).unwrap();
    assert_eq!(g.c().wait().unwrap(), ExitStatus::Signaled(libc::SIGKILL));
    assert_eq!(g.c().status().unwrap(), Status::Stopped);
    let err = g.c().pause().unwrap_err();
    assert!(
        matches!(
            err,
            Error::BadStatus {
                op: "pause",
                status: Status::Stopped,
                ..
            }
        ),
        "{err}"
    );
    g.0.take().unwrap().delete(false).unwrap();
}

#[test]
fn a_created_container_can_be_paused_as_runc_allows() {
    require_prerequisites();
    let _s = serial();
    let b = Bundle::new(&["sleep", "1000"]);
    b.write();
    let c = Container::builder(unique_id("cgcreated"))
        .root(b.state_root())
        .bundle(b.path())
        .create()
        .unwrap();
    let mut g = Guard(Some(c));
    g.c().pause().unwrap();
    assert_eq!(g.c().status().unwrap(), Status::Paused);
    g.c().resume().unwrap();
    assert_eq!(g.c().status().unwrap(), Status::Created);
}

#[test]
fn update_changes_a_running_containers_limits() {
    require_prerequisites();
    let _s = serial();
    let mut b = Bundle::new(&["sleep", "1000"]);
    b.spec["linux"]["resources"]["memory"] = json!({"limit": 64 << 20});
    b.spec["linux"]["resources"]["pids"] = json!({"limit": 20});
    let (mut g, _out) = run_piped(&b);
    let memory = b.cgroup_dir("memory");
    assert_eq!(
        read_trimmed(&memory, "memory.limit_in_bytes"),
        (64u64 << 20).to_string()
    );

    let r: LinuxResources = serde_json::from_value(json!({
        "memory": {"limit": 48 << 20},
        "cpu": {"quota": 50000, "period": 100000},
        "pids": {"limit": 0}
    }))
    .unwrap();
    g.c().update(&r).unwrap();
    assert_eq!(
        read_trimmed(&memory, "memory.limit_in_bytes"),
        (48u64 << 20).to_string()
    );
    assert_eq!(read_trimmed(&b.cgroup_dir("cpu"), "cpu.cfs_quota_us"), "50000");
    // pids.limit 0 means "unchanged", as in runc's update.
    assert_eq!(read_trimmed(&b.cgroup_dir("pids"), "pids.max"), "20");
    // What stats reports is what the kernel holds now.
    assert_eq!(g.c().stats().unwrap().memory.usage.limit, 48 << 20);

    // -1 is unlimited.
    let r: LinuxResources = serde_json::from_value(json!({"memory": {"limit": -1}, "pids": {"limit": -1}})).unwrap();
    g.c().update(&r).unwrap();
    assert_eq!(read_trimmed(&b.cgroup_dir("pids"), "pids.max"), "max");
    assert!(read_trimmed(&memory, "memory.limit_in_bytes").parse::<u64>().unwrap() > 1 << 60);

    // A paused container can be updated too.
    g.c().pause().unwrap();
    let r: LinuxResources = serde_json::from_value(json!({"memory": {"limit": 40 << 20}})).unwrap();
    g.c().update(&r).unwrap();
    assert_eq!(
        read_trimmed(&memory, "memory.limit_in_bytes"),
        (40u64 << 20).to_string()
    );
    g.c().resume().unwrap();
}

#[test]
fn bad_updates_are_refused_and_change_nothing() {
    require_prerequisites();
    let _s = serial();
    let mut b = Bundle::new(&["sleep", "1000"]);
    b.spec["linux"]["resources"]["memory"] = json!({"limit": 64 << 20});
    let (mut g, _out) = run_piped(&b);
    let memory = b.cgroup_dir("memory");
    for (resources, want) in [
        (json!({"memory": {"limit": -5}}), "linux.resources.memory.limit"),
        (json!({"pids": {"limit": -7}}), "linux.resources.pids.limit"),
        (json!({"cpu": {"shares": 1u64 << 40}}), "linux.resources.cpu.shares"),
        (
            json!({"devices": [{"allow": false, "access": "rwm"}]}),
            "linux.resources.devices",
        ),
        (json!({"rdma": {"mlx5_0": {"hcaHandles": 1}}}), "rdma cgroup controller"),
        // Below what the container already uses: checkBeforeUpdate, and the kernel's EBUSY.
        (
            json!({"memory": {"limit": 4096, "checkBeforeUpdate": true}}),
            "below the current usage",
        ),
        (json!({"memory": {"limit": 4096}}), "below the current usage"),
    ] {
        let r: LinuxResources = serde_json::from_value(resources.clone()).unwrap();
        let err = g.c().update(&r).unwrap_err();
        let text = chain(&err);
        assert!(
            text.contains(want),
            "update {resources}: {text:?} does not mention {want:?}"
        );
        assert_eq!(
            read_trimmed(&memory, "memory.limit_in_bytes"),
            (64u64 << 20).to_string()
        );
    }
    g.c().kill(libc::SIGKILL, false).unwrap();
    g.c().wait().unwrap();
    let r: LinuxResources = serde_json::from_value(json!({"memory": {"limit": 32 << 20}})).unwrap();
    let err = g.c().update(&r).unwrap_err();
    assert!(
        matches!(
            err,
            Error::BadStatus {
                op: "update",
                status: Status::Stopped,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn stats_report_cpu_memory_and_pids() {
    require_prerequisites();
    let _s = serial();
    let mut b = Bundle::new(&["sh", "-c", "echo ready; exec sleep 1000"]);
    b.spec["linux"]["resources"]["memory"] = json!({"limit": 64 << 20});
    let (mut g, mut out) = run_piped(&b);
    read_until(&mut out, "ready");
    let stats = g.c().stats().unwrap();
    assert!(stats.memory.usage.usage > 0, "{:?}", stats.memory);
    assert_eq!(stats.memory.usage.limit, 64 << 20);
    assert!(stats.cpu.usage.total > 0, "{:?}", stats.cpu);
    assert_eq!(stats.pids.current, 1);
    // The JSON has runc's events "data" shape.
    let v = serde_json::to_value(&stats).unwrap();
    assert!(v["memory"]["usage"]["usage"].as_u64().unwrap() > 0, "{v}");
    assert!(v["cpu"]["usage"]["total"].as_u64().unwrap() > 0, "{v}");
    assert_eq!(v["pids"]["current"], 1);
    assert_eq!(g.c().pids().unwrap(), vec![g.c().pid()]);
}

#[test]
fn delete_leaves_no_cgroup_directory_in_any_hierarchy() {
    require_prerequisites();
    let _s = serial();
    let b = Bundle::new(&["sh", "-c", "sleep 1000 & sleep 1000 & echo ready; wait"]);
    let (mut g, mut out) = run_piped(&b);
    read_until(&mut out, "ready");
    let rel = b.spec["linux"]["cgroupsPath"]
        .as_str()
        .unwrap()
        .trim_start_matches('/')
        .to_string();
    let mounts = cgroup_mounts();
    for m in &mounts {
        let dir = m.join(&rel);
        assert!(dir.is_dir(), "{} missing while the container runs", dir.display());
        // A nested cgroup, as a container's own systemd would make: delete removes it too.
        std::fs::create_dir_all(dir.join("nested/deeper")).unwrap();
    }
    // One of the sleepers moves into the nested cgroup of the freezer hierarchy.
    let pids = g.c().pids().unwrap();
    assert_eq!(pids.len(), 3, "{pids:?}");
    let freezer = mounts.iter().find(|m| m.ends_with("freezer")).unwrap().join(&rel);
    let sleeper = *pids.iter().find(|p| **p != g.c().pid()).unwrap();
    std::fs::write(freezer.join("nested/deeper/cgroup.procs"), sleeper.to_string()).unwrap();
    assert_eq!(g.c().pids().unwrap(), pids, "ps sees processes of nested cgroups");
    g.c().pause().unwrap();
    g.0.take().unwrap().delete(true).unwrap();
    for m in &mounts {
        let dir = m.join(&rel);
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
    for pid in pids {
        assert!(!alive(pid.into()), "process {pid} left behind");
    }
}

/// Creates from the bundle and expects an error mentioning `want`, leaving nothing behind,
/// its cgroup directory in no hierarchy included.
fn expect_create_error(b: &Bundle, want: &str) {
    b.write();
    let text = common::expect_create_error(b, &[want]);
    for m in cgroup_mounts() {
        let path = b.spec["linux"]["cgroupsPath"].as_str().unwrap_or_default();
        let dir = m.join(path.trim_start_matches('/'));
        assert!(
            path.contains("..") || !dir.exists(),
            "{} left behind: {text}",
            dir.display()
        );
    }
}

#[test]
fn bad_resources_are_named_and_leave_nothing() {
    require_prerequisites();
    let _s = serial();
    for (b, want) in test_support::bad_resource_bundles() {
        expect_create_error(&b, want);
    }
}

#[test]
fn the_oom_notifier_reports_an_oom() {
    require_prerequisites();
    let _s = serial();
    let b = test_support::oom_on_demand_bundle();
    let (mut g, _out) = run_piped(&b);
    let mut oom = g.c().oom_notifier().unwrap();
    assert_eq!(
        oom.wait(Duration::from_millis(1)).unwrap(),
        0,
        "no OOM before the go-ahead"
    );
    std::fs::write(b.rootfs().join("tmp/go"), "").unwrap();
    while oom.wait(Duration::from_secs(60)).unwrap() == 0 {}
    std::fs::remove_file(b.rootfs().join("tmp/go")).unwrap();
    // The eventfd fires as the cgroup goes out of memory, before the kill is counted.
    while read_trimmed(&b.cgroup_dir("memory"), "memory.oom_control").contains("oom_kill 0") {
        std::thread::sleep(Duration::from_millis(1));
    }
}
