//! A running container's resources from outside: its cgroup's statistics, a limit changed
//! while it runs (runc's `update`), and `pause`/`resume` (the cgroup freezer).
//!
//! Usage: `cargo run -p ocirun-examples --example stats -- <rootfs>` (as root).

use anyhow::{Context, Result};
use ocirun_examples::{STATE_ROOT, spec, unique_id};
use runtime_core::{Container, LinuxResources, Status};

fn main() -> Result<()> {
    let rootfs = std::env::args().nth(1).context("usage: stats <rootfs>")?;
    let spec = spec(&rootfs, vec!["sleep".into(), "600".into()], "stats")?;
    runtime_core::exe::protect(|| Ok(spec.clone()))?;

    let id = unique_id("stats");
    let mut container = Container::builder(&id).root(STATE_ROOT).spec(spec).run()?;
    let stats = container.stats()?;
    println!(
        "{id}: {} process(es), memory {} bytes, cpu {} ns",
        stats.pids.current, stats.memory.usage.usage, stats.cpu.usage.total
    );

    // At most 64 processes from now on.
    let resources: LinuxResources = serde_json::from_str(r#"{"pids": {"limit": 64}}"#)?;
    container.update(&resources)?;
    println!("pids limit now {}", container.stats()?.pids.limit);

    container.pause()?;
    assert_eq!(container.status()?, Status::Paused);
    container.resume()?;
    println!("paused and resumed: {:?}", container.status()?);

    container.kill(9, false)?; // SIGKILL
    container.wait()?;
    container.delete(false)?;
    Ok(())
}
