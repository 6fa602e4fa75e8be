//! Escapes through `ocirun exec` and the runtime's own binary, tried against the real binary
//! (issue 14, classes 5, 6, 10 and 11): each test performs the attack and checks on the host
//! that it failed.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;

use common::{Guard, ocirun, run_detached, state};
use serde_json::json;
use test_support::{Bundle, require_prerequisites, unique_id};

/// Starts `b` detached as a new container; returns its id.
fn start(b: &Bundle, prefix: &str) -> String {
    b.write();
    let id = unique_id(prefix);
    run_detached(
        ocirun(&b.state_root())
            .args(["run", "--detach", "--bundle"])
            .arg(b.path())
            .arg(&id),
    );
    id
}

/// The init's pid, as `ocirun state` reports it.
fn init_pid(root: &Path, id: &str) -> i64 {
    state(root, id)["pid"].as_i64().expect("state has a pid")
}

/// A path inside the container's mount namespace, seen from the host through the init.
fn inside(root: &Path, id: &str, path: &str) -> PathBuf {
    PathBuf::from(format!("/proc/{}/root{path}", init_pid(root, id)))
}

/// `ocirun exec <id> <args>` with null stdin; returns (success, stdout, stderr).
fn exec(root: &Path, id: &str, flags: &[&str], args: &[&str]) -> (bool, String, String) {
    let out = ocirun(root)
        .arg("exec")
        .args(flags)
        .arg(id)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run ocirun exec");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Class 10: `exec --cgroup ..` would put the process in the parent of the container's
/// cgroup, outside its limits. Only sub-cgroups of the container's cgroup are accepted;
/// anything else is refused, naming `--cgroup`, before the process exists.
#[test]
fn exec_cgroup_outside_the_containers_cgroup_is_refused() {
    require_prerequisites();
    let b = Bundle::new(&["sleep", "1000"]);
    let id = start(&b, "secexec-cg");
    let root = b.state_root();
    let _g = Guard(root.clone(), id.clone());
    let escapes = [
        "..",
        "../..",
        "a/../../x",
        "/..",
        "./..",
        "sub/..",
        ".",
        "sub//sub",
        "sub/.",
    ];
    // A sub-cgroup that exists, so "sub/.." and "a/../../x" fail for their form, not for a missing directory.
    for dir in b.cgroup_dirs_everywhere() {
        if dir.is_dir() {
            std::fs::create_dir(dir.join("sub")).unwrap();
            // A v1 cpuset cgroup takes no process until it has cpus and mems.
            for file in ["cpuset.cpus", "cpuset.mems"] {
                if let Ok(value) = std::fs::read_to_string(dir.join(file)) {
                    std::fs::write(dir.join("sub").join(file), value.trim()).unwrap();
                }
            }
        }
    }
    for (i, sub) in escapes.iter().enumerate() {
        let marker = format!("/dev/shm/ran-{i}");
        let (ok, _, err) = exec(&root, &id, &["--cgroup", sub], &["touch", &marker]);
        assert!(!ok, "exec --cgroup {sub:?} was accepted");
        assert!(
            err.contains("--cgroup"),
            "exec --cgroup {sub:?}: the error does not name --cgroup: {err}"
        );
        assert!(
            !inside(&root, &id, &marker).exists(),
            "exec --cgroup {sub:?} failed but its process ran"
        );
    }
    // What is allowed still works: the container's own cgroup ("/", as runc) and a sub-cgroup.
    let rel = b.cgroups_path().to_string();
    let (ok, out, err) = exec(&root, &id, &["--cgroup", "/"], &["cat", "/proc/self/cgroup"]);
    assert!(ok, "exec --cgroup /: {err}");
    assert!(out.lines().all(|l| !l.ends_with("/sub")), "{out}");
    let (ok, out, err) = exec(&root, &id, &["--cgroup", "sub"], &["cat", "/proc/self/cgroup"]);
    assert!(ok, "exec --cgroup sub: {err}");
    // The container has a cgroup namespace: its own cgroup shows as "/", the sub-cgroup as "/sub".
    assert!(
        out.lines().any(|l| l.ends_with(":/sub")),
        "not in the sub-cgroup: {out} ({rel})"
    );
}

/// The kernel log's records, read from /dev/kmsg without blocking.
fn kernel_log() -> String {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let mut kmsg = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open("/dev/kmsg")
        .expect("open /dev/kmsg");
    let mut log = String::new();
    let mut record = [0u8; 8192];
    loop {
        match kmsg.read(&mut record) {
            Ok(0) => break,
            Ok(n) => log.push_str(&String::from_utf8_lossy(&record[..n])),
            // EPIPE: a record was overwritten while reading; the next read goes on.
            Err(e) if e.raw_os_error() == Some(libc::EPIPE) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("read /dev/kmsg: {e}"),
        }
    }
    log
}

/// Class 11: a device listed in `linux.devices` is created, but access to it follows
/// `linux.resources.devices` (and runc's always-allowed list) only, as in runc: with the
/// spec's deny-all, an exec'd process cannot open the host's /dev/kmsg (1:11) for writing,
/// and nothing it tries reaches the host's kernel log.
#[test]
fn listed_device_does_not_override_a_spec_device_deny() {
    require_prerequisites();
    let mut b = Bundle::new(&["sleep", "1000"]);
    b.spec["linux"]["resources"]["devices"] = json!([{"allow": false, "access": "rwm"}]);
    b.spec["linux"]["devices"] =
        json!([{"path": "/dev/xkmsg", "type": "c", "major": 1, "minor": 11, "fileMode": 0o620, "uid": 0, "gid": 0}]);
    let id = start(&b, "secexec-dev");
    let root = b.state_root();
    let _g = Guard(root.clone(), id.clone());
    let marker = format!("ocirun-security-test-{id}-kmsg-write");
    let (ok, out, err) = exec(
        &root,
        &id,
        &[],
        &[
            "sh",
            "-c",
            &format!("stat -c 'node=%F %t,%T' /dev/xkmsg; (echo {marker} > /dev/xkmsg) 2>&1 && echo wrote; true"),
        ],
    );
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("node=character special file 1,b\n"),
        "the listed device was not created: {out}"
    );
    assert!(
        !out.contains("wrote"),
        "the exec'd process opened /dev/kmsg for writing: {out}"
    );
    assert!(
        out.contains("Operation not permitted"),
        "not refused by the device cgroup: {out}"
    );
    // On the host: the write never reached the kernel log, and the v1 devices cgroup lists no rule for 1:11.
    assert!(
        !kernel_log().contains(&marker),
        "the container wrote the host's kernel log"
    );
    if Path::new("/sys/fs/cgroup/devices").is_dir() {
        let dir = b.cgroup_dir("devices");
        let list = std::fs::read_to_string(dir.join("devices.list")).expect("read devices.list");
        assert!(
            !list.lines().any(|l| l.starts_with("c 1:11 ")),
            "{}: {list}",
            dir.display()
        );
    }

    // An explicit allow rule in linux.resources.devices (what Docker writes for --device) grants it.
    let mut b = Bundle::new(&["sleep", "1000"]);
    b.spec["linux"]["resources"]["devices"] = json!([
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 11, "access": "w"}
    ]);
    b.spec["linux"]["devices"] =
        json!([{"path": "/dev/xkmsg", "type": "c", "major": 1, "minor": 11, "fileMode": 0o620, "uid": 0, "gid": 0}]);
    let id = start(&b, "secexec-dev");
    let root = b.state_root();
    let _g = Guard(root.clone(), id.clone());
    let (ok, out, err) = exec(
        &root,
        &id,
        &[],
        &["sh", "-c", "(: > /dev/xkmsg) 2>&1 && echo opened-for-write; true"],
    );
    assert!(ok, "{out}{err}");
    assert_eq!(out, "opened-for-write\n");
}

/// Runs `ocirun exec` and kills it if it has not ended after a minute: a lookup that blocks
/// (a fifo for /etc/passwd) must fail, not hang. Returns (success, stdout, stderr).
fn exec_or_kill(root: &Path, id: &str, flags: &[&str], args: &[&str]) -> (bool, String, String) {
    let out = tempfile::NamedTempFile::new().unwrap();
    let err = tempfile::NamedTempFile::new().unwrap();
    let mut child = ocirun(root)
        .arg("exec")
        .args(flags)
        .arg(id)
        .args(args)
        .stdin(Stdio::null())
        .stdout(out.reopen().unwrap())
        .stderr(err.reopen().unwrap())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > std::time::Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("ocirun exec {flags:?} hung (killed after 60 s)");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    (
        status.success(),
        std::fs::read_to_string(out.path()).unwrap(),
        std::fs::read_to_string(err.path()).unwrap(),
    )
}

/// Class 5: `exec --user NAME` looks the name up in the container's /etc/passwd and
/// /etc/group. An image whose etc/passwd and etc/group are absolute symlinks to host files
/// must not make names resolve from the host: the links resolve inside the container's root.
#[test]
fn exec_user_name_is_not_looked_up_in_host_files_through_image_symlinks() {
    require_prerequisites();
    // Host files with a user and a group that exist nowhere else.
    let host = tempfile::tempdir().unwrap();
    let user = format!("hostonly{}", std::process::id());
    let group = format!("hostgrp{}", std::process::id());
    let host_passwd = host.path().join("passwd");
    let host_group = host.path().join("group");
    std::fs::write(&host_passwd, format!("{user}:x:4242:4343::/:/bin/sh\n")).unwrap();
    std::fs::write(&host_group, format!("{group}:x:4545:\n")).unwrap();

    let b = Bundle::new(&["sleep", "1000"]);
    let etc = b.rootfs().join("etc");
    std::fs::remove_file(etc.join("passwd")).unwrap();
    std::fs::remove_file(etc.join("group")).unwrap();
    std::os::unix::fs::symlink(&host_passwd, etc.join("passwd")).unwrap();
    std::os::unix::fs::symlink(&host_group, etc.join("group")).unwrap();
    let id = start(&b, "secexec-user");
    let root = b.state_root();
    let _g = Guard(root.clone(), id.clone());

    let (ok, out, err) = exec_or_kill(&root, &id, &["--user", &user], &["id", "-u"]);
    assert!(
        !ok,
        "exec --user {user} ran as {out:?}: the name came from the host's file"
    );
    assert!(!out.contains("4242"), "{out}");
    assert!(err.contains("no such user"), "{err}");
    let (ok, out, err) = exec_or_kill(&root, &id, &["--user", &format!("0:{group}")], &["id", "-g"]);
    assert!(
        !ok,
        "exec --user 0:{group} ran as {out:?}: the group came from the host's file"
    );
    assert!(err.contains("no such group"), "{err}");
    // The host files are untouched.
    assert_eq!(
        std::fs::read_to_string(&host_passwd).unwrap(),
        format!("{user}:x:4242:4343::/:/bin/sh\n")
    );
}

/// Class 5, the other files an image can put at etc/passwd: an absolute symlink to a file of
/// the image still resolves (inside the root), and a fifo or a device fails instead of hanging.
#[test]
fn exec_user_name_lookup_resolves_in_the_container_and_refuses_special_files() {
    require_prerequisites();
    let b = Bundle::new(&["sleep", "1000"]);
    let etc = b.rootfs().join("etc");
    std::fs::rename(etc.join("passwd"), etc.join("passwd.real")).unwrap();
    std::fs::write(
        etc.join("passwd.real"),
        "root:x:0:0:root:/root:/bin/sh\nimageuser:x:1234:2345::/:/bin/sh\n",
    )
    .unwrap();
    std::os::unix::fs::symlink("/etc/passwd.real", etc.join("passwd")).unwrap();
    std::fs::write(etc.join("group"), "root:x:0:\nimagegrp:x:3456:\n").unwrap();
    let id = start(&b, "secexec-user");
    let root = b.state_root();
    let _g = Guard(root.clone(), id.clone());
    let (ok, out, err) = exec_or_kill(
        &root,
        &id,
        &["--user", "imageuser"],
        &["sh", "-c", "echo $(id -u):$(id -g)"],
    );
    assert!(ok, "{err}");
    assert_eq!(out, "1234:2345\n");
    let (ok, out, err) = exec_or_kill(
        &root,
        &id,
        &["--user", "imageuser:imagegrp"],
        &["sh", "-c", "echo $(id -u):$(id -g)"],
    );
    assert!(ok, "{err}");
    assert_eq!(out, "1234:3456\n");

    // etc/passwd a fifo, etc/group a symlink to a device.
    let b = Bundle::new(&["sleep", "1000"]);
    let etc = b.rootfs().join("etc");
    std::fs::remove_file(etc.join("passwd")).unwrap();
    let fifo = std::ffi::CString::new(etc.join("passwd").into_os_string().into_encoded_bytes()).unwrap();
    // SAFETY: a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
    std::fs::remove_file(etc.join("group")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", etc.join("group")).unwrap();
    let id = start(&b, "secexec-user");
    let root = b.state_root();
    let _g = Guard(root.clone(), id.clone());
    let (ok, _, err) = exec_or_kill(&root, &id, &["--user", "somebody"], &["true"]);
    assert!(!ok);
    assert!(err.contains("/etc/passwd"), "{err}");
    let (ok, _, err) = exec_or_kill(&root, &id, &["--user", "0:somegroup"], &["true"]);
    assert!(!ok);
    assert!(err.contains("/etc/group"), "{err}");
}
