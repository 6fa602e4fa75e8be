//! Escapes through the process side of the runtime (the init between clone and exec, `exec`,
//! create/start, the console, hooks, signals, the state directory), tried against the real
//! binary: each test performs the attack and checks on the host that it failed.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Guard, ocirun, run_detached, run_ok};
use serde_json::json;
use test_support::{Bundle, require_prerequisites, unique_id};

/// Compiles `tests/probe/<name>.c` once per test run.
fn probe(name: &'static str) -> PathBuf {
    common::static_probe(name)
}

/// Gives the process Docker's capabilities plus `extra` (`--cap-add`).
fn docker_caps(b: &mut Bundle, extra: &[&str]) {
    b.docker_caps(extra);
}

/// A host directory with a secret the container must never read, and where it must never write.
fn host_dir(prefix: &str) -> tempfile::TempDir {
    let d = tempfile::Builder::new().prefix(prefix).tempdir().unwrap();
    std::fs::write(d.path().join("secret"), "host-secret-7d1c").unwrap();
    d
}

/// Copies a probe into the bundle's rootfs at `/name`.
fn install_probe(b: &Bundle, name: &'static str) {
    let dst = b.rootfs().join(name);
    std::fs::copy(probe(name), &dst).unwrap();
}

/// `ocirun exec` with null stdio; whether it succeeded.
fn exec_quiet(root: &Path, id: &str, args: &[&str]) -> bool {
    ocirun(root)
        .arg("exec")
        .arg(id)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// The init's pid, as `ocirun state` reports it.
fn init_pid(root: &Path, id: &str) -> i64 {
    common::state(root, id)["pid"].as_i64().expect("state has a pid")
}

/// A file of the container, read from the host through its init.
fn read_inside(root: &Path, id: &str, path: &str) -> String {
    std::fs::read_to_string(format!("/proc/{}/root{path}", init_pid(root, id))).unwrap_or_default()
}

/// The process `ocirun exec` makes is cloned straight into the container's pid namespace and
/// only then joins the container's mount namespace: until its setns, /proc/<pid>/root and
/// /proc/<pid>/cwd in the container lead to the host's root and ocirun's cwd. A container
/// process with CAP_SYS_PTRACE (`--cap-add SYS_PTRACE`, no user namespace) passes the ptrace
/// check of a non-dumpable process and opens the host's files through them. runc joins the
/// mount namespace before the process that enters the pid namespace exists.
#[test]
fn exec_child_is_not_reachable_through_proc_root_before_it_joins_the_mount_namespace() {
    exec_child_through_proc_root(&["CAP_SYS_PTRACE"]);
}

/// The same race with Docker's capabilities only: the child is dumpable until its first prctl,
/// but a process without CAP_SYS_PTRACE fails the capability-subset check of ptrace.
#[test]
fn exec_child_is_not_reachable_through_proc_root_without_cap_sys_ptrace() {
    exec_child_through_proc_root(&[]);
}

fn exec_child_through_proc_root(extra_caps: &[&str]) {
    require_prerequisites();
    let host = host_dir("ocirun-review-execroot-");
    let hostdir = host.path().to_str().unwrap().to_string();
    let mut b = Bundle::new(&["/procroot", &hostdir, "20", "/tmp/report"]);
    install_probe(&b, "procroot");
    docker_caps(&mut b, extra_caps);
    b.spec["root"]["readonly"] = json!(false);
    b.write();
    let root = b.state_root();
    let id = unique_id("revexecroot");
    let _g = Guard(root.clone(), id.clone());
    run_detached(
        ocirun(&root)
            .args(["run", "--detach", "--bundle"])
            .arg(b.path())
            .arg(&id),
    );
    let escaped = host.path().join("escaped");
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut tries = 0;
    while tries < 300 && Instant::now() < deadline && !escaped.exists() {
        exec_quiet(&root, &id, &["true"]);
        tries += 1;
    }
    let report = read_inside(&root, &id, "/tmp/report");
    assert!(
        !escaped.exists(),
        "after {tries} execs the container wrote {} on the host: {}; its report: {report}",
        escaped.display(),
        std::fs::read_to_string(&escaped).unwrap_or_default()
    );
    assert!(report.is_empty(), "the container reached the host: {report}");
}

/// A startContainer hook's path resolves in the container (the spec says so): the image
/// decides what runs. runc runs it from the container's init after its capabilities are
/// dropped, in its cgroup; ocirun forks it from the runtime with every capability of the
/// host's root, no seccomp, in the runtime's cgroup, only setns()ing into the container's
/// namespaces. The image's "hook" mounts the host's disk and writes to the host.
#[test]
fn start_container_hook_from_the_image_runs_with_the_containers_privileges_only() {
    require_prerequisites();
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let host = host_dir("ocirun-review-hook-");
    let dev = std::fs::metadata(host.path()).unwrap().dev();
    let (major, minor) = (libc::major(dev).to_string(), libc::minor(dev).to_string());
    let hostdir = host.path().to_str().unwrap().to_string();
    let mut b = Bundle::new(&["sleep", "30"]);
    docker_caps(&mut b, &[]);
    b.spec["root"]["readonly"] = json!(false);
    let hook = b.rootfs().join("hook.sh");
    std::fs::write(
        &hook,
        "#!/bin/sh\n\
         grep -E '^Cap(Eff|Bnd)' /proc/self/status > /hook-report\n\
         grep -E '^Seccomp:' /proc/self/status >> /hook-report\n\
         cat /proc/self/cgroup >> /hook-report\n\
         mknod /tmp/hostdisk b \"$1\" \"$2\" 2>>/hook-report && mkdir -p /tmp/m && \
         mount -t ext4 /tmp/hostdisk /tmp/m 2>>/hook-report && \
         { echo ESCAPED > /tmp/m\"$3\"/escaped; echo MOUNTED-HOST-DISK >> /hook-report; umount /tmp/m; }\n\
         exit 0\n",
    )
    .unwrap();
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    b.spec["hooks"] = json!({"startContainer": [{
        "path": "/hook.sh",
        "args": ["/hook.sh", major, minor, hostdir],
        "env": ["PATH=/bin:/sbin"]
    }]});
    b.write();
    let root = b.state_root();
    let id = unique_id("revhook");
    let _g = Guard(root.clone(), id.clone());
    run_detached(
        ocirun(&root)
            .args(["run", "--detach", "--bundle"])
            .arg(b.path())
            .arg(&id),
    );
    let report = read_inside(&root, &id, "/hook-report");
    let escaped = host.path().join("escaped");
    assert!(
        !escaped.exists(),
        "the image's startContainer hook wrote {} on the host; its report:\n{report}",
        escaped.display()
    );
    let container_caps = read_inside(&root, &id, "/proc/1/status");
    let cap_eff = |s: &str| {
        s.lines()
            .find(|l| l.starts_with("CapEff:"))
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(
        cap_eff(&report),
        cap_eff(&container_caps),
        "the hook ran with other capabilities than the container's process; its report:\n{report}"
    );
}

/// A container that joins another's pid namespace (a pod's shared pid namespace): its init is
/// cloned into that namespace and sets up the rootfs from the host's root before its
/// pivot_root. The other container's process with CAP_SYS_PTRACE opens the host's files
/// through /proc/<pid>/root of that init. (On a kernel whose procfs does not take `pidns=`
/// the init is still made in the pid namespace: SECURITY.md, Known limits.)
#[test]
fn init_joining_a_shared_pid_namespace_is_not_reachable_through_proc_root() {
    require_prerequisites();
    let host = host_dir("ocirun-review-sharedpid-");
    let hostdir = host.path().to_str().unwrap().to_string();
    let mut a = Bundle::new(&["/procroot", &hostdir, "20", "/tmp/report"]);
    install_probe(&a, "procroot");
    docker_caps(&mut a, &["CAP_SYS_PTRACE"]);
    a.spec["root"]["readonly"] = json!(false);
    a.write();
    let root = a.state_root();
    let id_a = unique_id("revsharedpid-a");
    let _ga = Guard(root.clone(), id_a.clone());
    run_detached(
        ocirun(&root)
            .args(["run", "--detach", "--bundle"])
            .arg(a.path())
            .arg(&id_a),
    );
    let pid_a = init_pid(&root, &id_a);

    let mut b = Bundle::new(&["true"]);
    docker_caps(&mut b, &[]);
    for ns in b.spec["linux"]["namespaces"].as_array_mut().unwrap() {
        if ns["type"] == "pid" {
            ns["path"] = json!(format!("/proc/{pid_a}/ns/pid"));
        }
    }
    b.write();
    let escaped = host.path().join("escaped");
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut tries = 0;
    let mut failures = 0;
    let mut last_err = String::new();
    while tries < 100 && Instant::now() < deadline && !escaped.exists() {
        let id_b = unique_id("revsharedpid-b");
        let _gb = Guard(root.clone(), id_b.clone());
        let (ok, err) = common::run_status(ocirun(&root).args(["run", "--bundle"]).arg(b.path()).arg(&id_b));
        if !ok {
            failures += 1;
            last_err = err;
        }
        tries += 1;
    }
    assert!(
        !escaped.exists(),
        "after {tries} joining containers the other container wrote {} on the host: {}",
        escaped.display(),
        std::fs::read_to_string(&escaped).unwrap_or_default()
    );
    assert!(failures < tries, "the joining container never ran: {last_err}");
}

/// The last pid of `NSpid` in /proc/<pid>/status: the pid in its innermost pid namespace.
fn pid_in_its_namespace(pid: i64) -> i64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("NSpid:"))
        .expect("NSpid in status");
    line.split_whitespace().last().unwrap().parse().unwrap()
}

/// The `ns/<name>` link of a process, as the host reads it.
fn ns_of(pid: i64, name: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{name}"))
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// `ocirun exec` with null stdin; its stdout, asserting it succeeded.
fn exec_stdout(root: &Path, id: &str, args: &[&str]) -> String {
    let out = common::run_ok(ocirun(root).arg("exec").arg(id).args(args).stdin(Stdio::null()));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A container that joins another's pid namespace by path works as one that does not: created
/// and started, its init (the one `state` names) is in that pid namespace and the other
/// container sees it, its /proc shows that pid namespace, a createContainer hook joins it, exec
/// gets in, and kill and delete end it.
#[test]
fn a_container_joining_another_pid_namespace_runs_there_end_to_end() {
    require_prerequisites();
    let a = Bundle::new(&["sleep", "1001"]);
    a.write();
    let root = a.state_root();
    let id_a = unique_id("sharedpid-a");
    let _ga = Guard(root.clone(), id_a.clone());
    run_detached(
        ocirun(&root)
            .args(["run", "--detach", "--bundle"])
            .arg(a.path())
            .arg(&id_a),
    );
    let pid_a = init_pid(&root, &id_a);

    let hook_out = tempfile::Builder::new()
        .prefix("ocirun-test-sharedpid-")
        .tempdir()
        .unwrap();
    let hook_file = hook_out.path().join("pidns");
    let mut b = Bundle::new(&["sleep", "1002"]);
    for ns in b.spec["linux"]["namespaces"].as_array_mut().unwrap() {
        if ns["type"] == "pid" {
            ns["path"] = json!(format!("/proc/{pid_a}/ns/pid"));
        }
    }
    let record = format!("readlink /proc/self/ns/pid > {}", hook_file.display());
    b.spec["hooks"] = json!({"createContainer": [{"path": "/bin/sh", "args": ["sh", "-c", record]}]});
    b.write();
    let id_b = unique_id("sharedpid-b");
    let _gb = Guard(root.clone(), id_b.clone());
    run_detached(ocirun(&root).args(["create", "--bundle"]).arg(b.path()).arg(&id_b));
    let created = common::state(&root, &id_b);
    assert_eq!(created["status"], "created", "{created}");
    run_ok(ocirun(&root).args(["start", &id_b]));
    let running = common::state(&root, &id_b);
    assert_eq!(running["status"], "running", "{running}");
    let pid_b = running["pid"].as_i64().unwrap();
    assert_eq!(pid_b, created["pid"].as_i64().unwrap(), "start changed the init's pid");

    // The init `state` names is in A's pid namespace and runs B's process.
    assert_eq!(
        ns_of(pid_b, "pid"),
        ns_of(pid_a, "pid"),
        "B's init is not in A's pid namespace"
    );
    // Start has let it exec; it may not have done so yet.
    let cmdline = || std::fs::read(format!("/proc/{pid_b}/cmdline")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while cmdline() != b"sleep\x001002\x00" && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(cmdline(), b"sleep\x001002\x00");
    // It is in the container's cgroup in every hierarchy, as its first process was.
    let cgroup = b.spec["linux"]["cgroupsPath"]
        .as_str()
        .expect("the bundle names a cgroup");
    let cgroups = std::fs::read_to_string(format!("/proc/{pid_b}/cgroup")).unwrap();
    assert!(
        cgroups.lines().all(|l| l.ends_with(&format!(":{cgroup}"))),
        "B's init is not in B's cgroup {cgroup} everywhere:\n{cgroups}"
    );
    // A sees it under its pid there.
    let in_a = pid_in_its_namespace(pid_b);
    assert_eq!(
        exec_stdout(&root, &id_a, &["cat", &format!("/proc/{in_a}/cmdline")]),
        "sleep\u{0}1002\u{0}",
        "A does not see B's init as {in_a}"
    );
    // B's /proc shows A's pid namespace: pid 1 is A's init, and B's init is there under the
    // same pid as A sees it.
    assert_eq!(
        exec_stdout(&root, &id_b, &["cat", "/proc/1/cmdline"]),
        "sleep\u{0}1001\u{0}"
    );
    assert_eq!(
        exec_stdout(&root, &id_b, &["cat", &format!("/proc/{in_a}/cmdline")]),
        "sleep\u{0}1002\u{0}"
    );
    // The createContainer hook joined the pid namespace B's processes live in.
    assert_eq!(
        std::fs::read_to_string(&hook_file).unwrap().trim(),
        ns_of(pid_a, "pid"),
        "the createContainer hook ran in another pid namespace"
    );

    run_ok(ocirun(&root).args(["kill", &id_b, "KILL"]));
    let deadline = Instant::now() + Duration::from_secs(5);
    while test_support::alive(pid_b) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!test_support::alive(pid_b), "B's init {pid_b} outlived kill KILL");
    assert_eq!(common::state(&root, &id_b)["status"], "stopped");
    run_ok(ocirun(&root).args(["delete", &id_b]));
    assert!(!root.join(&id_b).exists(), "delete left B's state directory");
    // A is untouched.
    assert_eq!(common::state(&root, &id_a)["status"], "running");
}

/// The container's init names itself with bytes that are not UTF-8 (prctl PR_SET_NAME):
/// ocirun's /proc/<pid>/stat parser gives up on the line, takes the running init for gone,
/// and then reports it stopped, refuses `kill` and `exec`, and lets a non-forced `delete`
/// through. Names with a ')' and spaces are covered too.
#[test]
fn a_running_init_that_renames_itself_is_still_running_and_killable() {
    require_prerequisites();
    for (name, what) in [(r"x) Z 1 2 3", "a fake stat tail"), (r"\377\376", "non-UTF-8")] {
        let mut b = Bundle::new(&["/comm", name]);
        install_probe(&b, "comm");
        docker_caps(&mut b, &[]);
        b.write();
        let root = b.state_root();
        let id = unique_id("revcomm");
        let _g = Guard(root.clone(), id.clone());
        run_detached(
            ocirun(&root)
                .args(["run", "--detach", "--bundle"])
                .arg(b.path())
                .arg(&id),
        );
        std::thread::sleep(Duration::from_millis(300));
        let state = common::state(&root, &id);
        assert_eq!(
            state["status"], "running",
            "a running init named with {what} bytes is reported as: {state}"
        );
        let pid = state["pid"].as_i64().unwrap_or(0);
        let (ok, err) = common::run_status(ocirun(&root).args(["kill", &id, "KILL"]));
        assert!(ok, "kill of a running init named with {what} bytes failed: {err}");
        let deadline = Instant::now() + Duration::from_secs(5);
        while pid > 0 && test_support::alive(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            pid > 0 && !test_support::alive(pid),
            "the init {pid} outlived kill KILL"
        );
    }
}

/// A container with its own user and time namespaces that joins the pid namespace of a
/// container without a user namespace: its init makes itself dumpable around the
/// timens_offsets write, before its rootfs exists. The neighbour's root, with Docker's
/// capabilities and no CAP_SYS_PTRACE, owns that user namespace (it was made by uid 0 of
/// the host's), so ptrace's checks pass for it while the init is dumpable, and
/// /proc/<pid>/root of the init is the host's root.
#[test]
fn dumpable_window_of_the_time_offsets_write_does_not_open_the_host_to_a_shared_pid_namespace() {
    user_namespace_init_in_a_shared_pid_namespace(true);
}

/// The same without a time namespace: the init is dumpable from its clone until its first
/// prctl, with the host's root, in the neighbour's pid namespace.
#[test]
fn user_namespace_init_joining_a_shared_pid_namespace_is_not_reachable_through_proc_root() {
    user_namespace_init_in_a_shared_pid_namespace(false);
}

fn user_namespace_init_in_a_shared_pid_namespace(time_offsets: bool) {
    require_prerequisites();
    let host = host_dir("ocirun-review-timens-");
    let hostdir = host.path().to_str().unwrap().to_string();
    let mut a = Bundle::new(&["/procroot", &hostdir, "20", "/tmp/report"]);
    install_probe(&a, "procroot");
    docker_caps(&mut a, &[]);
    a.spec["root"]["readonly"] = json!(false);
    a.write();
    let root = a.state_root();
    let id_a = unique_id("revtimens-a");
    let _ga = Guard(root.clone(), id_a.clone());
    run_detached(
        ocirun(&root)
            .args(["run", "--detach", "--bundle"])
            .arg(a.path())
            .arg(&id_a),
    );
    let pid_a = init_pid(&root, &id_a);

    let mut b = Bundle::new(&["true"]);
    docker_caps(&mut b, &[]);
    b.spec["linux"]["namespaces"] = json!([
        {"type": "user"}, {"type": "time"}, {"type": "mount"}, {"type": "uts"}, {"type": "ipc"},
        {"type": "pid", "path": format!("/proc/{pid_a}/ns/pid")}
    ]);
    if time_offsets {
        b.spec["linux"]["timeOffsets"] = json!({"monotonic": {"secs": 1, "nanosecs": 0}});
    } else {
        let namespaces = b.spec["linux"]["namespaces"].as_array_mut().unwrap();
        namespaces.retain(|ns| ns["type"] != "time");
    }
    b.spec["mounts"] = json!([]);
    // A user-namespaced container's rootfs belongs to its mapped root, as engines lay it out:
    // the runtime binds the host's device nodes onto files it makes in the rootfs's /dev.
    b.map_ids_to(100000);
    b.write();
    let escaped = host.path().join("escaped");
    let deadline = Instant::now() + Duration::from_secs(6);
    let mut tries = 0;
    let mut failures = 0;
    let mut last_err = String::new();
    while tries < 300 && Instant::now() < deadline && !escaped.exists() {
        let id_b = unique_id("revtimens-b");
        let _gb = Guard(root.clone(), id_b.clone());
        let out = ocirun(&root)
            .args(["run", "--bundle"])
            .arg(b.path())
            .arg(&id_b)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        if !out.status.success() {
            failures += 1;
            last_err = String::from_utf8_lossy(&out.stderr).into_owned();
        }
        tries += 1;
    }
    assert!(
        !escaped.exists(),
        "after {tries} joining containers the neighbour wrote {} on the host: {}",
        escaped.display(),
        std::fs::read_to_string(&escaped).unwrap_or_default()
    );
    assert!(failures < tries, "the joining container never ran: {last_err}");
}

/// The pid file's directory is one the container can write (containerd keeps it in the bundle,
/// which here is bound into the container): the container plants `<pid-file>.ocirun-tmp` as a
/// symlink to a host file. ocirun writes the pid through it (std::fs::write: O_CREAT|O_TRUNC,
/// following symlinks) before the rename, truncating and overwriting the host file; runc opens
/// its temporary file O_EXCL.
#[test]
fn pid_file_is_not_written_through_a_symlink_the_container_planted() {
    require_prerequisites();
    let victim_dir = host_dir("ocirun-review-pidfile-");
    let victim = victim_dir.path().join("secret");
    let shared = tempfile::Builder::new()
        .prefix("ocirun-review-pidshared-")
        .tempdir()
        .unwrap();
    let mut b = Bundle::new(&["sh", "-c", "ln -s \"$VICTIM\" /shared/pid.ocirun-tmp; sleep 30"]);
    docker_caps(&mut b, &[]);
    b.spec["process"]["env"]
        .as_array_mut()
        .unwrap()
        .push(json!(format!("VICTIM={}", victim.display())));
    b.spec["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/shared", "type": "bind", "source": shared.path(), "options": ["rbind", "rw"]
    }));
    std::fs::create_dir_all(b.rootfs().join("shared")).unwrap();
    b.write();
    let root = b.state_root();
    let id = unique_id("revpidfile");
    let _g = Guard(root.clone(), id.clone());
    run_detached(
        ocirun(&root)
            .args(["run", "--detach", "--bundle"])
            .arg(b.path())
            .arg(&id),
    );
    let planted = shared.path().join("pid.ocirun-tmp");
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::fs::symlink_metadata(&planted).is_err() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        std::fs::symlink_metadata(&planted).is_ok(),
        "the container planted no symlink"
    );
    let pid_file = shared.path().join("pid");
    let _ = ocirun(&root)
        .args(["exec", "--pid-file"])
        .arg(&pid_file)
        .args([&id, "true"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(&victim).unwrap(),
        "host-secret-7d1c",
        "ocirun wrote the pid file through the container's symlink onto {}",
        victim.display()
    );
    assert!(
        !std::fs::symlink_metadata(&pid_file).is_ok_and(|m| m.file_type().is_symlink()),
        "the pid file is the container's symlink"
    );
}
