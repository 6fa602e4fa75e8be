//! A review of the container's filesystem setup (the `rootfs` crate) through the real `ocirun`
//! binary: attacks by a malicious image (symlinks where the spec mounts something), by a
//! process that races the runtime through a volume shared with the container being created,
//! and by hostile but plausible configs. Each test performs the attack and asserts, on the
//! host (or from what the container could reach), that it did not get out. A test that fails
//! is a hole; the ones that pass are regression tests.
//!
//! Races are bounded (a few seconds, at most a few hundred tries) and only look for a breach:
//! against a safe runtime they pass every time.

mod common;

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{Guard, ocirun, run_status, serial, state};
use serde_json::{Value, json};
use test_support::{Bundle, require_prerequisites, unique_id};

// ---------------------------------------------------------------------------------------
// Helpers.
// ---------------------------------------------------------------------------------------

/// Runs the bundle with `ocirun run` (with `extra` flags of `run`) and returns its output.
fn run(b: &Bundle, prefix: &str, extra: &[&str]) -> Output {
    b.write();
    let id = unique_id(prefix);
    let _g = Guard(b.state_root(), id.clone());
    ocirun(&b.state_root())
        .args(["run", "--bundle"])
        .arg(b.path())
        .args(extra)
        .arg(&id)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

/// stdout and stderr of a run, for messages.
fn shown(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Docker's default capabilities (CAP_SYS_CHROOT and CAP_SETFCAP among them, no CAP_SYS_ADMIN).
fn docker_default_caps(b: &mut Bundle) {
    let caps = json!([
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_FSETID",
        "CAP_FOWNER",
        "CAP_MKNOD",
        "CAP_NET_RAW",
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_SETFCAP",
        "CAP_SETPCAP",
        "CAP_NET_BIND_SERVICE",
        "CAP_SYS_CHROOT",
        "CAP_KILL",
        "CAP_AUDIT_WRITE"
    ]);
    for set in ["bounding", "effective", "permitted"] {
        b.spec["process"]["capabilities"][set] = caps.clone();
    }
}

/// Appends a mount to the spec.
fn push_mount(b: &mut Bundle, m: Value) {
    b.spec["mounts"].as_array_mut().unwrap().push(m);
}

/// A recursive bind of `source` at `destination`, with `extra` options.
fn bind(source: &Path, destination: &str, extra: &[&str]) -> Value {
    let mut options = vec!["rbind"];
    options.extend_from_slice(extra);
    json!({"destination": destination, "type": "bind", "source": source, "options": options})
}

/// A host directory the test owns, removed when it ends.
fn host_dir(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new().prefix(prefix).tempdir().unwrap()
}

/// The names in `dir`, sorted.
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The host's `core_pattern`, read only (never written by these tests).
fn host_core_pattern() -> Vec<u8> {
    std::fs::read("/proc/sys/kernel/core_pattern").unwrap()
}

/// Runs a host command that must succeed; returns its stdout.
fn host(cmd: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(cmd).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A container made with `ocirun create`, force-deleted when dropped.
struct Created {
    guard: Guard,
    pid: i64,
}

impl Created {
    /// `ocirun create` of the bundle (already written); `Err(stderr)` when it fails.
    fn new(b: &Bundle, prefix: &str) -> Result<Created, String> {
        let id = unique_id(prefix);
        let guard = Guard(b.state_root(), id.clone());
        let (ok, err) = run_status(
            ocirun(&b.state_root())
                .args(["create", "--bundle"])
                .arg(b.path())
                .arg(&id),
        );
        if !ok {
            return Err(err);
        }
        let pid = state(&b.state_root(), &id)["pid"].as_i64().unwrap();
        Ok(Created { guard, pid })
    }

    /// The container's mount table, as the host reads it.
    fn mountinfo(&self) -> String {
        std::fs::read_to_string(format!("/proc/{}/mountinfo", self.pid)).unwrap_or_default()
    }

    /// A path in the container's root, as the host reaches it (`/proc/<pid>/root`).
    fn path(&self, inside: &str) -> PathBuf {
        PathBuf::from(format!("/proc/{}/root{inside}", self.pid))
    }
}

impl Drop for Created {
    fn drop(&mut self) {
        let _ = ocirun(&self.guard.0).args(["delete", "--force", &self.guard.1]).output();
    }
}

/// A thread that swaps pairs of names in a directory with `renameat2(RENAME_EXCHANGE)` as fast
/// as it can, until dropped: what a process in another container that shares the directory (a
/// volume) can do while this one is being created.
struct Exchanger {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<u64>>,
}

impl Exchanger {
    /// Starts swapping each pair `(a, b)` of names in `dir`.
    fn start(dir: &Path, pairs: Vec<(String, String)>) -> Exchanger {
        use std::os::fd::AsRawFd;
        let dir = std::fs::File::open(dir).unwrap();
        let pairs: Vec<(std::ffi::CString, std::ffi::CString)> = pairs
            .into_iter()
            .map(|(a, b)| (std::ffi::CString::new(a).unwrap(), std::ffi::CString::new(b).unwrap()))
            .collect();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let fd = dir.as_raw_fd();
            let mut swaps = 0u64;
            while !flag.load(Ordering::Relaxed) {
                for (a, b) in &pairs {
                    // SAFETY: both names are NUL-terminated and live across the call; `fd` is
                    // an open directory owned by `dir`, which the closure holds.
                    let ret = unsafe { libc::renameat2(fd, a.as_ptr(), fd, b.as_ptr(), libc::RENAME_EXCHANGE) };
                    assert_eq!(ret, 0, "renameat2: {}", std::io::Error::last_os_error());
                    swaps += 1;
                }
            }
            drop(dir);
            swaps
        });
        Exchanger {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops and returns how many swaps were made.
    fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for Exchanger {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Lazily unmounts a host mount point when the test ends.
struct Unmount(PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// The per-mount options (mountinfo field 6) of every mount in `mountinfo` whose root within
/// its filesystem (field 4) ends with `/name`, with the whole line.
fn mounts_of_dir<'a>(mountinfo: &'a str, name: &str) -> Vec<(&'a str, &'a str)> {
    let suffix = format!("/{name}");
    mountinfo
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f.get(3).is_some_and(|root| root.ends_with(&suffix))).then(|| (f[5], l))
        })
        .collect()
}

/// Whether per-mount options say read-only.
fn read_only(options: &str) -> bool {
    options.split(',').any(|o| o == "ro")
}

// ---------------------------------------------------------------------------------------
// Finding: the procfs (and sysfs) mount follows an image symlink at /proc (/sys) to a place
// where the masks and read-only paths, resolved by path again at the end, do not find it.
// ---------------------------------------------------------------------------------------

/// The image's `proc` is a symlink to `/`: resolved inside the rootfs, the procfs mount goes
/// onto the container's root directory itself, stacked over the rootfs; every mask and
/// read-only path under /proc then resolves to a missing file of the rootfs and is skipped.
/// After pivot_root the stacked procfs is what `/..` leads to, unmasked and with a writable
/// `/proc/sys` (core_pattern: code execution as root on the host). runc refuses a procfs
/// destination that is not an ordinary directory. The test only opens core_pattern for
/// writing (O_APPEND, nothing written).
#[test]
fn image_proc_symlink_to_root_leaves_an_unmasked_procfs_at_slash_dotdot() {
    require_prerequisites();
    let before = host_core_pattern();
    let mut b = Bundle::new(&[
        "sh",
        "-c",
        "echo timer_list=$(cat /../timer_list 2>/dev/null | wc -c); \
         (: >> /../sys/kernel/core_pattern) 2>/dev/null && echo CORE-PATTERN-WRITABLE; true",
    ]);
    std::fs::remove_dir(b.rootfs().join("proc")).unwrap();
    symlink("/", b.rootfs().join("proc")).unwrap();
    let out = run(&b, "rv-proc-root", &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !text.contains("CORE-PATTERN-WRITABLE"),
        "the host's core_pattern is writable from the container:\n{}",
        shown(&out)
    );
    assert!(
        !text.lines().any(|l| l.starts_with("timer_list=") && l != "timer_list=0"),
        "an unmasked /proc/timer_list is readable:\n{}",
        shown(&out)
    );
    assert_eq!(host_core_pattern(), before);
}

/// The image's `proc` is a symlink to `/dev/x/../../realproc`: when the procfs is mounted,
/// `dev` is the image's directory (which has an `x`) and the procfs lands on `/realproc`;
/// when the masks and read-only paths are resolved, `/dev` is the runtime's tmpfs, which has
/// no `x`, so every one of them is "missing" and skipped. The container's procfs stays
/// reachable at /realproc, unmasked and writable: core_pattern and the other host-global
/// sysctls (code execution as root on the host). Nothing is written.
#[test]
fn image_proc_symlink_through_a_later_mount_leaves_procfs_unmasked_and_writable() {
    require_prerequisites();
    let before = host_core_pattern();
    let mut b = Bundle::new(&[
        "sh",
        "-c",
        "echo timer_list=$(cat /realproc/timer_list 2>/dev/null | wc -c); \
         grep ' /realproc ' /realproc/self/mountinfo; \
         (: >> /realproc/sys/kernel/core_pattern) 2>/dev/null && echo CORE-PATTERN-WRITABLE; true",
    ]);
    let rootfs = b.rootfs();
    std::fs::remove_dir(rootfs.join("proc")).unwrap();
    std::fs::create_dir_all(rootfs.join("dev/x")).unwrap();
    std::fs::create_dir(rootfs.join("realproc")).unwrap();
    symlink("/dev/x/../../realproc", rootfs.join("proc")).unwrap();
    let out = run(&b, "rv-proc-dotdot", &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !text.contains("CORE-PATTERN-WRITABLE"),
        "the host's core_pattern is writable from the container:\n{}",
        shown(&out)
    );
    assert!(
        !text.lines().any(|l| l.starts_with("timer_list=") && l != "timer_list=0"),
        "an unmasked /proc/timer_list is readable:\n{}",
        shown(&out)
    );
    assert_eq!(host_core_pattern(), before);
}

/// The same trick on `sys`: `/sys/firmware` (the host's ACPI tables and firmware memory map)
/// is masked by default. With the image's `sys` a symlink to `/`, the sysfs is stacked over
/// the container's root, the mask resolves to a missing `/firmware` of the rootfs and is
/// skipped, and `/..` leads to the sysfs, unmasked.
#[test]
fn image_sys_symlink_to_root_leaves_sys_firmware_unmasked() {
    require_prerequisites();
    assert!(
        Path::new("/sys/firmware").read_dir().unwrap().next().is_some(),
        "this host's /sys/firmware is empty: the test proves nothing"
    );
    let mut b = Bundle::new(&[
        "sh",
        "-c",
        "[ -n \"$(ls /../firmware 2>/dev/null)\" ] && echo FIRMWARE-VISIBLE; \
         [ -n \"$(ls /sys/firmware 2>/dev/null)\" ] && echo FIRMWARE-VISIBLE; true",
    ]);
    std::fs::remove_dir(b.rootfs().join("sys")).unwrap();
    symlink("/", b.rootfs().join("sys")).unwrap();
    let out = run(&b, "rv-sys-root", &[]);
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("FIRMWARE-VISIBLE"),
        "the host's /sys/firmware is visible in the container:\n{}",
        shown(&out)
    );
}

// ---------------------------------------------------------------------------------------
// Finding: a spec mount whose destination is an image symlink to `/` goes onto the container's
// root directory itself; its follow-ups (the read-only remount) resolve the path again and
// reach the root below it instead of the new mount.
// ---------------------------------------------------------------------------------------

/// `-v /host/dir:/data:ro` with an image whose `data` is a symlink to `/`: the bind is stacked
/// over the container's root, the read-only remount resolves `data` again, gets the rootfs
/// below the new mount and makes that read-only, and the host directory stays writable at
/// `/..`. The host directory must be unchanged.
#[test]
fn read_only_volume_through_an_image_symlink_to_root_stays_read_only() {
    require_prerequisites();
    let vol = host_dir("ocirun-review-rovol-");
    std::fs::write(vol.path().join("file"), "host\n").unwrap();
    let mut b = Bundle::new(&[
        "sh",
        "-c",
        "for d in /data /.. /; do (echo container > $d/file) 2>/dev/null && echo WROTE $d; \
         (echo container > $d/new) 2>/dev/null && echo CREATED $d; done; true",
    ]);
    symlink("/", b.rootfs().join("data")).unwrap();
    push_mount(&mut b, bind(vol.path(), "/data", &["ro"]));
    let out = run(&b, "rv-rovol", &[]);
    assert_eq!(
        entries(vol.path()),
        ["file"],
        "the container created files in a read-only volume:\n{}",
        shown(&out)
    );
    assert_eq!(
        std::fs::read_to_string(vol.path().join("file")).unwrap(),
        "host\n",
        "the container wrote a read-only volume:\n{}",
        shown(&out)
    );
}
