//! Locks (issue 17 item 4): many processes at once on one running container, every command
//! returning (no deadlock), and a consistent end once `delete --force` ran among them.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{Guard, ocirun, run_detached, run_ok, state};
use test_support::{Bundle, alive, require_prerequisites, unique_id};

/// How long one command may take before it counts as stuck: far past any bounded wait in
/// ocirun (a freeze gives up after 5 s, delete's wait for the init after 10 s).
const STUCK: Duration = Duration::from_secs(20);

/// The commands the hammer threads send, each run from its own `ocirun` process.
fn commands(id: &str) -> Vec<Vec<String>> {
    let v = |args: &[&str]| args.iter().map(|a| a.replace("ID", id)).collect::<Vec<_>>();
    vec![
        v(&["state", "ID"]),
        v(&["kill", "ID", "0"]),
        v(&["pause", "ID"]),
        v(&["resume", "ID"]),
        v(&["exec", "ID", "true"]),
        v(&["ps", "ID"]),
        v(&["events", "--stats", "ID"]),
        v(&["update", "--pids-limit", "1000", "ID"]),
        v(&["list"]),
    ]
}

/// What one command did: its arguments, how it ended, its stderr, when it returned.
struct Outcome {
    args: Vec<String>,
    ok: bool,
    code: Option<i32>,
    signal: Option<i32>,
    stderr: String,
    ended: Instant,
}

/// Runs `ocirun --root root args`, killing it (it is this test's child) if it has not returned
/// within [`STUCK`]; `Err` names a stuck command.
fn run_bounded(root: &Path, args: &[String]) -> Result<Outcome, String> {
    let err = tempfile::NamedTempFile::new().unwrap();
    let mut child: Child = ocirun(root)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err.reopen().unwrap())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > STUCK {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "`ocirun {}` did not return within {STUCK:?}: {}",
                args.join(" "),
                std::fs::read_to_string(err.path()).unwrap_or_default()
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    use std::os::unix::process::ExitStatusExt;
    Ok(Outcome {
        args: args.to_vec(),
        ok: status.success(),
        code: status.code(),
        signal: status.signal(),
        stderr: std::fs::read_to_string(err.path()).unwrap_or_default(),
        ended: Instant::now(),
    })
}

#[test]
fn many_processes_on_one_container_never_deadlock_and_delete_leaves_nothing() {
    require_prerequisites();
    let b = Bundle::new(&["sleep", "86396"]);
    b.write();
    let root = b.state_root();
    let id = unique_id("locks");
    let _guard = Guard(root.clone(), id.clone());
    run_detached(ocirun(&root).args(["run", "-d", "--bundle"]).arg(b.path()).arg(&id));
    let pid = state(&root, &id)["pid"].as_i64().unwrap();
    assert!(pid > 0);

    let threads = 8;
    let hammer = Duration::from_secs(4);
    let stop = Arc::new(AtomicBool::new(false));
    let cmds = Arc::new(commands(&id));
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let (root, stop, cmds): (PathBuf, _, _) = (root.clone(), stop.clone(), cmds.clone());
            std::thread::spawn(move || {
                let mut outcomes = Vec::new();
                let mut i = t;
                while !stop.load(Ordering::Relaxed) {
                    outcomes.push(run_bounded(&root, &cmds[i % cmds.len()]));
                    i += 1;
                }
                outcomes
            })
        })
        .collect();
    std::thread::sleep(hammer);
    // delete --force among the others, which go on for a while against what it leaves.
    let delete_start = Instant::now();
    let delete = run_bounded(&root, &["delete".into(), "--force".into(), id.clone()]);
    std::thread::sleep(Duration::from_secs(1));
    stop.store(true, Ordering::Relaxed);
    let mut outcomes: Vec<Result<Outcome, String>> = workers.into_iter().flat_map(|w| w.join().unwrap()).collect();
    outcomes.push(delete);

    let mut stuck = Vec::new();
    let mut ran = 0;
    let mut succeeded = std::collections::BTreeMap::<String, (u32, u32)>::new();
    for o in &outcomes {
        match o {
            Err(e) => stuck.push(e.clone()),
            Ok(o) => {
                ran += 1;
                // A failure is an error message, never a crash.
                assert!(
                    o.signal.is_none() && !o.stderr.contains("panicked"),
                    "`ocirun {}` crashed ({:?}): {}",
                    o.args.join(" "),
                    o.signal,
                    o.stderr
                );
                // `exec` exits with its process's status, as runc's does: 137 and nothing on
                // stderr is its `true` killed by the delete, which it outlived.
                let killed_by_delete = o.args[0] == "exec" && o.code == Some(128 + 9) && o.ended > delete_start;
                assert!(
                    o.ok || !o.stderr.trim().is_empty() || killed_by_delete,
                    "`ocirun {}` failed silently (exit code {:?})",
                    o.args.join(" "),
                    o.code
                );
                let e = succeeded.entry(o.args[0].clone()).or_default();
                if o.ok {
                    e.0 += 1;
                } else {
                    e.1 += 1;
                }
            }
        }
    }
    eprintln!("locks: {ran} commands returned (command: succeeded, failed): {succeeded:?}");
    assert!(stuck.is_empty(), "stuck commands:\n{}", stuck.join("\n"));
    let delete = outcomes.last().unwrap().as_ref().unwrap();
    assert!(delete.ok, "delete --force failed: {}", delete.stderr);

    // The end: nothing of the container anywhere.
    let list = run_ok(ocirun(&root).args(["list", "-q"]));
    assert!(
        !String::from_utf8_lossy(&list.stdout).lines().any(|l| l == id),
        "{id} still listed after delete --force"
    );
    let err = common::run_err(ocirun(&root).args(["state", &id]));
    assert!(err.contains("does not exist") || err.contains("not found"), "{err}");
    // Dead: a zombie is left to pid 1, its parent since `run -d` exited.
    assert!(
        !alive(pid),
        "the init {pid} is still there: {}",
        std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default()
    );
    b.assert_no_cgroup_left();
    assert!(!root.join(&id).exists(), "its state directory is left");
}

/// A poststart hook may ask for its container's state and a poststop hook for the list: the
/// hooks run after the lock (and `state` and `list` take none), so neither waits for the
/// command that runs it. Before, `start` and `delete` ran them under the container's lock,
/// and each hook waited for it until its timeout killed it.
#[test]
fn hooks_read_their_container_without_waiting_for_its_lock() {
    require_prerequisites();
    let mut b = Bundle::new(&["sleep", "86398"]);
    let root = b.state_root();
    let id = unique_id("lockhook");
    let out = b.path().join("hook-out");
    let ocirun_bin = env!("CARGO_BIN_EXE_ocirun");
    let hook = |cmd: String| serde_json::json!({"path": "/bin/sh", "args": ["sh", "-c", cmd], "timeout": 10});
    b.spec["hooks"] = serde_json::json!({
        "poststart": [hook(format!("{ocirun_bin} --root {r} state {id} > {o}/tmp1 && mv {o}/tmp1 {o}/poststart", r = root.display(), o = out.display()))],
        "poststop": [hook(format!("{ocirun_bin} --root {r} list -q > {o}/tmp2 && mv {o}/tmp2 {o}/poststop", r = root.display(), o = out.display()))],
    });
    b.write();
    std::fs::create_dir(&out).unwrap();
    let _guard = Guard(root.clone(), id.clone());
    run_detached(ocirun(&root).args(["run", "-d", "--bundle"]).arg(b.path()).arg(&id));
    let seen: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("poststart"))
            .expect("the poststart hook's result (none: killed at its timeout)"),
    )
    .expect("the poststart hook's state");
    assert_eq!(seen["id"], id.as_str());
    assert_eq!(seen["status"], "running");
    run_ok(ocirun(&root).args(["delete", "--force", &id]));
    // Run once the container was removed: the list the hook saw is empty.
    assert_eq!(
        std::fs::read_to_string(out.join("poststop"))
            .expect("the poststop hook's result (none: killed at its timeout)"),
        ""
    );
}
