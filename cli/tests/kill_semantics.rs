//! `ocirun kill` in every state (created, running, paused, stopped, gone), with and without
//! `--all`, as `runc kill` 1.1 answers: containerd's shim sends `kill --all <id> 9` after every
//! exit and matches runc's "container not running" (issue 16 item 1, issue 15 item 20).

mod common;

use std::path::Path;
use std::process::Stdio;

use common::{Guard, ocirun, run_detached, run_err, run_ok, state};
use test_support::{Bundle, require_prerequisites, unique_id};

/// A container made from `b` with `cmd` ("create" or "run --detach"), its guard and its id.
fn container(b: &Bundle, prefix: &str, cmd: &[&str]) -> (Guard, String) {
    b.write();
    let root = b.state_root();
    let id = unique_id(prefix);
    let g = Guard(root.clone(), id.clone());
    run_detached(ocirun(&root).args(cmd).arg("--bundle").arg(b.path()).arg(&id));
    (g, id)
}

fn status(root: &Path, id: &str) -> String {
    state(root, id)["status"].as_str().unwrap().to_string()
}

/// Polls until the container reaches `want` (a signalled process exits asynchronously).
fn wait_status(root: &Path, id: &str, want: &str) {
    for _ in 0..500 {
        if status(root, id) == want {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(status(root, id), want, "{id} never became {want}");
}

fn kill(root: &Path, args: &[&str]) -> std::process::Output {
    ocirun(root)
        .arg("kill")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// The stderr of a failed `kill`, asserting it failed with status 1 (runc's).
fn kill_err(root: &Path, args: &[&str]) -> String {
    let out = kill(root, args);
    assert_eq!(out.status.code(), Some(1), "kill {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The pids left in the container's cgroup, in every hierarchy.
fn cgroup_pids(b: &Bundle) -> Vec<String> {
    let mut pids: Vec<String> = b
        .cgroup_dirs_everywhere()
        .iter()
        .filter_map(|d| std::fs::read_to_string(d.join("cgroup.procs")).ok())
        .flat_map(|t| t.lines().map(str::to_string).collect::<Vec<_>>())
        .collect();
    pids.sort();
    pids.dedup();
    pids
}

#[test]
fn a_created_container_takes_signal_zero_and_dies_of_sigkill() {
    require_prerequisites();
    let b = Bundle::new(&["sleep", "1000"]);
    let root = b.state_root();
    let (_g, id) = container(&b, "killcreated", &["create"]);
    run_ok(ocirun(&root).args(["kill", &id, "0"]));
    run_ok(ocirun(&root).args(["kill", "--all", &id, "0"]));
    assert_eq!(status(&root, &id), "created", "signal 0 only checks");
    run_ok(ocirun(&root).args(["kill", &id, "KILL"]));
    wait_status(&root, &id, "stopped");
    // runc: `kill --all` of a stopped container succeeds, a plain kill does not.
    run_ok(ocirun(&root).args(["kill", "--all", &id, "9"]));
    assert!(kill_err(&root, &[&id, "9"]).contains("container not running"));
}

#[test]
fn signal_zero_checks_a_running_container_and_bad_numbers_are_the_kernels_to_refuse() {
    require_prerequisites();
    let b = Bundle::new(&["sleep", "1000"]);
    let root = b.state_root();
    let (_g, id) = container(&b, "killrunning", &["run", "--detach"]);
    run_ok(ocirun(&root).args(["kill", &id, "0"]));
    run_ok(ocirun(&root).args(["kill", "--all", &id, "0"]));
    assert_eq!(status(&root, &id), "running");
    // Any number is passed on, as runc does; the kernel refuses what is not a signal.
    let err = kill_err(&root, &[&id, "99"]);
    assert!(
        err.contains("signal the container's init") && err.contains("Invalid argument"),
        "{err}"
    );
    // With --all, runc warns about each process it could not signal and succeeds.
    let out = run_ok(ocirun(&root).args(["kill", "--all", &id, "99"]));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Invalid argument"),
        "{out:?}"
    );
    let err = kill_err(&root, &[&id, "NOSUCHSIG"]);
    assert!(err.contains("unknown signal \"NOSUCHSIG\""), "{err}");
    assert_eq!(status(&root, &id), "running", "no refused signal reached it");
    run_ok(ocirun(&root).args(["kill", &id, "TERM"]));
    // The init is pid 1 of its pid namespace: without a handler, SIGTERM from outside is
    // dropped (as with runc); SIGKILL ends it.
    assert_eq!(status(&root, &id), "running");
    run_ok(ocirun(&root).args(["kill", "--all", &id, "KILL"]));
    wait_status(&root, &id, "stopped");
}

#[test]
fn a_paused_container_stays_paused_for_its_init_and_is_thawed_by_kill_all() {
    require_prerequisites();
    let b = Bundle::new(&["sleep", "1000"]);
    let root = b.state_root();
    let (_g, id) = container(&b, "killpaused", &["run", "--detach"]);
    run_ok(ocirun(&root).args(["pause", &id]));
    run_ok(ocirun(&root).args(["kill", &id, "0"]));
    run_ok(ocirun(&root).args(["kill", &id, "USR1"]));
    assert_eq!(status(&root, &id), "paused", "a plain kill thaws only for SIGKILL");
    // runc 1.1 freezes the cgroup to signal every process and thaws it afterwards.
    run_ok(ocirun(&root).args(["kill", "--all", &id, "0"]));
    assert_eq!(status(&root, &id), "running");
    run_ok(ocirun(&root).args(["pause", &id]));
    run_ok(ocirun(&root).args(["kill", &id, "KILL"]));
    wait_status(&root, &id, "stopped");
}

#[test]
fn a_stopped_container_is_not_running_for_its_init_and_kill_all_reaches_what_outlived_it() {
    require_prerequisites();
    // No pid namespace: the background sleep outlives the init.
    let mut b = Bundle::new(&["sh", "-c", "sleep 1000 & exec sleep 2000"]);
    let ns = b.spec["linux"]["namespaces"].as_array_mut().unwrap();
    ns.retain(|n| n["type"] != "pid");
    let root = b.state_root();
    let (_g, id) = container(&b, "killstopped", &["run", "--detach"]);
    for _ in 0..500 {
        if cgroup_pids(&b).len() == 2 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(cgroup_pids(&b).len(), 2, "the init and the background sleep");
    run_ok(ocirun(&root).args(["kill", &id, "KILL"]));
    wait_status(&root, &id, "stopped");
    assert_eq!(cgroup_pids(&b).len(), 1, "the background sleep is left");
    // runc's text, which containerd's shim matches ("process already finished").
    for sig in ["TERM", "9", "0"] {
        let err = kill_err(&root, &[&id, sig]);
        assert!(err.contains("container not running"), "kill {sig}: {err}");
    }
    run_ok(ocirun(&root).args(["kill", "--all", &id, "0"]));
    assert_eq!(cgroup_pids(&b).len(), 1, "signal 0 only checks");
    run_ok(ocirun(&root).args(["kill", "--all", &id, "9"]));
    for _ in 0..500 {
        if cgroup_pids(&b).is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(
        cgroup_pids(&b),
        Vec::<String>::new(),
        "kill --all reached the background sleep"
    );
    run_ok(ocirun(&root).args(["kill", "--all", &id, "9"]));
    run_ok(ocirun(&root).args(["delete", &id]));
    // Gone: the same answer with and without --all.
    for args in [
        vec![id.as_str(), "9"],
        vec!["--all", id.as_str(), "9"],
        vec![id.as_str(), "0"],
    ] {
        let err = kill_err(&root, &args);
        assert!(err.contains("does not exist"), "kill {args:?}: {err}");
    }
    let err = run_err(ocirun(&root).args(["kill", "nosuch-container"]));
    assert!(err.contains("does not exist"), "{err}");
}
