//! What the end-to-end tests of runtime-core share: running a bundle to the end
//! with its output captured, and deleting containers even when a test fails.
#![allow(dead_code)] // Each test binary uses its own subset.

use std::io::Read;
use std::os::fd::OwnedFd;
use std::sync::{Mutex, MutexGuard};

use runtime_core::{Container, Spec};
use test_support::{Bundle, footprint, unique_id};

static SERIAL: Mutex<()> = Mutex::new(());

/// One test of the binary at a time, for tests that compare the host's footprint.
pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Deletes the container when the test ends, even when it fails.
pub struct Guard(pub Option<Container>);

impl Guard {
    /// The container the guard holds.
    pub fn c(&mut self) -> &mut Container {
        self.0.as_mut().expect("the guard holds the container")
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(c) = self.0.take() {
            let _ = c.delete(true);
        }
    }
}

/// The bundle's spec as the library takes it.
pub fn spec_of(b: &Bundle) -> Spec {
    serde_json::from_str(&b.spec_json()).expect("test spec parses")
}

/// Runs the bundle's process to the end; returns its exit code and stdout.
pub fn run_capture(b: &Bundle) -> (i32, String) {
    run_output(b, false)
}

/// Runs the bundle's process to the end; returns its exit code and stdout, with stderr
/// in the same pipe when `stderr_too`.
pub fn run_output(b: &Bundle, stderr_too: bool) -> (i32, String) {
    let (mut r, w) = std::io::pipe().unwrap();
    let mut builder = Container::builder(unique_id("cap"))
        .root(b.state_root())
        .bundle(b.path())
        .spec(spec_of(b));
    if stderr_too {
        builder = builder.stderr(OwnedFd::from(w.try_clone().unwrap()));
    }
    let c = builder
        .stdout(OwnedFd::from(w))
        .run()
        .unwrap_or_else(|e| panic!("run failed: {}", chain(&e)));
    let mut guard = Guard(Some(c));
    let mut out = String::new();
    r.read_to_string(&mut out).unwrap();
    let status = guard.c().wait().unwrap();
    guard.0.take().unwrap().delete(false).unwrap();
    (status.code(), out)
}

/// Creates from the bundle's config.json and expects an error containing every string
/// of `want`, with no state directory, cgroup, fd, mount or child left.
pub fn expect_create_error(b: &Bundle, want: &[&str]) -> String {
    let before = footprint();
    let id = unique_id("bad");
    let err = Container::builder(&id)
        .root(b.state_root())
        .bundle(b.path())
        .create()
        .unwrap_err();
    let text = chain(&err);
    for w in want {
        assert!(text.contains(w), "error {text:?} does not mention {w:?}");
    }
    assert!(!b.state_root().join(&id).exists(), "state directory left behind");
    assert_eq!(footprint(), before, "something leaked after: {text}");
    text
}

pub use test_support::error_chain as chain;
