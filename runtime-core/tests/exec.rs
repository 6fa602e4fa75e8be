//! `exec` through the library: a second process in a running container, in its
//! namespaces and cgroup, with its own user and the container's seccomp profile.

mod common;

use std::io::Read;
use std::os::fd::OwnedFd;

use common::{Guard, chain, spec_of};
use runtime_core::{Container, Error, InitStep, Status};
use serde_json::json;
use test_support::{Bundle, require_prerequisites, unique_id};

/// A running container whose init sleeps, with a hostname and a seccomp profile that refuses sethostname.
fn sleeper() -> (Bundle, Guard) {
    require_prerequisites();
    let mut b = Bundle::new(&["sleep", "100"]);
    b.spec["hostname"] = json!("exec-host");
    b.spec["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["sethostname"], "action": "SCMP_ACT_ERRNO", "errnoRet": 42}]
    });
    let c = Container::builder(unique_id("exec"))
        .root(b.state_root())
        .bundle(b.path())
        .spec(spec_of(&b))
        .run()
        .unwrap_or_else(|e| panic!("run: {}", chain(&e)));
    (b, Guard(Some(c)))
}

fn process(args: &[&str], user: serde_json::Value) -> oci_spec::runtime::Process {
    serde_json::from_value(json!({
        "args": args,
        "cwd": "/tmp",
        "env": ["PATH=/bin", "WHO=exec"],
        "user": user,
        "noNewPrivileges": true,
        "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"],
                         "inheritable": ["CAP_KILL"], "ambient": ["CAP_KILL"]}
    }))
    .unwrap()
}

fn ns(pid: i32, kind: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{kind}"))
        .unwrap()
        .display()
        .to_string()
}

#[test]
fn exec_joins_the_namespaces_and_cgroup_and_applies_the_process() {
    let (_b, g) = sleeper();
    let c = g.0.as_ref().unwrap();
    let script = "echo host=$(hostname) cwd=$(pwd) who=$WHO id=$(id -u):$(id -g); \
                  grep -E '^(NoNewPrivs|Seccomp|CapEff):' /proc/self/status; \
                  hostname other 2>/dev/null || echo sethostname-refused; \
                  for n in mnt net pid uts ipc cgroup; do echo $n=$(readlink /proc/self/ns/$n); done; exit 3";
    let (mut r, w) = std::io::pipe().unwrap();
    let p = c
        .exec(process(&["sh", "-c", script], json!({"uid": 1000, "gid": 1000})))
        .stdout(OwnedFd::from(w))
        .spawn()
        .unwrap_or_else(|e| panic!("exec: {}", chain(&e)));
    let mut out = String::new();
    r.read_to_string(&mut out).unwrap();
    assert_eq!(p.wait().unwrap().code(), 3, "{out}");
    assert!(out.contains("host=exec-host cwd=/tmp who=exec id=1000:1000\n"), "{out}");
    assert!(out.contains("NoNewPrivs:\t1\n"), "{out}");
    assert!(out.contains("Seccomp:\t2\n"), "{out}");
    assert!(out.contains("CapEff:\t0000000000000020\n"), "{out}");
    // The container's profile holds for exec'd processes: sethostname gets its errno.
    assert!(out.contains("sethostname-refused"), "{out}");
    for kind in ["mnt", "net", "pid", "uts", "ipc", "cgroup"] {
        assert!(
            out.contains(&format!("{kind}={}\n", ns(c.pid(), kind))),
            "{kind}: {out}"
        );
    }
}

#[test]
fn an_exec_process_is_in_the_containers_cgroup() {
    let (_b, g) = sleeper();
    let c = g.0.as_ref().unwrap();
    let (mut r, w) = std::io::pipe().unwrap();
    let p = c
        .exec(process(
            &["sh", "-c", "echo ready; exec sleep 100"],
            json!({"uid": 0, "gid": 0}),
        ))
        .stdout(OwnedFd::from(w))
        .spawn()
        .unwrap();
    let mut buf = [0u8; 6];
    r.read_exact(&mut buf).unwrap();
    let cgroups = |pid: i32| std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert_eq!(cgroups(p.pid()), cgroups(c.pid()));
    c.kill(libc::SIGKILL, true).unwrap();
    assert_eq!(p.wait().unwrap().code(), 128 + libc::SIGKILL);
}

#[test]
fn exec_into_a_stopped_container_is_refused() {
    let (_b, mut g) = sleeper();
    let c = g.0.as_mut().unwrap();
    c.kill(libc::SIGKILL, false).unwrap();
    c.wait().unwrap();
    let err = c
        .exec(process(&["true"], json!({"uid": 0, "gid": 0})))
        .spawn()
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::BadStatus {
                status: Status::Stopped,
                ..
            }
        ),
        "{}",
        chain(&err)
    );
}

/// An embedder reads the failed step as a type, not a string; the message is the one the CLI
/// prints.
#[test]
fn a_failed_step_is_typed_for_embedders() {
    let (_b, g) = sleeper();
    let c = g.0.as_ref().unwrap();
    let spawn_failing = |cwd: &str, args: &[&str]| {
        let mut p = process(args, json!({"uid": 0, "gid": 0}));
        p.set_cwd(cwd.into());
        c.exec(p).spawn().unwrap_err()
    };
    let err = spawn_failing("/tmp", &["no-such-binary"]);
    match &err {
        Error::Init {
            step, index, source, ..
        } => {
            assert_eq!((*step, *index), (InitStep::Lookup, 0));
            assert_eq!(source.raw_os_error(), Some(libc::ENOENT));
        }
        other => panic!("not an init step: {}", chain(other)),
    }
    assert_eq!(
        err.to_string(),
        "container init: exec \"no-such-binary\": executable file not found in $PATH or not executable"
    );
    let err = spawn_failing("/no/such/dir", &["true"]);
    assert!(
        matches!(
            err,
            Error::Init {
                step: InitStep::Chdir,
                index: 0,
                ..
            }
        ),
        "{}",
        chain(&err)
    );
    assert_eq!(err.to_string(), "container init: chdir to process.cwd \"/no/such/dir\"");
}

#[test]
fn a_failed_exec_is_reported_by_its_step_every_time() {
    let (_b, g) = sleeper();
    let c = g.0.as_ref().unwrap();
    // The process fails before it reads the runtime's Go: the kernel then resets the socket,
    // which must not hide the error the process sent first.
    for _ in 0..50 {
        let err = c
            .exec(process(&["no-such-binary"], json!({"uid": 0, "gid": 0})))
            .spawn()
            .unwrap_err();
        assert!(chain(&err).contains("no-such-binary"), "{}", chain(&err));
    }
}
