//! `MountPlan::execute` runs between clone and exec: it must not allocate. This test binary
//! installs a global allocator that counts allocations while a flag is set, forks, and runs
//! whole plans (one that succeeds, one that fails) in the child with the flag set.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

mod common;
use common::{have_root, mount, temp_rootfs};
use rootfs::{CgroupMount, MountPlan, RootfsConfig};

/// Counts allocations made while [`FORBID`] is set.
struct Counting;

/// Set while the plan executes in the child.
static FORBID: AtomicBool = AtomicBool::new(false);
/// Allocations seen while [`FORBID`] was set.
static COUNT: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if FORBID.load(Ordering::Relaxed) {
            COUNT.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if FORBID.load(Ordering::Relaxed) {
            COUNT.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Forks, executes the plan with allocation counting on, returns (allocations, execute ok).
fn allocations_in_child(plan: &MountPlan) -> (i32, bool) {
    allocations_in_child_of(|| plan.execute().is_ok())
}

/// Forks, runs `work` with allocation counting on, returns (allocations, work's result).
fn allocations_in_child_of(work: impl FnOnce() -> bool) -> (i32, bool) {
    // SAFETY: the child only does raw syscalls, runs the plan and _exit()s.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        // SAFETY: unshare takes flags; mount gets constant NUL-terminated strings.
        let ok = unsafe {
            libc::unshare(libc::CLONE_NEWNS) == 0
                && libc::mount(
                    std::ptr::null(),
                    c"/".as_ptr(),
                    std::ptr::null(),
                    libc::MS_REC | libc::MS_SLAVE,
                    std::ptr::null(),
                ) == 0
        };
        if !ok {
            // SAFETY: ends the forked child.
            unsafe { libc::_exit(99) };
        }
        FORBID.store(true, Ordering::SeqCst);
        let result = work();
        FORBID.store(false, Ordering::SeqCst);
        let n = COUNT.load(Ordering::SeqCst).min(90);
        let code = i32::try_from(n).unwrap_or(90) + if result { 0 } else { 100 };
        // SAFETY: ends the forked child without running the harness's exit code.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: `pid` is our child; `status` is writable.
    assert_eq!(unsafe { libc::waitpid(pid, &raw mut status, 0) }, pid);
    assert!(libc::WIFEXITED(status), "child died: {status:#x}");
    let code = libc::WEXITSTATUS(status);
    assert_ne!(code, 99, "unshare/mount in the child failed");
    (code % 100, code < 100)
}

#[test]
fn execute_does_not_allocate() {
    if !have_root("execute_does_not_allocate", "mount namespaces, mount, mknod") {
        return;
    }
    // Control: the counter sees allocations.
    let (allocs, _) = allocations_in_child_of(|| std::hint::black_box(vec![1u8; 64]).len() == 64);
    assert!(allocs > 0, "the counting allocator does not count");

    let (dir, root) = temp_rootfs("noalloc", &["proc", "sys", "dev", "etc"]);
    std::fs::create_dir_all(dir.path().join("rootfs/etc/a/b")).unwrap();
    std::fs::write(dir.path().join("rootfs/etc/a/b/file"), b"copied").unwrap();
    std::os::unix::fs::symlink("a/b/file", dir.path().join("rootfs/etc/link")).unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let mut cfg = RootfsConfig {
        rootfs: root,
        readonly: true,
        mounts: vec![
            mount("/proc", "proc", "proc", &[]),
            mount("/dev", "tmpfs", "tmpfs", &["nosuid", "mode=755", "ro"]),
            mount("/dev/pts", "devpts", "devpts", &["newinstance", "ptmxmode=0666"]),
            mount("/sys", "sysfs", "sysfs", &["ro", "nosuid"]),
            mount("/etc", "tmpfs", "tmpfs", &["tmpcopyup", "ro"]),
            mount(
                "/data/a/b",
                "bind",
                data.to_str().unwrap(),
                &["rbind", "ro", "rnosuid", "rprivate"],
            ),
        ],
        masked_paths: vec!["/proc/kcore".into(), "/sys/firmware".into()],
        readonly_paths: vec!["/proc/sys".into()],
        ..RootfsConfig::default()
    };
    // A cgroup v1 mount (bind of a host hierarchy, and a co-mounted one for the links), where
    // the host has the v1 cpu hierarchy.
    let cpu = PathBuf::from("/sys/fs/cgroup/cpu");
    if cpu.is_dir() {
        cfg.mounts.push(mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["nosuid", "noexec", "nodev", "relatime", "ro"],
        ));
        cfg.cgroup_mounts = ["cpu", "ocirun,test"]
            .into_iter()
            .map(|name| CgroupMount {
                name: name.to_owned(),
                controllers: "cpu".to_owned(),
                unified: false,
                host_path: cpu.clone(),
                ready_at_start: false,
            })
            .collect();
    } else {
        eprintln!("execute_does_not_allocate: no cgroup v1 cpu hierarchy, the cgroup mount is not covered");
    }
    let plan = MountPlan::compile(cfg.clone()).expect("compile");
    let (allocs, ok) = allocations_in_child(&plan);
    assert!(ok, "the plan failed in the child");
    assert_eq!(allocs, 0, "execute allocated {allocs} times");
    // The same with the cgroup directories ready at the start: bound in place, not late.
    let mut ready = cfg.clone();
    for cm in &mut ready.cgroup_mounts {
        cm.ready_at_start = true;
    }
    let plan = MountPlan::compile(ready).expect("compile");
    let (allocs, ok) = allocations_in_child(&plan);
    assert!(ok, "the plan failed in the child (cgroup directories ready)");
    assert_eq!(allocs, 0, "execute allocated {allocs} times (cgroup directories ready)");

    // The failure path does not allocate either.
    let mut failing = cfg;
    failing.mounts.push(mount("/bad", "nosuchfs-ocirun", "none", &[]));
    let plan = MountPlan::compile(failing).expect("compile");
    let (allocs, ok) = allocations_in_child(&plan);
    assert!(!ok, "the failing plan succeeded");
    assert_eq!(allocs, 0, "execute allocated {allocs} times on failure");
    let bad = dir.path().join("rootfs/bad");
    assert!(
        bad.read_dir().unwrap().next().is_none(),
        "the failed mount left entries"
    );
}
