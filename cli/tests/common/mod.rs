//! What the end-to-end tests of the `ocirun` binary share: running it, and
//! force-deleting containers even when a test fails.
#![allow(dead_code)] // Each test binary uses its own subset.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

/// The `ocirun` binary under test, with `--root`.
pub fn ocirun(root: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ocirun"));
    c.arg("--root").arg(root);
    c
}

/// Compiles `tests/probe/<name>.c` once per test run as a static binary (it runs in a busybox
/// rootfs, which lacks such tools) and returns its path.
pub fn static_probe(name: &'static str) -> PathBuf {
    static BUILT: std::sync::Mutex<Vec<(&'static str, PathBuf)>> = std::sync::Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, p)) = built.iter().find(|(n, _)| *n == name) {
        return p.clone();
    }
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-probe-{}", std::process::id()));
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/probe/{name}.c"));
    let status = Command::new("cc")
        .args(["-static", "-O2", "-o"])
        .arg(&out)
        .arg(&src)
        .status()
        .expect("run cc (.ci/run installs gcc and libc6-dev)");
    assert!(status.success(), "cc failed to build the {name} probe");
    built.push((name, out.clone()));
    out
}

/// One test of the binary at a time, for tests that compare the host's footprint.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs a command that must fail; returns its stderr.
pub fn run_err(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(!out.status.success(), "{cmd:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs `cmd` and asserts it succeeded.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Force-deletes a container when the test ends.
pub struct Guard(pub PathBuf, pub String);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = ocirun(&self.0).args(["delete", "--force", &self.1]).output();
    }
}

/// Runs `cmd` with null stdin and stdout (a container may outlive it and hold them) and
/// returns whether it succeeded and its stderr.
pub fn run_status(cmd: &mut Command) -> (bool, String) {
    let err = tempfile::NamedTempFile::new().unwrap();
    let status = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err.reopen().unwrap())
        .status()
        .unwrap();
    (status.success(), std::fs::read_to_string(err.path()).unwrap())
}

/// Runs a command whose container outlives it (create, run --detach) and asserts it succeeded.
pub fn run_detached(cmd: &mut Command) {
    let (ok, err) = run_status(cmd);
    assert!(ok, "{cmd:?} failed: {err}");
}

/// `ocirun state` of `id`, parsed.
pub fn state(root: &Path, id: &str) -> Value {
    let out = run_ok(ocirun(root).args(["state", id]));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Every syscall of this machine's architecture by name, from the kernel headers.
pub fn syscall_names() -> Vec<String> {
    let header = format!("/usr/include/{}-linux-gnu/asm/unistd_64.h", std::env::consts::ARCH);
    let text =
        std::fs::read_to_string(&header).unwrap_or_else(|e| panic!("read {header} (.ci/run installs libc6-dev): {e}"));
    text.lines()
        .filter_map(|l| l.strip_prefix("#define __NR_"))
        .filter_map(|l| l.split_whitespace().next())
        .map(String::from)
        .collect()
}
