//! Runs a container from an in-memory `Spec` through `Container::builder()` and
//! prints its exit status.
//!
//! Usage: `cargo run -p ocirun-examples --example run_in_memory -- <rootfs> [command...]`
//! (as root; `scripts/demo.sh` leaves a busybox rootfs in /tmp/ocirun-demo/rootfs).

use anyhow::{Context, Result};
use runtime_core::{Container, Spec};

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let rootfs = args.next().context("usage: run_in_memory <rootfs> [command...]")?;
    let mut command: Vec<String> = args.collect();
    if command.is_empty() {
        command = vec!["sh".into(), "-c".into(), "echo hello from $(hostname); exit 3".into()];
    }

    // runc's default spec, with our rootfs and command.
    let mut spec = Spec::default();
    let mut root = spec.root().clone().unwrap_or_default();
    root.set_path(std::fs::canonicalize(&rootfs).with_context(|| format!("rootfs {rootfs}"))?);
    spec.set_root(Some(root));
    spec.set_hostname(Some("embedded".into()));
    let mut process = spec.process().clone().unwrap_or_default();
    process.set_args(Some(command));
    process.set_terminal(Some(false));
    spec.set_process(Some(process));

    // Before any container process exists: a container must not be able to reach this
    // program's binary through /proc/self/exe and rewrite it (CVE-2019-5736). Re-executes the
    // program from a read-only view of its binary when it needs to.
    runtime_core::exe::protect(|| Ok(spec.clone()))?;

    let id = format!("example-{}", std::process::id());
    let mut container = Container::builder(&id).root("/run/ocirun-examples").spec(spec).run()?;
    let status = container.wait()?;
    container.delete(false)?;
    println!("container {id} exited with {status:?} (code {})", status.code());
    Ok(())
}
