//! Rootless mode (issue 19): ocirun run by an unprivileged user, as podman's rootless users
//! run it. Each test makes its own users with `useradd -m` (Debian's useradd gives each a
//! 65536-id range in /etc/subuid and /etc/subgid), runs ocirun as one with `setpriv`, and
//! removes them when it ends, with what they left running.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::run_ok;
use serde_json::{Value, json};
use test_support::{ConsoleSocket, read_pty_until, require_prerequisites};

/// useradd and userdel take the same lock on /etc/passwd: one at a time in this process.
fn users_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// A user made for one test; dropped, its processes are killed and it is removed with its home.
struct TestUser {
    name: String,
    uid: u32,
    gid: u32,
    home: PathBuf,
}

impl TestUser {
    fn new() -> TestUser {
        require_prerequisites();
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("ocirl{}x{n}", std::process::id());
        {
            let _l = users_lock();
            let out = Command::new("useradd")
                .args(["-m", "-s", "/bin/sh", &name])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "useradd {name}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let id = |flag: &str| -> u32 {
            let out = Command::new("id").args([flag, &name]).output().unwrap();
            String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
        };
        let user = TestUser {
            uid: id("-u"),
            gid: id("-g"),
            home: PathBuf::from(format!("/home/{name}")),
            name,
        };
        // The runtime's state root goes to $XDG_RUNTIME_DIR/ocirun, as for a login session.
        user.mkdir("run");
        std::fs::set_permissions(user.home.join("run"), std::fs::Permissions::from_mode(0o700)).unwrap();
        user
    }

    /// Makes `rel` in the home directory, owned by the user.
    fn mkdir(&self, rel: &str) -> PathBuf {
        let p = self.home.join(rel);
        std::fs::create_dir_all(&p).unwrap();
        self.chown(&p);
        p
    }

    fn chown(&self, p: &Path) {
        let ok = Command::new("chown")
            .args(["-R", &format!("{}:{}", self.uid, self.gid)])
            .arg(p)
            .status()
            .unwrap()
            .success();
        assert!(ok, "chown {}", p.display());
    }

    /// `cmd` with its arguments, run as this user with its groups and a login's environment.
    fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("setpriv");
        c.arg(format!("--reuid={}", self.uid))
            .arg(format!("--regid={}", self.gid))
            .arg("--init-groups")
            .arg("--")
            .arg(program)
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
            .env("HOME", &self.home)
            .env("USER", &self.name)
            .env("XDG_RUNTIME_DIR", self.home.join("run"))
            .current_dir(&self.home);
        c
    }

    /// The first id and the size of the user's range in `/etc/subuid` (or subgid).
    fn subids(&self, file: &str) -> (u32, u32) {
        let text = std::fs::read_to_string(file).unwrap();
        let line = text
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{}:", self.name)))
            .unwrap_or_else(|| panic!("{file} has no range for {}", self.name));
        let (start, size) = line.split_once(':').unwrap();
        (start.parse().unwrap(), size.parse().unwrap())
    }

    /// The pids of the processes running as this user.
    fn pids(&self) -> Vec<i32> {
        let mut pids = Vec::new();
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let Ok(status) = std::fs::read_to_string(e.path().join("status")) else {
                continue;
            };
            let uid = status
                .lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_whitespace().next().map(str::to_string));
            if uid.as_deref() == Some(&self.uid.to_string()) {
                pids.push(pid);
            }
        }
        pids
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        // What the test started as this user (containers, a victim's sleep), by pid.
        for _ in 0..50 {
            let pids = self.pids();
            if pids.is_empty() {
                break;
            }
            for pid in pids {
                // SAFETY: kill takes a pid and a signal only.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let _l = users_lock();
        let _ = Command::new("userdel").args(["-r", "-f", &self.name]).output();
    }
}

/// A rootless bundle in the user's home: `ocirun spec --rootless` run as the user (runc's
/// rootless spec for it), with `args` and no terminal, and a busybox rootfs the user owns.
struct RootlessBundle {
    dir: PathBuf,
    spec: Value,
}

impl RootlessBundle {
    fn new(user: &TestUser, name: &str, args: &[&str]) -> RootlessBundle {
        let dir = user.mkdir(name);
        test_support::build_rootfs(&dir.join("rootfs")).unwrap();
        user.chown(&dir);
        let bin = ocirun_for(user);
        run_ok(user.command(&bin).args(["spec", "--rootless", "--bundle"]).arg(&dir));
        let mut spec: Value = serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
        spec["process"]["terminal"] = json!(false);
        spec["process"]["args"] = json!(args);
        RootlessBundle { dir, spec }
    }

    fn write(&self) {
        std::fs::write(self.dir.join("config.json"), self.spec.to_string()).unwrap();
    }
}

/// The ocirun under test, copied where the user can run it (the target dir may not be
/// reachable to other users).
fn ocirun_for(user: &TestUser) -> PathBuf {
    let bin = user.home.join("ocirun");
    if !bin.exists() {
        std::fs::copy(env!("CARGO_BIN_EXE_ocirun"), &bin).unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    bin
}

/// ocirun as the user, in the bundle directory, with its default state root.
fn ocirun_as(user: &TestUser, b: &RootlessBundle) -> Command {
    let mut c = user.command(ocirun_for(user));
    c.current_dir(&b.dir).stdin(Stdio::null());
    c
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Force-deletes the container as the user when the test ends.
struct UserGuard<'a>(&'a TestUser, &'a RootlessBundle, &'a str);

impl Drop for UserGuard<'_> {
    fn drop(&mut self) {
        let _ = ocirun_as(self.0, self.1).args(["delete", "--force", self.2]).output();
    }
}

#[test]
fn rootless_run_maps_the_user_to_root_and_keeps_state_under_xdg_runtime_dir() {
    let user = TestUser::new();
    let b = RootlessBundle::new(
        &user,
        "b",
        &[
            "sh",
            "-c",
            "id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups; \
             test -c /dev/null && echo null-ok",
        ],
    );
    b.write();
    let _g = UserGuard(&user, &b, "c1");
    let out = run_ok(ocirun_as(&user, &b).args(["run", "c1"]));
    let text = stdout(&out);
    let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split_whitespace().collect()).collect();
    let (uid, gid) = (user.uid.to_string(), user.gid.to_string());
    assert_eq!(
        lines,
        [
            vec!["0"],
            vec!["0"],
            vec!["0", uid.as_str(), "1"],
            vec!["0", gid.as_str(), "1"],
            vec!["deny"],
            vec!["null-ok"],
        ],
        "{text}"
    );
    // No cgroup was delegated to the user: runc's warning, and the container ran anyway.
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("rootless: running without a cgroup of its own"), "{err}");
    // The state root was $XDG_RUNTIME_DIR/ocirun, made by the user for the user.
    let root = user.home.join("run/ocirun");
    let meta = std::fs::metadata(&root).expect("the state root under XDG_RUNTIME_DIR");
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&meta), user.uid);
    let left: Vec<_> = std::fs::read_dir(&root).unwrap().collect();
    assert!(left.is_empty(), "run left state behind: {left:?}");
}

#[test]
fn rootless_create_start_exec_kill_delete() {
    let user = TestUser::new();
    let b = RootlessBundle::new(&user, "b", &["sleep", "1000"]);
    b.write();
    let _g = UserGuard(&user, &b, "c2");
    let st = |want: &str| {
        let out = run_ok(ocirun_as(&user, &b).args(["state", "c2"]));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["status"], want, "{v}");
        v
    };
    run_ok(
        ocirun_as(&user, &b)
            .args(["create", "c2"])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    let v = st("created");
    let pid = v["pid"].as_i64().unwrap();
    // The init runs as the user on the host.
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let host_uid = status.lines().find_map(|l| l.strip_prefix("Uid:")).unwrap();
    assert_eq!(host_uid.split_whitespace().next(), Some(user.uid.to_string().as_str()));
    run_ok(ocirun_as(&user, &b).args(["start", "c2"]));
    st("running");
    let out = run_ok(ocirun_as(&user, &b).args(["exec", "c2", "sh", "-c", "id -u; cat /proc/1/comm"]));
    assert_eq!(stdout(&out), "0\nsleep\n");
    let listed = run_ok(ocirun_as(&user, &b).args(["list", "-q"]));
    assert_eq!(stdout(&listed), "c2\n");
    run_ok(ocirun_as(&user, &b).args(["kill", "c2", "KILL"]));
    for _ in 0..500 {
        let out = run_ok(ocirun_as(&user, &b).args(["state", "c2"]));
        if stdout(&out).contains("\"stopped\"") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    st("stopped");
    run_ok(ocirun_as(&user, &b).args(["delete", "c2"]));
    let listed = run_ok(ocirun_as(&user, &b).args(["list", "-q"]));
    assert_eq!(stdout(&listed), "");
}

#[test]
fn rootless_console_socket_gets_the_pty_master() {
    let user = TestUser::new();
    let mut b = RootlessBundle::new(
        &user,
        "b",
        &["sh", "-c", "test -t 0 && test -t 1 && echo tty-ok; sleep 1000"],
    );
    b.spec["process"]["terminal"] = json!(true);
    b.write();
    let _g = UserGuard(&user, &b, "c3");
    let console = ConsoleSocket::new();
    // The user must reach the socket: its directory and the socket itself.
    let sock = console.path();
    std::fs::set_permissions(sock.parent().unwrap(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o777)).unwrap();
    run_ok(
        ocirun_as(&user, &b)
            .args(["create", "--console-socket"])
            .arg(&sock)
            .arg("c3")
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    let (master, _) = console.accept_master();
    run_ok(ocirun_as(&user, &b).args(["start", "c3"]));
    let seen = read_pty_until(&master, Some("tty-ok"));
    assert!(seen.contains("tty-ok"), "{seen:?}");
}

#[test]
fn rootless_full_range_user_namespace_goes_through_newuidmap() {
    let user = TestUser::new();
    let (sub_uid, uid_size) = user.subids("/etc/subuid");
    let (sub_gid, gid_size) = user.subids("/etc/subgid");
    assert_eq!((uid_size, gid_size), (65536, 65536), "Debian's useradd gives 65536 ids");
    let mut b = RootlessBundle::new(
        &user,
        "b",
        &[
            "sh",
            "-c",
            "cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups; id",
        ],
    );
    // podman's rootless maps: the user to root, its whole range above.
    b.spec["linux"]["uidMappings"] = json!([
        {"containerID": 0, "hostID": user.uid, "size": 1},
        {"containerID": 1, "hostID": sub_uid, "size": uid_size}
    ]);
    b.spec["linux"]["gidMappings"] = json!([
        {"containerID": 0, "hostID": user.gid, "size": 1},
        {"containerID": 1, "hostID": sub_gid, "size": gid_size}
    ]);
    // A user of the range, with supplementary groups: newgidmap leaves setgroups allowed.
    b.spec["process"]["user"] = json!({"uid": 1000, "gid": 1000, "additionalGids": [2000, 65536]});
    b.write();
    let _g = UserGuard(&user, &b, "c4");
    let out = run_ok(ocirun_as(&user, &b).args(["run", "c4"]));
    let text = stdout(&out);
    let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split_whitespace().collect()).collect();
    let (uid, gid, suid, sgid) = (
        user.uid.to_string(),
        user.gid.to_string(),
        sub_uid.to_string(),
        sub_gid.to_string(),
    );
    assert_eq!(
        lines[..5],
        [
            vec!["0", uid.as_str(), "1"],
            vec!["1", suid.as_str(), "65536"],
            vec!["0", gid.as_str(), "1"],
            vec!["1", sgid.as_str(), "65536"],
            vec!["allow"],
        ],
        "{text}"
    );
    assert_eq!(lines[5], ["uid=1000", "gid=1000", "groups=2000,65536"], "{text}");
}

#[test]
fn rootless_single_id_map_refuses_additional_gids_by_name() {
    let user = TestUser::new();
    let mut b = RootlessBundle::new(&user, "b", &["true"]);
    b.spec["process"]["user"]["additionalGids"] = json!([0]);
    b.write();
    let _g = UserGuard(&user, &b, "c5");
    let out = ocirun_as(&user, &b).args(["run", "c5"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("process.user.additionalGids"),
        "{err}"
    );
}

#[test]
fn rootless_without_a_user_namespace_is_refused_by_name() {
    let user = TestUser::new();
    let mut b = RootlessBundle::new(&user, "b", &["true"]);
    let ns: Vec<Value> = b.spec["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["type"] != "user")
        .cloned()
        .collect();
    b.spec["linux"]["namespaces"] = json!(ns);
    let linux = b.spec["linux"].as_object_mut().unwrap();
    linux.remove("uidMappings");
    linux.remove("gidMappings");
    b.write();
    let _g = UserGuard(&user, &b, "c11");
    let out = ocirun_as(&user, &b).args(["run", "c11"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("needs a user namespace"), "{err}");
    let listed = run_ok(ocirun_as(&user, &b).args(["list", "-q"]));
    assert_eq!(stdout(&listed), "", "a failed create left state");
}

#[test]
fn rootless_seccomp_profile_is_applied() {
    let user = TestUser::new();
    let mut b = RootlessBundle::new(&user, "b", &["sh", "-c", "mkdir /tmp/x; echo rc=$?"]);
    b.spec["mounts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid"]}));
    b.spec["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]
    });
    b.write();
    let _g = UserGuard(&user, &b, "c6");
    let out = run_ok(ocirun_as(&user, &b).args(["run", "c6"]));
    let text = stdout(&out) + &String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("rc=1"), "{text}");
    assert!(
        text.contains("Function not implemented"),
        "mkdir did not get errno 38: {text}"
    );
}

#[test]
fn rootless_cgroup_path_or_limits_without_a_delegated_cgroup_fail_by_name() {
    let user = TestUser::new();
    let mut b = RootlessBundle::new(&user, "b", &["true"]);
    b.spec["linux"]["resources"] = json!({"pids": {"limit": 20}});
    b.write();
    let _g = UserGuard(&user, &b, "c7");
    let out = ocirun_as(&user, &b).args(["run", "c7"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("linux.cgroupsPath"), "{err}");
    assert!(err.contains("rootless"), "{err}");
    let listed = run_ok(ocirun_as(&user, &b).args(["list", "-q"]));
    assert_eq!(stdout(&listed), "", "a failed create left state");
}

/// The isolation a rootless container keeps (issue 19's acceptance): its root, with every
/// capability in its user namespace, can neither signal a process of another user nor write
/// (or read) a file another user owns, even with both in reach: the host's pid namespace and
/// the other user's directory bound in.
#[test]
fn a_rootless_container_cannot_kill_or_write_what_another_user_owns() {
    let user = TestUser::new();
    let victim = TestUser::new();
    // The victim's process and files.
    let mut sleeper = victim
        .command("sleep")
        .arg("1000")
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let vpid = sleeper.id();
    let data = victim.mkdir("data");
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(data.join("file"), "victim's\n").unwrap();
    std::fs::write(data.join("secret"), "secret\n").unwrap();
    victim.chown(&data);
    std::fs::set_permissions(data.join("file"), std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(data.join("secret"), std::fs::Permissions::from_mode(0o600)).unwrap();

    let script = format!(
        "kill -9 {vpid} && echo KILLED; \
         echo owned > /victim/file && echo WROTE; \
         rm -f /victim/file && echo REMOVED; \
         chmod 666 /victim/file && echo CHMODDED; \
         cat /victim/secret && echo READ; \
         cat /shadow >/dev/null && echo SHADOW; \
         echo done"
    );
    let mut b = RootlessBundle::new(&user, "b", &["sh", "-c", &script]);
    // The host's pid namespace: the victim's sleep is in reach of kill (procfs bound, as a
    // user namespace cannot mount the host pid namespace's procfs).
    let ns: Vec<Value> = b.spec["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["type"] != "pid")
        .cloned()
        .collect();
    b.spec["linux"]["namespaces"] = json!(ns);
    let mounts = b.spec["mounts"].as_array_mut().unwrap();
    for m in mounts.iter_mut() {
        if m["destination"] == "/proc" {
            *m = json!({"destination": "/proc", "type": "bind", "source": "/proc", "options": ["rbind", "nosuid", "noexec", "nodev"]});
        }
    }
    mounts.push(json!({"destination": "/victim", "type": "bind", "source": data, "options": ["rbind", "rw"]}));
    mounts.push(json!({"destination": "/shadow", "type": "bind", "source": "/etc/shadow", "options": ["bind", "ro"]}));
    // Every capability the container's root can have.
    let all: Vec<String> = [
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_DAC_READ_SEARCH",
        "CAP_FOWNER",
        "CAP_FSETID",
        "CAP_KILL",
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_SYS_ADMIN",
        "CAP_SYS_PTRACE",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for set in ["bounding", "effective", "permitted"] {
        b.spec["process"]["capabilities"][set] = json!(all);
    }
    b.spec["process"]["noNewPrivileges"] = json!(false);
    b.write();
    let _g = UserGuard(&user, &b, "c8");
    let out = ocirun_as(&user, &b).args(["run", "c8"]).output().unwrap();
    let text = stdout(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(text.ends_with("done\n"), "the container did not run: {text} {err}");
    for forbidden in ["KILLED", "WROTE", "REMOVED", "CHMODDED", "READ", "SHADOW"] {
        assert!(
            !text.contains(forbidden),
            "the rootless container {forbidden}: {text} {err}"
        );
    }
    // The host agrees: the victim's process lives, its files are as they were.
    assert!(sleeper.try_wait().unwrap().is_none(), "the victim's sleep died");
    assert_eq!(std::fs::read_to_string(data.join("file")).unwrap(), "victim's\n");
    let mode = std::fs::metadata(data.join("file")).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644);
    let _ = sleeper.kill();
    let _ = sleeper.wait();
}

/// A cgroup tree made for the user in every hierarchy (chowned, as systemd's `Delegate=yes`
/// or an administrator's chown delegates one); removed, deepest first, when dropped.
struct DelegatedCgroup {
    rel: String,
    mounts: Vec<PathBuf>,
}

impl DelegatedCgroup {
    fn new(user: &TestUser) -> DelegatedCgroup {
        let rel = format!("{}/{}-deleg", test_support::cgroup_parent(), user.name);
        let mounts = test_support::cgroup_mounts();
        for m in &mounts {
            let d = m.join(&rel);
            std::fs::create_dir_all(d.join("caller")).unwrap();
            // v1 cpuset: a new cgroup takes no task until it has cpus and mems (its parent's).
            if m.join("cpuset.cpus").exists() {
                let mut dir = m.clone();
                for part in format!("{rel}/caller").split('/') {
                    dir = dir.join(part);
                    for f in ["cpuset.cpus", "cpuset.mems"] {
                        if std::fs::read_to_string(dir.join(f)).unwrap().trim().is_empty() {
                            let parent = std::fs::read_to_string(dir.parent().unwrap().join(f)).unwrap();
                            std::fs::write(dir.join(f), parent.trim()).unwrap();
                        }
                    }
                }
            }
            // cgroup v2: the pids controller is enabled down to the delegated tree (systemd
            // does so for a Delegate=yes unit); below it, enabling is the user's (ocirun's).
            if m.join("cgroup.subtree_control").exists() {
                let mut dir = m.clone();
                for part in rel.split('/') {
                    let has_pids = std::fs::read_to_string(dir.join("cgroup.controllers"))
                        .unwrap()
                        .split_whitespace()
                        .any(|c| c == "pids");
                    if has_pids {
                        std::fs::write(dir.join("cgroup.subtree_control"), "+pids").unwrap();
                    }
                    dir = dir.join(part);
                }
            }
            user.chown(&d);
        }
        DelegatedCgroup { rel, mounts }
    }

    /// The procs file of the caller's cgroup in every hierarchy.
    fn caller_procs(&self) -> Vec<PathBuf> {
        self.mounts
            .iter()
            .map(|m| m.join(&self.rel).join("caller/cgroup.procs"))
            .collect()
    }
}

impl Drop for DelegatedCgroup {
    fn drop(&mut self) {
        for m in &self.mounts {
            let d = m.join(&self.rel);
            for sub in ["ctr", "caller", ""] {
                let _ = std::fs::remove_dir(d.join(sub));
            }
        }
    }
}

/// A cgroup delegated to the user is used, limits and all (runc: rootless uses the cgroup
/// when it can write it). On cgroup v2 the kernel lets a process move only within a subtree
/// the mover may write at the common ancestor: the caller runs in the delegated tree, as a
/// systemd user session does.
#[test]
fn rootless_uses_a_cgroup_delegated_to_the_user() {
    let user = TestUser::new();
    let deleg = DelegatedCgroup::new(&user);
    let mut b = RootlessBundle::new(&user, "b", &["cat", "/sys/fs/cgroup/pids/pids.max"]);
    if test_support::pure_v2() {
        b.spec["process"]["args"] = json!(["cat", "/sys/fs/cgroup/pids.max"]);
    }
    b.spec["linux"]["cgroupsPath"] = json!(format!("/{}/ctr", deleg.rel));
    b.spec["linux"]["resources"] = json!({"pids": {"limit": 20}});
    b.write();
    let _g = UserGuard(&user, &b, "c9");
    // The caller joins the delegated tree (as root), then becomes the user and runs ocirun.
    let procs: Vec<String> = deleg.caller_procs().iter().map(|p| p.display().to_string()).collect();
    let script = format!(
        "for f in {}; do echo $$ > \"$f\" || exit 99; done; exec \"$@\"",
        procs.join(" ")
    );
    let inner = ocirun_as(&user, &b);
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(&script)
        .arg("sh")
        .arg(inner.get_program())
        .args(inner.get_args())
        .args(["run", "c9"])
        .env_clear()
        .envs(inner.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))))
        .current_dir(&b.dir)
        .stdin(Stdio::null());
    let out = run_ok(&mut cmd);
    assert_eq!(stdout(&out), "20\n");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("without a cgroup"), "{err}");
    // Its cgroup is removed with it.
    for m in &deleg.mounts {
        assert!(!m.join(&deleg.rel).join("ctr").exists(), "{} left", m.display());
    }
}

/// Without a cgroup of its own, the cgroup mount shows the caller's cgroups, bound read-only
/// even when the spec asks for rw (runc's fix of CVE-2023-25809: a rootless container could
/// write the user's own cgroup, e.g. a systemd user slice).
#[test]
fn rootless_without_a_cgroup_binds_the_callers_cgroups_read_only() {
    let user = TestUser::new();
    let mut b = RootlessBundle::new(
        &user,
        "b",
        &[
            "sh",
            "-c",
            "test -d /sys/fs/cgroup/pids && echo mounted; mkdir /sys/fs/cgroup/pids/x",
        ],
    );
    if test_support::pure_v2() {
        b.spec["process"]["args"] = json!([
            "sh",
            "-c",
            "test -f /sys/fs/cgroup/cgroup.procs && echo mounted; mkdir /sys/fs/cgroup/x"
        ]);
    }
    for m in b.spec["mounts"].as_array_mut().unwrap() {
        if m["type"] == "cgroup" {
            m["options"] = json!(["nosuid", "noexec", "nodev", "rw"]);
        }
    }
    b.write();
    let _g = UserGuard(&user, &b, "c10");
    let out = ocirun_as(&user, &b).args(["run", "c10"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stdout(&out), "mounted\n", "{err}");
    assert!(err.contains("Read-only file system"), "{err}");
}

/// The user's own systemd (`user@UID.service`, as `loginctl enable-linger` or a login starts
/// it), started for a test and stopped when it ends, with the user's runtime directory.
struct UserManager(u32);

impl UserManager {
    fn start(user: &TestUser) -> UserManager {
        let unit = format!("user@{}.service", user.uid);
        run_ok(Command::new("systemctl").args(["start", &unit]));
        UserManager(user.uid)
    }

    /// The user bus socket (Debian's dbus-user-session makes it for the user manager).
    fn bus(&self) -> PathBuf {
        PathBuf::from(format!("/run/user/{}/bus", self.0))
    }
}

impl Drop for UserManager {
    fn drop(&mut self) {
        let _ = Command::new("systemctl")
            .args([
                "stop",
                &format!("user@{}.service", self.0),
                &format!("user-runtime-dir@{}.service", self.0),
            ])
            .output();
    }
}

/// Rootless `--systemd-cgroup` asks the user's own systemd over the user bus, as runc's rootless
/// systemd driver: the transient scope is in the user manager's "user.slice" (the default slice
/// there), below user@UID.service, holding the init, with the spec's pids limit in its cgroup;
/// delete stops the unit. Needs systemd as pid 1 on pure v2 (the VM test host); elsewhere it
/// says so and returns.
#[test]
fn rootless_systemd_cgroup_uses_the_users_own_systemd() {
    require_prerequisites();
    let present = Path::new("/run/systemd/system").is_dir() && test_support::pure_v2();
    if !present {
        assert!(
            std::env::var_os("OCIRUN_VM_TEST").is_none(),
            "the VM test host lacks systemd as pid 1 on pure cgroup v2"
        );
        eprintln!("skipped: this host lacks systemd as pid 1 on pure cgroup v2");
        return;
    }
    let user = TestUser::new();
    let manager = UserManager::start(&user);
    assert!(
        manager.bus().exists(),
        "{} missing: the user bus needs Debian's dbus-user-session",
        manager.bus().display()
    );
    let mut b = RootlessBundle::new(&user, "b", &["sleep", "1000"]);
    b.spec["linux"]["cgroupsPath"] = json!(":ocirun-test:sd1");
    b.spec["linux"]["resources"] = json!({"pids": {"limit": 20}});
    b.write();
    let _g = UserGuard(&user, &b, "sd1");
    let bus_env = format!("unix:path={}", manager.bus().display());
    let ocirun = || {
        let mut c = ocirun_as(&user, &b);
        c.env("DBUS_SESSION_BUS_ADDRESS", &bus_env).arg("--systemd-cgroup");
        c
    };
    run_ok(
        ocirun()
            .args(["create", "sd1"])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    let out = run_ok(ocirun().args(["state", "sd1"]));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let pid = v["pid"].as_i64().unwrap();
    let scope = format!(
        "/user.slice/user-{uid}.slice/user@{uid}.service/user.slice/ocirun-test-sd1.scope",
        uid = user.uid
    );
    let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert_eq!(cgroup.trim(), format!("0::{scope}"));
    let dir = Path::new("/sys/fs/cgroup").join(scope.trim_start_matches('/'));
    assert_eq!(std::fs::read_to_string(dir.join("pids.max")).unwrap().trim(), "20");
    // The unit is the user manager's, not the system's.
    let shown = run_ok(
        user.command("systemctl")
            .env("DBUS_SESSION_BUS_ADDRESS", &bus_env)
            .args([
                "--user",
                "show",
                "-p",
                "ActiveState",
                "--value",
                "ocirun-test-sd1.scope",
            ]),
    );
    assert_eq!(stdout(&shown).trim(), "active");
    run_ok(ocirun().args(["delete", "--force", "sd1"]));
    assert!(!dir.exists(), "{} left after delete", dir.display());
}
