//! End-to-end tests of the lifecycle through the library, on busybox bundles
//! the tests build themselves; they look at the container from inside.

mod common;

use std::io::Read;
use std::os::fd::OwnedFd;

use common::{Guard, chain, run_capture, spec_of};
use runtime_core::{Container, Error, Status};
use serde_json::json;
use test_support::{Bundle, require_prerequisites, unique_id};

#[test]
fn container_sees_pid1_hostname_env_cwd_and_its_own_proc() {
    require_prerequisites();
    let mut b = Bundle::new(&[
        "sh",
        "-c",
        "echo pid=$$; echo host=$(hostname); echo foo=$FOO; echo cwd=$(pwd); \
         echo procs=$(grep -c ' /proc .* - proc ' /proc/self/mountinfo); echo n=$(ls /proc | grep -c '^[0-9]'); \
         echo cgroup-not-root=$(grep -vc ':/$' /proc/self/cgroup)",
    ]);
    b.spec["hostname"] = json!("inside");
    b.spec["process"]["env"] = json!(["PATH=/bin", "FOO=bar baz"]);
    b.spec["process"]["cwd"] = json!("/tmp");
    let (code, out) = run_capture(&b);
    assert_eq!(code, 0, "{out}");
    // With a cgroup namespace, the container's own cgroup is its root in every hierarchy.
    for want in [
        "pid=1\n",
        "host=inside\n",
        "foo=bar baz\n",
        "cwd=/tmp\n",
        "procs=1\n",
        "cgroup-not-root=0\n",
    ] {
        assert!(out.contains(want), "missing {want:?} in {out:?}");
    }
    // Only the container's own processes are in its /proc: sh and its children.
    let n: usize = out.lines().find_map(|l| l.strip_prefix("n=")).unwrap().parse().unwrap();
    assert!(n <= 4, "the container sees {n} processes: {out}");
}

#[test]
fn readonly_root_masked_and_readonly_paths_hold() {
    require_prerequisites();
    let b = Bundle::new(&[
        "sh",
        "-c",
        "touch /x 2>/dev/null && echo root=rw || echo root=ro; \
         echo timers=$(wc -c < /proc/timer_list); echo firmware=$(ls /sys/firmware | wc -l); \
         (echo 1 > /proc/sys/vm/overcommit_memory) 2>/dev/null && echo sys=rw || echo sys=ro; \
         touch /tmp/x 2>/dev/null && echo tmp=rw || echo tmp=ro",
    ]);
    let (code, out) = run_capture(&b);
    assert_eq!(code, 0, "{out}");
    for want in ["root=ro\n", "timers=0\n", "firmware=0\n", "sys=ro\n", "tmp=ro\n"] {
        assert!(out.contains(want), "missing {want:?} in {out:?}");
    }
}

#[test]
fn writable_root_when_not_readonly() {
    require_prerequisites();
    let mut b = Bundle::new(&["sh", "-c", "touch /x && echo root=rw"]);
    b.spec["root"]["readonly"] = json!(false);
    let (code, out) = run_capture(&b);
    assert_eq!((code, out.as_str()), (0, "root=rw\n"));
}

#[test]
fn default_and_listed_devices_exist() {
    require_prerequisites();
    let mut b = Bundle::new(&[
        "sh",
        "-c",
        "for d in null zero full random urandom tty mydev; do echo $d=$(stat -c '%F %t,%T' /dev/$d); done; \
         echo fd=$(readlink /dev/fd); echo ptmx=$(readlink /dev/ptmx); \
         head -c 3 /dev/zero | wc -c | sed 's/^/zero-read=/'; head -c 3 /dev/mydev | wc -c | sed 's/^/mydev-read=/'",
    ]);
    b.spec["linux"]["devices"] =
        json!([{"path": "/dev/mydev", "type": "c", "major": 1, "minor": 5, "fileMode": 438, "uid": 0, "gid": 0}]);
    let (code, out) = run_capture(&b);
    assert_eq!(code, 0, "{out}");
    for want in [
        "null=character special file 1,3\n",
        "zero=character special file 1,5\n",
        "full=character special file 1,7\n",
        "random=character special file 1,8\n",
        "urandom=character special file 1,9\n",
        "tty=character special file 5,0\n",
        "mydev=character special file 1,5\n",
        "fd=/proc/self/fd\n",
        "ptmx=pts/ptmx\n",
        // The device cgroup denies all but runc's always-allowed list, which holds 1:5: a
        // listed device gets a node, and access only from linux.resources.devices or that list.
        "zero-read=3\n",
        "mydev-read=3\n",
    ] {
        assert!(out.contains(want), "missing {want:?} in {out:?}");
    }
}

#[test]
fn planted_symlink_does_not_redirect_a_mount_onto_the_host() {
    require_prerequisites();
    let host_dir = tempfile::tempdir().unwrap();
    std::fs::write(host_dir.path().join("canary"), "host").unwrap();
    let mut b = Bundle::new(&["sh", "-c", "ls /evil; echo done"]);
    std::os::unix::fs::symlink(host_dir.path(), b.rootfs().join("evil")).unwrap();
    // Resolved inside the rootfs, the link names <rootfs>/<host path>: let that exist
    // (a dangling one is refused, which a separate check below covers).
    let inside = b.rootfs().join(host_dir.path().strip_prefix("/").unwrap());
    std::fs::create_dir_all(&inside).unwrap();
    let mut mounts = b.spec["mounts"].as_array().unwrap().clone();
    mounts.push(json!({"destination": "/evil", "type": "tmpfs", "source": "tmpfs"}));
    b.spec["mounts"] = json!(mounts);
    b.spec["root"]["readonly"] = json!(false);
    let (_, out) = run_capture(&b);
    // The tmpfs landed inside the rootfs (at rootfs/<host path>), never on the host directory.
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mountinfo.contains(host_dir.path().to_str().unwrap()),
        "host dir was mounted over"
    );
    assert_eq!(std::fs::read_to_string(host_dir.path().join("canary")).unwrap(), "host");
    assert!(!out.contains("canary"), "the container saw the host directory: {out}");
    assert!(out.contains("done"), "{out}");

    // Dangling inside the rootfs: refused with an error naming the destination, host untouched.
    std::fs::remove_dir_all(&inside).unwrap();
    let err = Container::builder(unique_id("evil"))
        .root(b.state_root())
        .bundle(b.path())
        .spec(spec_of(&b))
        .create()
        .unwrap_err();
    assert!(chain(&err).contains("/evil"), "{}", chain(&err));
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mountinfo.contains(host_dir.path().to_str().unwrap()),
        "host dir was mounted over"
    );
}

#[test]
fn create_waits_start_runs_kill_stops() {
    require_prerequisites();
    let b = Bundle::new(&["sleep", "1000"]);
    let id = unique_id("life");
    let c = Container::builder(&id)
        .root(b.state_root())
        .bundle(b.path())
        .spec(spec_of(&b))
        .create()
        .unwrap();
    let mut g = Guard(Some(c));
    let c = g.0.as_mut().unwrap();
    assert_eq!(c.status().unwrap(), Status::Created);
    // The init waits on the fifo: it has not exec'd sleep yet.
    let comm = std::fs::read_to_string(format!("/proc/{}/comm", c.pid())).unwrap();
    assert_ne!(comm.trim(), "sleep");
    let loaded = Container::load(b.state_root(), &id).unwrap();
    assert_eq!(loaded.state().unwrap().status, Status::Created);
    c.start().unwrap();
    assert_eq!(c.status().unwrap(), Status::Running);
    let err = Container::load(b.state_root(), &id).unwrap().start().unwrap_err();
    assert!(
        matches!(
            err,
            Error::BadStatus {
                op: "start",
                status: Status::Running,
                ..
            }
        ),
        "{err}"
    );
    let err = Container::load(b.state_root(), &id).unwrap().delete(false).unwrap_err();
    assert!(matches!(err, Error::BadStatus { op: "delete", .. }), "{err}");
    Container::load(b.state_root(), &id)
        .unwrap()
        .kill(libc::SIGKILL, false)
        .unwrap();
    let status = c.wait().unwrap();
    assert_eq!(status.code(), 137);
    assert_eq!(c.status().unwrap(), Status::Stopped);
    let state = c.state().unwrap();
    assert_eq!(state.pid, 0);
    g.0.take().unwrap().delete(false).unwrap();
    assert!(matches!(Container::load(b.state_root(), &id), Err(Error::NotFound(_))));
}

/// `force_delete` takes the state lock and removes everything: a running container with its
/// process, a directory a create killed before its record left, and an unknown id is no error.
#[test]
fn force_delete_removes_a_running_container_a_bare_directory_and_nothing() {
    require_prerequisites();
    let b = Bundle::new(&["sleep", "1000"]);
    let id = unique_id("force");
    let c = Container::builder(&id)
        .root(b.state_root())
        .bundle(b.path())
        .spec(spec_of(&b))
        .run()
        .unwrap();
    let pid = c.pid();
    // Should an assertion fail first, the guard deletes what is left.
    let _g = Guard(Some(c));
    runtime_core::force_delete(b.state_root(), &id).unwrap();
    assert!(matches!(Container::load(b.state_root(), &id), Err(Error::NotFound(_))));
    assert!(!b.state_root().join(&id).exists());
    // Its init was killed: it exits, and this process, its parent, reaps it.
    assert!(reaped(pid), "the init {pid} is not this process's child");
    // A create killed before it wrote its record leaves only the directory.
    let bare = unique_id("force-bare");
    std::fs::create_dir_all(b.state_root().join(&bare)).unwrap();
    runtime_core::force_delete(b.state_root(), &bare).unwrap();
    assert!(!b.state_root().join(&bare).exists());
    runtime_core::force_delete(b.state_root(), "no-such-container").unwrap();
}

/// Waits for the child `pid` to exit, and reaps it; whether it was this process's child.
fn reaped(pid: i32) -> bool {
    let mut status = 0;
    // SAFETY: status is a writable int; waitpid only waits for the child pid.
    unsafe { libc::waitpid(pid, &mut status, 0) == pid }
}

#[test]
fn kill_delivers_the_signal_the_process_traps() {
    require_prerequisites();
    let b = Bundle::new(&[
        "sh",
        "-c",
        "trap 'echo got-usr1; exit 3' USR1; echo ready; while :; do sleep 0.05; done",
    ]);
    let (r, w) = std::io::pipe().unwrap();
    let id = unique_id("sig");
    let c = Container::builder(&id)
        .root(b.state_root())
        .bundle(b.path())
        .spec(spec_of(&b))
        .stdout(OwnedFd::from(w))
        .run()
        .unwrap();
    let mut g = Guard(Some(c));
    let mut reader = std::io::BufReader::new(r);
    let mut line = String::new();
    std::io::BufRead::read_line(&mut reader, &mut line).unwrap();
    assert_eq!(line, "ready\n");
    g.0.as_ref().unwrap().kill(libc::SIGUSR1, false).unwrap();
    let mut rest = String::new();
    reader.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "got-usr1\n");
    assert_eq!(g.0.as_mut().unwrap().wait().unwrap().code(), 3);
}

#[test]
fn exit_codes_propagate() {
    require_prerequisites();
    let (code, _) = run_capture(&Bundle::new(&["sh", "-c", "exit 42"]));
    assert_eq!(code, 42);
    let (code, _) = run_capture(&Bundle::new(&["false"]));
    assert_eq!(code, 1);
    let (code, _) = run_capture(&Bundle::new(&["sh", "-c", "exit 255"]));
    assert_eq!(code, 255);
}

/// Starts a container that sleeps, whose namespaces another one can join; returns
/// its bundle, its delete guard and its init's pid.
fn start_sleeper(prefix: &str) -> (Bundle, Guard, i32) {
    let a = Bundle::new(&["sleep", "1000"]);
    let c = Container::builder(unique_id(prefix))
        .root(a.state_root())
        .bundle(a.path())
        .spec(spec_of(&a))
        .run()
        .unwrap();
    let pid = c.pid();
    (a, Guard(Some(c)), pid)
}

#[test]
fn joined_network_namespace_is_shared() {
    require_prerequisites();
    let (_a, _ga, pid) = start_sleeper("nsa");
    let mut b = Bundle::new(&["sh", "-c", "readlink /proc/self/ns/net; readlink /proc/self/ns/uts"]);
    let ns = format!("/proc/{pid}/ns/net");
    b.spec["linux"]["namespaces"] =
        json!([{"type": "pid"}, {"type": "network", "path": ns}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}]);
    let (code, out) = run_capture(&b);
    assert_eq!(code, 0, "{out}");
    let host_net = std::fs::read_link(format!("/proc/{pid}/ns/net")).unwrap();
    let host_uts = std::fs::read_link(format!("/proc/{pid}/ns/uts")).unwrap();
    let mut lines = out.lines();
    assert_eq!(
        lines.next().unwrap(),
        host_net.to_str().unwrap(),
        "net namespace not shared"
    );
    assert_ne!(
        lines.next().unwrap(),
        host_uts.to_str().unwrap(),
        "uts namespace shared but not asked to be"
    );
}

#[test]
fn user_namespace_maps_root_and_time_offsets_apply() {
    require_prerequisites();
    let mut b = Bundle::new(&["sh", "-c", "cat /proc/self/uid_map; cut -d' ' -f1 /proc/uptime"]);
    let mut ns = b.spec["linux"]["namespaces"].as_array().unwrap().clone();
    ns.push(json!({"type": "user"}));
    ns.push(json!({"type": "time"}));
    b.spec["linux"]["namespaces"] = json!(ns);
    b.spec["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    b.spec["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    b.spec["linux"]["timeOffsets"] = json!({"boottime": {"secs": 86400000}});
    // The rootfs must be readable by the mapped root.
    std::process::Command::new("chown")
        .args(["-R", "100000:100000"])
        .arg(b.rootfs())
        .status()
        .unwrap();
    let (code, out) = run_capture(&b);
    assert_eq!(code, 0, "{out}");
    let mut lines = out.lines();
    let map: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(map, ["0", "100000", "65536"]);
    let uptime: f64 = lines.next().unwrap().parse().unwrap();
    assert!(uptime > 86_400_000.0, "boottime offset not applied: {uptime}");
}

#[test]
fn in_memory_spec_with_absolute_root_needs_no_bundle_file() {
    require_prerequisites();
    let mut b = Bundle::new(&["true"]);
    b.spec["root"]["path"] = json!(b.rootfs());
    let c = Container::builder(unique_id("mem"))
        .root(b.state_root())
        .spec(spec_of(&b))
        .run()
        .unwrap();
    let mut g = Guard(Some(c));
    assert_eq!(g.0.as_mut().unwrap().wait().unwrap().code(), 0);
}

#[test]
fn joined_pid_namespace_is_shared() {
    require_prerequisites();
    let (_a, _ga, pid) = start_sleeper("pida");
    let mut b = Bundle::new(&["sh", "-c", "readlink /proc/self/ns/pid; echo me=$$; cat /proc/1/comm"]);
    let ns = format!("/proc/{pid}/ns/pid");
    b.spec["linux"]["namespaces"] =
        json!([{"type": "pid", "path": ns}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}]);
    let (code, out) = run_capture(&b);
    assert_eq!(code, 0, "{out}");
    let host_pid_ns = std::fs::read_link(format!("/proc/{pid}/ns/pid")).unwrap();
    let mut lines = out.lines();
    assert_eq!(
        lines.next().unwrap(),
        host_pid_ns.to_str().unwrap(),
        "pid namespace not shared"
    );
    assert_ne!(
        lines.next().unwrap(),
        "me=1",
        "the joiner must not be init of the joined namespace"
    );
    assert_eq!(
        lines.next().unwrap(),
        "sleep",
        "pid 1 of the joined namespace is the first container's"
    );
    // The runtime's own thread is back in its pid namespace.
    let own = std::fs::read_link("/proc/thread-self/ns/pid_for_children").unwrap();
    assert_eq!(own, std::fs::read_link("/proc/self/ns/pid").unwrap());
}

/// A startContainer hook is a process of the container: its path resolves there, and its
/// timeout still holds (it is killed through its pidfd and start fails).
#[test]
fn a_start_container_hook_past_its_timeout_or_missing_fails_start() {
    require_prerequisites();
    for (hook, want) in [
        (
            json!({"path": "/bin/sleep", "args": ["sleep", "60"], "timeout": 1}),
            "startContainer hook 0 (/bin/sleep): did not finish within its timeout of 1s",
        ),
        (
            json!({"path": "/no/such/hook"}),
            "startContainer hook 0 (/no/such/hook): container init: exec \"/no/such/hook\": executable file not found",
        ),
    ] {
        let mut b = Bundle::new(&["sleep", "100"]);
        b.spec["hooks"] = json!({"startContainer": [hook]});
        let c = Container::builder(unique_id("starthookt"))
            .root(b.state_root())
            .spec(spec_of(&b))
            .bundle(b.path())
            .create()
            .unwrap();
        let mut g = Guard(Some(c));
        let c = g.0.as_mut().unwrap();
        let err = c.start().unwrap_err();
        assert!(chain(&err).contains(want), "{}", chain(&err));
        assert_eq!(c.wait().unwrap().code(), 128 + libc::SIGKILL);
        g.0.take().unwrap().delete(false).unwrap();
    }
}

#[test]
fn a_failing_start_container_hook_fails_start_and_stops_the_container() {
    require_prerequisites();
    let mut b = Bundle::new(&["sleep", "100"]);
    // startContainer runs in the container: the path is busybox's sh.
    b.spec["hooks"] = json!({"startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "exit 5"]}]});
    let c = Container::builder(unique_id("starthook"))
        .root(b.state_root())
        .spec(spec_of(&b))
        .bundle(b.path())
        .create()
        .unwrap();
    let mut g = Guard(Some(c));
    let c = g.0.as_mut().unwrap();
    let err = c.start().unwrap_err();
    assert!(
        chain(&err).contains("startContainer hook 0 (/bin/sh): exited with status 5"),
        "{}",
        chain(&err)
    );
    assert_eq!(c.wait().unwrap().code(), 128 + libc::SIGKILL);
    assert_eq!(c.status().unwrap(), Status::Stopped);
    g.0.take().unwrap().delete(false).unwrap();
}
