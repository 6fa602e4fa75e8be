//! What the end-to-end tests of the `ocirun` binary share: running it, and
//! force-deleting containers even when a test fails.
#![allow(dead_code)] // Each test binary uses its own subset.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

/// The `ocirun` binary under test, with `--root`.
pub fn ocirun(root: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ocirun"));
    c.arg("--root").arg(root);
    c
}

/// Runs `cmd` and asserts it succeeded.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Force-deletes a container when the test ends.
pub struct Guard<'a>(pub &'a Path, pub String);

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        let _ = ocirun(self.0).args(["delete", "--force", &self.1]).output();
    }
}

/// Runs a command whose container outlives it (create, run --detach): the
/// container inherits stdio, so nothing may wait for EOF on a pipe of it.
pub fn run_detached(cmd: &mut Command) {
    let err = tempfile::NamedTempFile::new().unwrap();
    let status = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err.reopen().unwrap())
        .status()
        .unwrap();
    let text = std::fs::read_to_string(err.path()).unwrap();
    assert!(status.success(), "{cmd:?} failed: {text}");
}

/// `ocirun state` of `id`, parsed.
pub fn state(root: &Path, id: &str) -> Value {
    let out = run_ok(ocirun(root).args(["state", id]));
    serde_json::from_slice(&out.stdout).unwrap()
}
