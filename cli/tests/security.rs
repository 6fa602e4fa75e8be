//! Attacks from runc's, crun's and youki's advisories that the other `security_*` files do not
//! cover, each against the real `ocirun` binary, each checked on the host. SECURITY.md lists
//! every class and the test that tries it.

mod common;

use std::path::Path;
use std::process::{Output, Stdio};

use common::{Guard, ocirun, run_detached, run_err, run_ok};
use serde_json::json;
use test_support::{Bundle, require_prerequisites, unique_id};

/// `ocirun run` of the bundle in the foreground; returns its output (stdout, stderr, status).
fn run(b: &Bundle, prefix: &str) -> Output {
    b.write();
    let root = b.state_root();
    let id = unique_id(prefix);
    let _g = Guard(root.clone(), id.clone());
    ocirun(&root)
        .args(["run", "--bundle"])
        .arg(b.path())
        .arg(&id)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// A running container that sleeps; returns it, its id and its guard.
fn sleeper(prefix: &str) -> (Bundle, String, Guard) {
    require_prerequisites();
    let b = Bundle::new(&["sleep", "1000"]);
    b.write();
    let id = unique_id(prefix);
    let g = Guard(b.state_root(), id.clone());
    run_detached(
        ocirun(&b.state_root())
            .args(["run", "--detach", "--bundle"])
            .arg(b.path())
            .arg(&id),
    );
    (b, id, g)
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

/// CVE-2024-45310 (runc created empty files and directories on the host through a symlinked
/// mount target) and the mount-target half of CVE-2021-30465 / CVE-2019-19921: an image whose
/// mount points are symlinks out of the rootfs, absolute and relative, must get its mounts and
/// the directories and files made for them inside the rootfs, and the host path they name must
/// stay untouched.
#[test]
fn cve_2024_45310_symlinked_mount_targets_make_nothing_on_the_host() {
    require_prerequisites();
    let host = host_dir("ocirun-sec-host-");
    let host_path = host.path().to_str().unwrap().to_string();
    let mut b = Bundle::new(&[
        "sh",
        "-c",
        &format!("test -d {host_path}/tmpfs/deeper && test -f {host_path}/file && echo INSIDE"),
    ]);
    let rootfs = b.rootfs();
    // The symlinks' target exists inside the rootfs too, but without the entries the mounts
    // need: the runtime must make them there.
    std::fs::create_dir_all(rootfs.join(host_path.trim_start_matches('/'))).unwrap();
    std::os::unix::fs::symlink(&host_path, rootfs.join("abs")).unwrap();
    let up = "../".repeat(32);
    std::os::unix::fs::symlink(format!("{up}{}", host_path.trim_start_matches('/')), rootfs.join("rel")).unwrap();
    let source = host_dir("ocirun-sec-src-");
    std::fs::write(source.path().join("data"), "x").unwrap();
    b.spec["mounts"].as_array_mut().unwrap().extend([
        json!({"destination": "/abs/tmpfs/deeper", "type": "tmpfs", "source": "tmpfs"}),
        json!({"destination": "/rel/file", "type": "bind", "source": source.path().join("data"), "options": ["bind"]}),
    ]);
    let out = run(&b, "sec45310");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("INSIDE"),
        "the mounts belong inside the rootfs: {text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        entries(host.path()).is_empty(),
        "made on the host: {:?}",
        entries(host.path())
    );
    // They were made in the rootfs, at the symlink's target taken inside it.
    assert!(
        rootfs
            .join(host_path.trim_start_matches('/'))
            .join("tmpfs/deeper")
            .is_dir()
    );
}

/// CVE-2022-29162 / crun's CVE-2022-27650: `exec --cap` gave the process non-empty inheritable
/// capabilities (and so ambient ones that survive exec of any binary). As runc since 1.1.2, the
/// capability goes into bounding, effective and permitted only; ambient only when the process
/// already has an inheritable set.
#[test]
fn cve_2022_29162_exec_cap_leaves_inheritable_and_ambient_empty() {
    let (b, id, _g) = sleeper("sec29162");
    let out = run_ok(
        ocirun(&b.state_root())
            .args(["exec", "--cap", "CAP_NET_ADMIN", &id])
            .args(["grep", "^Cap", "/proc/self/status"])
            .stdin(Stdio::null()),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |name: &str| {
        let line = text
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name} in {text}"));
        u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap()
    };
    const NET_ADMIN: u64 = 1 << 12;
    assert_eq!(field("CapInh:"), 0, "{text}");
    assert_eq!(field("CapAmb:"), 0, "{text}");
    assert_ne!(field("CapEff:") & NET_ADMIN, 0, "--cap is granted: {text}");
}

/// CVE-2016-3697: a numeric `--user` is a uid, never the name of an image's passwd entry (an
/// image can name a uid-0 user "1000").
#[test]
fn cve_2016_3697_numeric_user_is_a_uid_not_a_name() {
    let (b, id, _g) = sleeper("sec3697");
    std::fs::write(
        b.rootfs().join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\n1000:x:0:0:evil:/:/bin/sh\n",
    )
    .unwrap();
    let out = run_ok(
        ocirun(&b.state_root())
            .args(["exec", "--user", "1000", &id, "id", "-u"])
            .stdin(Stdio::null()),
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1000");
}

/// A sysctl that no namespace of the container owns would change the host (here the host's
/// `core_pattern`, a path to root code execution): refused, naming the field, as runc refuses
/// it, and the host's value is unchanged.
#[test]
fn sysctl_outside_the_containers_namespaces_is_refused_and_the_host_unchanged() {
    require_prerequisites();
    let before = std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap();
    let mut b = Bundle::new(&["true"]);
    b.spec["linux"]["sysctl"] = json!({"kernel.core_pattern": "|/bin/false"});
    b.write();
    let root = b.state_root();
    let id = unique_id("secsysctl");
    let _g = Guard(root.clone(), id.clone());
    let err = run_err(ocirun(&root).args(["run", "--bundle"]).arg(b.path()).arg(&id));
    assert!(
        err.contains("linux.sysctl") && err.contains("kernel.core_pattern"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap(),
        before
    );
}

/// The device cgroup holds even with CAP_MKNOD: a node of the host's disk made in the
/// container's writable `/dev` cannot be opened (runc's default rules allow mknod, not access).
#[test]
fn a_node_of_the_host_disk_cannot_be_opened_with_cap_mknod() {
    require_prerequisites();
    let disk = std::fs::read_dir("/sys/block")
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            !name.starts_with("loop") && !name.starts_with("ram") && !name.starts_with("zram")
        })
        .expect("a block device in /sys/block");
    let dev = std::fs::read_to_string(disk.join("dev")).unwrap();
    let (major, minor) = dev.trim().split_once(':').unwrap();
    let mut b = Bundle::new(&[
        "sh",
        "-c",
        &format!(
            "mknod /dev/hostdisk b {major} {minor} && echo MADE; head -c 512 /dev/hostdisk >/dev/null && echo READ"
        ),
    ]);
    for set in ["bounding", "effective", "permitted"] {
        b.spec["process"]["capabilities"][set]
            .as_array_mut()
            .unwrap()
            .push(json!("CAP_MKNOD"));
    }
    let out = run(&b, "secdisk");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("MADE"), "mknod is allowed, as in runc: {text}");
    assert!(
        !text.contains("READ"),
        "the host's disk {} was read: {text}",
        disk.display()
    );
}

/// The container's cgroupfs is read-only: a process in it cannot raise its own limits, move
/// itself out of its cgroup, or set a v1 hierarchy's `release_agent` (code run by the host's
/// kernel as root).
#[test]
fn the_containers_cgroupfs_cannot_be_written() {
    require_prerequisites();
    let b = Bundle::new(&[
        "sh",
        "-c",
        "for f in /sys/fs/cgroup/*/cgroup.procs /sys/fs/cgroup/*/tasks /sys/fs/cgroup/*/release_agent \
         /sys/fs/cgroup/*/notify_on_release /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/memory/memory.limit_in_bytes; do \
         [ -e \"$f\" ] && echo CHECKED && (echo 0 > \"$f\") 2>/dev/null && echo \"WROTE $f\"; done; true",
    ]);
    let out = run(&b, "seccgfs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("CHECKED"), "the cgroup files are there to try: {text}");
    assert!(!text.contains("WROTE"), "{text}");
}

/// The default masks and read-only paths hold from inside: `/proc/timer_list` reads empty, the
/// host-global knobs under `/proc/sys` and `/proc/sysrq-trigger` cannot be written, and the
/// host's `core_pattern` is unchanged.
#[test]
fn default_masks_and_read_only_paths_hold_from_inside() {
    require_prerequisites();
    let before = std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap();
    let b = Bundle::new(&[
        "sh",
        "-c",
        "echo timer_list=$(wc -c < /proc/timer_list); (echo '|/bin/false' > /proc/sys/kernel/core_pattern) 2>/dev/null && echo WROTE-CORE; \
         (echo h > /proc/sysrq-trigger) 2>/dev/null && echo WROTE-SYSRQ; true",
    ]);
    let out = run(&b, "secmask");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("timer_list=0"),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.contains("WROTE"), "{text}");
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap(),
        before
    );
}

/// crun's CVE-2026-30892: `exec --user 1` ran as uid 0 and gid 0. A bare uid is that uid, with
/// the gid of its passwd entry (or 0 when it has none), never root.
#[test]
fn crun_cve_2026_30892_exec_user_1_is_uid_1() {
    let (b, id, _g) = sleeper("sec30892");
    std::fs::write(
        b.rootfs().join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/:/bin/sh\n",
    )
    .unwrap();
    let out = run_ok(
        ocirun(&b.state_root())
            .args(["exec", "--user", "1", &id, "sh", "-c", "echo $(id -u):$(id -g)"])
            .stdin(Stdio::null()),
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1:1");
}

/// The keyring probe (busybox has no keyctl).
fn keyring_probe() -> std::path::PathBuf {
    common::static_probe("keyring")
}

/// A container does not share its caller's session keyring (runc joins a new one per container
/// and per exec unless `--no-new-keyring`): a secret the caller keeps there is not the
/// container's to read. With `--no-new-keyring` it is, which shows the probe can tell.
#[test]
fn the_callers_session_keyring_is_not_the_containers() {
    require_prerequisites();
    let name = std::ffi::CString::new(format!("ocirun-sec-{}", std::process::id())).unwrap();
    let secret = b"host-secret";
    // SAFETY: add_key with NUL-terminated type and description and a payload of the given length.
    let serial = unsafe {
        libc::syscall(
            libc::SYS_add_key,
            c"user".as_ptr(),
            name.as_ptr(),
            secret.as_ptr(),
            secret.len(),
            libc::KEY_SPEC_SESSION_KEYRING,
        )
    };
    assert!(serial > 0, "add_key: {}", std::io::Error::last_os_error());
    struct Invalidate(libc::c_long);
    impl Drop for Invalidate {
        fn drop(&mut self) {
            // SAFETY: KEYCTL_INVALIDATE of the key this test added.
            unsafe { libc::syscall(libc::SYS_keyctl, libc::KEYCTL_INVALIDATE, self.0) };
        }
    }
    let _key = Invalidate(serial);
    let serial = serial.to_string();
    // The test's own session keyring holds it: the probe reads it outside a container.
    let host = std::process::Command::new(keyring_probe())
        .arg(&serial)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&host.stdout).contains("READ host-secret"),
        "{host:?}"
    );

    let mut b = Bundle::new(&["sleep", "1000"]);
    std::fs::copy(keyring_probe(), b.rootfs().join("bin/keyprobe")).unwrap();
    let root = b.state_root();
    let probe_in = |b: &mut Bundle, no_new_keyring: bool| {
        b.spec["process"]["args"] = json!(["/bin/keyprobe", &serial]);
        b.write();
        let id = unique_id("seckeys");
        let _g = Guard(root.clone(), id.clone());
        let mut cmd = ocirun(&root);
        cmd.arg("run");
        if no_new_keyring {
            cmd.arg("--no-new-keyring");
        }
        let out = cmd
            .arg("--bundle")
            .arg(b.path())
            .arg(&id)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let text = probe_in(&mut b, false);
    assert!(text.contains("SESSION") && !text.contains("READ"), "run: {text}");
    let text = probe_in(&mut b, true);
    assert!(text.contains("READ host-secret"), "run --no-new-keyring: {text}");

    // An exec'd process gets a keyring of its own too.
    b.spec["process"]["args"] = json!(["sleep", "1000"]);
    b.write();
    let id = unique_id("seckeysx");
    let _g = Guard(root.clone(), id.clone());
    run_detached(
        ocirun(&root)
            .args(["run", "--detach", "--bundle"])
            .arg(b.path())
            .arg(&id),
    );
    let out = run_ok(
        ocirun(&root)
            .args(["exec", &id, "/bin/keyprobe", &serial])
            .stdin(Stdio::null()),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("SESSION") && !text.contains("READ"), "exec: {text}");
}
