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
    b.docker_caps(&[]);
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
        let _ = ocirun(&self.guard.0)
            .args(["delete", "--force", &self.guard.1])
            .output();
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
    let b = Bundle::new(&[
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
        !text
            .lines()
            .any(|l| l.starts_with("timer_list=") && l != "timer_list=0"),
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
    let b = Bundle::new(&[
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
        !text
            .lines()
            .any(|l| l.starts_with("timer_list=") && l != "timer_list=0"),
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
    let b = Bundle::new(&[
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

// ---------------------------------------------------------------------------------------
// Finding: --no-pivot moves the rootfs onto `/` by its host path; a mount stacked over the
// rootfs's root (a spec mount through an image symlink to `/`) is what moves, and the
// container is chrooted into a rootfs that still hangs in the host's tree.
// ---------------------------------------------------------------------------------------

/// A static x86-64 Linux program, 168 bytes, that does what `chroot DIR PROG ARGS...` does
/// minus the `chdir("/")`: `chroot(argv[1])`, then `execve(argv[2], &argv[2], envp)`, leaving
/// the current directory outside the new root, the classic chroot escape (busybox's `chroot`
/// always changes into the new root). It needs CAP_SYS_CHROOT, which Docker gives by default.
#[cfg(target_arch = "x86_64")]
fn chroot_keeping_cwd_elf() -> Vec<u8> {
    #[rustfmt::skip]
    let code: [u8; 48] = [
        0x48, 0x8b, 0x0c, 0x24,             // mov rcx, [rsp]          ; argc
        0x48, 0x8d, 0x54, 0xcc, 0x10,       // lea rdx, [rsp+rcx*8+16] ; envp
        0x48, 0x8b, 0x7c, 0x24, 0x10,       // mov rdi, [rsp+16]       ; argv[1]
        0xb8, 0xa1, 0x00, 0x00, 0x00,       // mov eax, 161            ; chroot
        0x0f, 0x05,                         // syscall
        0x48, 0x8d, 0x74, 0x24, 0x18,       // lea rsi, [rsp+24]       ; &argv[2]
        0x48, 0x8b, 0x3e,                   // mov rdi, [rsi]          ; argv[2]
        0xb8, 0x3b, 0x00, 0x00, 0x00,       // mov eax, 59             ; execve
        0x0f, 0x05,                         // syscall
        0xbf, 0x7f, 0x00, 0x00, 0x00,       // mov edi, 127
        0xb8, 0x3c, 0x00, 0x00, 0x00,       // mov eax, 60             ; exit
        0x0f, 0x05,                         // syscall
    ];
    const BASE: u64 = 0x40_0000;
    const HEADERS: usize = 64 + 56;
    let total = (HEADERS + code.len()) as u64;
    let mut elf = Vec::with_capacity(HEADERS + code.len());
    // ELF header: 64-bit, little-endian, version 1, System V ABI.
    elf.extend_from_slice(b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00");
    elf.extend_from_slice(&2u16.to_le_bytes()); // e_type: ET_EXEC
    elf.extend_from_slice(&0x3eu16.to_le_bytes()); // e_machine: x86-64
    elf.extend_from_slice(&1u32.to_le_bytes()); // e_version
    elf.extend_from_slice(&(BASE + HEADERS as u64).to_le_bytes()); // e_entry
    elf.extend_from_slice(&64u64.to_le_bytes()); // e_phoff
    elf.extend_from_slice(&0u64.to_le_bytes()); // e_shoff
    elf.extend_from_slice(&0u32.to_le_bytes()); // e_flags
    elf.extend_from_slice(&64u16.to_le_bytes()); // e_ehsize
    elf.extend_from_slice(&56u16.to_le_bytes()); // e_phentsize
    elf.extend_from_slice(&1u16.to_le_bytes()); // e_phnum
    elf.extend_from_slice(&[0; 6]); // e_shentsize, e_shnum, e_shstrndx
    // One PT_LOAD, readable and executable, of the whole file at BASE.
    elf.extend_from_slice(&1u32.to_le_bytes()); // p_type
    elf.extend_from_slice(&5u32.to_le_bytes()); // p_flags: R|X
    elf.extend_from_slice(&0u64.to_le_bytes()); // p_offset
    elf.extend_from_slice(&BASE.to_le_bytes()); // p_vaddr
    elf.extend_from_slice(&BASE.to_le_bytes()); // p_paddr
    elf.extend_from_slice(&total.to_le_bytes()); // p_filesz
    elf.extend_from_slice(&total.to_le_bytes()); // p_memsz
    elf.extend_from_slice(&0x1000u64.to_le_bytes()); // p_align
    elf.extend_from_slice(&code);
    elf
}

/// Puts [`chroot_keeping_cwd_elf`] at `/chroot-keep-cwd` in the rootfs.
#[cfg(target_arch = "x86_64")]
fn install_chroot_escape(b: &Bundle) {
    use std::os::unix::fs::PermissionsExt;
    let path = b.rootfs().join("chroot-keep-cwd");
    std::fs::write(&path, chroot_keeping_cwd_elf()).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// `--no-pivot`, a volume at /data and an image whose `data` is a symlink to `/`: the volume
/// is stacked over the rootfs's root, and the MS_MOVE of the rootfs path onto `/` moves that
/// top mount, the volume, not the rootfs. The container is chrooted into a rootfs that still
/// hangs at its host path below the host's root filesystem: with Docker's default capabilities
/// (CAP_SYS_CHROOT) a process leaves the chroot with `..` and reaches the bundle directory and
/// every directory above it on the host, read-write. The test creates a file in the bundle
/// directory from the container: it must not appear.
#[cfg(target_arch = "x86_64")]
#[test]
fn no_pivot_volume_through_an_image_symlink_to_root_cannot_reach_the_hosts_directories() {
    require_prerequisites();
    let vol = host_dir("ocirun-review-nopivot-vol-");
    let mut b = Bundle::new(&[
        "/chroot-keep-cwd",
        "/tmp",
        "bin/busybox",
        "sh",
        "-c",
        "bin/busybox ls -a .. | bin/busybox tr '\\n' ' '; echo; \
         bin/busybox touch ../ESCAPED-FROM-ROOTFS && echo WROTE-THE-BUNDLE-DIRECTORY; true",
    ]);
    docker_default_caps(&mut b);
    install_chroot_escape(&b);
    symlink("/", b.rootfs().join("data")).unwrap();
    push_mount(&mut b, bind(vol.path(), "/data", &[]));
    let out = run(&b, "rv-nopivot-root", &["--no-pivot"]);
    assert!(
        !b.path().join("ESCAPED-FROM-ROOTFS").exists(),
        "the container created a file in the host's bundle directory:\n{}",
        shown(&out)
    );
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("config.json"),
        "the container listed the host's bundle directory:\n{}",
        shown(&out)
    );
}

// ---------------------------------------------------------------------------------------
// Finding: after a bind, the follow-ups (read-only remount, propagation, recursive
// attributes) resolve the destination by path again; a process that swaps a component of the
// path through a shared volume in between sends them to another mount.
// ---------------------------------------------------------------------------------------

/// The most `ocirun create`s a race test tries.
const RACE_TRIES: usize = 150;

/// How long a race test tries at most.
const RACE_TIME: Duration = Duration::from_secs(15);

/// CVE-2021-30465's setting: a volume `shared` (which another container also has) at /a, and a
/// host directory bound read-only at /a/b, inside it. The other container swaps `b` (a
/// directory) with a symlink to `/dev/shm` in the shared directory while this container is
/// created. The bind goes onto the directory through an fd, but the read-only remount
/// resolves `a/b` again: after a swap it finds /dev/shm (a mount root) and remounts that,
/// and the host directory stays writable in the container. Every successful create must show
/// the host directory read-only.
#[test]
fn racing_a_shared_volume_cannot_leave_a_read_only_bind_writable() {
    require_prerequisites();
    let _serial = serial();
    let shared = host_dir("ocirun-review-shared-");
    let secret = host_dir("ocirun-review-rosecret-");
    let secret_name = secret.path().file_name().unwrap().to_str().unwrap().to_owned();
    std::fs::create_dir(shared.path().join("b")).unwrap();
    symlink("/dev/shm", shared.path().join("b-link")).unwrap();
    let mut b = Bundle::new(&["sleep", "1000"]);
    push_mount(&mut b, bind(shared.path(), "/a", &[]));
    push_mount(&mut b, bind(secret.path(), "/a/b", &["ro"]));
    b.write();
    let swapper = Exchanger::start(shared.path(), vec![("b".to_owned(), "b-link".to_owned())]);
    let start = Instant::now();
    let (mut created, mut breach) = (0, None);
    for _ in 0..RACE_TRIES {
        if start.elapsed() > RACE_TIME {
            break;
        }
        let Ok(c) = Created::new(&b, "rv-rorace") else {
            continue;
        };
        created += 1;
        let info = c.mountinfo();
        let writable: Vec<&str> = mounts_of_dir(&info, &secret_name)
            .into_iter()
            .filter(|(opts, _)| !read_only(opts))
            .map(|(_, line)| line)
            .collect();
        if !writable.is_empty() {
            breach = Some(writable.join("\n"));
            break;
        }
    }
    let swaps = swapper.finish();
    assert!(swaps > 0, "the swapper never ran");
    if let Some(lines) = breach {
        panic!("after {created} containers, the read-only host directory is mounted read-write:\n{lines}");
    }
    assert!(created > 0, "no container was created: the race proves nothing");
}

// ---------------------------------------------------------------------------------------
// Finding: tmpcopyup looks at an entry with fstatat, then opens it by name: a process that
// swaps a regular file for a device node in between (through a shared volume) makes the
// runtime, which is not in the container's device cgroup yet, read the device.
// ---------------------------------------------------------------------------------------

/// A loop device over a small file, detached when dropped.
struct LoopDevice {
    path: String,
    _backing: tempfile::NamedTempFile,
}

impl LoopDevice {
    /// A loop device whose content starts with `marker`.
    fn with(marker: &str) -> LoopDevice {
        let mut content = marker.as_bytes().to_vec();
        content.resize(4096, 0);
        let backing = tempfile::Builder::new()
            .prefix("ocirun-review-disk-")
            .tempfile()
            .unwrap();
        std::fs::write(backing.path(), &content).unwrap();
        let path = host("losetup", &["-f", "--show", backing.path().to_str().unwrap()])
            .trim()
            .to_owned();
        LoopDevice {
            path,
            _backing: backing,
        }
    }

    /// Its device number.
    fn rdev(&self) -> libc::dev_t {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(&self.path).unwrap().rdev()
    }
}

impl Drop for LoopDevice {
    fn drop(&mut self) {
        let _ = std::process::Command::new("losetup").args(["-d", &self.path]).status();
    }
}

/// A volume `shared` at /a (another container has it too) and a tmpfs with `tmpcopyup` at
/// /a/c. `c` holds regular files `f<i>` and block device nodes `n<i>` of a disk the host has
/// (here a loop device whose first bytes are a marker); the other container swaps each pair
/// while this one is created. tmpcopyup copies a node it sees as a node (mknod, which the
/// container's device cgroup then governs), but a file that fstatat saw as regular and that
/// is a device node when it is opened by name is read, device and all, into the tmpfs: the
/// container reads the host's disk. The spec has neither a cgroup namespace nor a cgroup
/// mount, so the runtime sets up the rootfs before it enters the container's cgroup, whose
/// device rules (deny all) do not cover it.
#[test]
fn tmpcopyup_racing_a_shared_volume_cannot_read_a_host_block_device() {
    require_prerequisites();
    let _serial = serial();
    const PAIRS: usize = 100;
    const MARKER: &str = "HOST-DISK-CONTENT-7c1f";
    let disk = LoopDevice::with(MARKER);
    let shared = host_dir("ocirun-review-copyup-");
    let c = shared.path().join("c");
    std::fs::create_dir(&c).unwrap();
    let mut pairs = Vec::new();
    for i in 0..PAIRS {
        std::fs::write(c.join(format!("f{i}")), "plain file\n").unwrap();
        let node = std::ffi::CString::new(c.join(format!("n{i}")).into_os_string().into_encoded_bytes()).unwrap();
        // SAFETY: `node` is a NUL-terminated path that outlives the call.
        let ret = unsafe { libc::mknod(node.as_ptr(), libc::S_IFBLK | 0o600, disk.rdev()) };
        assert_eq!(ret, 0, "mknod: {}", std::io::Error::last_os_error());
        pairs.push((format!("f{i}"), format!("n{i}")));
    }
    let mut b = Bundle::new(&["sleep", "1000"]);
    b.spec["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .retain(|ns| ns["type"] != "cgroup");
    b.spec["mounts"]
        .as_array_mut()
        .unwrap()
        .retain(|m| m["type"] != "cgroup");
    push_mount(&mut b, bind(shared.path(), "/a", &[]));
    push_mount(
        &mut b,
        json!({"destination": "/a/c", "type": "tmpfs", "source": "tmpfs", "options": ["tmpcopyup"]}),
    );
    b.write();
    let swapper = Exchanger::start(&c, pairs);
    let start = Instant::now();
    let (mut created, mut breach) = (0, None);
    for _ in 0..RACE_TRIES {
        if start.elapsed() > RACE_TIME {
            break;
        }
        let Ok(ctr) = Created::new(&b, "rv-copyup") else {
            continue;
        };
        created += 1;
        let Ok(dir) = std::fs::read_dir(ctr.path("/a/c")) else {
            continue;
        };
        // Only regular files of the container's tmpfs: the nodes it holds are the container's
        // to open (or not), under its device cgroup.
        let leaked: Vec<String> = dir
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .filter(|e| std::fs::read(e.path()).is_ok_and(|d| d.starts_with(MARKER.as_bytes())))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        if !leaked.is_empty() {
            breach = Some(leaked);
            break;
        }
    }
    let swaps = swapper.finish();
    assert!(swaps > 0, "the swapper never ran");
    if let Some(files) = breach {
        panic!(
            "after {created} containers, the container's tmpfs holds the host disk's content in regular files {files:?}"
        );
    }
    assert!(created > 0, "no container was created: the race proves nothing");
}

// ---------------------------------------------------------------------------------------
// Finding: a volume whose destination is an image symlink to /dev is stacked over the /dev
// tmpfs, and the runtime then makes its device nodes, symlinks and ptmx in the host directory.
// ---------------------------------------------------------------------------------------

/// The image's `data` is a symlink to `/dev`, and a host directory is bound at /data: the
/// bind goes onto the /dev tmpfs's root, and every device node (world-writable), default
/// symlink and the ptmx replacement of the runtime is then made in the host directory, whose
/// own `ptmx` is deleted. The runtime must make nothing in a host directory it was not asked
/// to (CVE-2026-41579's class, through a volume instead of the image's own `dev`).
#[test]
fn volume_through_an_image_symlink_to_dev_gets_no_runtime_dev_entries() {
    require_prerequisites();
    let vol = host_dir("ocirun-review-devvol-");
    std::fs::write(vol.path().join("ptmx"), "host file\n").unwrap();
    let mut b = Bundle::new(&["true"]);
    symlink("/dev", b.rootfs().join("data")).unwrap();
    push_mount(&mut b, bind(vol.path(), "/data", &[]));
    let out = run(&b, "rv-devvol", &[]);
    assert_eq!(
        entries(vol.path()),
        ["ptmx"],
        "the runtime made /dev entries in the host directory:\n{}",
        shown(&out)
    );
    assert_eq!(std::fs::read_to_string(vol.path().join("ptmx")).unwrap(), "host file\n");
}

// ---------------------------------------------------------------------------------------
// Finding: a spec mount with the `remount` option and a filesystem type remounts the
// superblock of whatever is mounted at its destination, a host filesystem included.
// ---------------------------------------------------------------------------------------

/// A config that binds an ordinary host directory at /vol, then mounts "tmpfs" at /vol with
/// `remount,ro`: mount(2) gets MS_REMOUNT without MS_BIND on the bind's root, which remounts
/// the superblock, the host's filesystem, read-only for the host too (the host root
/// filesystem, in a real deployment). A container's mount options must only change the
/// container's mounts. The filesystem here is a tmpfs the test mounts for it.
#[test]
fn remount_option_cannot_remount_a_host_filesystem() {
    require_prerequisites();
    let fs = host_dir("ocirun-review-hostfs-");
    let ok = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(fs.path())
        .status()
        .unwrap();
    assert!(ok.success());
    let _unmount = Unmount(fs.path().to_path_buf());
    std::fs::create_dir(fs.path().join("vol")).unwrap();
    let mut b = Bundle::new(&["true"]);
    push_mount(&mut b, bind(&fs.path().join("vol"), "/vol", &[]));
    push_mount(
        &mut b,
        json!({"destination": "/vol", "type": "tmpfs", "source": "tmpfs", "options": ["remount", "ro"]}),
    );
    let out = run(&b, "rv-remount", &[]);
    let writable = std::fs::write(fs.path().join("still-writable"), "x");
    if writable.is_err() {
        // Put the host's filesystem back before failing.
        let _ = std::process::Command::new("mount")
            .args(["-o", "remount,rw"])
            .arg(fs.path())
            .status();
    }
    assert!(
        writable.is_ok(),
        "the container's config remounted a host filesystem read-only ({:?}):\n{}",
        writable.err(),
        shown(&out)
    );
}

// ---------------------------------------------------------------------------------------
// Finding: a /dev mount of type "none" is bound like a bind mount, but not counted as one
// when deciding whether the runtime makes its device nodes there.
// ---------------------------------------------------------------------------------------

/// `{"destination": "/dev", "type": "none", "source": <host dir>}` (no `bind` option) is bound
/// (push_spec_mount takes type "none" as a bind), but the check that skips the device setup
/// for a bound /dev (runc's) only looks at type "bind" and the bind options: the runtime
/// makes world-writable device nodes and its symlinks in the host directory and replaces
/// its `ptmx`. With type "bind" it makes none (runc's behaviour).
#[test]
fn dev_bind_of_type_none_gets_no_runtime_device_nodes() {
    require_prerequisites();
    let dev = host_dir("ocirun-review-devnone-");
    std::fs::write(dev.path().join("ptmx"), "host file\n").unwrap();
    let mut b = Bundle::new(&["true"]);
    b.spec["mounts"][1] = json!({"destination": "/dev", "type": "none", "source": dev.path()});
    let out = run(&b, "rv-devnone", &[]);
    // The /dev sub-mounts of the spec (pts, shm, mqueue) need their directories: expected.
    let made: Vec<String> = entries(dev.path())
        .into_iter()
        .filter(|e| !["ptmx", "pts", "shm", "mqueue"].contains(&e.as_str()))
        .collect();
    assert!(
        made.is_empty(),
        "the runtime made {made:?} in the host directory bound at /dev:\n{}",
        shown(&out)
    );
    assert_eq!(
        std::fs::read_to_string(dev.path().join("ptmx")).unwrap(),
        "host file\n",
        "the host directory's ptmx was replaced"
    );
}

/// The names in the directory `name` of `parent`, opened without following a symlink: `None`
/// when `name` is not a directory now (the racer swapped its symlink in).
fn entries_nofollow(parent: &Path, name: &str) -> Option<Vec<String>> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let dir = std::fs::File::open(parent).ok()?;
    let name = std::ffi::CString::new(name).ok()?;
    let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: `name` is NUL-terminated and outlives the call; `dir` is an open directory.
    let fd = unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), flags) };
    if fd < 0 {
        return None;
    }
    // SAFETY: openat returned a new descriptor that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let names = std::fs::read_dir(format!("/proc/self/fd/{}", fd.as_raw_fd()))
        .ok()?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    Some(names)
}

/// [`tmpcopyup_racing_a_shared_volume_cannot_copy_a_masked_directory`], looking at the tmpfs
/// without following the racer's symlink. That test lists `/proc/<pid>/root` + the mount point
/// while the racer still swaps `c` and `c-link` in the shared volume: when the name is the
/// symlink at that instant, the host follows its absolute target from the host's own root and
/// lists the host's /sys/firmware, whatever the container's tmpfs holds. Here the name is
/// opened with O_NOFOLLOW, so only the tmpfs itself is listed.
#[test]
fn tmpcopyup_racing_a_shared_volume_copies_only_the_directory_it_covers() {
    require_prerequisites();
    let _serial = serial();
    let firmware: Vec<String> = entries(Path::new("/sys/firmware"));
    assert!(
        !firmware.is_empty(),
        "this host's /sys/firmware is empty: the test proves nothing"
    );
    let shared = host_dir("ocirun-review-copysrc-");
    std::fs::create_dir(shared.path().join("c")).unwrap();
    std::fs::write(shared.path().join("c/own-file"), "volume\n").unwrap();
    symlink("/sys/firmware", shared.path().join("c-link")).unwrap();
    let mut b = Bundle::new(&["sleep", "1000"]);
    push_mount(&mut b, bind(shared.path(), "/a", &[]));
    push_mount(
        &mut b,
        json!({"destination": "/a/c", "type": "tmpfs", "source": "tmpfs", "options": ["tmpcopyup"]}),
    );
    b.write();
    let swapper = Exchanger::start(shared.path(), vec![("c".to_owned(), "c-link".to_owned())]);
    let start = Instant::now();
    let (mut created, mut looked, mut breach) = (0, 0, None);
    for _ in 0..RACE_TRIES {
        if start.elapsed() > RACE_TIME {
            break;
        }
        let Ok(ctr) = Created::new(&b, "rv-copysrc2") else {
            continue;
        };
        created += 1;
        for line in ctr.mountinfo().lines().filter(|l| l.contains(" - tmpfs ")) {
            let Some(point) = line.split(' ').nth(4).filter(|p| p.starts_with("/a/")) else {
                continue;
            };
            let Some(names) = entries_nofollow(&ctr.path("/a"), &point["/a/".len()..]) else {
                continue;
            };
            looked += 1;
            if names.iter().any(|n| firmware.contains(n)) {
                breach = Some(format!("{point}: {names:?}"));
            }
        }
        if breach.is_some() {
            break;
        }
    }
    let swaps = swapper.finish();
    assert!(swaps > 0, "the swapper never ran");
    if let Some(what) = breach {
        panic!("after {created} containers, a tmpfs holds a copy of /sys/firmware: {what}");
    }
    assert!(looked > 0, "no tmpfs was looked at: the race proves nothing");
}

// ---------------------------------------------------------------------------------------
// Attacks ocirun resisted (regression tests).
// ---------------------------------------------------------------------------------------

/// The host directory a symlink points to must stay as the test made it: only `marker`.
fn assert_untouched(host: &Path, what: &str) {
    assert_eq!(
        entries(host),
        ["marker"],
        "{what}: the runtime made something in {}",
        host.display()
    );
}

/// CVE-2021-30465 / CVE-2024-45310 raced through a shared volume: the other container swaps
/// `b` (a directory) with a symlink to an absolute host path while this container mounts a
/// tmpfs at /a/b/deeper (the runtime creates `deeper`). Every open resolves inside the rootfs
/// (RESOLVE_IN_ROOT) and every mount goes onto an fd: nothing may be created or mounted at the
/// host path, whatever the interleaving.
#[test]
fn racing_a_shared_volume_cannot_send_a_mount_or_a_mkdir_to_the_host() {
    require_prerequisites();
    let _serial = serial();
    let host_target = host_dir("ocirun-review-hosttarget-");
    std::fs::write(host_target.path().join("marker"), "host\n").unwrap();
    let shared = host_dir("ocirun-review-shared-");
    std::fs::create_dir(shared.path().join("b")).unwrap();
    symlink(host_target.path(), shared.path().join("b-link")).unwrap();
    let mut b = Bundle::new(&["sleep", "1000"]);
    push_mount(&mut b, bind(shared.path(), "/a", &[]));
    push_mount(
        &mut b,
        json!({"destination": "/a/b/deeper", "type": "tmpfs", "source": "tmpfs"}),
    );
    b.write();
    let host_mounts_before = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let swapper = Exchanger::start(shared.path(), vec![("b".to_owned(), "b-link".to_owned())]);
    let start = Instant::now();
    let mut created = 0;
    for _ in 0..100 {
        if start.elapsed() > Duration::from_secs(10) {
            break;
        }
        if let Ok(c) = Created::new(&b, "rv-hostrace") {
            created += 1;
            assert!(
                !c.mountinfo().contains(host_target.path().to_str().unwrap()),
                "a mount in the container names the host path"
            );
        }
        assert_untouched(host_target.path(), "racing b");
    }
    assert!(swapper.finish() > 0);
    assert!(created > 0, "no container was created: the race proves nothing");
    let target = host_target.path().to_str().unwrap();
    let host_mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert_eq!(
        host_mounts.lines().filter(|l| l.contains(target)).count(),
        host_mounts_before.lines().filter(|l| l.contains(target)).count(),
        "a mount appeared at the host path"
    );
}

/// CVE-2019-19921 raced through a shared volume: the other container swaps `b` with a symlink
/// to `/proc` while this one binds a host directory at /a/b. A bind whose target resolves onto
/// procfs is refused (the destination is not under /proc): no container may come up with the
/// host directory over its procfs.
#[test]
fn racing_a_shared_volume_cannot_put_a_volume_over_proc() {
    require_prerequisites();
    let _serial = serial();
    let shared = host_dir("ocirun-review-shared-");
    let fake = host_dir("ocirun-review-fakeproc-");
    let fake_name = fake.path().file_name().unwrap().to_str().unwrap().to_owned();
    std::fs::create_dir(shared.path().join("b")).unwrap();
    symlink("/proc", shared.path().join("b-link")).unwrap();
    let mut b = Bundle::new(&["sleep", "1000"]);
    push_mount(&mut b, bind(shared.path(), "/a", &[]));
    push_mount(&mut b, bind(fake.path(), "/a/b", &[]));
    b.write();
    let swapper = Exchanger::start(shared.path(), vec![("b".to_owned(), "b-link".to_owned())]);
    let start = Instant::now();
    let mut created = 0;
    for _ in 0..100 {
        if start.elapsed() > Duration::from_secs(10) {
            break;
        }
        let Ok(c) = Created::new(&b, "rv-procrace") else {
            continue;
        };
        created += 1;
        let info = c.mountinfo();
        let over_proc: Vec<&str> = mounts_of_dir(&info, &fake_name)
            .into_iter()
            .map(|(_, l)| l)
            .filter(|l| {
                l.split(' ')
                    .nth(4)
                    .is_some_and(|mp| mp == "/proc" || mp.starts_with("/proc/"))
            })
            .collect();
        assert!(
            over_proc.is_empty(),
            "a host directory covers procfs:\n{}",
            over_proc.join("\n")
        );
    }
    assert!(swapper.finish() > 0);
    assert!(created > 0, "no container was created: the race proves nothing");
}

/// Before pivot_root, `/proc/1/root` and `/proc/self/cwd` of the container's procfs lead to
/// the host's root: an image symlink through them as a mount destination (with directories to
/// create below it) must not reach the host. RESOLVE_NO_MAGICLINKS refuses them.
#[test]
fn image_symlinks_through_procfs_magic_links_cannot_reach_the_host() {
    require_prerequisites();
    let host_target = host_dir("ocirun-review-magic-");
    std::fs::write(host_target.path().join("marker"), "host\n").unwrap();
    let rel = host_target
        .path()
        .strip_prefix("/")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    for (i, link) in [
        format!("/proc/1/root/{rel}"),
        format!("/proc/self/root/{rel}"),
        "/proc/self/cwd".to_owned(),
    ]
    .into_iter()
    .enumerate()
    {
        let mut b = Bundle::new(&["true"]);
        symlink(&link, b.rootfs().join("data")).unwrap();
        push_mount(
            &mut b,
            json!({"destination": "/data/made/deeper", "type": "tmpfs", "source": "tmpfs"}),
        );
        let out = run(&b, &format!("rv-magic{i}"), &[]);
        assert_untouched(host_target.path(), &format!("data -> {link}: {}", shown(&out)));
        assert!(!out.status.success(), "data -> {link}: the container ran");
    }
}

/// A volume whose destination is an image symlink into sysfs or into procfs (below /sys or
/// /proc, not /proc itself) is refused: only the spec's own /sys and /proc mounts go there.
#[test]
fn volumes_through_image_symlinks_into_sysfs_or_procfs_are_refused() {
    require_prerequisites();
    let vol = host_dir("ocirun-review-pseudo-");
    for (i, link) in ["/sys/kernel", "/proc/sys/kernel", "/sys/fs/cgroup/..", "/proc/self"]
        .into_iter()
        .enumerate()
    {
        let mut b = Bundle::new(&["true"]);
        symlink(link, b.rootfs().join("data")).unwrap();
        push_mount(&mut b, bind(vol.path(), "/data", &[]));
        let out = run(&b, &format!("rv-pseudo{i}"), &[]);
        assert!(
            !out.status.success(),
            "data -> {link}: the container ran:\n{}",
            shown(&out)
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("procfs") && err.contains("/data"), "data -> {link}: {err}");
    }
}

/// tmpcopyup of a directory of the image holding symlinks to host paths (absolute, and
/// relative with enough `..` to leave the rootfs), a FIFO and a hard-to-open node: the copy
/// takes symlinks as symlinks and special files as nodes, follows and opens nothing, so the
/// container sees no host file and the run does not hang on the FIFO.
#[test]
fn tmpcopyup_of_image_symlinks_and_fifos_follows_and_opens_nothing() {
    require_prerequisites();
    let host_secret = host_dir("ocirun-review-copysecret-");
    std::fs::write(host_secret.path().join("secret"), "HOST-SECRET-9d2e\n").unwrap();
    let secret = host_secret.path().join("secret");
    let mut b = Bundle::new(&[
        "sh",
        "-c",
        "cat /data/abs /data/rel /data/sub/abs 2>/dev/null; \
         for f in abs rel sub sub/abs fifo; do stat -c '%n %F' /data/$f; done",
    ]);
    let data = b.rootfs().join("data");
    std::fs::create_dir_all(data.join("sub")).unwrap();
    symlink(&secret, data.join("abs")).unwrap();
    symlink(&secret, data.join("sub/abs")).unwrap();
    symlink(
        format!("{}{}", "../".repeat(40), secret.strip_prefix("/").unwrap().display()),
        data.join("rel"),
    )
    .unwrap();
    let fifo = std::ffi::CString::new(data.join("fifo").into_os_string().into_encoded_bytes()).unwrap();
    // SAFETY: `fifo` is a NUL-terminated path that outlives the call.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    push_mount(
        &mut b,
        json!({"destination": "/data", "type": "tmpfs", "source": "tmpfs", "options": ["tmpcopyup"]}),
    );
    let out = run(&b, "rv-copyimage", &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", shown(&out));
    assert!(
        !text.contains("HOST-SECRET"),
        "a host file was copied:\n{}",
        shown(&out)
    );
    for kept in [
        "/data/abs symbolic link",
        "/data/rel symbolic link",
        "/data/sub directory",
        "/data/sub/abs symbolic link",
        "/data/fifo fifo",
    ] {
        assert!(text.contains(kept), "{kept} is missing:\n{}", shown(&out));
    }
}

// ---------------------------------------------------------------------------------------
// Finding: a device node is made with mknodat, then chowned and chmodded by name, and
// fchmodat follows symlinks: where the runtime's /dev is a host directory another container
// shares (a volume that an image symlink stacks over /dev, see above), a node swapped for a
// symlink in between makes the runtime chmod any host file, resolved from the host's root.
// ---------------------------------------------------------------------------------------

/// [`racing_runtime_device_nodes_in_a_shared_directory_cannot_chmod_a_host_file`] where the
/// runtime makes the nodes in the shared directory because the config says so: devices of
/// `linux.devices` at /a/*, with /a a volume another container shares (once the runtime makes
/// its /dev entries only in its own /dev, the image-symlink setting of that test gives the
/// racer no node to see). One of the nodes has a uid and gid to set after mknod. The other
/// container renames a symlink to a host file over each node as soon as it appears; the host
/// file's mode and owner must not change.
#[test]
fn racing_config_device_nodes_in_a_shared_volume_cannot_chmod_or_chown_a_host_file() {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    require_prerequisites();
    let _serial = serial();
    let host_file_dir = host_dir("ocirun-review-chmodtarget-");
    let target = host_file_dir.path().join("shadow");
    std::fs::write(&target, "root:secret\n").unwrap();
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).unwrap();
    let state = || {
        let m = std::fs::metadata(&target).unwrap();
        (m.permissions().mode() & 0o7777, m.uid(), m.gid())
    };
    let before = state();
    let vol = host_dir("ocirun-review-devshared-");
    const NODES: [&str; 4] = ["null", "zero", "full", "owned"];
    let mut b = Bundle::new(&["true"]);
    push_mount(&mut b, bind(vol.path(), "/a", &[]));
    b.spec["linux"]["devices"] = json!([
        {"path": "/a/null", "type": "c", "major": 1, "minor": 3, "fileMode": 438, "uid": 0, "gid": 0},
        {"path": "/a/zero", "type": "c", "major": 1, "minor": 5, "fileMode": 438, "uid": 0, "gid": 0},
        {"path": "/a/full", "type": "c", "major": 1, "minor": 7, "fileMode": 438, "uid": 0, "gid": 0},
        {"path": "/a/owned", "type": "c", "major": 1, "minor": 3, "fileMode": 438, "uid": 4321, "gid": 4321},
    ]);
    b.write();

    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let dir = std::fs::File::open(vol.path()).unwrap();
    let link_target = std::ffi::CString::new(target.to_str().unwrap()).unwrap();
    let racer = std::thread::spawn(move || {
        let fd = dir.as_raw_fd();
        let names: Vec<(std::ffi::CString, std::ffi::CString)> = NODES
            .iter()
            .map(|n| {
                (
                    std::ffi::CString::new(*n).unwrap(),
                    std::ffi::CString::new(format!("evil-{n}")).unwrap(),
                )
            })
            .collect();
        let mut swaps = 0u64;
        while !flag.load(Ordering::Relaxed) {
            for (name, evil) in &names {
                let mut st = std::mem::MaybeUninit::<libc::stat>::zeroed();
                // SAFETY: `name` is NUL-terminated, `st` a writable struct stat, `fd` open.
                let ret = unsafe { libc::fstatat(fd, name.as_ptr(), st.as_mut_ptr(), libc::AT_SYMLINK_NOFOLLOW) };
                // SAFETY: fstatat succeeded, so it filled `st`.
                if ret != 0 || unsafe { st.assume_init() }.st_mode & libc::S_IFMT != libc::S_IFCHR {
                    continue;
                }
                // SAFETY: NUL-terminated strings that outlive the calls; `fd` is open.
                unsafe {
                    libc::symlinkat(link_target.as_ptr(), fd, evil.as_ptr());
                    if libc::renameat(fd, evil.as_ptr(), fd, name.as_ptr()) == 0 {
                        swaps += 1;
                    }
                }
            }
        }
        drop(dir);
        swaps
    });

    let start = Instant::now();
    let (mut tries, mut breach) = (0, None);
    while tries < RACE_TRIES && start.elapsed() < RACE_TIME {
        tries += 1;
        for e in std::fs::read_dir(vol.path()).unwrap().flatten() {
            let _ = std::fs::remove_file(e.path());
        }
        let _ = Created::new(&b, "rv-chmod-cfg");
        if state() != before {
            breach = Some(state());
            std::os::unix::fs::chown(&target, Some(before.1), Some(before.2)).unwrap();
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(before.0)).unwrap();
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let swaps = racer.join().unwrap();
    if let Some(s) = breach {
        panic!("after {tries} containers, the runtime changed the host file to {s:?} from {before:?} ({swaps} swaps)");
    }
    assert!(swaps > 0, "the racer never saw a node: the race proves nothing");
}
