//! Real-kernel tests: they create cgroups under every mounted hierarchy of this host (the build
//! machine is hybrid), put a child they spawned in them, and remove everything, even on failure.

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use cgroups::{Cgroup, CgroupError, FreezerState, Hierarchies, Layout};
use oci_spec::runtime::LinuxResources;

/// Removes the cgroup (and kills what we put in it) when the test ends, passed or not.
struct Guard {
    cg: Cgroup,
    extra_dirs: Vec<PathBuf>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.cg.remove();
        for d in self.extra_dirs.iter().rev() {
            let _ = std::fs::remove_dir(d);
        }
    }
}

/// A child this test started: killed and reaped when dropped.
struct Kid(Child);

impl Drop for Kid {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn setup(test: &str) -> Option<(Hierarchies, String)> {
    if !is_root() {
        eprintln!("skipped {test}: needs root to create cgroups");
        return None;
    }
    let h = Hierarchies::detect().expect("detect cgroup hierarchies");
    Some((h, format!("/ocirun-test-{test}-{}", std::process::id())))
}

fn resources(json: &str) -> LinuxResources {
    serde_json::from_str(json).expect("valid resources json")
}

fn read(p: PathBuf) -> String {
    std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
        .trim()
        .to_owned()
}

fn sleeper() -> Kid {
    Kid(Command::new("sleep").arg("1000").spawn().expect("spawn sleep"))
}

fn pid_of(k: &Kid) -> i32 {
    i32::try_from(k.0.id()).expect("pid fits i32")
}

#[test]
fn lifecycle_on_every_hierarchy() {
    let Some((h, path)) = setup("lifecycle") else {
        return;
    };
    let cg = Cgroup::new(&h, Some(&path), "unused").expect("resolve");
    assert_eq!(cg.path(), path);
    let guard = Guard {
        cg: cg.clone(),
        extra_dirs: Vec::new(),
    };
    let v2 = h.layout() == Layout::V2;
    // cgroup v2 has no per-cgroup swappiness: it is refused there (see bad_input_...).
    let swappiness = if v2 { "" } else { r#","swappiness":10"# };
    let r = resources(&format!(
        r#"{{"memory":{{"limit":67108864,"swap":134217728,"reservation":33554432{swappiness}}},
            "pids":{{"limit":32}},
            "cpu":{{"shares":512,"quota":50000,"period":100000,"cpus":"0","mems":"0"}}}}"#
    ));
    cg.create(Some(&r)).expect("create");
    for cgroups::HierarchyDir { name, dir, .. } in cg.mounts() {
        assert!(dir.is_dir(), "{name}: {} missing", dir.display());
    }
    let dir = |c: &str| cg.dir_of_controller(c).expect("controller").to_path_buf();
    if v2 {
        // runc's conversions: swap is memory+swap in the spec, swap alone in v2; shares 512
        // is weight 20.
        assert_eq!(read(dir("memory").join("memory.max")), "67108864");
        assert_eq!(read(dir("memory").join("memory.swap.max")), "67108864");
        assert_eq!(read(dir("memory").join("memory.low")), "33554432");
        assert_eq!(read(dir("cpu").join("cpu.weight")), "20");
        assert_eq!(read(dir("cpu").join("cpu.max")), "50000 100000");
    } else {
        assert_eq!(read(dir("memory").join("memory.limit_in_bytes")), "67108864");
        assert_eq!(read(dir("memory").join("memory.memsw.limit_in_bytes")), "134217728");
        assert_eq!(read(dir("memory").join("memory.soft_limit_in_bytes")), "33554432");
        assert_eq!(read(dir("memory").join("memory.swappiness")), "10");
        assert_eq!(read(dir("cpu").join("cpu.shares")), "512");
        assert_eq!(read(dir("cpu").join("cpu.cfs_quota_us")), "50000");
        assert_eq!(read(dir("cpu").join("cpu.cfs_period_us")), "100000");
    }
    assert_eq!(read(dir("pids").join("pids.max")), "32");
    assert_eq!(read(dir("cpuset").join("cpuset.cpus")), "0");

    let kid = sleeper();
    let pid = pid_of(&kid);
    cg.add_process(pid).expect("add process");
    let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("proc cgroup");
    for line in own.lines() {
        assert!(line.ends_with(&path), "not moved in every hierarchy: {line}");
    }
    assert_eq!(cg.pids().expect("pids"), vec![pid]);

    cg.freeze().expect("freeze");
    assert_eq!(cg.state().expect("state"), FreezerState::Frozen);
    cg.thaw().expect("thaw");
    assert_eq!(cg.state().expect("state"), FreezerState::Thawed);

    let stats = cg.stats().expect("stats");
    assert_eq!(stats.pids.current, 1);
    assert_eq!(stats.pids.limit, 32);
    assert_eq!(stats.memory.usage.limit, 67108864);
    // v1 does not move charges with the task, so usage may be 0 here; memory.stat must be read.
    assert!(!stats.memory.raw.is_empty());
    let json = serde_json::to_value(&stats).expect("serialise");
    for k in ["cpu", "memory", "pids", "blkio", "hugetlb"] {
        assert!(json.get(k).is_some(), "stats json lacks {k}: {json}");
    }

    let upd = resources(r#"{"memory":{"limit":33554432,"swap":67108864},"pids":{"limit":16}}"#);
    cg.update(&upd).expect("update");
    assert_eq!(read(dir("pids").join("pids.max")), "16");
    if v2 {
        assert_eq!(read(dir("memory").join("memory.max")), "33554432");
        assert_eq!(read(dir("memory").join("memory.swap.max")), "33554432");
    } else {
        assert_eq!(read(dir("memory").join("memory.limit_in_bytes")), "33554432");
        assert_eq!(read(dir("memory").join("memory.memsw.limit_in_bytes")), "67108864");
    }

    // Remove a frozen cgroup with a live process: it must thaw, kill and remove.
    cg.freeze().expect("freeze again");
    cg.remove().expect("remove");
    assert!(!cg.exists(), "a directory is left");
    for cgroups::HierarchyDir { name, dir: d, .. } in cg.mounts() {
        assert!(!d.exists(), "{name}: {} left behind", d.display());
    }
    let mut kid = kid;
    let status = kid.0.wait().expect("wait");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    // Removing again is fine.
    cg.remove().expect("remove twice");
    drop(guard);
}

#[test]
fn hugetlb_limit_goes_to_the_hierarchy_that_has_it() {
    let Some((h, path)) = setup("hugetlb") else {
        return;
    };
    if !h.controllers().iter().any(|c| c == "hugetlb") {
        eprintln!("skipped: this host has no hugetlb controller");
        return;
    }
    let cg = Cgroup::new(&h, Some(&path), "x").expect("resolve");
    let _g = Guard {
        cg: cg.clone(),
        extra_dirs: Vec::new(),
    };
    let r = resources(r#"{"hugepageLimits":[{"pageSize":"2MB","limit":4194304}]}"#);
    cg.create(Some(&r)).expect("create");
    let v2 = cg
        .mounts()
        .into_iter()
        .find(|m| cg.dir_of_controller("hugetlb") == Some(m.dir.as_path()))
        .expect("hugetlb mount")
        .unified;
    let d = cg.dir_of_controller("hugetlb").expect("dir").to_path_buf();
    let file = if v2 {
        "hugetlb.2MB.max"
    } else {
        "hugetlb.2MB.limit_in_bytes"
    };
    assert_eq!(read(d.join(file)), "4194304");
    let bad = resources(r#"{"hugepageLimits":[{"pageSize":"3MB","limit":4194304}]}"#);
    assert!(matches!(cg.apply(&bad), Err(CgroupError::InvalidValue { .. })));
    cg.remove().expect("remove");
    assert!(!cg.exists());
}

#[test]
fn bad_input_is_refused_and_leaves_nothing() {
    let Some((h, path)) = setup("bad") else {
        return;
    };
    let cg = Cgroup::new(&h, Some(&format!("{path}/nested")), "x").expect("resolve");
    let parent = Cgroup::new(&h, Some(&path), "x").expect("resolve parent");
    let _g = Guard {
        cg: parent.clone(),
        extra_dirs: Vec::new(),
    };
    let cases = [
        r#"{"memory":{"limit":-5}}"#,
        r#"{"pids":{"limit":-7}}"#,
        r#"{"cpu":{"quota":-3}}"#,
        r#"{"memory":{"swappiness":200}}"#,
        r#"{"cpu":{"shares":1000000000}}"#,
        r#"{"pids":{"limit":9223372036854775807}}"#,
        r#"{"network":{"classID":1048577}}"#,
        r#"{"rdma":{"mlx5_0":{"hcaHandles":1}}}"#,
        r#"{"blockIO":{"weight":5}}"#,
        r#"{"devices":[{"allow":true,"type":"p","access":"rwm"}]}"#,
        // A file the hybrid layout's cgroup2 lacks, a value pure v2 refuses.
        r#"{"unified":{"memory.max":"one"}}"#,
    ];
    for json in cases {
        let r = resources(json);
        let err = cg.create(Some(&r)).expect_err(json);
        let msg = format!("{err}");
        assert!(!msg.is_empty());
        assert!(!cg.exists(), "{json}: the nested cgroup is left");
        assert!(!parent.exists(), "{json}: the parent cgroup is left ({err})");
    }
    // memory.kernel is deprecated and ignored by kernels since 5.16: skipped, as runc does
    // (runtime-core warns), and nothing is written.
    cg.create(Some(&resources(r#"{"memory":{"kernel":1048576}}"#)))
        .expect("kernel memory is skipped");
    if let Some(d) = cg
        .dir_of_controller("memory")
        .map(|d| d.join("memory.kmem.limit_in_bytes"))
        && d.exists()
    {
        assert_ne!(read(d), "1048576");
    }
    cg.remove().expect("remove");
    parent.remove().expect("remove parent");
    assert!(!parent.exists());
    assert!(matches!(
        Cgroup::new(&h, Some("/ocirun-test/../etc"), "x"),
        Err(CgroupError::InvalidPath { .. })
    ));
}

#[test]
fn remove_kills_and_removes_nested_cgroups() {
    let Some((h, path)) = setup("nested") else {
        return;
    };
    let cg = Cgroup::new(&h, Some(&path), "x").expect("resolve");
    let _g = Guard {
        cg: cg.clone(),
        extra_dirs: Vec::new(),
    };
    cg.create(None).expect("create");
    // A nested cgroup in every hierarchy, with a process in it (as a container's own manager would).
    let kid = sleeper();
    let pid = pid_of(&kid);
    for cgroups::HierarchyDir { dir, unified, .. } in cg.mounts() {
        let sub = dir.join("inner");
        std::fs::create_dir(&sub).expect("mkdir inner");
        // A v1 cpuset needs its cpus and mems before it takes a process; v2 inherits them.
        if !unified && dir.join("cpuset.cpus").exists() {
            for f in ["cpuset.cpus", "cpuset.mems"] {
                std::fs::write(sub.join(f), read(dir.join(f))).expect("cpuset");
            }
        }
        std::fs::write(sub.join("cgroup.procs"), pid.to_string()).expect("move");
    }
    assert_eq!(cg.pids().expect("pids"), vec![pid]);
    cg.remove().expect("remove");
    assert!(!cg.exists());
    drop(kid);
}

#[test]
fn v1_devices_deny_by_default() {
    let Some((h, path)) = setup("devices") else {
        return;
    };
    if h.layout() == Layout::V2 {
        eprintln!("skipped: no v1 devices controller on a v2 host");
        return;
    }
    let cg = Cgroup::new(&h, Some(&path), "x").expect("resolve");
    let _g = Guard {
        cg: cg.clone(),
        extra_dirs: Vec::new(),
    };
    let r = resources(
        r#"{"devices":[{"allow":false,"access":"rwm"},
                       {"allow":true,"type":"c","major":1,"minor":3,"access":"rwm"}]}"#,
    );
    cg.create(Some(&r)).expect("create");
    let list = read(cg.dir_of_controller("devices").expect("devices").join("devices.list"));
    assert_eq!(list, "c 1:3 rwm");
    let mut child = Kid(Command::new("/bin/sh")
        .arg("-c")
        .arg("read x; (exec 3</dev/null) 2>/dev/null && echo null-ok; (exec 3</dev/zero) 2>/dev/null && echo zero-ok; exit 0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn sh"));
    cg.add_process(pid_of(&child)).expect("add");
    child.0.stdin.take().expect("stdin").write_all(b"go\n").expect("write");
    let mut out = String::new();
    child
        .0
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut out)
        .expect("read");
    assert_eq!(out, "null-ok\n");
    cg.remove().expect("remove");
}

#[test]
fn systemd_driver_needs_a_running_systemd() {
    let h = Hierarchies::detect().expect("detect");
    let cg = Cgroup::new_systemd(&h, Some("system.slice:docker:abc"), "abc");
    if Path::new("/run/systemd/system").is_dir() {
        // systemd runs (the VM host of scripts/vm-test.sh): the unit's cgroup is resolved.
        let cg = cg.expect("resolve under a running systemd");
        assert_eq!(cg.path(), "/system.slice/docker-abc.scope");
    } else {
        let err = cg.expect_err("no D-Bus");
        assert!(matches!(err, CgroupError::Systemd { .. }), "{err}");
    }
    assert!(Cgroup::new_systemd(&h, Some("/not/systemd"), "abc").is_err());
}

#[test]
fn unified_dir_fd_only_on_pure_v2() {
    let h = Hierarchies::detect().expect("detect");
    let cg = Cgroup::new(&h, None, "fd-test").expect("resolve");
    assert_eq!(cg.path(), "/ocirun/fd-test");
    if h.layout() != Layout::V2 {
        assert!(cg.unified_dir_fd().is_none());
    }
}

#[test]
fn a_child_that_writes_0_to_tasks_is_in_every_v1_hierarchy() {
    let Some((h, path)) = setup("join") else { return };
    let cg = Cgroup::new(&h, Some(&path), "join").expect("resolve");
    let _guard = Guard {
        cg: cg.clone(),
        extra_dirs: vec![],
    };
    // The split create a runtime uses around the clone: the v2 directory alone first (for
    // CLONE_INTO_CGROUP), the v1 ones after.
    cg.create_unified().expect("create the v2 directory");
    for cgroups::HierarchyDir { unified, root, dir, .. } in cg.mounts() {
        assert_eq!(dir.is_dir(), unified, "{} after create_unified", dir.display());
        if unified {
            // Every controller of the hierarchy reaches the new cgroup, its parents new or not.
            let have = read(dir.join("cgroup.controllers"));
            for c in read(root.join("cgroup.controllers")).split_whitespace() {
                assert!(
                    have.split_whitespace().any(|h| h == c),
                    "{c} not in {}: {have:?}",
                    dir.display()
                );
            }
        }
    }
    assert_eq!(
        cg.clone_into_fd().expect("open the v2 directory").is_some(),
        h.unified_mountpoint().is_some()
    );
    cg.create_rest(None).expect("create the v1 directories");
    assert!(
        cg.mounts().iter().all(|m| m.dir.is_dir()),
        "create_rest made every directory"
    );
    let tasks: Vec<std::os::fd::OwnedFd> = cg
        .v1_tasks()
        .expect("open the tasks files")
        .into_iter()
        .map(|(fd, _)| fd)
        .collect();
    let mut fds = [0; 2];
    // SAFETY: fds is a writable array of two ints.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    let [rd, wr] = fds;
    // SAFETY: the child only makes raw system calls (write, read, _exit): safe after fork in a
    // multi-threaded test process.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: closing our copy of the write end, then async-signal-safe calls only.
        unsafe {
            libc::close(wr);
            let code = i32::from(cgroups::join_self(tasks.iter().map(|f| f.as_fd())).is_err());
            let mut byte = [0u8; 1];
            libc::read(rd, byte.as_mut_ptr().cast(), 1);
            libc::_exit(code);
        }
    }
    assert!(pid > 0, "fork");
    // SAFETY: closing the parent's copy of the read end, which it owns.
    unsafe { libc::close(rd) };
    // Wait until the child has joined: each tasks file lists it then.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let dirs: Vec<PathBuf> = cg.mounts().into_iter().filter(|m| !m.unified).map(|m| m.dir).collect();
    let joined = |d: &PathBuf| read(d.join("tasks")).lines().any(|l| l == pid.to_string());
    while !dirs.iter().all(joined) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let missing: Vec<&PathBuf> = dirs.iter().filter(|d| !joined(d)).collect();
    // SAFETY: closing the write end lets the child's read return; then reap it.
    unsafe { libc::close(wr) };
    let mut status = 0;
    // SAFETY: waitpid on our own child, writing into a local.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    assert!(missing.is_empty(), "the child is not in {missing:?}");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "join_self failed: {status}"
    );
}
