//! End-to-end tests of the container process's attributes through the library:
//! user and groups, umask, capabilities, no_new_privs, rlimits, oom_score_adj,
//! sysctls, fds, dumpability, I/O priority, scheduler, CPU affinity, personality
//! and LSM labels, each read from inside the container.

use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;

mod common;

use common::{Guard, chain, run_output, spec_of};
use runtime_core::Container;
use serde_json::json;
use test_support::{Bundle, require_prerequisites, unique_id};

/// Runs the bundle's process to the end; returns its exit code and its stdout and stderr.
fn run_capture(b: &Bundle) -> (i32, String) {
    run_output(b, true)
}

/// Runs the bundle and asserts it exits 0; returns its output.
fn run_ok(b: &Bundle) -> String {
    let (code, out) = run_capture(b);
    assert_eq!(code, 0, "container failed: {out}");
    out
}

/// The value of a `Key:\tvalue` line of /proc/<pid>/status, whitespace-normalised.
fn status_field(status: &str, key: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .unwrap_or_else(|| panic!("no {key} in {status}"))
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// A capability mask as /proc/self/status prints it.
fn cap_hex(bits: &[u32]) -> String {
    format!("{:016x}", bits.iter().fold(0u64, |m, b| m | 1 << b))
}

const CAP_CHOWN: u32 = 0;
const CAP_KILL: u32 = 5;
const CAP_NET_BIND_SERVICE: u32 = 10;
const CAP_AUDIT_WRITE: u32 = 29;

#[test]
fn non_root_user_has_its_uid_gid_groups_and_umask() {
    require_prerequisites();
    let mut b = Bundle::new(&[
        "sh",
        "-c",
        "cat /proc/self/status; echo umask=$(umask); touch /dev/shm/f; echo mode=$(stat -c %a /dev/shm/f)",
    ]);
    b.spec["process"]["user"] = json!({"uid": 1000, "gid": 1001, "additionalGids": [2000, 2001], "umask": 0o027});
    let out = run_ok(&b);
    assert_eq!(status_field(&out, "Uid"), "1000 1000 1000 1000", "{out}");
    assert_eq!(status_field(&out, "Gid"), "1001 1001 1001 1001", "{out}");
    assert_eq!(status_field(&out, "Groups"), "2000 2001", "{out}");
    assert!(out.contains("umask=0027\n"), "{out}");
    assert!(out.contains("mode=640\n"), "{out}");
}

#[test]
fn root_user_without_additional_gids_has_no_groups() {
    require_prerequisites();
    let b = Bundle::new(&["cat", "/proc/self/status"]);
    let out = run_ok(&b);
    assert_eq!(status_field(&out, "Uid"), "0 0 0 0");
    assert_eq!(status_field(&out, "Gid"), "0 0 0 0");
    assert_eq!(status_field(&out, "Groups"), "");
}

#[test]
fn non_root_capability_sets_and_no_new_privs() {
    require_prerequisites();
    let mut b = Bundle::new(&["cat", "/proc/self/status"]);
    b.spec["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    b.spec["process"]["capabilities"] = json!({
        "bounding": ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_CHOWN"],
        "effective": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
        "permitted": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
        "inheritable": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
        "ambient": ["CAP_NET_BIND_SERVICE"]
    });
    b.spec["process"]["noNewPrivileges"] = json!(true);
    let out = run_ok(&b);
    // execve as a non-root user of a file without capabilities keeps the
    // inheritable and bounding sets, and makes permitted and effective the ambient set.
    assert_eq!(status_field(&out, "CapInh"), cap_hex(&[CAP_KILL, CAP_NET_BIND_SERVICE]));
    assert_eq!(status_field(&out, "CapPrm"), cap_hex(&[CAP_NET_BIND_SERVICE]));
    assert_eq!(status_field(&out, "CapEff"), cap_hex(&[CAP_NET_BIND_SERVICE]));
    assert_eq!(
        status_field(&out, "CapBnd"),
        cap_hex(&[CAP_CHOWN, CAP_KILL, CAP_NET_BIND_SERVICE])
    );
    assert_eq!(status_field(&out, "CapAmb"), cap_hex(&[CAP_NET_BIND_SERVICE]));
    assert_eq!(status_field(&out, "NoNewPrivs"), "1");
}

#[test]
fn root_capability_sets_follow_the_bounding_set_and_no_new_privs_can_be_off() {
    require_prerequisites();
    let mut b = Bundle::new(&["cat", "/proc/self/status"]);
    b.spec["process"]["noNewPrivileges"] = json!(false);
    let out = run_ok(&b);
    // execve as root grants the bounding set (runc's default three) as permitted and effective.
    let caps = cap_hex(&[CAP_KILL, CAP_NET_BIND_SERVICE, CAP_AUDIT_WRITE]);
    assert_eq!(status_field(&out, "CapInh"), cap_hex(&[]));
    assert_eq!(status_field(&out, "CapPrm"), caps);
    assert_eq!(status_field(&out, "CapEff"), caps);
    assert_eq!(status_field(&out, "CapBnd"), caps);
    assert_eq!(status_field(&out, "CapAmb"), cap_hex(&[]));
    assert_eq!(status_field(&out, "NoNewPrivs"), "0");
}

#[test]
fn rlimits_apply() {
    require_prerequisites();
    let mut b = Bundle::new(&[
        "sh",
        "-c",
        "echo n=$(ulimit -n) hn=$(ulimit -Hn); grep 'Max core' /proc/self/limits",
    ]);
    b.spec["process"]["rlimits"] = json!([
        {"type": "RLIMIT_NOFILE", "soft": 500, "hard": 600},
        {"type": "RLIMIT_CORE", "soft": 4096, "hard": 8192}
    ]);
    let out = run_ok(&b);
    assert!(out.contains("n=500 hn=600\n"), "{out}");
    let core: Vec<&str> = out.lines().nth(1).unwrap().split_whitespace().rev().take(3).collect();
    assert_eq!(core, ["bytes", "8192", "4096"], "{out}");
}

/// Whether this process has `cap` in its effective set.
fn have_cap(cap: u32) -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    u64::from_str_radix(&status_field(&status, "CapEff"), 16).unwrap() & (1 << cap) != 0
}

#[test]
fn oom_score_adj_applies() {
    require_prerequisites();
    let mut b = Bundle::new(&["cat", "/proc/self/oom_score_adj"]);
    b.spec["process"]["oomScoreAdj"] = json!(123);
    assert_eq!(run_ok(&b), "123\n");
    // Lowering it needs CAP_SYS_RESOURCE, which the runtime itself may lack (a VM's root can).
    b.spec["process"]["oomScoreAdj"] = json!(-500);
    const CAP_SYS_RESOURCE: u32 = 24;
    if have_cap(CAP_SYS_RESOURCE) {
        assert_eq!(run_ok(&b), "-500\n");
    } else {
        let err = Container::builder(unique_id("oom"))
            .root(b.state_root())
            .spec(spec_of(&b))
            .bundle(b.path())
            .create()
            .unwrap_err();
        assert!(chain(&err).contains("oom_score_adj"), "{}", chain(&err));
    }
}

#[test]
fn namespaced_sysctls_apply_inside_and_not_on_the_host() {
    require_prerequisites();
    let host_shmmax = std::fs::read_to_string("/proc/sys/kernel/shmmax").unwrap();
    let host_forward = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    let mut b = Bundle::new(&[
        "sh",
        "-c",
        "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmax /proc/sys/fs/mqueue/msg_max \
         /proc/sys/kernel/domainname /proc/sys/net/ipv4/conf/lo/forwarding",
    ]);
    // /proc/sys is read-only in runc's default spec: the sysctls are written before that.
    assert!(b.spec["linux"]["readonlyPaths"].to_string().contains("/proc/sys"));
    b.spec["linux"]["sysctl"] = json!({
        "net.ipv4.ip_forward": if host_forward.trim() == "1" { "0" } else { "1" },
        "kernel.shmmax": "123456789",
        "fs.mqueue.msg_max": "20",
        "kernel.domainname": "example.test",
        // Writing ip_forward sets every interface's forwarding: lo's follows it, whatever the
        // order the two are written in.
        "net/ipv4/conf/lo/forwarding": if host_forward.trim() == "1" { "0" } else { "1" }
    });
    let out = run_ok(&b);
    let want_forward = if host_forward.trim() == "1" { "0" } else { "1" };
    assert_eq!(
        out,
        format!("{want_forward}\n123456789\n20\nexample.test\n{want_forward}\n"),
        "{out}"
    );
    assert_eq!(std::fs::read_to_string("/proc/sys/kernel/shmmax").unwrap(), host_shmmax);
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap(),
        host_forward
    );
}

#[test]
fn only_stdio_reaches_the_container_process() {
    require_prerequisites();
    // Fds this process holds without close-on-exec must not reach the container.
    let path = c"/proc/self/status";
    // SAFETY: opening a file by a NUL-terminated path; the fds are closed below.
    let leaky: Vec<i32> = (0..3)
        .map(|_| unsafe { libc::open(path.as_ptr(), libc::O_RDONLY) })
        .collect();
    assert!(leaky.iter().all(|fd| *fd >= 0));
    let b = Bundle::new(&["ls", "/proc/self/fd"]);
    let out = run_ok(&b);
    for fd in leaky {
        // SAFETY: fd was opened above and is closed once.
        unsafe { libc::close(fd) };
    }
    // 0, 1, 2 and the directory ls reads.
    assert_eq!(out, "0\n1\n2\n3\n");
}

#[test]
fn init_is_not_dumpable_until_it_execs() {
    require_prerequisites();
    let mut b = Bundle::new(&["sh", "-c", "stat -c %u /proc/$$/fd; grep NoNewPrivs /proc/$$/status"]);
    b.spec["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    let (mut r, w) = std::io::pipe().unwrap();
    let c = Container::builder(unique_id("dump"))
        .root(b.state_root())
        .spec(spec_of(&b))
        .bundle(b.path())
        .stdout(OwnedFd::from(w))
        .create()
        .unwrap_or_else(|e| panic!("create failed: {}", chain(&e)));
    let mut g = Guard(Some(c));
    let pid = g.0.as_ref().unwrap().pid();
    // Waiting on the exec fifo, the init is the container's user already ...
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert_eq!(status_field(&status, "Uid"), "1000 1000 1000 1000");
    // ... but non-dumpable: its private /proc entries belong to root, so that user cannot open them.
    for entry in ["fd", "environ", "mem"] {
        let owner = std::fs::metadata(format!("/proc/{pid}/{entry}")).unwrap().uid();
        assert_eq!(
            owner, 0,
            "the init's /proc/{pid}/{entry} belongs to uid {owner}: it is dumpable"
        );
    }
    g.0.as_mut().unwrap().start().unwrap();
    let mut out = String::new();
    r.read_to_string(&mut out).unwrap();
    // After exec the process is dumpable again and owns its /proc directory.
    assert_eq!(out, "1000\nNoNewPrivs:\t1\n");
    assert_eq!(g.0.as_mut().unwrap().wait().unwrap().code(), 0);
}

#[test]
fn io_priority_applies() {
    require_prerequisites();
    for (class, prio, want) in [
        ("IOPRIO_CLASS_BE", 5, "best-effort: prio 5\n"),
        ("IOPRIO_CLASS_IDLE", 0, "idle\n"),
        ("IOPRIO_CLASS_RT", 2, "realtime: prio 2\n"),
    ] {
        let mut b = Bundle::new(&["ionice"]);
        b.spec["process"]["ioPriority"] = json!({"class": class, "priority": prio});
        assert_eq!(run_ok(&b), want, "{class}");
    }
}

/// Takes the cgroup namespace out of the spec: the init then joins its cgroup only before exec.
fn without_cgroup_namespace(b: &mut Bundle) {
    let ns = b.spec["linux"]["namespaces"].as_array_mut().unwrap();
    ns.retain(|n| n["type"] != "cgroup");
}

/// Field `n` (1-based, as proc(5) numbers them) of a /proc/<pid>/stat line.
fn stat_field(stat: &str, n: usize) -> String {
    let after_comm = &stat[stat.rfind(')').unwrap() + 2..];
    after_comm.split_whitespace().nth(n - 3).unwrap().to_string()
}

#[test]
fn scheduler_policy_and_nice_apply() {
    require_prerequisites();
    for (sched, policy, nice) in [
        (json!({"policy": "SCHED_BATCH", "nice": 7}), "3", "7"),
        (json!({"policy": "SCHED_IDLE"}), "5", "0"),
        // A negative nice needs CAP_SYS_NICE, which the container does not keep:
        // the scheduler is set before the capabilities are dropped.
        (json!({"policy": "SCHED_OTHER", "nice": -5}), "0", "-5"),
    ] {
        let mut b = Bundle::new(&["cat", "/proc/self/stat"]);
        b.spec["process"]["scheduler"] = sched.clone();
        let out = run_ok(&b);
        assert_eq!(stat_field(&out, 41), policy, "{sched}: {out}");
        assert_eq!(stat_field(&out, 19), nice, "{sched}: {out}");
        without_cgroup_namespace(&mut b);
        let out = run_ok(&b);
        assert_eq!(stat_field(&out, 41), policy, "{sched} without cgroupns: {out}");
        assert_eq!(stat_field(&out, 19), nice, "{sched} without cgroupns: {out}");
    }
}

/// The CPUs this host has, first and last.
fn first_and_last_cpu() -> (usize, usize) {
    let online = std::fs::read_to_string("/sys/devices/system/cpu/online").unwrap();
    let first = online.trim().split([',', '-']).next().unwrap().parse().unwrap();
    let last = online.trim().rsplit([',', '-']).next().unwrap().parse().unwrap();
    assert!(
        last > first,
        "this test needs two online CPUs to tell the affinities apart; the host has {online}"
    );
    (first, last)
}

#[test]
fn exec_cpu_affinity_final_applies_and_without_it_the_cgroup_cpuset_does() {
    require_prerequisites();
    let (first, last) = first_and_last_cpu();
    let mut b = Bundle::new(&["grep", "Cpus_allowed_list", "/proc/self/status"]);
    b.spec["process"]["execCPUAffinity"] = json!({"initial": first.to_string(), "final": last.to_string()});
    assert_eq!(run_ok(&b), format!("Cpus_allowed_list:\t{last}\n"));
    let mut late = Bundle::new(&["grep", "Cpus_allowed_list", "/proc/self/status"]);
    late.spec["process"]["execCPUAffinity"] = b.spec["process"]["execCPUAffinity"].clone();
    without_cgroup_namespace(&mut late);
    assert_eq!(run_ok(&late), format!("Cpus_allowed_list:\t{last}\n"));

    // Without final, the container gets every CPU of its cgroup's cpuset (all of them here),
    // not the initial set, which the kernel would otherwise keep across the cgroup move.
    let cpuset = std::fs::read_to_string("/sys/fs/cgroup/cpuset/cpuset.cpus").unwrap();
    let all = format!("Cpus_allowed_list:\t{}\n", cpuset.trim());
    b.spec["process"]["execCPUAffinity"] = json!({"initial": last.to_string()});
    assert_eq!(run_ok(&b), all);

    // Nor the runtime's own affinity (runc resets it too): pin this thread, whose
    // affinity the init inherits, to one CPU.
    b.spec["process"].as_object_mut().unwrap().remove("execCPUAffinity");
    // SAFETY: cpu_set_t is plain data; all zeroes is the empty set.
    let mut saved: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::cpu_set_t>();
    // SAFETY: saved is a writable cpu_set_t of the size passed.
    assert_eq!(unsafe { libc::sched_getaffinity(0, size, &mut saved) }, 0);
    // SAFETY: as above; CPU_SET writes a bit below the set's size.
    let mut one: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: first is an online CPU number, far below the set's size.
    unsafe { libc::CPU_SET(first, &mut one) };
    // SAFETY: one is a live cpu_set_t of the size passed; this thread only.
    assert_eq!(unsafe { libc::sched_setaffinity(0, size, &one) }, 0);
    let (code, out) = run_capture(&b);
    // SAFETY: restores this thread's affinity from a live cpu_set_t.
    unsafe { libc::sched_setaffinity(0, size, &saved) };
    assert_eq!((code, out), (0, all));
}

#[test]
fn linux32_personality_changes_uname() {
    require_prerequisites();
    let mut b = Bundle::new(&["uname", "-m"]);
    b.spec["linux"]["personality"] = json!({"domain": "LINUX32"});
    let out = run_ok(&b);
    if cfg!(target_arch = "x86_64") {
        assert_eq!(out, "i686\n");
    } else {
        assert_ne!(out, format!("{}\n", std::env::consts::ARCH));
    }
    b.spec["linux"]["personality"] = json!({"domain": "LINUX"});
    let native = std::process::Command::new("uname").arg("-m").output().unwrap();
    assert_eq!(run_ok(&b), String::from_utf8_lossy(&native.stdout));
}

#[test]
fn lsm_labels_apply_where_the_host_has_the_lsm() {
    require_prerequisites();
    let apparmor = std::path::Path::new("/sys/kernel/security/apparmor").exists()
        && std::fs::read("/sys/module/apparmor/parameters/enabled").is_ok_and(|v| v.starts_with(b"Y"));
    let selinux = std::path::Path::new("/sys/fs/selinux/enforce").exists();
    if apparmor {
        let mut b = Bundle::new(&["cat", "/proc/self/attr/current"]);
        b.spec["process"]["apparmorProfile"] = json!("unconfined");
        assert!(run_ok(&b).contains("unconfined"));
    }
    if selinux {
        let mine = std::fs::read_to_string("/proc/self/attr/current").unwrap();
        let label = mine.trim_end_matches(['\0', '\n']).to_string();
        let mut b = Bundle::new(&["cat", "/proc/self/attr/current"]);
        b.spec["process"]["selinuxLabel"] = json!(label);
        assert_eq!(run_ok(&b).trim_end_matches(['\0', '\n']), label);
    }
    // Without the LSM, each field is refused by name (the bad-input tests check nothing leaks).
    for (field, value, enabled) in [
        ("apparmorProfile", "unconfined", apparmor),
        ("selinuxLabel", "system_u:system_r:container_t:s0", selinux),
    ] {
        if enabled {
            continue;
        }
        let mut b = Bundle::new(&["true"]);
        b.spec["process"][field] = json!(value);
        let err = Container::builder(unique_id("lsm"))
            .root(b.state_root())
            .spec(spec_of(&b))
            .bundle(b.path())
            .create()
            .unwrap_err();
        assert!(chain(&err).contains(&format!("process.{field}")), "{}", chain(&err));
    }
}

#[test]
fn namespaced_sysctls_apply_in_a_user_namespace() {
    require_prerequisites();
    let mut b = Bundle::new(&[
        "cat",
        "/proc/sys/kernel/shmmax",
        "/proc/sys/net/ipv4/conf/lo/forwarding",
    ]);
    let mut ns = b.spec["linux"]["namespaces"].as_array().unwrap().clone();
    ns.push(json!({"type": "user"}));
    b.spec["linux"]["namespaces"] = json!(ns);
    b.spec["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    b.spec["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    b.spec["linux"]["sysctl"] = json!({"kernel.shmmax": "7654321", "net.ipv4.conf.lo.forwarding": "1"});
    // The rootfs must be readable by the mapped root.
    let chown = std::process::Command::new("chown")
        .args(["-R", "100000:100000"])
        .arg(b.rootfs())
        .status()
        .unwrap();
    assert!(chown.success());
    assert_eq!(run_ok(&b), "7654321\n1\n");
}
