//! OCI hooks through the `ocirun` binary: every hook records when it ran, in which
//! namespaces, and the state it read on stdin.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;

use common::{Guard, ocirun, run_detached, run_ok, state};
use serde_json::{Value, json};
use test_support::{Bundle, require_prerequisites, unique_id};

/// Writes what a hook sees (state, namespaces, environment) into `$2/$1.*` and appends `$1`
/// to `$2/order`.
const RECORD: &str = "kind=$1; dir=$2; cat > $dir/$kind.json; echo $kind >> $dir/order; env > $dir/$kind.env; \
                      for ns in mnt net pid uts; do readlink /proc/self/ns/$ns > $dir/$kind.$ns; done";

const KINDS: [&str; 6] = [
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

/// A bundle whose every hook records into `<bundle>/hooklog`, which the container sees at
/// /hooklog; the container process records its own namespaces there as "container".
fn hooked_bundle() -> (Bundle, PathBuf) {
    let mut b = Bundle::new(&[
        "sh",
        "-c",
        "for ns in mnt net pid uts; do readlink /proc/self/ns/$ns > /hooklog/container.$ns; done",
    ]);
    let log = b.path().join("hooklog");
    std::fs::create_dir(&log).unwrap();
    std::fs::create_dir(b.rootfs().join("hooklog")).unwrap();
    b.spec["mounts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"destination": "/hooklog", "type": "bind", "source": log, "options": ["rbind", "rw"]}));
    b.spec["annotations"] = json!({"org.ocirun.test": "hooks"});
    let mut hooks = serde_json::Map::new();
    for kind in KINDS {
        // startContainer's path and directory resolve in the container; the others' on the host.
        let dir = if kind == "startContainer" {
            "/hooklog".to_string()
        } else {
            log.display().to_string()
        };
        let hook = json!({"path": "/bin/sh", "args": ["sh", "-c", RECORD, "sh", kind, dir], "timeout": 30});
        hooks.insert(kind.to_string(), json!([hook]));
    }
    b.spec["hooks"] = Value::Object(hooks);
    b.write();
    (b, log)
}

fn read(log: &Path, name: &str) -> String {
    std::fs::read_to_string(log.join(name))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .trim()
        .to_string()
}

/// Checks the order, the namespaces and the state every hook saw.
fn check(b: &Bundle, log: &Path, id: &str) {
    let order: Vec<String> = read(log, "order").lines().map(String::from).collect();
    assert_eq!(order, KINDS, "hooks ran out of order");
    let host = |ns: &str| {
        std::fs::read_link(format!("/proc/self/ns/{ns}"))
            .unwrap()
            .display()
            .to_string()
    };
    let bundle = std::fs::canonicalize(b.path()).unwrap();
    let mut pids = Vec::new();
    for kind in KINDS {
        let in_container = kind == "createContainer" || kind == "startContainer";
        for ns in ["mnt", "net", "pid", "uts"] {
            let want = if in_container {
                read(log, &format!("container.{ns}"))
            } else {
                host(ns)
            };
            assert_eq!(
                read(log, &format!("{kind}.{ns}")),
                want,
                "{kind} ran in the wrong {ns} namespace"
            );
        }
        let s: Value = serde_json::from_str(&read(log, &format!("{kind}.json"))).unwrap();
        let status = match kind {
            "startContainer" => "created",
            "poststart" => "running",
            "poststop" => "stopped",
            _ => "creating",
        };
        assert_eq!(s["status"], status, "{kind}: {s}");
        assert_eq!(s["id"], id, "{kind}: {s}");
        assert_eq!(s["ociVersion"], "1.2.0", "{kind}: {s}");
        assert_eq!(s["bundle"], json!(bundle), "{kind}: {s}");
        assert_eq!(s["annotations"]["org.ocirun.test"], "hooks", "{kind}: {s}");
        // A hook without env inherits the runtime's, but not the marker of its sealed
        // re-execution, with which an ocirun the hook ran would refuse to start.
        let env = read(log, &format!("{kind}.env"));
        assert!(
            !env.contains(ocirun_exeseal::MARKER),
            "{kind} inherited the seal marker: {env}"
        );
        pids.push(s["pid"].as_i64().unwrap_or_else(|| panic!("{kind}: no pid in {s}")));
    }
    // Every hook saw the same init, by its pid on the host.
    assert!(pids.iter().all(|p| *p == pids[0] && *p > 1), "{pids:?}");
}

#[test]
fn hooks_run_in_order_in_their_namespaces_with_the_state_through_run() {
    require_prerequisites();
    let (b, log) = hooked_bundle();
    let id = unique_id("hookrun");
    let _g = Guard(b.state_root(), id.clone());
    run_ok(
        ocirun(&b.state_root())
            .args(["run", "--bundle"])
            .arg(b.path())
            .arg(&id)
            .stdin(Stdio::null()),
    );
    check(&b, &log, &id);
}

#[test]
fn hooks_run_in_order_in_their_namespaces_with_the_state_through_create_start_delete() {
    require_prerequisites();
    let (b, log) = hooked_bundle();
    let id = unique_id("hookcsd");
    let root = b.state_root();
    let _g = Guard(root.clone(), id.clone());
    run_detached(ocirun(&root).args(["create", "--bundle"]).arg(b.path()).arg(&id));
    // After create: exactly the create hooks, with the init's pid.
    assert_eq!(read(&log, "order"), "prestart\ncreateRuntime\ncreateContainer");
    let pid = state(&root, &id)["pid"].as_i64().unwrap();
    let seen: Value = serde_json::from_str(&read(&log, "createRuntime.json")).unwrap();
    assert_eq!(seen["pid"], pid);
    run_ok(ocirun(&root).args(["start", &id]));
    // The container writes its namespaces and exits; wait for it to stop.
    for _ in 0..1500 {
        if state(&root, &id)["status"] == "stopped" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(!log.join("poststop").exists());
    run_ok(ocirun(&root).args(["delete", &id]));
    check(&b, &log, &id);
}

#[test]
fn failing_poststart_and_poststop_hooks_only_warn() {
    require_prerequisites();
    let mut b = Bundle::new(&["true"]);
    let fail = json!([{"path": "/bin/sh", "args": ["sh", "-c", "echo it broke >&2; exit 3"]}]);
    b.spec["hooks"] = json!({"poststart": fail, "poststop": fail});
    b.write();
    let id = unique_id("hookwarn");
    let _g = Guard(b.state_root(), id.clone());
    let out = ocirun(&b.state_root())
        .args(["run", "--bundle"])
        .arg(b.path())
        .arg(&id)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    for kind in ["poststart", "poststop"] {
        assert!(
            err.contains(&format!(
                "warning: {kind} hook 0 (/bin/sh): exited with status 3, stderr: it broke"
            )),
            "{err}"
        );
    }
    assert!(
        !b.state_root().join(&id).exists(),
        "the container was deleted despite the warnings"
    );
}

#[test]
fn a_failing_create_hook_fails_create_destroys_the_container_and_runs_poststop() {
    require_prerequisites();
    let mut b = Bundle::new(&["true"]);
    let marker = b.path().join("poststop-ran");
    b.spec["hooks"] = json!({
        "createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", "echo refused >&2; exit 9"]}],
        "poststop": [{"path": "/bin/sh", "args": ["sh", "-c", format!("cat > {}", marker.display())]}]
    });
    b.write();
    let id = unique_id("hookfail");
    let root = b.state_root();
    let (ok, err) = common::run_status(ocirun(&root).args(["create", "--bundle"]).arg(b.path()).arg(&id));
    assert!(!ok);
    assert!(
        err.contains("createRuntime hook 0 (/bin/sh): exited with status 9, stderr: refused"),
        "{err}"
    );
    assert!(!root.join(&id).exists(), "the state directory was left");
    b.assert_no_cgroup_left();
    // The spec's lifecycle: a failed create continues at destroy, then the poststop hooks.
    let seen: Value = serde_json::from_str(&std::fs::read_to_string(&marker).expect("poststop ran")).unwrap();
    assert_eq!(seen["status"], "stopped");
    assert_eq!(seen["id"], id.as_str());
}

/// The lines of a `/proc/<pid>/status` that say what a process may do.
fn restrictions(status: &str) -> Vec<String> {
    let keys = [
        "Uid:",
        "Gid:",
        "Groups:",
        "CapBnd:",
        "CapEff:",
        "CapPrm:",
        "CapInh:",
        "NoNewPrivs:",
        "Seccomp:",
    ];
    status
        .lines()
        .filter(|l| keys.iter().any(|k| l.starts_with(k)))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

/// A startContainer hook is a process of the container (runc runs it from the init, after its
/// setup): the container process's user, capabilities, no_new_privs and seccomp filter, and
/// the container's cgroup, not the runtime's.
#[test]
fn start_container_hook_runs_with_the_containers_user_capabilities_seccomp_and_cgroup() {
    require_prerequisites();
    use std::os::unix::fs::PermissionsExt;
    let mut b = Bundle::new(&["sleep", "30"]);
    b.spec["root"]["readonly"] = json!(false);
    b.spec["process"]["user"] = json!({"uid": 1000, "gid": 1000, "additionalGids": [1001]});
    b.spec["process"]["noNewPrivileges"] = json!(true);
    let caps = json!(["CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    b.spec["process"]["capabilities"] = json!({"bounding": caps, "effective": caps, "permitted": caps});
    b.spec["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["sethostname"], "action": "SCMP_ACT_ERRNO"}]
    });
    let report = b.rootfs().join("report");
    std::fs::create_dir(&report).unwrap();
    std::fs::set_permissions(&report, std::fs::Permissions::from_mode(0o777)).unwrap();
    b.spec["hooks"] = json!({"startContainer": [{
        "path": "/bin/sh",
        "args": ["sh", "-c", "cat /proc/self/status > /report/status; cat /proc/self/cgroup > /report/cgroup; \
                             cat /proc/1/cgroup > /report/init-cgroup; env > /report/env"],
        "timeout": 30
    }]});
    b.write();
    let root = b.state_root();
    let id = unique_id("hookpriv");
    let _g = Guard(root.clone(), id.clone());
    run_detached(
        ocirun(&root)
            .args(["run", "--detach", "--bundle"])
            .arg(b.path())
            .arg(&id),
    );
    let pid = state(&root, &id)["pid"].as_i64().unwrap();
    let inside = |path: &str| std::fs::read_to_string(format!("/proc/{pid}/root{path}")).unwrap_or_default();
    let hook = restrictions(&inside("/report/status"));
    let process = restrictions(&std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap());
    assert!(process.contains(&"Seccomp: 2".to_string()), "{process:?}");
    assert!(process.contains(&"NoNewPrivs: 1".to_string()), "{process:?}");
    assert_eq!(
        hook, process,
        "the hook ran with other restrictions than the container's process"
    );
    let cgroup = inside("/report/cgroup");
    assert!(!cgroup.is_empty(), "the hook wrote no cgroup report");
    assert_eq!(
        cgroup,
        inside("/report/init-cgroup"),
        "the hook ran outside the container's cgroup"
    );
    // Without its own env, the hook gets the container process's.
    assert!(
        inside("/report/env").contains("TERM=xterm"),
        "{}",
        inside("/report/env")
    );
}
