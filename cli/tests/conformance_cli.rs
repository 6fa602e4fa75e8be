//! runc's contract as its clients and the OCI conformance suites see it (issue 15): process.json
//! defaults, exit codes, error texts, hooks, mounts and cgroups, through the binary.

mod common;

use std::process::Stdio;

use common::{Guard, ocirun, run_detached, run_ok, state};
use serde_json::json;
use test_support::{Bundle, require_prerequisites, unique_id};

/// A running container that sleeps, detached, from `b`.
fn run_sleeper(b: &Bundle, prefix: &str) -> (String, Guard) {
    let id = unique_id(prefix);
    let guard = Guard(b.state_root(), id.clone());
    run_detached(
        ocirun(&b.state_root())
            .args(["run", "--detach", "--bundle"])
            .arg(b.path())
            .arg(&id),
    );
    (id, guard)
}

/// A sleeping busybox container's bundle.
fn sleeper_bundle() -> Bundle {
    require_prerequisites();
    let b = Bundle::new(&["sleep", "1000"]);
    b.write();
    b
}

/// `exec -p` with a process.json that has no `user` runs as root, as runc's (issue 15 item 22).
#[test]
fn exec_process_json_without_user_runs_as_root() {
    let b = sleeper_bundle();
    let (id, _g) = run_sleeper(&b, "nouser");
    let process = b.path().join("process.json");
    std::fs::write(
        &process,
        json!({"args": ["sh", "-c", "echo $(id -u):$(id -g)"], "cwd": "/"}).to_string(),
    )
    .unwrap();
    let out = run_ok(
        ocirun(&b.state_root())
            .args(["exec", "-p"])
            .arg(&process)
            .arg(&id)
            .stdin(Stdio::null()),
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "0:0\n");
}

/// ocirun's own failure in `exec` exits 255, so that it can be told from the process exiting 1
/// (runc's "exec failed: ..."), as with an unwritable `--pid-file` or a paused container
/// (issue 15 item 19).
#[test]
fn exec_failures_exit_255_and_the_process_status_passes_through() {
    let b = sleeper_bundle();
    let (id, _g) = run_sleeper(&b, "exit255");
    let root = b.state_root();
    let code = |args: &[&str]| {
        let out = ocirun(&root).args(args).stdin(Stdio::null()).output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    assert_eq!(code(&["exec", &id, "sh", "-c", "exit 1"]).0, Some(1));
    let (status, err) = code(&["exec", "--pid-file", "/nonexistent-dir/pid", &id, "true"]);
    assert_eq!(status, Some(255), "{err}");
    assert!(err.contains("exec failed: "), "{err}");
    run_ok(ocirun(&root).args(["pause", &id]));
    let (status, err) = code(&["exec", &id, "true"]);
    run_ok(ocirun(&root).args(["resume", &id]));
    assert_eq!(status, Some(255), "{err}");
    assert!(err.contains("cannot exec in a paused container"), "{err}");
}

/// The conditions runc's clients match carry runc's words, at level "error", in the `--log`
/// file and on stderr; `--log-format` without `--log` makes stderr log lines (issue 15 item 13).
#[test]
fn status_errors_carry_runcs_words_in_the_log_and_on_stderr() {
    let b = sleeper_bundle();
    let root = b.state_root();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log.json");
    let (ok, err) =
        common::run_status(
            ocirun(&root)
                .arg("--log")
                .arg(&log)
                .args(["--log-format", "json", "state", "nosuch"]),
        );
    assert!(!ok);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("container does not exist"), "{err}");
    let text = std::fs::read_to_string(&log).unwrap();
    let line: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(line["level"], "error", "{text}");
    assert!(
        line["msg"].as_str().unwrap().contains("container does not exist"),
        "{text}"
    );

    let (_, err) = common::run_status(ocirun(&root).args(["--log-format", "text", "pause", "nosuch"]));
    assert!(err.starts_with("time=\""), "{err}");
    assert!(err.contains(" level=error msg=\"container does not exist"), "{err}");
    let (_, err) = common::run_status(ocirun(&root).args(["--log-format", "json", "resume", "nosuch"]));
    let line: serde_json::Value = serde_json::from_str(err.trim()).unwrap();
    assert_eq!(line["level"], "error", "{err}");

    let (id, _g) = run_sleeper(&b, "runcwords");
    let words = |args: &[&str], want: &str| {
        let (ok, err) = common::run_status(ocirun(&root).args(args));
        assert!(!ok && err.contains(want), "{args:?}: {err}");
    };
    words(&["resume", &id], "container not paused");
    words(&["start", &id], "cannot start an already running container");
    words(&["delete", &id], "cannot delete a container that is not stopped");
    words(
        &["run", "-d", "--bundle", b.path().to_str().unwrap(), &id],
        "container with given ID already exists",
    );
    run_ok(ocirun(&root).args(["kill", &id, "KILL"]));
    while state(&root, &id)["status"] != "stopped" {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    words(&["pause", &id], "container not running");
    words(&["update", "--pids-limit", "10", &id], "container not running");
    words(&["exec", &id, "true"], "cannot exec in a stopped container");
}

/// The effective capability mask of a process, from its `/proc/self/status` text.
fn cap_eff(status: &str) -> u64 {
    let hex = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .unwrap_or_else(|| panic!("no CapEff in {status}"));
    u64::from_str_radix(hex.trim(), 16).unwrap()
}

/// runc's `CAP_` names in `exec --cap`, a process.json and config.json (issue 15 item 7).
#[test]
fn cap_names_are_accepted_in_exec_flags_process_json_and_config() {
    require_prerequisites();
    let mut b = Bundle::new(&["sleep", "1000"]);
    let caps = json!(["CAP_KILL", "CAP_NET_ADMIN"]);
    b.spec["process"]["capabilities"] = json!({"bounding": caps, "effective": caps, "permitted": caps});
    b.write();
    let (id, _g) = run_sleeper(&b, "capnames");
    let root = b.state_root();
    let bit = |cap: u32| 1u64 << cap;
    let (kill, net_admin, sys_admin) = (bit(5), bit(12), bit(21));
    let eff = |out: std::process::Output| cap_eff(&String::from_utf8_lossy(&out.stdout));

    let own = eff(run_ok(ocirun(&root).args(["exec", &id, "cat", "/proc/self/status"])));
    assert_eq!(own, kill | net_admin, "config.json's CAP_ names");
    let with = eff(run_ok(ocirun(&root).args([
        "exec",
        "--cap",
        "CAP_SYS_ADMIN",
        &id,
        "cat",
        "/proc/self/status",
    ])));
    assert_eq!(with, kill | net_admin | sys_admin, "exec --cap CAP_SYS_ADMIN");

    let process = b.path().join("process.json");
    let caps = json!(["CAP_SYS_ADMIN"]);
    std::fs::write(
        &process,
        json!({"args": ["cat", "/proc/self/status"], "cwd": "/", "user": {"uid": 0, "gid": 0},
               "capabilities": {"bounding": caps, "effective": caps, "permitted": caps}})
        .to_string(),
    )
    .unwrap();
    let from_json = eff(run_ok(
        ocirun(&root)
            .args(["exec", "-p"])
            .arg(&process)
            .arg(&id)
            .stdin(Stdio::null()),
    ));
    assert_eq!(from_json, sys_admin, "process.json's CAP_ names");
}

/// The options field of the mountinfo line of `target` in `mountinfo`.
fn mount_options<'a>(mountinfo: &'a str, target: &str) -> &'a str {
    mountinfo
        .lines()
        .filter_map(|l| l.split(' ').collect::<Vec<_>>().get(4..6).map(|f| (f[0], f[1])))
        .rfind(|(t, _)| *t == target)
        .unwrap_or_else(|| panic!("no mount at {target} in {mountinfo}"))
        .1
}

/// `rnorelatime` leaves a mount relatime, as runc's clear of the 0 bit does (issue 15 item 14).
#[test]
fn rnorelatime_leaves_a_mount_relatime() {
    require_prerequisites();
    let mut b = Bundle::new(&["cat", "/proc/self/mountinfo"]);
    let mounts = b.spec["mounts"].as_array_mut().unwrap();
    mounts.push(json!({"destination": "/mnt", "type": "tmpfs", "source": "tmpfs", "options": ["rnorelatime"]}));
    mounts.push(json!({"destination": "/opt", "type": "tmpfs", "source": "tmpfs",
                       "options": ["rnoatime", "rnorelatime"]}));
    b.write();
    let id = unique_id("rnorelatime");
    let _g = Guard(b.state_root(), id.clone());
    let out = run_ok(
        ocirun(&b.state_root())
            .args(["run", "--bundle"])
            .arg(b.path())
            .arg(&id)
            .stdin(Stdio::null()),
    );
    let mountinfo = String::from_utf8_lossy(&out.stdout);
    let mnt = mount_options(&mountinfo, "/mnt");
    assert!(mnt.split(',').any(|o| o == "relatime"), "{mnt}");
    let opt = mount_options(&mountinfo, "/opt");
    assert!(opt.split(',').any(|o| o == "noatime"), "{opt}");
}

/// A startContainer hook runs under the container's seccomp filter, loaded early when
/// noNewPrivileges is false, and gets the container process's env when it sets none
/// (issue 15 items 14, 24).
#[test]
fn start_container_hook_runs_under_the_seccomp_filter_with_the_process_env() {
    require_prerequisites();
    let mut b = Bundle::new(&["sleep", "1000"]);
    b.spec["root"]["readonly"] = json!(false);
    b.spec["process"]["noNewPrivileges"] = json!(false);
    b.spec["process"]["env"] = json!(["PATH=/bin:/usr/bin", "MARK=from-process"]);
    b.spec["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["sethostname"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
    });
    b.spec["hooks"] = json!({"startContainer": [{
        "path": "/bin/sh",
        "args": ["sh", "-c", "grep Seccomp: /proc/self/status > /hook; echo MARK=$MARK >> /hook; \
                             hostname blocked 2>/dev/null; echo hostname=$? >> /hook"]
    }]});
    b.write();
    let (id, _g) = run_sleeper(&b, "hookseccomp");
    let pid = state(&b.state_root(), &id)["pid"].as_i64().unwrap();
    let report = std::fs::read_to_string(format!("/proc/{pid}/root/hook")).unwrap();
    let lines: Vec<String> = report
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(lines, ["Seccomp: 2", "MARK=from-process", "hostname=1"], "{report}");
}

/// A read-only `/dev` tmpfs with a terminal: the console is bound on `/dev/console` before `/dev`
/// goes read-only, as runc does (issue 15 item 21).
#[test]
fn a_read_only_dev_with_a_console_is_created_and_stays_read_only() {
    require_prerequisites();
    let mut b = Bundle::new(&[
        "sh",
        "-c",
        "grep ' /dev ' /proc/self/mountinfo; [ -c /dev/console ] && echo console-ok; touch /dev/x || echo dev-ro; sleep 1000",
    ]);
    b.spec["process"]["terminal"] = json!(true);
    for m in b.spec["mounts"].as_array_mut().unwrap() {
        if m["destination"] == "/dev" {
            m["options"].as_array_mut().unwrap().push(json!("ro"));
        }
    }
    b.write();
    let root = b.state_root();
    let id = unique_id("rodev");
    let _g = Guard(root.clone(), id.clone());
    let console = test_support::ConsoleSocket::new();
    run_detached(
        ocirun(&root)
            .args(["run", "-d", "--console-socket"])
            .arg(console.path())
            .arg("--bundle")
            .arg(b.path())
            .arg(&id),
    );
    let (master, _) = console.accept_master();
    let out = test_support::read_pty_until(&master, Some("dev-ro\n"));
    let dev = out.lines().next().unwrap_or_default();
    assert!(
        dev.split(' ').nth(5).is_some_and(|o| o.split(',').any(|o| o == "ro")),
        "{out}"
    );
    assert!(out.contains("console-ok\n") && out.contains("dev-ro\n"), "{out}");
}

/// Waits for `child` to exit; if it has not after a generous bound, SIGKILLs it and `also`
/// (which may hold what it waits for) and fails the test: what it reports is a deadlock, not
/// a timing.
fn wait_or_deadlock(
    mut child: std::process::Child,
    also: Option<&mut std::process::Child>,
    what: &str,
) -> std::process::Output {
    for _ in 0..6000 {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    if let Some(other) = also {
        let _ = other.kill();
        let _ = other.wait();
    }
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    panic!("{what} never returned: {}", String::from_utf8_lossy(&out.stderr));
}

/// `exec --ignore-paused` into a paused container waits, holding no lock, for a `resume` from
/// another shell, then runs (issue 15 item 6).
#[test]
fn exec_ignore_paused_lets_resume_through() {
    let b = sleeper_bundle();
    let (id, _g) = run_sleeper(&b, "ignpaused");
    let root = b.state_root();
    run_ok(ocirun(&root).args(["pause", &id]));
    let tasks = b.cgroup_dir("freezer").join("tasks");
    let count = || std::fs::read_to_string(&tasks).unwrap().lines().count();
    let before = count();
    let mut exec = ocirun(&root)
        .args(["exec", "--ignore-paused", &id, "echo", "ran"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The exec's process is in the frozen cgroup: exec now waits on it.
    while count() == before {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let resume = ocirun(&root)
        .args(["resume", &id])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let resumed = wait_or_deadlock(resume, Some(&mut exec), "resume during exec --ignore-paused");
    assert!(resumed.status.success(), "{}", String::from_utf8_lossy(&resumed.stderr));
    let out = wait_or_deadlock(exec, None, "exec --ignore-paused after resume");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ran\n");
}

/// Removes a cgroup the test named in every hierarchy when the test ends.
struct CgroupGuard(String);

impl Drop for CgroupGuard {
    fn drop(&mut self) {
        for mount in test_support::cgroup_mounts() {
            let _ = std::fs::remove_dir(mount.join(&self.0));
        }
    }
}

/// A cgroupsPath under a pod cgroup that does not exist yet: each new v1 cpuset level gets
/// its parent's cpus and mems, so the init can join it (issue 15 item 17).
#[test]
fn a_nested_cgroup_path_under_a_new_pod_cgroup_is_joined() {
    require_prerequisites();
    let mut b = Bundle::new(&["sleep", "1000"]);
    let pod = format!("{}/{}", test_support::cgroup_parent(), unique_id("pod"));
    let _pod = CgroupGuard(pod.clone());
    b.spec["linux"]["cgroupsPath"] = json!(format!("/{pod}/ctr"));
    b.spec["linux"]["resources"] = json!({"cpu": {"cpus": "0"}});
    b.write();
    let (id, _g) = run_sleeper(&b, "nested");
    let pid = state(&b.state_root(), &id)["pid"].as_i64().unwrap();
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(
        cgroups
            .lines()
            .any(|l| l.contains(":cpuset:") && l.ends_with(&format!("/{pod}/ctr"))),
        "{cgroups}"
    );
    let cpus = std::fs::read_to_string(format!("/sys/fs/cgroup/cpuset/{pod}/cpuset.cpus")).unwrap();
    assert!(!cpus.trim().is_empty(), "the pod level has no cpus");
}

/// `run -d` into a cgroup that exists already and is frozen is refused, as runc does, and the
/// cgroup is left as it was (issue 15 item 16).
#[test]
fn a_preexisting_frozen_cgroup_is_refused() {
    let b = sleeper_bundle();
    let rel = b.cgroups_path().trim_start_matches('/').to_owned();
    let _cg = CgroupGuard(rel);
    let freezer = b.cgroup_dir("freezer");
    std::fs::create_dir_all(&freezer).unwrap();
    std::fs::write(freezer.join("freezer.state"), "FROZEN").unwrap();
    let id = unique_id("frozencg");
    let _g = Guard(b.state_root(), id.clone());
    let run = ocirun(&b.state_root())
        .args(["run", "-d", "--bundle"])
        .arg(b.path())
        .arg(&id)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = wait_or_deadlock(run, None, "run -d into a frozen cgroup");
    let thaw = std::fs::write(freezer.join("freezer.state"), "THAWED");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "run into a frozen cgroup succeeded");
    assert!(err.contains("container's cgroup unexpectedly frozen"), "{err}");
    assert!(freezer.is_dir(), "the cgroup that was there is gone");
    thaw.unwrap();
    assert!(
        !b.state_root().join(&id).exists(),
        "the refused container left its state"
    );
}

/// `events` without `--interval` streams a stats event every 5 s, runc's default, to a pipe
/// (issue 15 item 18; OOM events on the same stream: cgroups.rs).
#[test]
fn events_streams_stats_at_the_default_interval() {
    use std::io::BufRead;
    let b = sleeper_bundle();
    let (id, _g) = run_sleeper(&b, "evdefault");
    let mut child = ocirun(&b.state_root())
        .args(["events", &id])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let line = lines.next().unwrap().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let event: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(
        (event["type"].as_str(), event["id"].as_str()),
        (Some("stats"), Some(id.as_str())),
        "{line}"
    );
    assert!(event["data"]["pids"]["current"].as_u64() == Some(1), "{line}");
}

/// A createContainer hook's bind mount into the container's root (the hook runs in the
/// container's mount namespace, before the root switch) is what the container sees
/// (issue 15 item 23).
#[test]
fn a_create_container_hook_bind_mount_is_visible_in_the_container() {
    require_prerequisites();
    let mut b = Bundle::new(&["cat", "/mnt/hooked/marker"]);
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("marker"), "from-the-hook\n").unwrap();
    std::fs::create_dir_all(b.rootfs().join("mnt/hooked")).unwrap();
    let target = b.rootfs().join("mnt/hooked");
    b.spec["hooks"] = json!({"createContainer": [{
        "path": "/bin/mount",
        "args": ["mount", "--bind", src.path(), target]
    }]});
    b.spec["root"]["readonly"] = json!(true);
    b.write();
    for flags in [&[][..], &["--no-pivot"][..]] {
        let id = unique_id("hookbind");
        let _g = Guard(b.state_root(), id.clone());
        let out = run_ok(
            ocirun(&b.state_root())
                .args(["run", "--bundle"])
                .arg(b.path())
                .args(flags)
                .arg(&id)
                .stdin(Stdio::null()),
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout), "from-the-hook\n", "{flags:?}");
    }
}

/// A bind mount in a user-namespaced container whose source the mapped root cannot reach (a
/// 0700 directory of the host's root on the way): the runtime opens it with its own
/// privileges before the switch and mounts it by fd, as runc (issue 15 item 25).
#[test]
fn a_user_namespace_bind_mounts_a_source_the_mapped_root_cannot_reach() {
    use std::os::unix::fs::PermissionsExt;
    require_prerequisites();
    let mut b = Bundle::new(&["cat", "/mnt/secret/marker"]);
    b.spec["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "user"}));
    let private = tempfile::tempdir().unwrap();
    std::fs::set_permissions(private.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let src = private.path().join("shared");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("marker"), "reached\n").unwrap();
    std::fs::set_permissions(&src, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(src.join("marker"), std::fs::Permissions::from_mode(0o644)).unwrap();
    b.spec["mounts"] = json!([
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/mnt/secret", "type": "bind", "source": src, "options": ["rbind", "ro"]}
    ]);
    b.map_ids_to(100000);
    b.write();
    let id = unique_id("usernsbind");
    let _g = Guard(b.state_root(), id.clone());
    let out = run_ok(
        ocirun(&b.state_root())
            .args(["run", "--bundle"])
            .arg(b.path())
            .arg(&id)
            .stdin(Stdio::null()),
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "reached\n");
}
