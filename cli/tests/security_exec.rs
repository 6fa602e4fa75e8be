//! Escapes through `ocirun exec` and the runtime's own binary, tried against the real binary
//! (issue 14, classes 5, 6, 10 and 11): each test performs the attack and checks on the host
//! that it failed.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;

use common::{Guard, ocirun, run_detached, state};
use serde_json::json;
use test_support::{Bundle, require_prerequisites, require_strace, unique_id};

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

/// The CVE-2019-5736 attacker, run by busybox sh in the container: it finds the process that
/// runs the runtime's binary (the victim: `$1`, or the one whose command line holds the
/// marker, once it can open its exe: before its execve the runtime's child is not dumpable),
/// holds that binary through `/proc/<victim>/exe`, lets the victim go (it is blocked
/// opening the fifo /tmp/log as its `--log`), waits for the test's go-ahead (once no runtime
/// process runs the binary, which ETXTBSY would otherwise refuse) and reopens the binary for
/// writing through `/proc/self/fd/3`. It reports in /dev/shm: `held` (where the handle
/// pointed) and `result` (written or refused); then it stays, so the test can read them.
const ATTACKER: &str = r#"v=$1
until [ -n "$v" ] && (exec 3< /proc/$v/exe) 2>/dev/null; do
    [ -n "$1" ] || v=
    for p in /proc/[0-9]*; do
        [ -z "$v" ] && grep -q 'victim[-]marker' $p/cmdline 2>/dev/null && v=${p#/proc/}
    done
    usleep 10000
done
exec 3< /proc/$v/exe
readlink /proc/$v/exe > /dev/shm/held
cat /tmp/log > /dev/null
while [ ! -e /dev/shm/go ]; do usleep 10000; done
if (printf PWNED > /proc/self/fd/3) 2>>/dev/shm/err; then echo written > /dev/shm/r; else echo refused > /dev/shm/r; fi
mv /dev/shm/r /dev/shm/result
exec sleep 1000
"#;

/// The victim's command line: the runtime's binary, through the magic link, blocked opening
/// the fifo /tmp/log as its log; then a command that fails fast.
const VICTIM: [&str; 5] = ["/proc/self/exe", "--log", "/tmp/log", "state", "victim-marker"];

/// A copy of the `ocirun` under test, in a temp dir (under `parent`, else the usual one): a
/// successful attack overwrites the copy, never the build. Returns the dir, the copy's path and
/// its bytes.
fn runtime_copy(parent: Option<&Path>) -> (tempfile::TempDir, PathBuf, Vec<u8>) {
    let mut dir = tempfile::Builder::new();
    dir.prefix("ocirun-exe-");
    let dir = match parent {
        Some(p) => dir.tempdir_in(p),
        None => dir.tempdir(),
    }
    .unwrap();
    let copy = dir.path().join("ocirun");
    std::fs::copy(env!("CARGO_BIN_EXE_ocirun"), &copy).unwrap();
    let bytes = std::fs::read(&copy).unwrap();
    (dir, copy, bytes)
}

/// A bundle that can run the (dynamically linked) test build of ocirun inside: the host's
/// /usr/lib and /usr/lib64 bound read-only; the attacker at /attack.sh and the fifo /tmp/log.
fn exe_attack_bundle(args: &[&str]) -> Bundle {
    let mut b = Bundle::new(args);
    let rootfs = b.rootfs();
    for lib in ["lib", "lib64"] {
        std::fs::create_dir_all(rootfs.join("usr").join(lib)).unwrap();
        std::os::unix::fs::symlink(format!("usr/{lib}"), rootfs.join(lib)).unwrap();
        let mut mounts = b.spec["mounts"].as_array().unwrap().clone();
        mounts.push(json!({"destination": format!("/usr/{lib}"), "type": "bind", "source": format!("/usr/{lib}"), "options": ["bind", "ro"]}));
        b.spec["mounts"] = json!(mounts);
    }
    std::fs::write(rootfs.join("attack.sh"), ATTACKER).unwrap();
    let fifo = std::ffi::CString::new(rootfs.join("tmp/log").into_os_string().into_encoded_bytes()).unwrap();
    // SAFETY: a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o666) }, 0);
    b
}

/// Waits for `child` to end, killing it (and failing) after a minute.
fn wait_or_kill(mut child: std::process::Child, what: &str) -> std::process::ExitStatus {
    let start = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > std::time::Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not end (killed after 60 s)");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Waits for the attacker's report `file` in /dev/shm, seen through `/proc/<pid>/root`.
fn attacker_report(pid: i64, file: &str) -> String {
    let path = format!("/proc/{pid}/root/dev/shm/{file}");
    let start = std::time::Instant::now();
    while start.elapsed() < std::time::Duration::from_secs(60) {
        if let Ok(text) = std::fs::read_to_string(&path) {
            return text.trim().to_string();
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let err = std::fs::read_to_string(format!("/proc/{pid}/root/dev/shm/err")).unwrap_or_default();
    let listing: Vec<_> = std::fs::read_dir(format!("/proc/{pid}/root/dev/shm"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    panic!("the attacker never wrote {path}: {err} (in /dev/shm: {listing:?})");
}

/// Asserts the attack reached the binary (so the test is not vacuous) and failed to write it;
/// returns where the attacker's handle pointed.
fn assert_binary_survived(pid: i64, copy: &Path, before: &[u8]) -> String {
    let result = attacker_report(pid, "result");
    let held = std::fs::read_to_string(format!("/proc/{pid}/root/dev/shm/held")).unwrap_or_default();
    let err = std::fs::read_to_string(format!("/proc/{pid}/root/dev/shm/err")).unwrap_or_default();
    let after = std::fs::read(copy).unwrap();
    assert!(
        after == before,
        "the container overwrote the runtime binary on the host (attacker: {result}, handle on {held:?}, {} bytes now)",
        after.len()
    );
    assert_eq!(result, "refused", "held {held:?}: {err}");
    held
}

/// The `ocirun` binary's ELF entry (ocirun-exeseal's `ocirun_entry`, x86_64) re-executes a
/// `run` from the sealed view before the C library and ocirun's `main` start, so that they
/// start once: between the first process's exec and its execveat, `main` has not ignored
/// SIGPIPE and nothing has read the bundle's config. The container still runs.
#[cfg(target_arch = "x86_64")]
#[test]
fn cve_2019_5736_run_re_executes_from_the_sealed_view_before_main() {
    require_prerequisites();
    require_strace();
    let b = Bundle::new(&["true"]);
    b.write();
    let root = b.state_root();
    let id = unique_id("secexec-entry");
    let trace = b.path().join("trace");
    let status = std::process::Command::new("strace")
        .args(["-f", "-qq", "-e", "trace=execve,execveat,rt_sigaction,openat", "-o"])
        .arg(&trace)
        .arg(env!("CARGO_BIN_EXE_ocirun"))
        .arg("--root")
        .arg(&root)
        .args(["run", "--bundle"])
        .arg(b.path())
        .arg(&id)
        .stdin(Stdio::null())
        .status()
        .unwrap();
    let _g = Guard(root.clone(), id.clone());
    assert!(status.success(), "ocirun run under strace failed: {status}");
    let trace = std::fs::read_to_string(&trace).unwrap();
    let first = trace.lines().next().and_then(|l| l.split_whitespace().next()).unwrap();
    let calls: Vec<&str> = trace.lines().filter(|l| l.starts_with(&format!("{first} "))).collect();
    let reexec = calls
        .iter()
        .position(|l| l.contains("execveat("))
        .unwrap_or_else(|| panic!("no re-execution: {calls:#?}"));
    let before = &calls[..reexec];
    assert!(
        !before
            .iter()
            .any(|l| l.contains("SIGPIPE") || l.contains("config.json")),
        "the first process ran main before re-executing: {before:#?}"
    );
    assert!(
        calls[reexec..].iter().any(|l| l.contains("config.json")),
        "the re-executed process did not run the command: {calls:#?}"
    );
}

/// The re-execution finds the binary's directory by the path `/proc/self/exe` reads, which is
/// looked up again in the process's root: a caller that chroots and runs the real binary by fd
/// (or a directory mounted over the binary's) had the file at that path in its root executed,
/// as root, with a valid seal marker (found by review; this test failed before: the fake ran).
/// Now the file in that directory must be the running binary, else the overlay is refused and
/// the sealed memfd copy of the running binary is executed.
#[test]
fn cve_2019_5736_reexecution_runs_the_running_binary_not_the_file_at_its_path() {
    require_prerequisites();
    let dir = tempfile::Builder::new().prefix("ocirun-chroot-").tempdir().unwrap();
    let root = dir.path();
    let binary = Path::new(env!("CARGO_BIN_EXE_ocirun"));
    // The fake: busybox under the binary's path inside the new root; run as `ocirun` it
    // prints "applet not found".
    let fake = root.join(binary.strip_prefix("/").unwrap());
    std::fs::create_dir_all(fake.parent().unwrap()).unwrap();
    std::fs::copy("/bin/busybox", &fake).unwrap();
    for d in ["proc", "dev", "usr", "tmp"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    for lib in ["lib", "lib64"] {
        std::os::unix::fs::symlink(format!("usr/{lib}"), root.join(lib)).unwrap();
    }
    let script = r#"
import os, sys
root, binary = sys.argv[1], sys.argv[2]
fd = os.open(binary, os.O_RDONLY)
os.chroot(root)
os.chdir("/")
os.execve(fd, ["ocirun", "--root", "/tmp/state", "run", "--bundle", "/nowhere", "chroot-id"], {"PATH": "/usr/bin"})
"#;
    let out = std::process::Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c"])
        .arg(r#"mount --rbind /proc "$1/proc" && mount --rbind /dev "$1/dev" && mount --rbind /usr "$1/usr" && exec python3 -c "$3" "$1" "$2""#)
        .arg("sh")
        .arg(root)
        .arg(binary)
        .arg(script)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !text.contains("applet not found"),
        "the file at the binary's path ran instead of the binary: {text}"
    );
    // The real ocirun ran: it looked for the bundle, which is not there.
    assert!(text.contains("nowhere"), "ocirun did not run: {text}");
}

/// CVE-2019-5736 through `exec`: a process exec'd into a running container runs
/// `/proc/self/exe`, which at that execve is the runtime's binary; the container's init holds
/// it through `/proc/<pid>/exe` and, once the runtime has exited, opens it for writing.
#[test]
fn cve_2019_5736_exec_of_proc_self_exe_cannot_overwrite_the_runtime_binary() {
    exec_of_proc_self_exe(None, |_| {});
}

/// The same into a container whose user namespace maps the binary's owner (host root): the
/// runtime must not take the user namespace for a protection then.
#[test]
fn cve_2019_5736_exec_into_a_user_namespace_that_maps_the_owner_cannot_overwrite_the_binary() {
    exec_of_proc_self_exe(None, |b| {
        b.spec["linux"]["namespaces"] =
            json!([{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "user"}]);
        b.spec["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 0, "size": 65536}]);
        b.spec["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 0, "size": 65536}]);
        let keep = ["/proc", "/dev", "/dev/shm", "/usr/lib", "/usr/lib64"];
        let mounts: Vec<_> = b.spec["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| keep.contains(&m["destination"].as_str().unwrap()))
            .cloned()
            .collect();
        b.spec["mounts"] = json!(mounts);
    });
}

/// The same with the binary in a directory on /dev's own file system: the read-only overlay
/// view cannot be made (its layers would overlap /dev), so the runtime runs from a sealed memfd
/// copy.
#[test]
fn cve_2019_5736_exec_of_proc_self_exe_with_a_memfd_copy_cannot_overwrite_the_runtime_binary() {
    let held = exec_of_proc_self_exe(Some(Path::new("/dev")), |_| {});
    assert!(held.starts_with("/memfd:"), "not a memfd copy: {held}");
}

fn exec_of_proc_self_exe(parent: Option<&Path>, adapt: impl FnOnce(&mut Bundle)) -> String {
    require_prerequisites();
    let (_dir, copy, before) = runtime_copy(parent);
    let mut b = exe_attack_bundle(&["sh", "/attack.sh"]);
    adapt(&mut b);
    b.write();
    let root = b.state_root();
    let id = unique_id("secexec-exe");
    let runtime = |root: &Path| {
        let mut c = std::process::Command::new(&copy);
        c.arg("--root").arg(root);
        c
    };
    run_detached(
        runtime(&root)
            .args(["run", "--detach", "--bundle"])
            .arg(b.path())
            .arg(&id),
    );
    let _g = Guard(root.clone(), id.clone());
    let victim = runtime(&root)
        .args(["exec", &id])
        .args(VICTIM)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_or_kill(victim, "ocirun exec of the victim");
    // No process runs the copy any more: the attacker may try.
    let init = init_pid(&root, &id);
    std::fs::write(format!("/proc/{init}/root/dev/shm/go"), "").unwrap();
    assert_binary_survived(init, &copy, &before)
}

/// CVE-2019-5736 through `run` and `create` + `start`: the container's own process is
/// `/proc/self/exe`. The container shares the host's pid namespace, so a second container
/// process outlives it and writes the binary once the init has exited.
fn proc_self_exe_as_the_containers_process(create_start: bool) {
    require_prerequisites();
    let (_dir, copy, before) = runtime_copy(None);
    let mut b = exe_attack_bundle(&VICTIM);
    b.spec["linux"]["namespaces"] = json!([{"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}]);
    b.write();
    let root = b.state_root();
    let id = unique_id("secexec-exe");
    let runtime = |root: &Path| {
        let mut c = std::process::Command::new(&copy);
        c.arg("--root").arg(root);
        c
    };
    let first: &[&str] = if create_start {
        &["create"]
    } else {
        &["run", "--detach"]
    };
    run_detached(runtime(&root).args(first).arg("--bundle").arg(b.path()).arg(&id));
    let _g = Guard(root.clone(), id.clone());
    if create_start {
        run_detached(runtime(&root).args(["start", &id]));
    }
    let init = init_pid(&root, &id);
    let pid_file = b.path().join("attacker.pid");
    run_detached(
        ocirun(&root)
            .args(["exec", "--detach", "--pid-file"])
            .arg(&pid_file)
            .args([&id, "sh", "/attack.sh", &init.to_string()]),
    );
    let attacker: i64 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    // The attacker lets the init go once it holds its exe; the init then exits.
    attacker_report(attacker, "held");
    let start = std::time::Instant::now();
    while Path::new(&format!("/proc/{init}")).exists() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(60),
            "the init never exited"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::fs::write(format!("/proc/{attacker}/root/dev/shm/go"), "").unwrap();
    assert_binary_survived(attacker, &copy, &before);
}

#[test]
fn cve_2019_5736_run_of_proc_self_exe_cannot_overwrite_the_runtime_binary() {
    proc_self_exe_as_the_containers_process(false);
}

#[test]
fn cve_2019_5736_create_start_of_proc_self_exe_cannot_overwrite_the_runtime_binary() {
    proc_self_exe_as_the_containers_process(true);
}

/// CVE-2019-5736 through a startContainer hook: `start` runs it as a process of the container,
/// a clone of itself, so a hook at `/proc/self/exe` is the runtime's binary inside the
/// container, where a process exec'd into the created container holds it and writes it once
/// `start` has exited. The attacker has CAP_SYS_PTRACE to open its exe
/// (`docker --cap-add SYS_PTRACE` gives it).
#[test]
fn cve_2019_5736_start_container_hook_of_proc_self_exe_cannot_overwrite_the_runtime_binary() {
    require_prerequisites();
    let (_dir, copy, before) = runtime_copy(None);
    let mut b = exe_attack_bundle(&["sleep", "1000"]);
    // A victim that succeeds (features) once the attacker lets it open its log.
    b.spec["hooks"] = json!({"startContainer": [{"path": "/proc/self/exe",
        "args": ["ocirun", "--log", "/tmp/log", "--root", "/victim-marker", "features"]}]});
    b.write();
    let root = b.state_root();
    let id = unique_id("secexec-exe");
    let runtime = |root: &Path| {
        let mut c = std::process::Command::new(&copy);
        c.arg("--root").arg(root);
        c
    };
    run_detached(runtime(&root).args(["create", "--bundle"]).arg(b.path()).arg(&id));
    let _g = Guard(root.clone(), id.clone());
    let pid_file = b.path().join("attacker.pid");
    run_detached(
        ocirun(&root)
            .args(["exec", "--detach", "--cap", "CAP_SYS_PTRACE", "--pid-file"])
            .arg(&pid_file)
            .args([&id, "sh", "/attack.sh"]),
    );
    let attacker: i64 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    let start = runtime(&root)
        .args(["start", &id])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_or_kill(start, "ocirun start");
    std::fs::write(format!("/proc/{attacker}/root/dev/shm/go"), "").unwrap();
    assert_binary_survived(attacker, &copy, &before);
}
