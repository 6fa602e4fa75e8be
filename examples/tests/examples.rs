//! Runs every example against a busybox rootfs and checks what it prints: the examples are
//! documentation an embedder copies, so they must keep working.

use std::path::PathBuf;
use std::process::Command;

use ocirun_examples::STATE_ROOT;
use runtime_core::Container;
use test_support::{Bundle, require_prerequisites};

/// The example binaries cargo builds next to the test's own directory.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test's path");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target/<profile>");
    dir.join("examples").join(name)
}

/// Force-deletes the containers an example run left behind (it deletes its own on success).
struct Leftovers(Vec<String>);

impl Drop for Leftovers {
    fn drop(&mut self) {
        for id in &self.0 {
            if let Ok(c) = Container::load(STATE_ROOT, id) {
                let _ = c.delete(true);
            }
        }
    }
}

/// Runs example `name` on a fresh busybox rootfs; returns its stdout. `ids` names the
/// containers it makes, from its pid.
fn run(name: &str, ids: impl Fn(u32) -> Vec<String>) -> String {
    require_prerequisites();
    let b = Bundle::new(&["true"]);
    let child = Command::new(example(name))
        .arg(b.rootfs())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run example {name}: {e}"));
    let _leftovers = Leftovers(ids(child.id()));
    let out = child.wait_with_output().expect("the example's output");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "example {name} failed: {}\nstdout: {stdout}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn run_in_memory_runs_and_reports_the_exit_code() {
    let out = run("run_in_memory", |pid| vec![format!("run-in-memory-{pid}")]);
    assert!(out.contains("hello from embedded"), "{out}");
    assert!(out.contains("(code 3)"), "{out}");
}

#[test]
fn lifecycle_creates_starts_execs_kills_and_deletes() {
    let out = run("lifecycle", |pid| vec![format!("lifecycle-{pid}")]);
    assert!(out.contains("exec sees lifecycle"), "{out}");
    assert!(out.contains("exec exited with code 0"), "{out}");
    assert!(out.contains("init ended: Signaled(9)"), "{out}");
}

#[test]
fn console_reads_the_process_through_its_pty() {
    let out = run("console", |pid| vec![format!("console-{pid}")]);
    assert!(out.contains("my terminal is /dev/pts/0"), "{out}");
    assert!(out.contains("exited with code 0"), "{out}");
}

#[test]
fn stats_reads_updates_pauses_and_resumes() {
    let out = run("stats", |pid| vec![format!("stats-{pid}")]);
    assert!(out.contains("1 process(es)"), "{out}");
    assert!(out.contains("pids limit now 64"), "{out}");
    assert!(out.contains("paused and resumed: Running"), "{out}");
}

#[test]
fn async_wait_reaps_containers_in_the_order_they_exit() {
    let out = run("async_wait", |pid| (0..3).map(|i| format!("async-{pid}-{i}")).collect());
    let order: Vec<&str> = out
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter_map(|id| id.rsplit('-').next())
        .collect();
    // Sleeps of 2, 0 and 1 s: containers 1, 2 and 0 end in that order (a second apart, far
    // more than a container takes to start).
    assert_eq!(order, ["1", "2", "0"], "{out}");
    assert!(out.lines().all(|l| l.ends_with("exited with code 0")), "{out}");
}
