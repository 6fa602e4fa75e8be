//! Execution tests: build a rootfs in a temp dir, fork, unshare a mount namespace in the child,
//! execute the plan there and check the container's view from the inside. The child reports
//! through a pipe and its exit code; its mount namespace (and every mount the plan made)
//! disappears when it exits, and the temp dirs are removed by their guards.

use std::ffi::CString;
use std::io::Read as _;
use std::os::fd::{AsFd, FromRawFd as _, OwnedFd};
use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxDeviceBuilder, LinuxDeviceType, Mount};

mod common;
use common::{mount, temp_rootfs};
use rootfs::{CgroupMount, MountPlan, RootfsConfig, RootfsError, StepFailure};
use test_support::error_chain;

/// Whether the test can run; prints why not otherwise (it then does not pass silently).
fn have_root(test: &str) -> bool {
    common::have_root(test, "mount namespaces, mount, mknod, pivot_root")
}

/// A bundle directory with a small rootfs; removed on drop.
struct Bundle {
    /// The temp dir (removed on drop).
    dir: tempfile::TempDir,
    /// `<dir>/rootfs`.
    rootfs: PathBuf,
}

impl Bundle {
    /// A rootfs with busybox and the usual top-level directories.
    fn new(test: &str) -> Bundle {
        let (dir, rootfs) = temp_rootfs(test, &["bin", "proc", "sys", "dev", "tmp", "etc"]);
        let busybox = ["/bin/busybox", "/usr/bin/busybox"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("busybox-static is installed");
        std::fs::copy(busybox, rootfs.join("bin/busybox")).expect("copy busybox");
        std::fs::write(rootfs.join("marker"), b"rootfs").expect("write marker");
        Bundle { dir, rootfs }
    }

    /// A config for this rootfs with nothing else.
    fn config(&self) -> RootfsConfig {
        RootfsConfig {
            rootfs: self.rootfs.clone(),
            ..RootfsConfig::default()
        }
    }

    /// A host directory in the bundle, outside the rootfs.
    fn host_dir(&self, name: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::create_dir_all(&p).expect("create host dir");
        p
    }
}

/// The usual container mounts.
fn standard_mounts() -> Vec<Mount> {
    vec![
        mount("/proc", "proc", "proc", &[]),
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"],
        ),
        mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        ),
        mount("/dev/mqueue", "mqueue", "mqueue", &["nosuid", "noexec", "nodev"]),
        mount("/sys", "sysfs", "sysfs", &["nosuid", "noexec", "nodev", "ro"]),
    ]
}

/// How the child ended.
#[derive(Debug)]
enum Outcome {
    /// The plan ran and every check passed.
    Ok,
    /// `execute` failed.
    Step(StepFailure),
    /// A check (or the setup before `execute`) failed.
    Check(String),
}

/// Forks; the child unshares a mount namespace (plus `extra_ns`), makes everything rslave so
/// nothing can reach the host, runs `pre`, executes the plan and runs `check`.
fn run_child(
    plan: &MountPlan,
    extra_ns: libc::c_int,
    pre: impl FnOnce() -> Result<(), String>,
    check: impl FnOnce() -> Result<(), String>,
) -> Outcome {
    run_child_with_late(
        plan,
        extra_ns,
        pre,
        None::<(fn() -> Result<(), String>, &[OwnedFd])>,
        check,
    )
}

/// [`run_child`]; with `late`, the child runs the plan leaving the cgroup binds it can for
/// later, then (in the new root) runs `between` and attaches the given detached binds with
/// [`MountPlan::bind_late_cgroups`].
fn run_child_with_late(
    plan: &MountPlan,
    extra_ns: libc::c_int,
    pre: impl FnOnce() -> Result<(), String>,
    late: Option<(impl FnOnce() -> Result<(), String>, &[OwnedFd])>,
    check: impl FnOnce() -> Result<(), String>,
) -> Outcome {
    fork_child(|| child_body(plan, extra_ns, pre, late, check))
}

/// Forks; the child runs `body` and reports how it ended through a pipe and its exit code.
fn fork_child(body: impl FnOnce() -> Result<(), Outcome>) -> Outcome {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a writable array of two ints.
    let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(r, 0, "pipe2");
    // SAFETY: pipe2 returned two new descriptors that nothing else owns.
    let (rd, wr) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: the child only runs the closure below and then _exit()s; glibc's fork keeps
    // malloc usable in the child.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        drop(rd);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body));
        let (code, msg): (i32, Vec<u8>) = match result {
            Ok(Ok(())) => (0, Vec::new()),
            Ok(Err(Outcome::Step(f))) => {
                let mut m = b"S".to_vec();
                m.extend_from_slice(&f.step.to_ne_bytes());
                m.extend_from_slice(&f.errno.to_ne_bytes());
                (2, m)
            }
            Ok(Err(Outcome::Check(s))) => (1, [b"C".as_slice(), s.as_bytes()].concat()),
            Ok(Err(Outcome::Ok)) => (0, Vec::new()),
            Err(_) => (3, b"Cpanic in the child".to_vec()),
        };
        let mut file = std::fs::File::from(wr);
        let _ = std::io::Write::write_all(&mut file, &msg);
        drop(file);
        // SAFETY: _exit ends the forked child without running the test harness's exit code.
        unsafe { libc::_exit(code) };
    }
    drop(wr);
    let mut msg = Vec::new();
    let _ = std::fs::File::from(rd).read_to_end(&mut msg);
    let mut status = 0;
    // SAFETY: `pid` is our child; `status` is writable.
    let waited = unsafe { libc::waitpid(pid, &raw mut status, 0) };
    assert_eq!(waited, pid, "waitpid");
    match msg.split_first() {
        None if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 => Outcome::Ok,
        Some((b'S', rest)) if rest.len() == 8 => Outcome::Step(StepFailure {
            step: u32::from_ne_bytes(rest[..4].try_into().expect("4 bytes")),
            errno: i32::from_ne_bytes(rest[4..].try_into().expect("4 bytes")),
        }),
        Some((b'C', rest)) => Outcome::Check(String::from_utf8_lossy(rest).into_owned()),
        _ => Outcome::Check(format!("child ended with status {status:#x}")),
    }
}

/// The child's work; any error is reported to the parent.
fn child_body(
    plan: &MountPlan,
    extra_ns: libc::c_int,
    pre: impl FnOnce() -> Result<(), String>,
    late: Option<(impl FnOnce() -> Result<(), String>, &[OwnedFd])>,
    check: impl FnOnce() -> Result<(), String>,
) -> Result<(), Outcome> {
    private_mount_namespace(extra_ns)?;
    pre().map_err(Outcome::Check)?;
    match late {
        None => plan.execute().map_err(Outcome::Step)?,
        Some((between, binds)) => {
            let left = plan.execute_leaving_cgroups().map_err(Outcome::Step)?;
            let left = left
                .late
                .ok_or_else(|| Outcome::Check("the plan left no cgroup binds for later".into()))?;
            between().map_err(Outcome::Check)?;
            plan.bind_late_cgroups(left, binds.iter().map(AsFd::as_fd))
                .map_err(Outcome::Step)?;
        }
    }
    check().map_err(Outcome::Check)
}

/// Unshares a mount namespace (plus `extra_ns`) and makes everything in it rslave, so that
/// nothing done there reaches the host.
fn private_mount_namespace(extra_ns: libc::c_int) -> Result<(), Outcome> {
    // SAFETY: unshare takes flags only.
    if unsafe { libc::unshare(libc::CLONE_NEWNS | extra_ns) } != 0 {
        return Err(Outcome::Check(format!("unshare: {}", std::io::Error::last_os_error())));
    }
    // SAFETY: constant NUL-terminated strings.
    let r = unsafe {
        libc::mount(
            std::ptr::null(),
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_SLAVE,
            std::ptr::null(),
        )
    };
    if r != 0 {
        return Err(Outcome::Check(format!(
            "make / rslave: {}",
            std::io::Error::last_os_error()
        )));
    }
    Ok(())
}

/// Asserts the child succeeded, explaining a step failure with the plan.
fn assert_ok(plan: &MountPlan, outcome: Outcome) {
    match outcome {
        Outcome::Ok => {}
        Outcome::Step(f) => panic!("execute failed: {} ({f:?})", error_chain(&plan.explain(f))),
        Outcome::Check(s) => panic!("check failed in the child: {s}"),
    }
}

/// One line of /proc/self/mountinfo.
#[derive(Debug)]
struct MountInfo {
    /// Mount point.
    point: String,
    /// Per-mount options.
    opts: String,
    /// Optional fields (shared:N, master:N).
    optional: String,
    /// Filesystem type.
    fstype: String,
}

/// The current mount table.
fn mountinfo() -> Result<Vec<MountInfo>, String> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").map_err(|e| format!("read mountinfo: {e}"))?;
    let mut out = Vec::new();
    for line in text.lines() {
        let (left, right) = line.split_once(" - ").ok_or("bad mountinfo line")?;
        let l: Vec<&str> = left.split(' ').collect();
        let r: Vec<&str> = right.split(' ').collect();
        out.push(MountInfo {
            point: l.get(4).copied().unwrap_or("").to_owned(),
            opts: l.get(5).copied().unwrap_or("").to_owned(),
            optional: l.get(6..).map(|x| x.join(" ")).unwrap_or_default(),
            fstype: r.first().copied().unwrap_or("").to_owned(),
        });
    }
    Ok(out)
}

/// The topmost mount at `point`.
fn mount_at(point: &str) -> Result<MountInfo, String> {
    mountinfo()?
        .into_iter()
        .rev()
        .find(|m| m.point == point)
        .ok_or_else(|| format!("nothing mounted at {point}"))
}

/// Checks that writing `path` fails with `errno`.
fn write_fails(path: &str, errno: i32) -> Result<(), String> {
    match std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
    {
        Ok(_) => Err(format!("{path}: write succeeded, expected errno {errno}")),
        Err(e) if e.raw_os_error() == Some(errno) => Ok(()),
        Err(e) => Err(format!("{path}: expected errno {errno}, got {e}")),
    }
}

/// Checks a device node.
fn check_dev(path: &str, block: bool, major: u32, minor: u32, mode: u32) -> Result<(), String> {
    let md = std::fs::symlink_metadata(path).map_err(|e| format!("{path}: {e}"))?;
    let ft = md.file_type();
    if (block && !ft.is_block_device()) || (!block && !ft.is_char_device()) {
        return Err(format!("{path}: wrong file type {ft:?}"));
    }
    let (ma, mi) = (libc::major(md.rdev()), libc::minor(md.rdev()));
    if (ma, mi) != (major, minor) {
        return Err(format!("{path}: device {ma}:{mi}, expected {major}:{minor}"));
    }
    if md.permissions().mode() & 0o7777 != mode {
        return Err(format!(
            "{path}: mode {:o}, expected {mode:o}",
            md.permissions().mode() & 0o7777
        ));
    }
    Ok(())
}

/// Checks a symlink's target.
fn check_link(path: &str, target: &str) -> Result<(), String> {
    let t = std::fs::read_link(path).map_err(|e| format!("{path}: {e}"))?;
    if t != Path::new(target) {
        return Err(format!("{path} -> {}, expected {target}", t.display()));
    }
    Ok(())
}

/// Turns a false condition into an error.
fn ensure(cond: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if cond { Ok(()) } else { Err(what()) }
}

#[test]
fn full_container_view_after_pivot() {
    if !have_root("full_container_view_after_pivot") {
        return;
    }
    let b = Bundle::new("full");
    let data = b.host_dir("data");
    std::fs::write(data.join("hello"), b"hello from the host").unwrap();
    let file_src = b.dir.path().join("hostname");
    std::fs::write(&file_src, b"container-host\n").unwrap();

    let mut cfg = b.config();
    cfg.mounts = standard_mounts();
    cfg.mounts
        .push(mount("/data", "bind", data.to_str().unwrap(), &["rbind", "ro"]));
    cfg.mounts
        .push(mount("/etc/hostname", "bind", file_src.to_str().unwrap(), &["bind"]));
    cfg.mounts.push(mount("/deep/new/dir", "tmpfs", "tmpfs", &["size=1m"]));
    cfg.readonly = true;
    cfg.masked_paths = vec![
        "/proc/kcore".into(),
        "/proc/cmdline".into(),
        "/sys/firmware".into(),
        "/proc/does-not-exist".into(),
    ];
    cfg.readonly_paths = vec!["/proc/sys".into(), "/proc/also-not-there".into()];
    cfg.devices = vec![
        LinuxDeviceBuilder::default()
            .path("/dev/fuse")
            .typ(LinuxDeviceType::C)
            .major(10)
            .minor(229)
            .file_mode(0o600u32)
            .build()
            .unwrap(),
    ];
    let plan = MountPlan::compile(cfg).expect("compile");
    let host_rootfs = b.rootfs.clone();

    let outcome = run_child(
        &plan,
        0,
        || Ok(()),
        || {
            // /proc shows this process.
            let me = std::fs::read_link("/proc/self").map_err(|e| format!("/proc/self: {e}"))?;
            // SAFETY: getpid has no preconditions.
            let pid = unsafe { libc::getpid() };
            ensure(me == Path::new(&pid.to_string()), || {
                format!("/proc/self -> {}", me.display())
            })?;
            // We are in the new root, in "/".
            ensure(std::fs::read("/marker").ok().as_deref() == Some(b"rootfs"), || {
                "no /marker".into()
            })?;
            ensure(std::env::current_dir().ok().as_deref() == Some(Path::new("/")), || {
                "cwd is not /".into()
            })?;
            ensure(!host_rootfs.exists(), || {
                "the host path of the rootfs is visible".into()
            })?;
            // Mounts.
            for (point, fstype) in [
                ("/proc", "proc"),
                ("/dev", "tmpfs"),
                ("/dev/pts", "devpts"),
                ("/dev/shm", "tmpfs"),
                ("/dev/mqueue", "mqueue"),
                ("/sys", "sysfs"),
                ("/deep/new/dir", "tmpfs"),
            ] {
                let m = mount_at(point)?;
                ensure(m.fstype == fstype, || {
                    format!("{point} is {}, expected {fstype}", m.fstype)
                })?;
            }
            ensure(mount_at("/sys")?.opts.contains("ro"), || "/sys is not ro".into())?;
            ensure(mount_at("/dev/shm")?.opts.contains("noexec"), || {
                "/dev/shm is not noexec".into()
            })?;
            // Read-only root.
            write_fails("/newfile", libc::EROFS)?;
            // Read-only bind mount, with the host's content.
            let hello = std::fs::read("/data/hello").map_err(|e| format!("/data/hello: {e}"))?;
            ensure(hello == b"hello from the host", || "wrong /data/hello".into())?;
            write_fails("/data/new", libc::EROFS)?;
            ensure(mount_at("/data")?.opts.split(',').any(|o| o == "ro"), || {
                "/data not ro".into()
            })?;
            // File bind mount.
            let hn = std::fs::read("/etc/hostname").map_err(|e| format!("/etc/hostname: {e}"))?;
            ensure(hn == b"container-host\n", || "wrong /etc/hostname".into())?;
            // /dev is a writable tmpfs.
            std::fs::write("/dev/scratch", b"x").map_err(|e| format!("/dev/scratch: {e}"))?;
            // Devices.
            check_dev("/dev/null", false, 1, 3, 0o666)?;
            check_dev("/dev/zero", false, 1, 5, 0o666)?;
            check_dev("/dev/full", false, 1, 7, 0o666)?;
            check_dev("/dev/random", false, 1, 8, 0o666)?;
            check_dev("/dev/urandom", false, 1, 9, 0o666)?;
            check_dev("/dev/tty", false, 5, 0, 0o666)?;
            check_dev("/dev/fuse", false, 10, 229, 0o600)?;
            std::fs::write("/dev/null", b"discarded").map_err(|e| format!("write /dev/null: {e}"))?;
            // Default symlinks.
            check_link("/dev/fd", "/proc/self/fd")?;
            check_link("/dev/stdin", "/proc/self/fd/0")?;
            check_link("/dev/stdout", "/proc/self/fd/1")?;
            check_link("/dev/stderr", "/proc/self/fd/2")?;
            check_link("/dev/ptmx", "pts/ptmx")?;
            if Path::new("/proc/kcore").exists() {
                check_link("/dev/core", "/proc/kcore")?;
            }
            // Masked paths.
            let cmdline = std::fs::read("/proc/cmdline").map_err(|e| format!("read masked /proc/cmdline: {e}"))?;
            ensure(cmdline.is_empty(), || "masked /proc/cmdline is not empty".into())?;
            check_dev("/proc/cmdline", false, 1, 3, 0o666)?;
            let fw: Vec<_> = std::fs::read_dir("/sys/firmware")
                .map_err(|e| format!("/sys/firmware: {e}"))?
                .collect();
            ensure(fw.is_empty(), || "masked /sys/firmware is not empty".into())?;
            ensure(mount_at("/sys/firmware")?.fstype == "tmpfs", || {
                "/sys/firmware not tmpfs".into()
            })?;
            // Read-only paths.
            write_fails("/proc/sys/kernel/hostname", libc::EROFS)?;
            Ok(())
        },
    );
    assert_ok(&plan, outcome);
}

#[test]
fn masked_paths_mask_directories_and_files_and_skip_missing_ones() {
    if !have_root("masked_paths_mask_directories_and_files_and_skip_missing_ones") {
        return;
    }
    let b = Bundle::new("mask");
    for d in ["secret-dir", "linked-dir"] {
        std::fs::create_dir_all(b.rootfs.join(d)).unwrap();
        std::fs::write(b.rootfs.join(d).join("inside"), b"hidden").unwrap();
    }
    for f in ["secret-file", "linked-file"] {
        std::fs::write(b.rootfs.join(f), b"hidden").unwrap();
    }
    // Masking follows symlinks, as mount(2) does: the targets are masked, the links stay.
    std::os::unix::fs::symlink("linked-dir", b.rootfs.join("link-to-dir")).unwrap();
    std::os::unix::fs::symlink("/linked-file", b.rootfs.join("link-to-file")).unwrap();
    let mut cfg = b.config();
    cfg.mounts = standard_mounts();
    cfg.masked_paths = vec![
        "/secret-dir".into(),
        "/secret-file".into(),
        "/missing".into(),
        "/missing-dir/below".into(),
        "/link-to-dir".into(),
        "/link-to-file".into(),
    ];
    let plan = MountPlan::compile(cfg).expect("compile");
    let outcome = run_child(
        &plan,
        0,
        || Ok(()),
        || {
            for dir in ["/secret-dir", "/linked-dir"] {
                let m = mount_at(dir)?;
                ensure(m.fstype == "tmpfs", || format!("{dir} is {}, expected tmpfs", m.fstype))?;
                ensure(m.opts.split(',').any(|o| o == "ro"), || {
                    format!("{dir} is not ro: {}", m.opts)
                })?;
                let entries = std::fs::read_dir(dir).map_err(|e| format!("{dir}: {e}"))?.count();
                ensure(entries == 0, || format!("masked {dir} shows {entries} entries"))?;
                write_fails(&format!("{dir}/new"), libc::EROFS)?;
            }
            for file in ["/secret-file", "/linked-file"] {
                check_dev(file, false, 1, 3, 0o666)?;
                let content = std::fs::read(file).map_err(|e| format!("read {file}: {e}"))?;
                ensure(content.is_empty(), || format!("masked {file} is not empty"))?;
            }
            check_link("/link-to-dir", "linked-dir")?;
            check_link("/link-to-file", "/linked-file")?;
            for missing in ["/missing", "/missing-dir"] {
                ensure(!Path::new(missing).exists(), || format!("{missing} was created"))?;
                ensure(mount_at(missing).is_err(), || {
                    format!("something is mounted at {missing}")
                })?;
            }
            Ok(())
        },
    );
    assert_ok(&plan, outcome);
}

#[test]
fn masked_path_below_a_file_fails_at_the_tmpfs_step() {
    if !have_root("masked_path_below_a_file_fails_at_the_tmpfs_step") {
        return;
    }
    let b = Bundle::new("mask-notdir");
    let mut cfg = b.config();
    cfg.mounts = standard_mounts();
    cfg.masked_paths = vec!["/marker/below".into()];
    let plan = MountPlan::compile(cfg).expect("compile");
    let outcome = run_child(&plan, 0, || Ok(()), || Ok(()));
    let Outcome::Step(f) = outcome else {
        panic!("expected a step failure, got {outcome:?}");
    };
    // As runc: the bind of /dev/null fails with ENOTDIR, and so does the tmpfs mount it tries next.
    assert_eq!(f.errno, libc::ENOTDIR);
    let msg = plan.explain(f).to_string();
    assert_eq!(msg, "mask directory /marker/below with a read-only tmpfs");
}

#[test]
fn symlink_in_image_cannot_redirect_mount_to_host() {
    if !have_root("symlink_in_image_cannot_redirect_mount_to_host") {
        return;
    }
    let b = Bundle::new("escape");
    // A host directory, and an image symlink pointing at its host path.
    let host_target = b.host_dir("hostdir");
    std::os::unix::fs::symlink(&host_target, b.rootfs.join("evil")).unwrap();
    std::os::unix::fs::symlink(
        "../../../../../..".to_owned() + host_target.to_str().unwrap(),
        b.rootfs.join("evil-rel"),
    )
    .unwrap();
    // The same path inside the rootfs: RESOLVE_IN_ROOT lands there.
    let inside = b.rootfs.join(host_target.strip_prefix("/").unwrap());
    std::fs::create_dir_all(&inside).unwrap();
    let source = b.host_dir("source");
    std::fs::write(source.join("payload"), b"bound").unwrap();

    let mut cfg = b.config();
    cfg.mounts = vec![
        mount("/proc", "proc", "proc", &[]),
        mount("/evil", "bind", source.to_str().unwrap(), &["rbind"]),
        mount("/evil-rel/sub", "tmpfs", "tmpfs", &["size=1m"]),
    ];
    let plan = MountPlan::compile(cfg).expect("compile");
    let inside_container = PathBuf::from("/").join(host_target.strip_prefix("/").unwrap());
    let outcome = run_child(
        &plan,
        0,
        || Ok(()),
        || {
            // The bind landed on <rootfs><host_target>, seen as <host_target> inside.
            let p = inside_container.join("payload");
            ensure(std::fs::read(&p).ok().as_deref() == Some(b"bound"), || {
                format!("{} missing", p.display())
            })?;
            let sub = inside_container.join("sub");
            let m = mount_at(sub.to_str().unwrap_or(""))?;
            ensure(m.fstype == "tmpfs", || "tmpfs not at the in-root path".into())?;
            Ok(())
        },
    );
    assert_ok(&plan, outcome);
    // On the host side: nothing was created or mounted in the host directory.
    assert_eq!(
        std::fs::read_dir(&host_target).unwrap().count(),
        0,
        "host dir was touched"
    );
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !info.contains(host_target.to_str().unwrap()),
        "host dir is a mount point"
    );
    // /evil-rel/sub resolved to <rootfs><host_target>/sub, which is inside the bind of
    // `source` made just before: the mount point was created there.
    assert!(source.join("sub").is_dir());
    assert_eq!(std::fs::read_dir(&inside).unwrap().count(), 0);
}

#[test]
fn dangling_symlink_in_image_fails_closed() {
    if !have_root("dangling_symlink_in_image_fails_closed") {
        return;
    }
    let b = Bundle::new("dangling");
    let host_target = b.host_dir("hostdir");
    // Points at a host directory that does not exist inside the rootfs.
    std::os::unix::fs::symlink(&host_target, b.rootfs.join("evil")).unwrap();
    let mut cfg = b.config();
    cfg.mounts = vec![mount("/evil", "tmpfs", "tmpfs", &[])];
    let plan = MountPlan::compile(cfg).expect("compile");
    let outcome = run_child(&plan, 0, || Ok(()), || Ok(()));
    let Outcome::Step(f) = outcome else {
        panic!("expected a step failure, got {outcome:?}");
    };
    assert_eq!(f.errno, libc::ENOENT);
    let msg = plan.explain(f).to_string();
    assert!(msg.starts_with("resolve /evil ("), "{msg}");
    assert!(msg.contains(b.rootfs.to_str().unwrap()), "{msg}");
    assert_eq!(
        std::fs::read_dir(&host_target).unwrap().count(),
        0,
        "host dir was touched"
    );
    assert!(!b.rootfs.join(host_target.strip_prefix("/").unwrap()).exists());
}

#[test]
fn image_symlinks_cannot_lead_a_mount_onto_procfs_or_sysfs() {
    if !have_root("image_symlinks_cannot_lead_a_mount_onto_procfs_or_sysfs") {
        return;
    }
    // The spec's paths are not under /proc or /sys; the image's symlinks lead there.
    for (link, to, dest) in [("myproc", "/proc", "/myproc"), ("mysys", "/sys/kernel", "/mysys")] {
        let b = Bundle::new("placement");
        std::os::unix::fs::symlink(to, b.rootfs.join(link)).unwrap();
        let mut cfg = b.config();
        cfg.mounts = standard_mounts();
        cfg.mounts.push(mount(dest, "tmpfs", "tmpfs", &[]));
        let plan = MountPlan::compile(cfg).expect("compile");
        let outcome = run_child(&plan, 0, || Ok(()), || Ok(()));
        let Outcome::Step(f) = outcome else {
            panic!("{dest}: expected a step failure, got {outcome:?}");
        };
        assert_eq!(f.errno, libc::EACCES, "{dest}");
        let msg = plan.explain(f).to_string();
        assert!(msg.starts_with(&format!("check that mounts[6] at {dest} (")), "{msg}");
        assert!(msg.contains("lands on neither procfs nor sysfs"), "{msg}");
    }
}

#[test]
fn nothing_is_mounted_over_the_root_through_an_image_symlink() {
    if !have_root("nothing_is_mounted_over_the_root_through_an_image_symlink") {
        return;
    }
    // A volume, a tmpfs, a read-only path and a mask whose path is an image symlink to `/`
    // (or to `..`): each would stack a mount on the rootfs's root.
    for (i, (link, to)) in [("data", "/"), ("up", ".."), ("data", "/"), ("data", "/")]
        .into_iter()
        .enumerate()
    {
        let b = Bundle::new("over-root");
        let vol = b.host_dir("vol");
        std::os::unix::fs::symlink(to, b.rootfs.join(link)).unwrap();
        let dest = format!("/{link}");
        let mut cfg = b.config();
        cfg.mounts = vec![mount("/proc", "proc", "proc", &[])];
        match i {
            0 => cfg
                .mounts
                .push(mount(&dest, "bind", vol.to_str().unwrap(), &["rbind", "ro"])),
            1 => cfg.mounts.push(mount(&dest, "tmpfs", "tmpfs", &[])),
            2 => cfg.readonly_paths = vec![dest.clone()],
            _ => cfg.masked_paths = vec![dest.clone()],
        }
        let plan = MountPlan::compile(cfg).expect("compile");
        let outcome = run_child(&plan, 0, || Ok(()), || Ok(()));
        let Outcome::Step(f) = outcome else {
            panic!("{i}: expected a step failure, got {outcome:?}");
        };
        assert_eq!(f.errno, libc::EINVAL, "{i}");
        let msg = plan.explain(f).to_string();
        assert!(
            msg.contains("is not the container's root directory itself"),
            "{i}: {msg}"
        );
    }
}

#[test]
fn device_nodes_get_their_mode_and_owner_whatever_the_umask_and_it_comes_back() {
    if !have_root("device_nodes_get_their_mode_and_owner_whatever_the_umask_and_it_comes_back") {
        return;
    }
    let b = Bundle::new("umask");
    let mut cfg = b.config();
    cfg.mounts = standard_mounts();
    cfg.devices = vec![
        LinuxDeviceBuilder::default()
            .path("/dev/owned")
            .typ(LinuxDeviceType::C)
            .major(1)
            .minor(3)
            .file_mode(0o2660u32)
            .uid(1234u32)
            .gid(4321u32)
            .build()
            .unwrap(),
        LinuxDeviceBuilder::default()
            .path("/dev/net/tun")
            .typ(LinuxDeviceType::C)
            .major(10)
            .minor(200)
            .file_mode(0o666u32)
            .build()
            .unwrap(),
    ];
    let plan = MountPlan::compile(cfg).expect("compile");
    let outcome = run_child(
        &plan,
        0,
        || {
            // SAFETY: umask takes a mask and cannot fail.
            unsafe { libc::umask(0o077) };
            Ok(())
        },
        || {
            // SAFETY: umask takes a mask and cannot fail; the old one is put back at once.
            let mask = unsafe { libc::umask(0o077) };
            ensure(mask == 0o077, || format!("the umask is {mask:o} after the plan"))?;
            check_dev("/dev/null", false, 1, 3, 0o666)?;
            check_dev("/dev/net/tun", false, 10, 200, 0o666)?;
            check_dev("/dev/owned", false, 1, 3, 0o2660)?;
            let md = std::fs::symlink_metadata("/dev/owned").map_err(|e| e.to_string())?;
            ensure((md.uid(), md.gid()) == (1234, 4321), || {
                format!("/dev/owned owner {}:{}", md.uid(), md.gid())
            })
        },
    );
    assert_ok(&plan, outcome);
}

#[test]
fn the_runtimes_dev_entries_go_only_in_its_own_dev() {
    if !have_root("the_runtimes_dev_entries_go_only_in_its_own_dev") {
        return;
    }
    // 1. A /dev tmpfs, and a volume an image symlink (`data -> /dev`) stacks over it.
    let b = Bundle::new("dev-covered");
    let vol = b.host_dir("vol");
    std::os::unix::fs::symlink("/dev", b.rootfs.join("data")).unwrap();
    let mut cfg = b.config();
    cfg.mounts = standard_mounts();
    cfg.mounts
        .push(mount("/data", "bind", vol.to_str().unwrap(), &["rbind"]));
    let plan = MountPlan::compile(cfg).expect("compile");
    let outcome = run_child(&plan, 0, || Ok(()), || Ok(()));
    assert_ok(&plan, outcome);
    assert_eq!(
        std::fs::read_dir(&vol).unwrap().count(),
        0,
        "entries made in the volume"
    );

    // 1b. The same volume before the mounts under /dev: they go in the /dev tmpfs too, not
    // in the volume (no directory for them is made there).
    let b = Bundle::new("dev-covered-early");
    let vol = b.host_dir("vol");
    std::os::unix::fs::symlink("/dev", b.rootfs.join("data")).unwrap();
    let mut cfg = b.config();
    cfg.mounts = standard_mounts();
    cfg.mounts
        .insert(2, mount("/data", "bind", vol.to_str().unwrap(), &["rbind"]));
    let plan = MountPlan::compile(cfg).expect("compile");
    let outcome = run_child(&plan, 0, || Ok(()), || Ok(()));
    assert_ok(&plan, outcome);
    assert_eq!(
        std::fs::read_dir(&vol).unwrap().count(),
        0,
        "entries made in the volume"
    );

    // 2. No /dev mount, and the rootfs's `dev` is a bind of a host directory (the rootfs's
    // rbind carries it): runc's rule for a bound /dev, no entry made there.
    let b = Bundle::new("dev-bound");
    let host_dev = b.host_dir("hostdev");
    let mut cfg = b.config();
    cfg.mounts = vec![mount("/proc", "proc", "proc", &[])];
    let plan = MountPlan::compile(cfg).expect("compile");
    let (src, dst) = (host_dev.clone(), b.rootfs.join("dev"));
    let outcome = run_child(
        &plan,
        0,
        || {
            let src = CString::new(src.as_os_str().as_encoded_bytes()).map_err(|e| e.to_string())?;
            let dst = CString::new(dst.as_os_str().as_encoded_bytes()).map_err(|e| e.to_string())?;
            // SAFETY: NUL-terminated strings that outlive the call.
            let r = unsafe {
                libc::mount(
                    src.as_ptr(),
                    dst.as_ptr(),
                    std::ptr::null(),
                    libc::MS_BIND,
                    std::ptr::null(),
                )
            };
            ensure(r == 0, || format!("bind: {}", std::io::Error::last_os_error()))
        },
        || {
            ensure(!Path::new("/dev/null").exists(), || {
                "/dev/null made in a bound /dev".into()
            })
        },
    );
    assert_ok(&plan, outcome);
    assert_eq!(
        std::fs::read_dir(&host_dev).unwrap().count(),
        0,
        "entries made in the host dir"
    );

    // 3. No /dev mount, the rootfs's own `dev`: the entries are made there.
    let b = Bundle::new("dev-own");
    let mut cfg = b.config();
    cfg.mounts = vec![mount("/proc", "proc", "proc", &[])];
    let plan = MountPlan::compile(cfg).expect("compile");
    let outcome = run_child(&plan, 0, || Ok(()), || check_dev("/dev/null", false, 1, 3, 0o666));
    assert_ok(&plan, outcome);
}

#[test]
fn device_nodes_and_links_refuse_a_dev_on_procfs() {
    if !have_root("device_nodes_and_links_refuse_a_dev_on_procfs") {
        return;
    }
    let b = Bundle::new("dev-on-proc");
    let mut cfg = b.config();
    // A proc mount may go anywhere outside /proc; the runtime still makes no node in it.
    cfg.mounts = vec![mount("/dev", "proc", "proc", &[])];
    let plan = MountPlan::compile(cfg).expect("compile");
    let outcome = run_child(&plan, 0, || Ok(()), || Ok(()));
    let Outcome::Step(f) = outcome else {
        panic!("expected a step failure, got {outcome:?}");
    };
    assert_eq!(f.errno, libc::EACCES);
    let msg = plan.explain(f).to_string();
    assert!(msg.starts_with("check that /dev ("), "{msg}");
    assert!(
        msg.ends_with("is on neither procfs nor sysfs before making entries in it"),
        "{msg}"
    );
}

/// Runs `plan` (compiled with [`RootfsConfig::console`]) in a child and hands the console it
/// found to `check`, in the new root.
fn run_child_console(plan: &MountPlan, check: impl FnOnce(&rootfs::Console) -> Result<(), String>) -> Outcome {
    fork_child(|| {
        private_mount_namespace(0)?;
        let finished = plan.execute_with(|| Ok::<(), ()>(())).map_err(|stop| match stop {
            rootfs::Stop::Step(f) => Outcome::Step(f),
            rootfs::Stop::Caller(()) => Outcome::Check("the empty pause failed".into()),
        })?;
        let console = finished
            .console
            .ok_or_else(|| Outcome::Check("the plan found no console".into()))?;
        check(&console).map_err(Outcome::Check)
    })
}

/// The file type bits and filesystem magic of an fd.
fn kind_of(fd: std::os::fd::BorrowedFd<'_>) -> (libc::mode_t, libc::c_long) {
    use std::os::fd::AsRawFd;
    // SAFETY: zeroed stat and statfs are valid out-parameters.
    let (mut st, mut sfs): (libc::stat, libc::statfs) = unsafe { (std::mem::zeroed(), std::mem::zeroed()) };
    // SAFETY: `fd` is open; fstat and fstatfs write only the out-parameters.
    let ok = unsafe { libc::fstat(fd.as_raw_fd(), &mut st) == 0 && libc::fstatfs(fd.as_raw_fd(), &mut sfs) == 0 };
    assert!(ok, "fstat: {}", std::io::Error::last_os_error());
    (st.st_mode & libc::S_IFMT, sfs.f_type as libc::c_long)
}

/// The errno of the step failure `outcome` must be, with the plan's description of the step.
fn step_failure(plan: &MountPlan, outcome: Outcome) -> (i32, String) {
    match outcome {
        Outcome::Step(f) => (f.errno, plan.explain(f).to_string()),
        other => panic!("expected a step failure, got {other:?}"),
    }
}

#[test]
fn console_goes_only_in_the_runtimes_own_dev_and_follows_no_symlink() {
    if !have_root("console_goes_only_in_the_runtimes_own_dev_and_follows_no_symlink") {
        return;
    }
    // The rootfs's own dev, no /dev mount: a missing console is made there, an empty file.
    let b = Bundle::new("console-own");
    let mut cfg = b.config();
    cfg.console = true;
    let plan = MountPlan::compile(cfg).expect("compile");
    assert_ok(
        &plan,
        run_child_console(&plan, |c| {
            let target = c.target.as_ref().ok_or("no console in the runtime's own /dev")?;
            match (kind_of(target.as_fd()).0, kind_of(c.dev.as_fd()).0) {
                (libc::S_IFREG, libc::S_IFDIR) => Ok(()),
                (c, d) => Err(format!("the console and /dev are of types {c:o} and {d:o}")),
            }
        }),
    );
    let meta = std::fs::symlink_metadata(b.rootfs.join("dev/console")).unwrap();
    assert!(meta.is_file() && meta.len() == 0);

    // The /dev tmpfs the plan mounts: the console is in it.
    let b = Bundle::new("console-tmpfs");
    let mut cfg = b.config();
    cfg.mounts = standard_mounts();
    cfg.console = true;
    let plan = MountPlan::compile(cfg).expect("compile");
    assert_ok(
        &plan,
        run_child_console(&plan, |c| {
            let target = c.target.as_ref().ok_or("no console in the plan's /dev tmpfs")?;
            match (kind_of(target.as_fd()).1, kind_of(c.dev.as_fd()).1) {
                (libc::TMPFS_MAGIC, libc::TMPFS_MAGIC) => Ok(()),
                other => Err(format!("the console and /dev are on {other:x?}, not the tmpfs")),
            }
        }),
    );
    assert!(
        !b.rootfs.join("dev/console").exists(),
        "the console went under the tmpfs"
    );

    // The image's symlink at the console, a directory there, a symlink at /dev.
    for (what, errno) in [("symlink", libc::ELOOP), ("directory", libc::EISDIR)] {
        let b = Bundle::new("console-bad");
        if what == "symlink" {
            std::os::unix::fs::symlink("/proc/sys/kernel/core_pattern", b.rootfs.join("dev/console")).unwrap();
        } else {
            std::fs::create_dir(b.rootfs.join("dev/console")).unwrap();
        }
        let mut cfg = b.config();
        cfg.console = true;
        let plan = MountPlan::compile(cfg).expect("compile");
        let (got, msg) = step_failure(&plan, run_child_console(&plan, |_| Ok(())));
        assert_eq!(got, errno, "{what}: {msg}");
        assert!(
            msg.contains("/dev/console") && msg.contains("without following"),
            "{msg}"
        );
    }
    let b = Bundle::new("console-devlink");
    std::fs::remove_dir(b.rootfs.join("dev")).unwrap();
    std::os::unix::fs::symlink("etc", b.rootfs.join("dev")).unwrap();
    let mut cfg = b.config();
    cfg.console = true;
    let plan = MountPlan::compile(cfg).expect("compile");
    let (got, msg) = step_failure(&plan, run_child_console(&plan, |_| Ok(())));
    assert_eq!(got, libc::ELOOP, "{msg}");
    assert!(!b.rootfs.join("etc/console").exists());

    // A /dev bound from a host directory is not the runtime's: nothing is made in it, an
    // existing console is taken.
    for existing in [false, true] {
        let b = Bundle::new("console-bound");
        let host = b.host_dir("hostdev");
        if existing {
            std::fs::write(host.join("console"), b"").unwrap();
        }
        let mut cfg = b.config();
        cfg.mounts = vec![mount("/dev", "bind", host.to_str().unwrap(), &["rbind"])];
        cfg.console = true;
        let plan = MountPlan::compile(cfg).expect("compile");
        assert_ok(
            &plan,
            run_child_console(&plan, |c| match (&c.target, existing) {
                (None, false) => Ok(()),
                (Some(t), true) if kind_of(t.as_fd()).0 == libc::S_IFREG => Ok(()),
                (t, _) => Err(format!("console {t:?} in a bound /dev (existing: {existing})")),
            }),
        );
        assert_eq!(
            host.join("console").exists(),
            existing,
            "a console was made in the host's directory"
        );
    }
}

#[test]
fn explain_names_operation_path_and_errno() {
    if !have_root("explain_names_operation_path_and_errno") {
        return;
    }
    let b = Bundle::new("explain");
    let mut cfg = b.config();
    cfg.mounts = vec![
        mount("/proc", "proc", "proc", &[]),
        mount("/weird", "nosuchfs-ocirun", "none", &["ro"]),
    ];
    let plan = MountPlan::compile(cfg).expect("compile");
    let outcome = run_child(&plan, 0, || Ok(()), || Ok(()));
    let Outcome::Step(f) = outcome else {
        panic!("expected a step failure, got {outcome:?}");
    };
    assert_eq!(f.errno, libc::ENODEV);
    let err = plan.explain(f);
    let expected = format!("mount nosuchfs-ocirun on /weird ({}/weird)", b.rootfs.display());
    assert!(err.to_string().starts_with(&expected), "{err}");
    assert!(matches!(&err, RootfsError::Step { .. }));
    let chain = error_chain(&err);
    assert!(chain.contains("No such device"), "{chain}");
    // Out-of-range steps do not panic.
    let err = plan.explain(StepFailure {
        step: u32::MAX,
        errno: libc::EPERM,
    });
    assert!(matches!(err, RootfsError::UnknownStep { .. }));
}

#[test]
fn no_pivot_moves_rootfs_onto_slash() {
    if !have_root("no_pivot_moves_rootfs_onto_slash") {
        return;
    }
    let b = Bundle::new("nopivot");
    let mut cfg = b.config();
    cfg.mounts = standard_mounts();
    cfg.no_pivot = true;
    cfg.readonly = true;
    let plan = MountPlan::compile(cfg).expect("compile");
    let outcome = run_child(
        &plan,
        0,
        || Ok(()),
        || {
            ensure(std::fs::read("/marker").ok().as_deref() == Some(b"rootfs"), || {
                "no /marker".into()
            })?;
            let me = std::fs::read_link("/proc/self").map_err(|e| format!("/proc/self: {e}"))?;
            // SAFETY: getpid has no preconditions.
            let pid = unsafe { libc::getpid() };
            ensure(me == Path::new(&pid.to_string()), || "wrong /proc/self".into())?;
            write_fails("/newfile", libc::EROFS)?;
            check_dev("/dev/null", false, 1, 3, 0o666)?;
            Ok(())
        },
    );
    assert_ok(&plan, outcome);
}

#[test]
fn user_namespace_devices_are_bind_mounts_of_host_nodes() {
    if !have_root("user_namespace_devices_are_bind_mounts_of_host_nodes") {
        return;
    }
    let b = Bundle::new("userns-dev");
    let mut cfg = b.config();
    cfg.mounts = standard_mounts();
    cfg.new_user_namespace = true;
    let plan = MountPlan::compile(cfg).expect("compile");
    let outcome = run_child(
        &plan,
        0,
        || Ok(()),
        || {
            check_dev("/dev/null", false, 1, 3, 0o666)?;
            check_dev("/dev/urandom", false, 1, 9, 0o666)?;
            ensure(mount_at("/dev/null").is_ok(), || "/dev/null is not a bind mount".into())?;
            std::fs::write("/dev/null", b"x").map_err(|e| format!("write /dev/null: {e}"))?;
            Ok(())
        },
    );
    assert_ok(&plan, outcome);
}

/// The host's hierarchies, as runtime-core would pass them (here: the hierarchy roots), with
/// their directories `ready` at the start of the plan or not.
fn host_cgroup_mounts(ready: bool) -> Vec<CgroupMount> {
    let mut v = Vec::new();
    for (name, controllers) in [("cpu", "cpu"), ("memory", "memory"), ("systemd", "none,name=systemd")] {
        let p = PathBuf::from("/sys/fs/cgroup").join(name);
        if p.is_dir() {
            v.push(CgroupMount {
                name: name.to_owned(),
                controllers: controllers.to_owned(),
                unified: false,
                host_path: p,
                ready_at_start: ready,
            });
        }
    }
    if Path::new("/sys/fs/cgroup/unified").is_dir() {
        v.push(CgroupMount {
            name: "unified".to_owned(),
            controllers: String::new(),
            unified: true,
            host_path: "/sys/fs/cgroup/unified".into(),
            ready_at_start: ready,
        });
    }
    v
}

/// The mount options of runc's default spec for /sys/fs/cgroup.
const CGROUP_OPTIONS: &[&str] = &["nosuid", "noexec", "nodev", "relatime", "ro"];

/// What the container sees under its cgroup mount: the per-mount options of the tmpfs and of
/// every hierarchy, exactly as /proc/self/mountinfo prints them.
struct CgroupView {
    /// The tmpfs at /sys/fs/cgroup.
    tmpfs_opts: &'static str,
    /// Each hierarchy.
    hierarchy_opts: &'static str,
}

/// runc's view with its default options: everything `ro,nosuid,nodev,noexec,relatime`.
const DEFAULT_CGROUP_VIEW: CgroupView = CgroupView {
    tmpfs_opts: "ro,nosuid,nodev,noexec,relatime",
    hierarchy_opts: "ro,nosuid,nodev,noexec,relatime",
};

/// Runs a cgroup mount test with or without a cgroup namespace: mounts /sys/fs/cgroup with
/// `options` after `pre`, and checks `view` from the inside. Without a namespace it adds a
/// co-mounted hierarchy (a second bind of the cpu hierarchy named `ocirun,test`) to check
/// runc's links to it. With `ready` false the directories count as made while the plan runs:
/// the binds are left for the end, and the test checks that none is there before it.
fn cgroup_mount_test(
    test: &str,
    cgroupns: bool,
    ready: bool,
    options: &[&str],
    pre: impl FnOnce() -> Result<(), String>,
    view: &CgroupView,
) {
    if !have_root(test) {
        return;
    }
    let mut cgroups = host_cgroup_mounts(ready);
    let Some(cpu) = cgroups.iter().find(|c| c.name == "cpu").cloned() else {
        eprintln!("SKIP {test}: needs the cgroup v1 cpu hierarchy at /sys/fs/cgroup/cpu");
        return;
    };
    if !cgroupns {
        cgroups.push(CgroupMount {
            name: "ocirun,test".to_owned(),
            ..cpu
        });
    }
    let b = Bundle::new(test);
    let mut cfg = b.config();
    cfg.mounts = standard_mounts();
    cfg.mounts.push(mount("/sys/fs/cgroup", "cgroup", "cgroup", options));
    cfg.cgroup_mounts = cgroups.clone();
    cfg.new_cgroup_namespace = cgroupns;
    let plan = MountPlan::compile(cfg).expect("compile");
    assert!(
        !plan.needs_cgroup_dirs(),
        "the plan needs directories that are ready, or that it can bind late"
    );
    let extra = if cgroupns { libc::CLONE_NEWCGROUP } else { 0 };
    let late = plan.has_late_cgroup_binds();
    assert!(!late || (!ready && !cgroupns), "late binds of ready directories");
    let names: Vec<String> = cgroups.iter().map(|c| c.name.clone()).collect();
    // The detached binds a runtime would make in its own mount namespace once the directories
    // exist, for the child to attach at the end.
    let binds: Vec<OwnedFd> = if late {
        cgroups
            .iter()
            .map(|c| rootfs::detached_bind(&c.host_path).expect("detached bind"))
            .collect()
    } else {
        Vec::new()
    };
    let between = move || {
        let top = mount_at("/sys/fs/cgroup")?;
        ensure(top.fstype == "tmpfs", || format!("/sys/fs/cgroup is {}", top.fstype))?;
        for name in &names {
            let point = format!("/sys/fs/cgroup/{name}");
            ensure(Path::new(&point).is_dir(), || format!("{point} is not made yet"))?;
            ensure(mount_at(&point).is_err(), || format!("{point} is bound before the end"))?;
        }
        Ok(())
    };
    let outcome = run_child_with_late(&plan, extra, pre, late.then_some((between, binds.as_slice())), || {
        let top = mount_at("/sys/fs/cgroup")?;
        ensure(top.fstype == "tmpfs", || format!("/sys/fs/cgroup is {}", top.fstype))?;
        ensure(top.opts == view.tmpfs_opts, || {
            format!("/sys/fs/cgroup has {}, expected {}", top.opts, view.tmpfs_opts)
        })?;
        for c in &cgroups {
            let point = format!("/sys/fs/cgroup/{}", c.name);
            let m = mount_at(&point)?;
            let want = if c.unified { "cgroup2" } else { "cgroup" };
            ensure(m.fstype == want, || format!("{point} is {}, expected {want}", m.fstype))?;
            ensure(m.opts == view.hierarchy_opts, || {
                format!("{point} has {}, expected {}", m.opts, view.hierarchy_opts)
            })?;
        }
        ensure(Path::new("/sys/fs/cgroup/cpu/cpu.shares").exists(), || {
            "no cpu.shares".into()
        })?;
        if !cgroupns {
            check_link("/sys/fs/cgroup/ocirun", "ocirun,test")?;
            check_link("/sys/fs/cgroup/test", "ocirun,test")?;
            ensure(Path::new("/sys/fs/cgroup/test/cpu.shares").exists(), || {
                "no cpu.shares through the link".into()
            })?;
        }
        if view.hierarchy_opts.starts_with("ro,") {
            write_fails("/sys/fs/cgroup/cpu/cpu.shares", libc::EROFS)?;
        }
        if view.tmpfs_opts.starts_with("ro,") {
            write_fails("/sys/fs/cgroup/newdir", libc::EROFS)?;
        }
        Ok(())
    });
    assert_ok(&plan, outcome);
}

#[test]
fn cgroup_v1_mount_binds_host_hierarchies_read_only() {
    cgroup_mount_test(
        "cgroup_v1_mount_binds_host_hierarchies_read_only",
        false,
        true,
        CGROUP_OPTIONS,
        || Ok(()),
        &DEFAULT_CGROUP_VIEW,
    );
}

#[test]
fn cgroup_v1_mount_of_directories_made_later_binds_them_after_the_root_switch() {
    if !MountPlan::compile(RootfsConfig {
        mounts: vec![mount("/sys/fs/cgroup", "cgroup", "cgroup", CGROUP_OPTIONS)],
        cgroup_mounts: host_cgroup_mounts(false),
        ..Bundle::new("late_probe").config()
    })
    .is_ok_and(|p| p.has_late_cgroup_binds())
    {
        eprintln!("SKIP: no late cgroup binds here (no v1 hierarchy, or no mount_setattr)");
        return;
    }
    cgroup_mount_test(
        "cgroup_v1_mount_of_directories_made_later_binds_them_after_the_root_switch",
        false,
        false,
        CGROUP_OPTIONS,
        || Ok(()),
        &DEFAULT_CGROUP_VIEW,
    );
}

#[test]
fn cgroup_v1_mount_with_cgroupns_mounts_cgroupfs() {
    cgroup_mount_test(
        "cgroup_v1_mount_with_cgroupns_mounts_cgroupfs",
        true,
        true,
        CGROUP_OPTIONS,
        || Ok(()),
        &DEFAULT_CGROUP_VIEW,
    );
}

/// Makes mount_setattr(2) fail with ENOSYS in this process, as on kernels before 5.12.
fn without_mount_setattr() -> Result<(), String> {
    /// A classic BPF instruction.
    fn insn(code: u32, jt: u8, jf: u8, k: u32) -> libc::sock_filter {
        libc::sock_filter {
            code: u16::try_from(code).expect("BPF opcodes fit in 16 bits"),
            jt,
            jf,
            k,
        }
    }
    let nr = u32::try_from(libc::SYS_mount_setattr).expect("syscall numbers fit in 32 bits");
    let enosys = u32::try_from(libc::ENOSYS).expect("errno fits in 32 bits");
    // The test runs natively, so the syscall number alone is enough (no architecture check).
    let filter = [
        insn(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 0, 0, 0),
        insn(libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K, 0, 1, nr),
        insn(libc::BPF_RET | libc::BPF_K, 0, 0, libc::SECCOMP_RET_ERRNO | enosys),
        insn(libc::BPF_RET | libc::BPF_K, 0, 0, libc::SECCOMP_RET_ALLOW),
    ];
    let prog = libc::sock_fprog {
        len: 4,
        filter: filter.as_ptr().cast_mut(),
    };
    // SAFETY: `prog` points to `filter`, both alive during the call; the kernel copies them.
    let r = unsafe {
        libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
            | libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, &raw const prog)
    };
    if r != 0 {
        return Err(format!("install seccomp filter: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}

#[test]
fn cgroup_v1_mount_without_mount_setattr_remounts_each_hierarchy() {
    cgroup_mount_test(
        "cgroup_v1_mount_without_mount_setattr_remounts_each_hierarchy",
        false,
        true,
        CGROUP_OPTIONS,
        without_mount_setattr,
        &DEFAULT_CGROUP_VIEW,
    );
}

#[test]
fn cgroup_v1_mount_with_cgroupns_without_mount_setattr_remounts_the_tmpfs() {
    cgroup_mount_test(
        "cgroup_v1_mount_with_cgroupns_without_mount_setattr_remounts_the_tmpfs",
        true,
        true,
        CGROUP_OPTIONS,
        without_mount_setattr,
        &DEFAULT_CGROUP_VIEW,
    );
}

#[test]
fn late_cgroup_binds_are_sealed_through_their_fds_not_the_containers_proc() {
    let test = "late_cgroup_binds_are_sealed_through_their_fds_not_the_containers_proc";
    if !have_root(test) {
        return;
    }
    let cgroups = host_cgroup_mounts(false);
    let b = Bundle::new("late-noproc");
    let mut cfg = b.config();
    cfg.mounts = standard_mounts();
    cfg.mounts
        .push(mount("/sys/fs/cgroup", "cgroup", "cgroup", CGROUP_OPTIONS));
    cfg.cgroup_mounts = cgroups.clone();
    let plan = MountPlan::compile(cfg).expect("compile");
    if !plan.has_late_cgroup_binds() {
        eprintln!("SKIP {test}: no late cgroup binds here (no v1 hierarchy, or no mount_setattr)");
        return;
    }
    let binds: Vec<OwnedFd> = cgroups
        .iter()
        .map(|c| rootfs::detached_bind(&c.host_path).expect("detached bind"))
        .collect();
    // After the root switch, the container's /proc is the container's: here an empty tmpfs
    // over it, and no mount_setattr, so the seal takes its fallback.
    let between = || {
        child_tmpfs(Path::new("/proc"), 0)?;
        without_mount_setattr()
    };
    let outcome = run_child_with_late(
        &plan,
        0,
        || Ok(()),
        Some((between, binds.as_slice())),
        || {
            // SAFETY: a constant NUL-terminated path.
            let r = unsafe { libc::umount2(c"/proc".as_ptr(), libc::MNT_DETACH) };
            ensure(r == 0, || {
                format!("unmount the tmpfs on /proc: {}", std::io::Error::last_os_error())
            })?;
            for c in &cgroups {
                let point = format!("/sys/fs/cgroup/{}", c.name);
                let m = mount_at(&point)?;
                ensure(m.opts.split(',').any(|o| o == "ro"), || {
                    format!("{point} has {}", m.opts)
                })?;
            }
            Ok(())
        },
    );
    assert_ok(&plan, outcome);
}

#[test]
fn cgroup_v1_mount_flags_the_tmpfs_does_not_take_go_to_the_hierarchies_only() {
    // strictatime and exec on the hierarchies; the tmpfs keeps noexec and relatime, as runc.
    cgroup_mount_test(
        "cgroup_v1_mount_flags_the_tmpfs_does_not_take_go_to_the_hierarchies_only",
        false,
        true,
        &["nosuid", "exec", "nodev", "strictatime", "ro"],
        || Ok(()),
        &CgroupView {
            tmpfs_opts: "ro,nosuid,nodev,noexec,relatime",
            hierarchy_opts: "ro,nosuid,nodev",
        },
    );
}

#[test]
fn cgroup_v1_mount_without_ro_leaves_the_tmpfs_writable() {
    cgroup_mount_test(
        "cgroup_v1_mount_without_ro_leaves_the_tmpfs_writable",
        false,
        false,
        &["nosuid", "noexec", "nodev", "relatime"],
        || Ok(()),
        &CgroupView {
            tmpfs_opts: "rw,nosuid,nodev,noexec,relatime",
            hierarchy_opts: "rw,nosuid,nodev,noexec,relatime",
        },
    );
}

/// Mounts a tmpfs at `path` (in the child's namespace) with `flags`.
fn child_tmpfs(path: &Path, flags: libc::c_ulong) -> Result<(), String> {
    let target = CString::new(path.as_os_str().as_encoded_bytes()).map_err(|e| e.to_string())?;
    // SAFETY: NUL-terminated strings that outlive the call.
    let r = unsafe {
        libc::mount(
            c"tmpfs".as_ptr(),
            target.as_ptr(),
            c"tmpfs".as_ptr(),
            flags,
            std::ptr::null(),
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(format!(
            "mount tmpfs on {}: {}",
            path.display(),
            std::io::Error::last_os_error()
        ))
    }
}

#[test]
fn bind_remount_keeps_source_flags_and_recursive_attrs_reach_submounts() {
    if !have_root("bind_remount_keeps_source_flags_and_recursive_attrs_reach_submounts") {
        return;
    }
    let b = Bundle::new("attrs");
    let nosuid_src = b.host_dir("nosuid-src");
    let tree = b.host_dir("tree");
    std::fs::create_dir_all(tree.join("sub")).unwrap();
    let mut cfg = b.config();
    cfg.mounts = vec![
        mount("/proc", "proc", "proc", &[]),
        // The source is nosuid,nodev (set up in the child); the spec only asks for ro.
        mount("/kept", "bind", nosuid_src.to_str().unwrap(), &["bind", "ro"]),
        // A recursive bind with a submount, made recursively read-only and private.
        mount(
            "/tree",
            "bind",
            tree.to_str().unwrap(),
            &["rbind", "rro", "rnosuid", "rprivate"],
        ),
        // A shared mount.
        mount("/shared", "tmpfs", "tmpfs", &["shared"]),
    ];
    let plan = MountPlan::compile(cfg).expect("compile");
    let (src, sub) = (nosuid_src.clone(), tree.join("sub"));
    let outcome = run_child(
        &plan,
        0,
        || {
            child_tmpfs(&src, libc::MS_NOSUID | libc::MS_NODEV)?;
            child_tmpfs(&sub, 0)
        },
        || {
            let kept = mount_at("/kept")?;
            for o in ["ro", "nosuid", "nodev"] {
                ensure(kept.opts.split(',').any(|x| x == o), || {
                    format!("/kept lost {o}: {}", kept.opts)
                })?;
            }
            write_fails("/kept/x", libc::EROFS)?;
            let top = mount_at("/tree")?;
            let sub = mount_at("/tree/sub")?;
            for m in [&top, &sub] {
                ensure(m.opts.split(',').any(|x| x == "ro"), || {
                    format!("{} not ro: {}", m.point, m.opts)
                })?;
                ensure(m.opts.contains("nosuid"), || format!("{} not nosuid", m.point))?;
            }
            ensure(!top.optional.contains("shared:"), || "/tree is not private".into())?;
            write_fails("/tree/sub/x", libc::EROFS)?;
            let shared = mount_at("/shared")?;
            ensure(shared.optional.contains("shared:"), || {
                format!("/shared is not shared: {}", shared.optional)
            })?;
            Ok(())
        },
    );
    assert_ok(&plan, outcome);
}

#[test]
fn read_only_binds_paths_and_root_without_mount_setattr_are_remounted_in_place() {
    if !have_root("read_only_binds_paths_and_root_without_mount_setattr_are_remounted_in_place") {
        return;
    }
    let b = Bundle::new("ro-nosetattr");
    let src = b.host_dir("ro-src");
    let mut cfg = b.config();
    cfg.mounts = vec![
        mount("/proc", "proc", "proc", &[]),
        mount("/kept", "bind", src.to_str().unwrap(), &["bind", "ro", "nosuid"]),
        mount("/priv", "tmpfs", "tmpfs", &["ro", "tmpcopyup", "private"]),
    ];
    cfg.readonly_paths = vec!["/proc/sys".into()];
    cfg.readonly = true;
    let plan = MountPlan::compile(cfg).expect("compile");
    let outcome = run_child(&plan, 0, without_mount_setattr, || {
        let kept = mount_at("/kept")?;
        for o in ["ro", "nosuid"] {
            ensure(kept.opts.split(',').any(|x| x == o), || {
                format!("/kept lost {o}: {}", kept.opts)
            })?;
        }
        write_fails("/kept/x", libc::EROFS)?;
        write_fails("/priv/x", libc::EROFS)?;
        write_fails("/proc/sys/kernel/hostname", libc::EROFS)?;
        write_fails("/newfile", libc::EROFS)?;
        Ok(())
    });
    assert_ok(&plan, outcome);
    assert_eq!(std::fs::read_dir(&src).unwrap().count(), 0);
}

#[test]
fn rshared_root_propagation_makes_rootfs_parent_private_for_pivot() {
    if !have_root("rshared_root_propagation_makes_rootfs_parent_private_for_pivot") {
        return;
    }
    let b = Bundle::new("rshared");
    let mut cfg = b.config();
    cfg.mounts = vec![mount("/proc", "proc", "proc", &[])];
    cfg.propagation = Some("rshared".to_owned());
    let plan = MountPlan::compile(cfg).expect("compile");
    let outcome = run_child(
        &plan,
        0,
        || Ok(()),
        || {
            ensure(std::fs::read("/marker").ok().as_deref() == Some(b"rootfs"), || {
                "no /marker".into()
            })?;
            let root = mount_at("/")?;
            ensure(root.optional.contains("shared:"), || {
                format!("/ is not shared: {}", root.optional)
            })?;
            Ok(())
        },
    );
    assert_ok(&plan, outcome);
}

#[test]
fn bind_of_dev_skips_device_setup() {
    if !have_root("bind_of_dev_skips_device_setup") {
        return;
    }
    let b = Bundle::new("devbind");
    let fake_dev = b.host_dir("fakedev");
    std::fs::write(fake_dev.join("only-file"), b"").unwrap();
    let mut cfg = b.config();
    cfg.mounts = vec![
        mount("/proc", "proc", "proc", &[]),
        mount("/dev", "bind", fake_dev.to_str().unwrap(), &["rbind", "ro"]),
    ];
    let plan = MountPlan::compile(cfg).expect("compile");
    let outcome = run_child(
        &plan,
        0,
        || Ok(()),
        || {
            ensure(Path::new("/dev/only-file").exists(), || "bind of /dev missing".into())?;
            ensure(!Path::new("/dev/null").exists(), || {
                "devices were created on a bound /dev".into()
            })?;
            write_fails("/dev/new", libc::EROFS)
        },
    );
    assert_ok(&plan, outcome);
    assert_eq!(std::fs::read_dir(&fake_dev).unwrap().count(), 1);
}

/// Enters a new user namespace (uid/gid 0 mapped to host 0) with a new mount namespace, so
/// every mount inherited from the previous namespace has its flags locked.
fn enter_user_namespace() -> Result<(), String> {
    // SAFETY: unshare takes flags only.
    if unsafe { libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNS) } != 0 {
        return Err(format!(
            "unshare user+mount namespace: {}",
            std::io::Error::last_os_error()
        ));
    }
    for (file, content) in [
        ("/proc/self/setgroups", "deny"),
        ("/proc/self/uid_map", "0 0 1"),
        ("/proc/self/gid_map", "0 0 1"),
    ] {
        std::fs::write(file, content).map_err(|e| format!("write {file}: {e}"))?;
    }
    Ok(())
}

#[test]
fn user_namespace_keeps_locked_flags_and_binds_devices() {
    if !have_root("user_namespace_keeps_locked_flags_and_binds_devices") {
        return;
    }
    let b = Bundle::new("userns");
    let locked_src = b.host_dir("locked-src");
    let mut cfg = b.config();
    cfg.mounts = vec![
        // proc needs a pid namespace owned by the user namespace; bind the host's instead.
        mount("/proc", "bind", "/proc", &["rbind"]),
        mount("/dev", "tmpfs", "tmpfs", &["nosuid", "mode=755"]),
        mount("/dev/pts", "devpts", "devpts", &["newinstance", "ptmxmode=0666"]),
        // The source is nosuid,nodev and those flags are locked; the spec only asks for ro.
        mount("/kept", "bind", locked_src.to_str().unwrap(), &["bind", "ro"]),
    ];
    cfg.new_user_namespace = true;
    cfg.readonly = true;
    cfg.masked_paths = vec!["/proc/cmdline".into()];
    cfg.readonly_paths = vec!["/proc/sys".into()];
    let plan = MountPlan::compile(cfg).expect("compile");
    let src = locked_src.clone();
    let outcome = run_child(
        &plan,
        0,
        || {
            child_tmpfs(&src, libc::MS_NOSUID | libc::MS_NODEV)?;
            enter_user_namespace()
        },
        || {
            let kept = mount_at("/kept")?;
            for o in ["ro", "nosuid", "nodev"] {
                ensure(kept.opts.split(',').any(|x| x == o), || {
                    format!("/kept lost {o}: {}", kept.opts)
                })?;
            }
            write_fails("/newfile", libc::EROFS)?;
            check_dev("/dev/null", false, 1, 3, 0o666)?;
            std::fs::write("/dev/null", b"x").map_err(|e| format!("write /dev/null: {e}"))?;
            check_link("/dev/ptmx", "pts/ptmx")?;
            let cmdline = std::fs::read("/proc/cmdline").map_err(|e| format!("/proc/cmdline: {e}"))?;
            ensure(cmdline.is_empty(), || "masked /proc/cmdline is not empty".into())?;
            write_fails("/proc/sys/kernel/hostname", libc::EROFS)?;
            Ok(())
        },
    );
    assert_ok(&plan, outcome);
}

#[test]
fn tmpcopyup_copies_the_image_directory_into_the_tmpfs() {
    if !have_root("tmpcopyup_copies_the_image_directory_into_the_tmpfs") {
        return;
    }
    let b = Bundle::new("copyup");
    let etc = b.rootfs.join("etc");
    std::fs::create_dir_all(etc.join("sub/deeper")).unwrap();
    std::fs::write(etc.join("passwd"), b"root:x:0:0::/root:/bin/sh\n").unwrap();
    std::fs::set_permissions(etc.join("passwd"), std::fs::Permissions::from_mode(0o640)).unwrap();
    std::os::unix::fs::chown(etc.join("passwd"), Some(1000), Some(1001)).unwrap();
    std::fs::write(etc.join("sub/deeper/big"), vec![7u8; 100_000]).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", etc.join("link")).unwrap();
    std::os::unix::fs::symlink("../outside", etc.join("sub/dangling")).unwrap();
    let fifo = CString::new(etc.join("fifo").as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o620) }, 0);
    std::fs::set_permissions(&etc, std::fs::Permissions::from_mode(0o751)).unwrap();

    let mut cfg = b.config();
    cfg.mounts = vec![
        mount("/proc", "proc", "proc", &[]),
        mount("/etc", "tmpfs", "tmpfs", &["tmpcopyup", "ro", "size=1m"]),
    ];
    let plan = MountPlan::compile(cfg).expect("compile");
    let outcome = run_child(
        &plan,
        0,
        || Ok(()),
        || {
            let m = mount_at("/etc")?;
            ensure(m.fstype == "tmpfs", || format!("/etc is {}", m.fstype))?;
            ensure(m.opts.split(',').any(|o| o == "ro"), || "/etc is not ro".into())?;
            write_fails("/etc/new", libc::EROFS)?;
            let passwd = std::fs::read("/etc/passwd").map_err(|e| format!("/etc/passwd: {e}"))?;
            ensure(passwd == b"root:x:0:0::/root:/bin/sh\n", || "wrong /etc/passwd".into())?;
            let md = std::fs::metadata("/etc/passwd").map_err(|e| e.to_string())?;
            ensure(md.mode() & 0o7777 == 0o640, || format!("passwd mode {:o}", md.mode()))?;
            ensure((md.uid(), md.gid()) == (1000, 1001), || {
                format!("passwd owner {}:{}", md.uid(), md.gid())
            })?;
            let big = std::fs::read("/etc/sub/deeper/big").map_err(|e| format!("big: {e}"))?;
            ensure(big.len() == 100_000 && big.iter().all(|&x| x == 7), || {
                "wrong big file".into()
            })?;
            check_link("/etc/link", "/etc/passwd")?;
            check_link("/etc/sub/dangling", "../outside")?;
            let f = std::fs::symlink_metadata("/etc/fifo").map_err(|e| e.to_string())?;
            ensure(f.file_type().is_fifo(), || "fifo not copied".into())?;
            let root = std::fs::metadata("/etc").map_err(|e| e.to_string())?;
            ensure(root.mode() & 0o7777 == 0o751, || format!("/etc mode {:o}", root.mode()))?;
            Ok(())
        },
    );
    assert_ok(&plan, outcome);
    // The image directory itself is unchanged.
    let mut names: Vec<_> = std::fs::read_dir(&etc)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["fifo", "link", "passwd", "sub"]);
}

/// Kills and reaps a helper process when the test ends.
struct KillChild(std::process::Child);

impl Drop for KillChild {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn proc_mount_shows_the_pid_namespace_it_is_given() {
    if !have_root("proc_mount_shows_the_pid_namespace_it_is_given") {
        return;
    }
    use std::os::fd::AsRawFd;
    // A pid namespace of its own with `sleep 61` as its pid 1.
    let helper = KillChild(
        std::process::Command::new("unshare")
            .args(["--pid", "--fork", "--kill-child", "sleep", "61"])
            .spawn()
            .expect("run unshare"),
    );
    let children = format!("/proc/{}/task/{}/children", helper.0.id(), helper.0.id());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::fs::read_to_string(&children).unwrap_or_default().trim().is_empty() {
        assert!(std::time::Instant::now() < deadline, "unshare made no child");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let ns = std::fs::File::open(format!("/proc/{}/ns/pid_for_children", helper.0.id())).unwrap();
    if !rootfs::proc_takes_pid_namespace(ns.as_fd()) {
        eprintln!(
            "SKIP proc_mount_shows_the_pid_namespace_it_is_given: this kernel's procfs has no pidns= (Linux 6.18)"
        );
        return;
    }
    let b = Bundle::new("proc-pidns");
    let mut cfg = b.config();
    cfg.mounts = vec![mount("/proc", "proc", "proc", &[])];
    cfg.proc_pid_namespace = Some(ns.as_raw_fd());
    let plan = MountPlan::compile(cfg).expect("compile");
    let outcome = run_child(
        &plan,
        0,
        || Ok(()),
        || {
            let cmdline = std::fs::read("/proc/1/cmdline").map_err(|e| format!("read /proc/1/cmdline: {e}"))?;
            if cmdline != b"sleep\x0061\x00" {
                return Err(format!(
                    "/proc/1 is {:?}, not the given pid namespace's sleep",
                    String::from_utf8_lossy(&cmdline)
                ));
            }
            Ok(())
        },
    );
    assert_ok(&plan, outcome);
}
