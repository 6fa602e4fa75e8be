//! Runs a container from an in-memory `Spec` through `Container::builder()` and
//! prints its exit status.
//!
//! Usage: `cargo run -p ocirun-examples --example run_in_memory -- <rootfs> [command...]`
//! (as root; `scripts/demo.sh` leaves a busybox rootfs in /tmp/ocirun-demo/rootfs).

use anyhow::{Context, Result};
use ocirun_examples::{STATE_ROOT, spec, unique_id};
use runtime_core::Container;

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let rootfs = args.next().context("usage: run_in_memory <rootfs> [command...]")?;
    let mut command: Vec<String> = args.collect();
    if command.is_empty() {
        command = vec!["sh".into(), "-c".into(), "echo hello from $(hostname); exit 3".into()];
    }
    let spec = spec(&rootfs, command, "embedded")?;

    // Before any container process exists: a container must not be able to reach this
    // program's binary through /proc/self/exe and rewrite it (CVE-2019-5736). Re-executes the
    // program from a read-only view of its binary when it needs to.
    runtime_core::exe::protect(|| Ok(spec.clone()))?;

    let id = unique_id("run-in-memory");
    let mut container = Container::builder(&id).root(STATE_ROOT).spec(spec).run()?;
    let status = container.wait()?;
    container.delete(false)?;
    println!("container {id} exited with {status:?} (code {})", status.code());
    Ok(())
}
