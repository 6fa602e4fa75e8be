//! Id-mapped mounts (issue 19 item 3): `mounts[].uidMappings`/`gidMappings` and the `idmap`
//! and `ridmap` options on bind mounts, as runc ≥ 1.2 makes them, read from inside the
//! container; and the attack of the issue's acceptance: a mapped mount lets the container read
//! or write only what the ids the mapping gives it could.
//!
//! How the kernel maps (what every assertion here follows from): a mount id-mapped through a
//! user namespace whose map says `containerID c -> hostID h` shows a file owned by `c` on disk
//! as owned by host id `h`, which a container whose own user namespace maps `0 -> 100000` sees
//! as `h - 100000`; a file created through it by host id `h` lands on disk owned by `c`. An id
//! on disk the mount's map leaves out shows as the overflow id (65534), and no capability of
//! the container's root reaches a file whose owner its user namespace does not map.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::{Guard, ocirun};
use serde_json::{Value, json};
use test_support::{Bundle, require_prerequisites, unique_id};

/// A bundle whose process runs `script` as root of a user namespace mapping 0..65536 to host
/// 100000..165536, with Docker's capabilities (CAP_DAC_OVERRIDE, CAP_CHOWN, CAP_FOWNER among
/// them: the strongest a container's root has), its rootfs owned by that root.
fn userns_bundle(script: &str) -> Bundle {
    let mut b = Bundle::new(&["sh", "-c", script]);
    b.docker_caps(&[]);
    b.spec["linux"]["namespaces"] =
        json!([{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "user"}]);
    b.spec["mounts"] = json!([{"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=755"]}]);
    b.map_ids_to(100000);
    b
}

/// Adds a mount to the bundle's spec.
fn add_mount(b: &mut Bundle, m: Value) {
    b.spec["mounts"].as_array_mut().unwrap().push(m);
}

/// `ocirun run` of the bundle under a fresh id, deleted even if the test fails.
fn run(b: &Bundle) -> Output {
    b.write();
    let id = unique_id("idmap");
    let _g = Guard(b.state_root(), id.clone());
    ocirun(&b.state_root())
        .args(["run", "--bundle"])
        .arg(b.path())
        .arg(&id)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// The stdout of a run that must succeed.
fn run_stdout(b: &Bundle) -> String {
    let out = run(b);
    assert!(
        out.status.success(),
        "run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The stderr of a run that must fail.
fn run_stderr(b: &Bundle) -> String {
    let out = run(b);
    assert!(
        !out.status.success(),
        "run succeeded: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A host directory `name` in the bundle directory, owned by root (the test's user), mode 0755.
fn host_dir(b: &Bundle, name: &str) -> PathBuf {
    let dir = b.path().join(name);
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// Sets the owner of a host path.
fn chown(path: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::chown(path, Some(uid), Some(gid)).unwrap();
}

/// (uid, gid) of a host path.
fn owner(path: &Path) -> (u32, u32) {
    let m = std::fs::symlink_metadata(path).unwrap();
    (m.uid(), m.gid())
}

#[test]
fn root_owned_host_dir_shows_as_the_containers_root_and_its_files_land_mapped_back() {
    require_prerequisites();
    let mut b = userns_bundle(
        "stat -c 'idmap=%u:%g' /vol /vol/f; stat -c 'plain=%u:%g' /plain; \
         touch /vol/new && stat -c 'new=%u:%g' /vol/new; touch /plain/new2 || echo plain-write-denied",
    );
    let src = host_dir(&b, "vol");
    std::fs::write(src.join("f"), "x").unwrap();
    add_mount(
        &mut b,
        json!({"destination": "/vol", "type": "bind", "source": src, "options": ["bind", "idmap"]}),
    );
    // The same directory bound without a mapping: root's files are nobody's in the container.
    add_mount(
        &mut b,
        json!({"destination": "/plain", "type": "bind", "source": src, "options": ["bind"]}),
    );
    let out = run_stdout(&b);
    assert_eq!(
        out, "idmap=0:0\nidmap=0:0\nplain=65534:65534\nnew=0:0\nplain-write-denied\n",
        "through idmap (the container's maps) host uid 0 is the container's root"
    );
    // The container's root is host 100000; the mount maps it back to the disk's 0.
    assert_eq!(owner(&src.join("new")), (0, 0));
    assert!(!src.join("new2").exists());
}

#[test]
fn mount_maps_of_its_own_decide_what_each_owner_shows_as_and_where_new_files_land() {
    require_prerequisites();
    let mut b = userns_bundle(
        "stat -c '%n=%u:%g' /data /data/rootfile /data/owned; touch /data/made && stat -c '%n=%u:%g' /data/made",
    );
    let src = host_dir(&b, "data");
    std::fs::write(src.join("rootfile"), "").unwrap();
    std::fs::write(src.join("owned"), "").unwrap();
    chown(&src, 500, 600);
    chown(&src.join("owned"), 510, 610);
    // Disk uids 500..1500 show as host 100000..101000 (the container's 0..1000), gids 600.. likewise.
    add_mount(
        &mut b,
        json!({"destination": "/data", "type": "bind", "source": src, "options": ["bind"],
               "uidMappings": [{"containerID": 500, "hostID": 100000, "size": 1000}],
               "gidMappings": [{"containerID": 600, "hostID": 100000, "size": 1000}]}),
    );
    let out = run_stdout(&b);
    assert_eq!(
        out, "/data=0:0\n/data/rootfile=65534:65534\n/data/owned=10:10\n/data/made=0:0\n",
        "the mount's maps, not the container's, decide the owners"
    );
    // The container's root made it; on disk it is the id the mount maps to it.
    assert_eq!(owner(&src.join("made")), (500, 600));

    // Without a user namespace of the container's own, the maps still apply (host ids show).
    let mut b = Bundle::new(&["sh", "-c", "stat -c '%n=%u:%g' /data /data/owned"]);
    add_mount(
        &mut b,
        json!({"destination": "/data", "type": "bind", "source": src, "options": ["bind"],
               "uidMappings": [{"containerID": 500, "hostID": 100000, "size": 1000}],
               "gidMappings": [{"containerID": 600, "hostID": 100000, "size": 1000}]}),
    );
    assert_eq!(run_stdout(&b), "/data=100000:100000\n/data/owned=100010:100010\n");
}

/// A tmpfs mounted on the host, unmounted when dropped.
struct HostMount(PathBuf);

impl HostMount {
    fn tmpfs(at: &Path) -> HostMount {
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "mode=755", "idmaptest"])
            .arg(at)
            .status()
            .unwrap();
        assert!(ok.success(), "mount a tmpfs on {}", at.display());
        HostMount(at.to_path_buf())
    }
}

impl Drop for HostMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn ridmap_maps_the_submounts_of_an_rbind_and_idmap_only_its_own_mount() {
    require_prerequisites();
    let mut b = userns_bundle("stat -c '%n=%u' /r/top /r/sub/f /i/top /i/sub/f");
    let src = host_dir(&b, "tree");
    std::fs::write(src.join("top"), "").unwrap();
    std::fs::create_dir(src.join("sub")).unwrap();
    let _sub = HostMount::tmpfs(&src.join("sub"));
    std::fs::write(src.join("sub/f"), "").unwrap();
    add_mount(
        &mut b,
        json!({"destination": "/r", "type": "bind", "source": src, "options": ["rbind", "ridmap"]}),
    );
    add_mount(
        &mut b,
        json!({"destination": "/i", "type": "bind", "source": src, "options": ["rbind", "idmap"]}),
    );
    assert_eq!(
        run_stdout(&b),
        "/r/top=0\n/r/sub/f=0\n/i/top=0\n/i/sub/f=65534\n",
        "ridmap maps the tmpfs below the source too; idmap leaves it with host ids (as runc)"
    );
}

#[test]
fn a_mapped_mount_reads_and_writes_only_what_its_mapped_ids_could() {
    require_prerequisites();
    // A copy of a root-only file (0600 root:root), in a root-owned directory.
    let script = "for m in /unmapped /plain /mapped; do \
                    cat $m/secret >/dev/null 2>&1 && echo $m-read || echo $m-read-denied; \
                    (echo x >> $m/secret) 2>/dev/null && echo $m-write || echo $m-write-denied; \
                    chmod 666 $m/secret 2>/dev/null && echo $m-chmod || echo $m-chmod-denied; \
                  done";
    let mut b = userns_bundle(script);
    let src = host_dir(&b, "secrets");
    std::fs::write(src.join("secret"), "s3cret\n").unwrap();
    std::fs::set_permissions(src.join("secret"), std::fs::Permissions::from_mode(0o600)).unwrap();
    // Maps every disk id but 0 to the container's own ids: root's files stay nobody's.
    add_mount(
        &mut b,
        json!({"destination": "/unmapped", "type": "bind", "source": src, "options": ["bind"],
               "uidMappings": [{"containerID": 1, "hostID": 100001, "size": 65535}],
               "gidMappings": [{"containerID": 1, "hostID": 100001, "size": 65535}]}),
    );
    add_mount(
        &mut b,
        json!({"destination": "/plain", "type": "bind", "source": src, "options": ["bind"]}),
    );
    // The container's own maps (idmap): disk uid 0 is, by this mapping, the container's root,
    // which then owns the file: the mapping is the grant, and only a mapping that maps 0 makes it.
    add_mount(
        &mut b,
        json!({"destination": "/mapped", "type": "bind", "source": src, "options": ["bind", "idmap"]}),
    );
    let out = run_stdout(&b);
    assert_eq!(
        out,
        "/unmapped-read-denied\n/unmapped-write-denied\n/unmapped-chmod-denied\n\
         /plain-read-denied\n/plain-write-denied\n/plain-chmod-denied\n\
         /mapped-read\n/mapped-write\n/mapped-chmod\n",
        "CAP_DAC_OVERRIDE and CAP_FOWNER of the container's root do not reach a file whose owner the mount leaves unmapped"
    );
    // Only the mount that maps 0 wrote: one appended line, and the mode it set.
    assert_eq!(std::fs::read_to_string(src.join("secret")).unwrap(), "s3cret\nx\n");
    assert_eq!(owner(&src.join("secret")), (0, 0));
}

#[test]
fn etc_shadow_cannot_be_read_through_an_idmapped_etc_unless_the_mapping_maps_root() {
    require_prerequisites();
    let shadow = std::fs::metadata("/etc/shadow").expect("this host has /etc/shadow");
    assert_eq!(shadow.uid(), 0);
    assert_eq!(shadow.mode() & 0o007, 0, "/etc/shadow is not world-readable");
    // Nothing of the file is printed, whatever happens.
    let script = "for m in /e-unmapped /e-mapped; do \
                    head -c 1 $m/shadow >/dev/null 2>&1 && echo $m-read || echo $m-read-denied; \
                    (: >> $m/shadow) 2>/dev/null && echo $m-write || echo $m-write-denied; \
                  done";
    let mut b = userns_bundle(script);
    // The host's /etc, read-only, with maps that leave disk uid 0 out (shadow's group maps, and
    // the container's root is not in it): no capability reaches a file whose owner is unmapped.
    add_mount(
        &mut b,
        json!({"destination": "/e-unmapped", "type": "bind", "source": "/etc", "options": ["bind", "ro"],
               "uidMappings": [{"containerID": 1, "hostID": 100001, "size": 999}],
               "gidMappings": [{"containerID": 1, "hostID": 100001, "size": 999}]}),
    );
    // The same with the container's maps (idmap): they map disk 0 to the container's root,
    // and the owner of /etc/shadow reads it. A runtime maps what its config says; a config
    // that id-maps the host's /etc with root mapped grants its root files to the container.
    add_mount(
        &mut b,
        json!({"destination": "/e-mapped", "type": "bind", "source": "/etc", "options": ["bind", "ro", "idmap"]}),
    );
    let out = run_stdout(&b);
    assert_eq!(
        out, "/e-unmapped-read-denied\n/e-unmapped-write-denied\n/e-mapped-read\n/e-mapped-write-denied\n",
        "read only where the mapping maps root; written nowhere (ro)"
    );
    let after = std::fs::metadata("/etc/shadow").unwrap();
    assert_eq!((after.len(), after.mtime()), (shadow.len(), shadow.mtime()));
}

#[test]
fn refusals_name_the_mount_and_the_reason() {
    require_prerequisites();
    // Only bind mounts are id-mapped.
    let mut b = userns_bundle("true");
    add_mount(
        &mut b,
        json!({"destination": "/t", "type": "tmpfs", "source": "tmpfs", "options": ["idmap"]}),
    );
    let err = run_stderr(&b);
    assert!(
        err.contains("mounts[2].options") && err.contains("only supported for bind mounts"),
        "{err}"
    );

    // idmap without maps of its own takes the container's: there are none without a user namespace.
    let mut b = Bundle::new(&["true"]);
    let src = host_dir(&b, "v");
    add_mount(
        &mut b,
        json!({"destination": "/v", "type": "bind", "source": src, "options": ["bind", "ridmap"]}),
    );
    let err = run_stderr(&b);
    let index = b.spec["mounts"].as_array().unwrap().len() - 1;
    assert!(
        err.contains(&format!("mounts[{index}].options = \"ridmap\"")) && err.contains("no user namespace"),
        "{err}"
    );

    // Both kinds of maps.
    let mut b = userns_bundle("true");
    let src = host_dir(&b, "v");
    add_mount(
        &mut b,
        json!({"destination": "/v", "type": "bind", "source": src, "options": ["bind"],
               "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 1}]}),
    );
    let err = run_stderr(&b);
    assert!(err.contains("mounts[2].uidMappings") && err.contains("both"), "{err}");

    // A filesystem the kernel does not id-map (sysfs): its EINVAL, said as such, naming the mount.
    let mut b = userns_bundle("true");
    add_mount(
        &mut b,
        json!({"destination": "/k", "type": "bind", "source": "/sys/kernel", "options": ["bind", "idmap"]}),
    );
    let err = run_stderr(&b);
    assert!(
        err.contains("mounts[2]: id-map the bind of /sys/kernel")
            && err.contains("does not support id-mapped mounts")
            && err.contains("Invalid argument"),
        "{err}"
    );
}

#[test]
fn checkpoint_of_an_id_mapped_mount_is_refused_not_restored_as_a_plain_bind() {
    require_prerequisites();
    let mut b = userns_bundle("sleep 60");
    let src = host_dir(&b, "vol");
    add_mount(
        &mut b,
        json!({"destination": "/vol", "type": "bind", "source": src, "options": ["bind", "idmap"]}),
    );
    b.write();
    let id = unique_id("idmapcr");
    let _g = Guard(b.state_root(), id.clone());
    common::run_detached(
        ocirun(&b.state_root())
            .args(["run", "--detach", "--bundle"])
            .arg(b.path())
            .arg(&id),
    );
    let images = b.path().join("images");
    let err = common::run_err(
        ocirun(&b.state_root())
            .args(["checkpoint", "--image-path"])
            .arg(&images)
            .arg(&id),
    );
    assert!(
        err.contains("mounts[2]") && err.contains("id-mapped mount is not supported"),
        "{err}"
    );
    assert_eq!(common::state(&b.state_root(), &id)["status"], "running");
}

/// The destination-symlink attack of CVE-2023-27561's class through an id-mapped bind: the
/// image's `myproc` is a symlink to /proc, so the spec's `/myproc` is not under /proc for a
/// check on the path, but resolved inside the rootfs the mapped host directory would cover the
/// container's procfs. The id-mapped tree is attached by fd onto the target the same
/// `openat2(RESOLVE_IN_ROOT)` resolution found, so the procfs check must refuse it as it does
/// a plain bind.
#[test]
fn an_idmapped_bind_onto_an_image_symlink_into_proc_is_refused() {
    require_prerequisites();
    let mut b = userns_bundle("cat /proc/fake");
    let src = host_dir(&b, "vol");
    std::fs::write(src.join("fake"), "host file\n").unwrap();
    std::os::unix::fs::symlink("/proc", b.rootfs().join("myproc")).unwrap();
    add_mount(
        &mut b,
        json!({"destination": "/myproc", "type": "bind", "source": src, "options": ["bind", "idmap"]}),
    );
    let n = b.spec["mounts"].as_array().unwrap().len() - 1;
    let err = run_stderr(&b);
    assert!(
        err.contains(&format!("mounts[{n}]")) && err.contains("/myproc") && err.contains("procfs"),
        "{err}"
    );
}

/// An image symlink that climbs out with `..` towards a host directory: the id-mapped bind
/// is resolved inside the rootfs (clamped at its root), never onto the host directory the
/// symlink names.
#[test]
fn an_idmapped_bind_onto_an_image_symlink_out_of_the_rootfs_is_refused_not_followed() {
    require_prerequisites();
    let mut b = userns_bundle("cat /escape/hostdir-marker");
    let src = host_dir(&b, "vol");
    std::fs::write(src.join("f"), "mapped source\n").unwrap();
    // A host directory outside the rootfs, with a marker the container must not reach.
    let host = host_dir(&b, "hosttarget");
    std::fs::write(host.join("hostdir-marker"), "host\n").unwrap();
    let climb = format!("../../../../../../../../..{}", host.display());
    std::os::unix::fs::symlink(&climb, b.rootfs().join("escape")).unwrap();
    add_mount(
        &mut b,
        json!({"destination": "/escape", "type": "bind", "source": src, "options": ["bind", "idmap"]}),
    );
    // Resolved inside the rootfs, the climb is clamped at its root and ends on a path that does
    // not exist there; the missing target is not made through the dangling symlink, so the run is
    // refused, naming the mount, before any container process exists.
    let err = run_stderr(&b);
    assert!(err.contains("/escape") && err.contains("inside the rootfs"), "{err}");
    // The host directory the symlink names is untouched.
    assert_eq!(
        std::fs::read_dir(&host).unwrap().count(),
        1,
        "the host directory changed"
    );
}
