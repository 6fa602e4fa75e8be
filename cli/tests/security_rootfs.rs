//! Attacks on the container's filesystem setup through the real `ocirun` binary (issue 14,
//! classes 2, 4, 7 and 9): a malicious image (symlinks where the runtime creates or binds
//! something), a malicious config (mounts on or under /proc), and a process in a `--no-pivot`
//! container that looks for the host's procfs. Each test performs the attack and checks, on
//! the host or from inside, that it failed.

mod common;

use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Output;

use common::{Guard, ocirun, run_status, state};
use serde_json::json;
use test_support::{Bundle, require_prerequisites, unique_id};

/// Runs the bundle with `ocirun run` (with `extra` flags of `run`) and returns its output.
fn run(b: &Bundle, id: &str, extra: &[&str]) -> Output {
    b.write();
    let _g = Guard(b.state_root(), id.to_owned());
    ocirun(&b.state_root())
        .args(["run", "--bundle"])
        .arg(b.path())
        .args(extra)
        .arg(id)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

/// The stdout of a run that must succeed.
fn run_ok_stdout(b: &Bundle, id: &str, extra: &[&str]) -> String {
    let out = run(b, id, extra);
    assert!(
        out.status.success(),
        "run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The stderr of a run that must fail; the stdout it printed goes in the message when it did not.
fn run_refused(b: &Bundle, id: &str, what: &str) -> String {
    let out = run(b, id, &[]);
    assert!(
        !out.status.success(),
        "{what}: the container ran; it printed:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `ocirun create`; on success the container's init's mountinfo as the host reads it (the
/// container is deleted when the test ends), on failure the stderr.
fn create_mountinfo(b: &Bundle, id: &str, guard: &mut Option<Guard>) -> Result<String, String> {
    b.write();
    *guard = Some(Guard(b.state_root(), id.to_owned()));
    let (ok, err) = run_status(
        ocirun(&b.state_root())
            .args(["create", "--bundle"])
            .arg(b.path())
            .arg(id),
    );
    if !ok {
        return Err(err);
    }
    let pid = state(&b.state_root(), id)["pid"].as_i64().unwrap();
    Ok(std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap())
}

/// The mountinfo lines whose mount point (field 5) ends with `suffix`.
fn mounts_ending_with<'a>(mountinfo: &'a str, suffix: &str) -> Vec<&'a str> {
    mountinfo
        .lines()
        .filter(|l| l.split(' ').nth(4).is_some_and(|mp| mp.ends_with(suffix)))
        .collect()
}

/// Removes the spec mounts at `/dev` and below: the image's own `dev` directory is used.
fn drop_dev_mounts(b: &mut Bundle) {
    let mounts = b.spec["mounts"].as_array_mut().unwrap();
    mounts.retain(|m| {
        let d = m["destination"].as_str().unwrap_or_default();
        d != "/dev" && !d.starts_with("/dev/")
    });
}

/// Removes the spec mount at `/dev` only (its sub-mounts stay).
fn drop_dev_tmpfs(b: &mut Bundle) {
    let mounts = b.spec["mounts"].as_array_mut().unwrap();
    mounts.retain(|m| m["destination"] != "/dev");
}

/// Appends a bind mount.
fn push_bind(b: &mut Bundle, source: &Path, destination: &str) {
    let m = json!({"destination": destination, "type": "bind", "source": source, "options": ["rbind"]});
    b.spec["mounts"].as_array_mut().unwrap().push(m);
}

/// The host's `core_pattern`, which a container must never reach.
fn host_core_pattern() -> Vec<u8> {
    std::fs::read("/proc/sys/kernel/core_pattern").unwrap()
}

// ---------------------------------------------------------------------------------------
// Class 2: masks bound from an image-controlled /dev/null (CVE-2025-31133).
// ---------------------------------------------------------------------------------------

/// With /dev the image's own directory (a bind: the runtime makes no device nodes there, as
/// runc) and the image's `dev/null` a symlink to the container's `core_pattern`, binding
/// "/dev/null" by path over each masked file bound the procfs file instead: writable, and
/// not namespaced. The masks must be the runtime's own null device.
#[test]
fn cve_2025_31133_masks_bind_a_verified_null_device_not_the_images_dev_null() {
    require_prerequisites();
    // Those of runc's default masked files this kernel has.
    let masked: Vec<&str> = ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug"]
        .into_iter()
        .filter(|p| Path::new(p).exists())
        .collect();
    assert!(!masked.is_empty(), "none of runc's masked files exists here");
    let script = format!(
        "for p in {0}; do stat -c \"$p %F %t:%T\" $p; done; echo bytes $(cat {0} | wc -c)",
        masked.join(" ")
    );
    let mut b = Bundle::new(&["sh", "-c", &script]);
    drop_dev_mounts(&mut b);
    let dev = b.rootfs().join("dev");
    push_bind(&mut b, &dev, "/dev");
    symlink("/proc/sys/kernel/core_pattern", dev.join("null")).unwrap();
    let before = host_core_pattern();
    let out = run_ok_stdout(&b, &unique_id("sec-mask"), &[]);
    for p in masked {
        assert!(
            out.contains(&format!("{p} character special file 1:3\n")),
            "{p} is not masked by the null device:\n{out}"
        );
    }
    assert!(out.contains("bytes 0\n"), "a masked file reads as something:\n{out}");
    assert_eq!(host_core_pattern(), before, "the host's core_pattern changed");
}

// ---------------------------------------------------------------------------------------
// Class 4: non-procfs mounts on or under /proc (CVE-2019-16884, CVE-2023-27561).
// ---------------------------------------------------------------------------------------

/// A host directory with a marker file, for binds.
fn host_dir_with_marker() -> tempfile::TempDir {
    let d = tempfile::Builder::new().prefix("ocirun-test-src-").tempdir().unwrap();
    std::fs::write(d.path().join("fake"), "FAKE-PROC\n").unwrap();
    d
}

/// A bind of a host directory onto /proc replaces the procfs the LSM labels and every
/// procfs write of the runtime go through (CVE-2019-16884): refused, naming the mount.
#[test]
fn cve_2019_16884_bind_of_a_host_directory_onto_proc_is_refused() {
    require_prerequisites();
    let src = host_dir_with_marker();
    let mut b = Bundle::new(&["cat", "/proc/fake"]);
    b.spec["mounts"][0] = json!({"destination": "/proc", "type": "bind", "source": src.path(), "options": ["rbind"]});
    let err = run_refused(&b, &unique_id("sec-procbind"), "a host directory was bound onto /proc");
    assert!(err.contains("mounts[0]") && err.contains("/proc"), "{err}");
}

/// Under /proc only runc's lxcfs files may be mounted: a bind over core_pattern is refused.
#[test]
fn cve_2019_16884_bind_onto_proc_sys_kernel_core_pattern_is_refused() {
    require_prerequisites();
    let src = host_dir_with_marker();
    let mut b = Bundle::new(&["cat", "/proc/sys/kernel/core_pattern"]);
    push_bind(&mut b, &src.path().join("fake"), "/proc/sys/kernel/core_pattern");
    let n = b.spec["mounts"].as_array().unwrap().len() - 1;
    let err = run_refused(&b, &unique_id("sec-corepat"), "a file was bound over core_pattern");
    assert!(
        err.contains(&format!("mounts[{n}]")) && err.contains("/proc/sys/kernel/core_pattern"),
        "{err}"
    );
}

/// The destination `/myproc` is not under /proc for a check on the spec's path, but the
/// image's `myproc` is a symlink to /proc: resolved inside the rootfs, the bind would cover
/// the container's procfs with a host directory (CVE-2023-27561's class). The runtime looks
/// at the filesystem the resolved target is on.
#[test]
fn cve_2023_27561_image_symlink_into_proc_as_a_bind_destination_is_refused() {
    require_prerequisites();
    let src = host_dir_with_marker();
    let mut b = Bundle::new(&["cat", "/proc/fake"]);
    symlink("/proc", b.rootfs().join("myproc")).unwrap();
    push_bind(&mut b, src.path(), "/myproc");
    let n = b.spec["mounts"].as_array().unwrap().len() - 1;
    let err = run_refused(
        &b,
        &unique_id("sec-myproc"),
        "a host directory was bound over the container's /proc",
    );
    assert!(
        err.contains(&format!("mounts[{n}]")) && err.contains("/myproc"),
        "{err}"
    );
    assert!(err.contains("procfs"), "{err}");
}

/// lxcfs binds its files over /proc/meminfo and friends; runc allows those, and so do we.
#[test]
fn lxcfs_style_bind_of_a_host_file_onto_proc_meminfo_still_works() {
    require_prerequisites();
    let src = tempfile::Builder::new().prefix("ocirun-test-src-").tempdir().unwrap();
    std::fs::write(src.path().join("meminfo"), "MemTotal:        1234 kB\n").unwrap();
    let mut b = Bundle::new(&["cat", "/proc/meminfo"]);
    push_bind(&mut b, &src.path().join("meminfo"), "/proc/meminfo");
    let out = run_ok_stdout(&b, &unique_id("sec-lxcfs"), &[]);
    assert_eq!(out, "MemTotal:        1234 kB\n");
}

// ---------------------------------------------------------------------------------------
// Class 7: runtime-created /dev entries through image symlinks (CVE-2025-52565,
// runc CVE-2026-41579, crun CVE-2026-47766).
// ---------------------------------------------------------------------------------------

/// Without a /dev tmpfs, the image's `dev/pts` is a symlink to /proc/sys: the devpts mount
/// must not follow it onto the container's procfs.
#[test]
fn cve_2025_52565_dev_pts_mount_does_not_follow_an_image_symlink_onto_procfs() {
    require_prerequisites();
    let mut b = Bundle::new(&["sleep", "10"]);
    drop_dev_tmpfs(&mut b);
    symlink("/proc/sys", b.rootfs().join("dev/pts")).unwrap();
    let mut guard = None;
    match create_mountinfo(&b, &unique_id("sec-devpts"), &mut guard) {
        Ok(info) => {
            let over = mounts_ending_with(&info, "/proc/sys");
            assert!(
                over.iter().all(|l| !l.contains(" - devpts ")),
                "devpts was mounted over the container's /proc/sys:\n{}",
                over.join("\n")
            );
            panic!(
                "create succeeded with an image dev/pts symlink; mounts at /proc/sys:\n{}",
                over.join("\n")
            );
        }
        Err(err) => assert!(err.contains("/dev/pts") && err.contains("symbolic links"), "{err}"),
    }
}

/// In a user namespace the device nodes are binds of the host's; without a /dev tmpfs the
/// image's `dev/null` is a symlink to core_pattern: the bind must not follow it onto procfs.
#[test]
fn cve_2025_52565_device_node_bind_does_not_follow_an_image_symlink_onto_procfs() {
    require_prerequisites();
    let mut b = Bundle::new(&["sleep", "10"]);
    b.spec["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "user"}));
    // sysfs and cgroup mounts need more than a user namespace gives: /proc is enough here.
    b.spec["mounts"] = json!([{"destination": "/proc", "type": "proc", "source": "proc"}]);
    symlink("/proc/sys/kernel/core_pattern", b.rootfs().join("dev/null")).unwrap();
    b.map_ids_to(100000);
    let mut guard = None;
    match create_mountinfo(&b, &unique_id("sec-devnull"), &mut guard) {
        Ok(info) => {
            let over = mounts_ending_with(&info, "/proc/sys/kernel/core_pattern");
            assert!(
                over.is_empty(),
                "a device was bound over core_pattern:\n{}",
                over.join("\n")
            );
            panic!("create succeeded with an image dev/null symlink");
        }
        Err(err) => assert!(err.contains("/dev/null") && err.contains("symbolic links"), "{err}"),
    }
}

/// The image's `dev` is a symlink to /data, a bind of a host directory whose files the
/// container's user could not change. Resolved inside the rootfs the runtime's device nodes,
/// default symlinks, ptmx and /dev sub-mounts would all land in that host directory (and its
/// `ptmx` be removed): none of them may follow the image's symlink.
#[test]
fn cve_2026_41579_runtime_dev_entries_do_not_follow_an_image_dev_symlink_into_a_host_directory() {
    require_prerequisites();
    let host = tempfile::Builder::new().prefix("ocirun-test-data-").tempdir().unwrap();
    std::fs::write(host.path().join("ptmx"), "host file\n").unwrap();
    let mut b = Bundle::new(&["sleep", "10"]);
    drop_dev_tmpfs(&mut b);
    std::fs::remove_dir(b.rootfs().join("dev")).unwrap();
    symlink("/data", b.rootfs().join("dev")).unwrap();
    // Before the /dev sub-mounts, so that they resolve through it.
    let data = json!({"destination": "/data", "type": "bind", "source": host.path(), "options": ["rbind"]});
    b.spec["mounts"].as_array_mut().unwrap().insert(1, data);
    let mut guard = None;
    let result = create_mountinfo(&b, &unique_id("sec-devlink"), &mut guard);
    let mut entries: Vec<String> = std::fs::read_dir(host.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    entries.sort();
    assert_eq!(entries, ["ptmx"], "the runtime created entries in the host directory");
    assert_eq!(
        std::fs::read_to_string(host.path().join("ptmx")).unwrap(),
        "host file\n"
    );
    let err = result.expect_err("create succeeded with an image /dev symlink");
    assert!(err.contains("/dev") && err.contains("symbolic links"), "{err}");
}

/// With `process.terminal` and no /dev mount in the config, the image's `data` is a symlink to
/// /dev and a volume (a host directory another container shares, holding `pts`, `shm` and
/// `mqueue` from an earlier run) is mounted at /data before the /dev sub-mounts: it stacks over
/// the container's /dev, and devpts goes on its `pts`. The runtime makes no device node there
/// (that /dev is not on the rootfs's own mount), but the console was looked up through the path
/// /dev after the root switch: an empty `console` file was created in the host directory before
/// the pty was bound onto it. The console goes only in the /dev the plan made its entries in.
#[test]
fn cve_2025_52565_console_is_not_created_in_a_volume_an_image_symlink_stacks_over_dev() {
    require_prerequisites();
    let vol = tempfile::Builder::new()
        .prefix("ocirun-test-devvol-")
        .tempdir()
        .unwrap();
    for dir in ["mqueue", "pts", "shm"] {
        std::fs::create_dir(vol.path().join(dir)).unwrap();
    }
    let mut b = Bundle::new(&["true"]);
    b.spec["process"]["terminal"] = json!(true);
    drop_dev_tmpfs(&mut b);
    symlink("/dev", b.rootfs().join("data")).unwrap();
    let data = json!({"destination": "/data", "type": "bind", "source": vol.path(), "options": ["rbind"]});
    b.spec["mounts"].as_array_mut().unwrap().insert(1, data);
    b.write();
    let root = b.state_root();
    let id = unique_id("sec-consolevol");
    let _g = Guard(root.clone(), id.clone());
    let console = test_support::ConsoleSocket::new();
    let (created, err) = run_status(
        ocirun(&root)
            .args(["create", "--console-socket"])
            .arg(console.path())
            .arg("--bundle")
            .arg(b.path())
            .arg(&id),
    );
    let _master = created.then(|| console.accept_master());
    let mut entries: Vec<String> = std::fs::read_dir(vol.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    entries.sort();
    assert_eq!(
        entries,
        ["mqueue", "pts", "shm"],
        "the runtime created entries in the host directory stacked over /dev (create {}: {err})",
        if created { "succeeded" } else { "failed" }
    );
}

// ---------------------------------------------------------------------------------------
// Class 9: a fully visible host procfs under --no-pivot.
// ---------------------------------------------------------------------------------------

/// Whether the host's own /proc and /sys are mounted (the no-pivot detach must never reach them).
fn host_proc_and_sys_mounted() -> bool {
    let info = std::fs::read_to_string("/proc/1/mountinfo").unwrap();
    let has = |mp: &str, fs: &str| {
        info.lines()
            .any(|l| l.split(' ').nth(4) == Some(mp) && l.contains(&format!(" - {fs} ")))
    };
    has("/proc", "proc") && has("/sys", "sysfs")
}

/// With `--no-pivot` the host's mounts stayed in the container's mount namespace below the
/// chroot, so the kernel found a fully visible procfs there and let a process in new user,
/// mount, pid and network namespaces mount a fresh, unmasked procfs and sysfs (from which
/// /proc/sysrq-trigger is writable). runc refuses those mounts (`mount: permission denied`).
/// The container's root has Docker's default capabilities (no CAP_SYS_ADMIN; CAP_SETFCAP,
/// which mapping uid 0 into a new user namespace takes). The test only mounts; it writes
/// nothing.
#[test]
fn no_pivot_leaves_no_host_procfs_or_sysfs_for_a_nested_user_namespace_to_mount() {
    require_prerequisites();
    assert!(host_proc_and_sys_mounted());
    let inner = "echo IN-NAMESPACES; mount -t proc proc /tmp && echo PROC-MOUNTED; \
                 mount -t sysfs sysfs /root && echo SYSFS-MOUNTED; true";
    let mut b = Bundle::new(&["unshare", "-m", "-r", "-p", "-n", "-f", "sh", "-c", inner]);
    b.docker_caps(&[]);
    let out = run_ok_stdout(&b, &unique_id("sec-nopivot"), &["--no-pivot"]);
    assert!(
        out.contains("IN-NAMESPACES"),
        "unshare failed, so the test proves nothing:\n{out}"
    );
    assert!(!out.contains("PROC-MOUNTED"), "a fresh procfs was mounted:\n{out}");
    assert!(!out.contains("SYSFS-MOUNTED"), "a fresh sysfs was mounted:\n{out}");
    assert!(host_proc_and_sys_mounted(), "the host lost its /proc or /sys");
}

/// Runs the host's `mount` (util-linux) with `args`, asserting it succeeded.
fn host_mount(args: &[&str], path: &Path) {
    let ok = std::process::Command::new("mount")
        .args(args)
        .arg(path)
        .status()
        .unwrap();
    assert!(ok.success(), "mount {args:?} {}", path.display());
}

/// Lazily unmounts a host mount point when the test ends.
struct Unmount(std::path::PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Whether `path` is a mount point in this process's mount table.
fn is_mount_point(path: &Path) -> bool {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let path = path.to_str().unwrap();
    info.lines().any(|l| l.split(' ').nth(4) == Some(path))
}

/// A container with CAP_SYS_ADMIN and no cgroup namespace of its own mounts over files of
/// its cgroup binds (`/sys/fs/cgroup`, `/sys/fs/cgroup/<controller>`). On a host whose cgroup
/// mounts are shared (systemd makes them so), those binds were clones the runtime made with
/// open_tree in the host's mount namespace, peers of the host's cgroup mounts: the mounts
/// propagated into the host's cgroupfs, over the container's own `cgroup.procs` there (found
/// by review, 2026-12-08). The host here is a private mount namespace whose cgroup mounts are
/// made shared; after the run none of its mounts may be on a `cgroup.procs`.
#[test]
fn cgroup_binds_never_carry_a_containers_mounts_into_the_hosts_cgroupfs() {
    require_prerequisites();
    let id = unique_id("sec-cgroup-peer");
    let attack = "for d in /sys/fs/cgroup /sys/fs/cgroup/*; do \
                  [ -f $d/cgroup.procs ] && mount --bind /evil $d/cgroup.procs && echo MOUNTED $d; done; true";
    let mut b = Bundle::new(&["sh", "-c", attack]);
    b.spec["linux"]["namespaces"] =
        json!([{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}]);
    for set in ["bounding", "effective", "permitted"] {
        b.spec["process"]["capabilities"][set]
            .as_array_mut()
            .unwrap()
            .push(json!("CAP_SYS_ADMIN"));
    }
    std::fs::write(b.rootfs().join("evil"), "PWNED\n").unwrap();
    b.write();
    let _g = Guard(b.state_root(), id.clone());
    // In the host's stand-in: its cgroup mounts shared, then the run, then its mount table.
    let script = r#"
        awk '$9 == "cgroup" || $9 == "cgroup2" { print $5 }' /proc/self/mountinfo |
            while read -r m; do mount --make-shared "$m"; done
        "$0" --root "$1" run --bundle "$2" "$3" </dev/null
        echo "HOST-MOUNTS-ON-CGROUP-PROCS $(awk '$5 ~ /\/cgroup\.procs$/' /proc/self/mountinfo | wc -l)"
    "#;
    let out = std::process::Command::new("unshare")
        .args(["-m", "--propagation", "unchanged", "sh", "-c", script])
        .arg(env!("CARGO_BIN_EXE_ocirun"))
        .arg(b.state_root())
        .arg(b.path())
        .arg(&id)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("MOUNTED"),
        "the container could not mount over its cgroup files, so this proves nothing:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("HOST-MOUNTS-ON-CGROUP-PROCS 0"),
        "the container's mounts reached the host's cgroupfs:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A user-namespaced container's binds of host paths are clones the runtime makes with
/// open_tree in its own mount namespace (the container's root could not open them): a plain
/// rbind and an id-mapped one of a shared host tmpfs. Its root, privileged over its own mount
/// namespace only, mounts a tmpfs in each: neither may appear on the host (a mount namespace the
/// kernel copies for a new user namespace makes the host's shared mounts slaves; the clones must
/// be no less).
#[test]
fn user_namespace_binds_never_carry_a_containers_mounts_to_the_host() {
    require_prerequisites();
    let tree = SharedHostTree::new("ocirun-test-userns-shared-");
    let attack = "mkdir /mnt/x && mount -t tmpfs evil /mnt/x && echo MOUNTED-BIND; \
                  mkdir /mnt-idmap/y && mount -t tmpfs evil /mnt-idmap/y && echo MOUNTED-IDMAP; true";
    let mut b = Bundle::new(&["sh", "-c", attack]);
    b.docker_caps(&["CAP_SYS_ADMIN"]);
    b.spec["linux"]["namespaces"] =
        json!([{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "user"}]);
    b.spec["mounts"] = json!([
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=755"]},
        {"destination": "/mnt", "type": "bind", "source": tree.path(), "options": ["rbind"]},
        {"destination": "/mnt-idmap", "type": "bind", "source": tree.path(), "options": ["rbind", "idmap"]}
    ]);
    b.map_ids_to(100000);
    let out = run_ok_stdout(&b, &unique_id("sec-userns-peer"), &[]);
    assert!(
        out.contains("MOUNTED-BIND") && out.contains("MOUNTED-IDMAP"),
        "the container could not mount in its binds, so this proves nothing:\n{out}"
    );
    let leaked: Vec<_> = ["x", "y"]
        .into_iter()
        .filter(|d| is_mount_point(&tree.path().join(d)))
        .collect();
    assert!(
        leaked.is_empty(),
        "the container's mounts reached the host at {leaked:?}"
    );
    tree.assert_intact("user namespace binds");
}

/// `--no-pivot` moves the rootfs onto the mount namespace's root, the host's, which stays
/// below it. A container in a user namespace of its own whose root keeps CAP_SYS_ADMIN made
/// the rootfs mount itself, so nothing locks it: it unmounted it and setns(2)'d into its own
/// mount namespace, which set its root to the host's, and wrote a host file (found by an
/// escape review, 2026-12-08). The run is refused now, naming the flag; the host file must
/// not appear.
#[test]
fn no_pivot_in_a_user_namespace_with_cap_sys_admin_cannot_reach_the_hosts_root() {
    require_prerequisites();
    let drop = tempfile::Builder::new()
        .prefix("ocirun-test-nopivot-userns-")
        .tempdir()
        .unwrap();
    let mut perms = std::fs::metadata(drop.path()).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o1777);
    std::fs::set_permissions(drop.path(), perms).unwrap();
    let target = drop.path().join("from-the-container");
    let mut b = Bundle::new(&["/rootswap", target.to_str().unwrap()]);
    std::fs::copy(common::static_probe("rootswap"), b.rootfs().join("rootswap")).unwrap();
    b.docker_caps(&["CAP_SYS_ADMIN"]);
    b.spec["linux"]["namespaces"] = json!([{"type": "pid"}, {"type": "network"}, {"type": "ipc"},
        {"type": "uts"}, {"type": "mount"}, {"type": "user"}, {"type": "cgroup"}]);
    b.map_ids_to(100000);
    let out = run(&b, &unique_id("sec-nopivot-userns"), &["--no-pivot"]);
    assert!(
        !target.exists(),
        "the container wrote a host file through the host's root"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("--no-pivot"),
        "the run was not refused by name: {err}"
    );
}

/// A shared tmpfs on the host with a tmpfs mounted below it, unmounted when dropped: the
/// container's copies of both start as peers of the host's.
struct SharedHostTree {
    sub: std::path::PathBuf,
    _top: Unmount,
    dir: tempfile::TempDir,
}

impl SharedHostTree {
    fn new(prefix: &str) -> SharedHostTree {
        let dir = tempfile::Builder::new().prefix(prefix).tempdir().unwrap();
        host_mount(&["-t", "tmpfs", "tmpfs"], dir.path());
        let top = Unmount(dir.path().to_path_buf());
        host_mount(&["--make-shared"], dir.path());
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        host_mount(&["-t", "tmpfs", "tmpfs"], &sub);
        SharedHostTree { sub, _top: top, dir }
    }

    /// The shared tmpfs's mount point.
    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Asserts both mounts, and the host's /proc and /sys, are still there after `what`.
    fn assert_intact(&self, what: &str) {
        assert!(
            is_mount_point(self.dir.path()) && is_mount_point(&self.sub),
            "a host mount went away ({what})"
        );
        assert!(host_proc_and_sys_mounted(), "the host lost its /proc or /sys ({what})");
    }
}

/// The detach of the host's mounts happens in the container's mount namespace only, even
/// with `rootfsPropagation: shared`, where the container's copies of the host's mounts start
/// as peers of the host's: a host mount below a shared mount stays mounted.
#[test]
fn no_pivot_detach_never_unmounts_the_hosts_own_shared_mounts() {
    require_prerequisites();
    let tree = SharedHostTree::new("ocirun-test-shared-");
    let mut b = Bundle::new(&["true"]);
    b.spec["linux"]["rootfsPropagation"] = json!("shared");
    run_ok_stdout(&b, &unique_id("sec-nopivot-shared"), &["--no-pivot"]);
    tree.assert_intact("--no-pivot, rootfsPropagation shared");
}

/// The detach of the old root after pivot_root happens in the container's mount namespace
/// only, whatever `rootfsPropagation` says: a tree of shared host mounts (peers of the
/// container's copies until they are made rslave) stays mounted on the host. With the default
/// (rslave) and rprivate the old root is not walked a second time before its detach, the
/// first walk having left none of its mounts shared; with rshared it is, and must be.
#[test]
fn pivot_detach_never_unmounts_the_hosts_own_shared_mounts() {
    require_prerequisites();
    let tree = SharedHostTree::new("ocirun-test-pivot-shared-");
    for propagation in [
        None,
        Some("rslave"),
        Some("rprivate"),
        Some("rshared"),
        Some("shared"),
        Some("slave"),
    ] {
        let mut b = Bundle::new(&["true"]);
        if let Some(p) = propagation {
            b.spec["linux"]["rootfsPropagation"] = json!(p);
        }
        run_ok_stdout(&b, &unique_id("sec-pivot-shared"), &[]);
        tree.assert_intact(&format!("rootfsPropagation {propagation:?}"));
    }
}
