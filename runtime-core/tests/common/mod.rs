//! What the end-to-end tests of runtime-core share: running a bundle to the end
//! with its output captured, and deleting containers even when a test fails.
#![allow(dead_code)] // Each test binary uses its own subset.

use std::io::Read;
use std::os::fd::OwnedFd;

use runtime_core::{Container, Spec};
use test_support::{Bundle, unique_id};

/// Deletes the container when the test ends, even when it fails.
pub struct Guard(pub Option<Container>);

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
    let (mut r, w) = std::io::pipe().unwrap();
    let c = Container::builder(unique_id("cap"))
        .root(b.state_root())
        .bundle(b.path())
        .spec(spec_of(b))
        .stdout(OwnedFd::from(w))
        .run()
        .unwrap_or_else(|e| panic!("run failed: {}", chain(&e)));
    let mut guard = Guard(Some(c));
    let mut out = String::new();
    r.read_to_string(&mut out).unwrap();
    let status = guard.0.as_mut().unwrap().wait().unwrap();
    guard.0.take().unwrap().delete(false).unwrap();
    (status.code(), out)
}

/// An error and its sources, joined with ": ".
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
