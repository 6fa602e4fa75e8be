//! Bad process attributes get a clear error naming the field and leave nothing behind.

mod common;

use runtime_core::Container;

use serde_json::{Value, json};
use test_support::{Bundle, footprint, require_prerequisites, unique_id};

/// Creates from a bundle whose spec `edit` changed and expects an error containing every
/// string of `want`, with no state directory, cgroup, fd, mount or child left.
fn expect_create_error(edit: impl FnOnce(&mut Value), want: &[&str]) {
    let mut b = Bundle::new(&["true"]);
    edit(&mut b.spec);
    b.write();
    common::expect_create_error(&b, want);
}

// These run one after another in one test so the footprint counts are not
// disturbed by other tests.
#[test]
fn bad_process_attributes_are_named_and_leave_nothing() {
    require_prerequisites();

    // Capabilities and rlimits.
    expect_create_error(
        |s| s["process"]["capabilities"]["bounding"] = json!(["CAP_KILL", "CAP_FLY"]),
        &["process.capabilities.bounding", "CAP_FLY"],
    );
    let nr_open: u64 = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // Above fs.nr_open: setrlimit in the init fails with EPERM.
    expect_create_error(
        |s| s["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": nr_open + 1, "hard": nr_open + 1}]),
        &["process.rlimits", "RLIMIT_NOFILE", "Operation not permitted"],
    );
    expect_create_error(
        |s| {
            s["process"]["rlimits"] = json!([
                {"type": "RLIMIT_NOFILE", "soft": 10, "hard": 10},
                {"type": "RLIMIT_NOFILE", "soft": 20, "hard": 20}
            ])
        },
        &["process.rlimits", "RLIMIT_NOFILE appears twice"],
    );
    expect_create_error(
        |s| s["process"]["rlimits"] = json!([{"type": "RLIMIT_FLY", "soft": 1, "hard": 1}]),
        &["process.rlimits[0].type", "RLIMIT_FLY"],
    );

    // Sysctls: not namespaced, namespaced but without the namespace, unknown to the kernel.
    expect_create_error(
        |s| s["linux"]["sysctl"] = json!({"vm.swappiness": "10"}),
        &["linux.sysctl", "vm.swappiness", "not namespaced"],
    );
    expect_create_error(
        |s| {
            s["linux"]["namespaces"] = json!([{"type": "mount"}, {"type": "uts"}, {"type": "pid"}]);
            s["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
        },
        &["linux.sysctl", "net.ipv4.ip_forward", "network namespace"],
    );
    expect_create_error(
        |s| {
            s["linux"]["namespaces"] = json!([{"type": "mount"}, {"type": "uts"}, {"type": "pid"}]);
            s["linux"]["sysctl"] = json!({"kernel.shmmax": "1"});
        },
        &["linux.sysctl", "kernel.shmmax", "ipc namespace"],
    );
    expect_create_error(
        |s| s["linux"]["sysctl"] = json!({"net.ipv4.no_such_key": "1"}),
        &["linux.sysctl net.ipv4.no_such_key=1", "No such file or directory"],
    );

    // I/O priority and scheduler.
    expect_create_error(
        |s| s["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_FLY", "priority": 1}),
        &["process.ioPriority.class", "IOPRIO_CLASS_FLY"],
    );
    expect_create_error(
        |s| s["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_BE", "priority": 9}),
        &["process.ioPriority.priority", "9"],
    );
    expect_create_error(
        |s| s["process"]["scheduler"] = json!({"policy": "SCHED_FLY"}),
        &["process.scheduler.policy", "SCHED_FLY"],
    );
    expect_create_error(
        |s| s["process"]["scheduler"] = json!({"policy": "SCHED_OTHER", "priority": 10}),
        &["process.scheduler.priority", "SCHED_FIFO or SCHED_RR"],
    );
    expect_create_error(
        |s| s["process"]["scheduler"] = json!({"policy": "SCHED_BATCH", "runtime": 1000000}),
        &["process.scheduler", "SCHED_DEADLINE"],
    );
    // A deadline shorter than the runtime: the kernel refuses it in the init.
    expect_create_error(
        |s| {
            s["process"]["scheduler"] =
                json!({"policy": "SCHED_DEADLINE", "runtime": 2000000, "deadline": 1000000, "period": 3000000})
        },
        &["process.scheduler", "Invalid argument"],
    );

    // CPU affinity and personality.
    expect_create_error(
        |s| s["process"]["execCPUAffinity"] = json!({"final": "0,4096"}),
        &["process.execCPUAffinity.final", "CPU 4096 does not exist"],
    );
    expect_create_error(
        |s| s["process"]["execCPUAffinity"] = json!({"initial": "1-x"}),
        &["process.execCPUAffinity.initial"],
    );
    expect_create_error(
        |s| s["linux"]["personality"] = json!({"domain": "LINUX", "flags": ["ADDR_NO_RANDOMIZE"]}),
        &["linux.personality.flags", "ADDR_NO_RANDOMIZE"],
    );
    expect_create_error(
        |s| s["linux"]["personality"] = json!({"domain": "LINUX64"}),
        &["linux.personality.domain", "LINUX64"],
    );

    // More preserved fds than this process may have open.
    let b = Bundle::new(&["true"]);
    b.write();
    let before = footprint();
    let err = Container::builder(unique_id("badfds"))
        .root(b.state_root())
        .bundle(b.path())
        .preserve_fds(u32::MAX - 3)
        .create()
        .unwrap_err();
    assert!(
        common::chain(&err).contains("exceed this process's fd limit"),
        "{}",
        common::chain(&err)
    );
    assert_eq!(footprint(), before);

    // LSM labels on a host without that LSM.
    if !std::path::Path::new("/sys/fs/selinux/enforce").exists() {
        expect_create_error(
            |s| s["process"]["selinuxLabel"] = json!("system_u:system_r:container_t:s0"),
            &["process.selinuxLabel", "SELinux is not enabled"],
        );
        expect_create_error(
            |s| s["linux"]["mountLabel"] = json!("system_u:object_r:container_file_t:s0"),
            &["linux.mountLabel", "SELinux is not enabled"],
        );
    }
    if std::fs::read("/sys/module/apparmor/parameters/enabled").map_or(true, |v| !v.starts_with(b"Y")) {
        expect_create_error(
            |s| s["process"]["apparmorProfile"] = json!("docker-default"),
            &["process.apparmorProfile", "AppArmor is not enabled"],
        );
    }
}
