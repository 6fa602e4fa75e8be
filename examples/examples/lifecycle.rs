//! The lifecycle runc's commands walk, from one program: create a container (its init waits),
//! start it, exec a second process into it and read that process's output through a pipe,
//! then stop the init with a signal, wait for it and delete the container.
//!
//! Usage: `cargo run -p ocirun-examples --example lifecycle -- <rootfs>` (as root).

use std::io::Read;

use anyhow::{Context, Result};
use ocirun_examples::{STATE_ROOT, spec, unique_id};
use runtime_core::{Container, Status};

fn main() -> Result<()> {
    let rootfs = std::env::args().nth(1).context("usage: lifecycle <rootfs>")?;
    let spec = spec(&rootfs, vec!["sleep".into(), "600".into()], "lifecycle")?;
    runtime_core::exe::protect(|| Ok(spec.clone()))?;

    let id = unique_id("lifecycle");
    // `create`: namespaces, cgroup and rootfs are ready; the init waits for `start`.
    let mut container = Container::builder(&id).root(STATE_ROOT).spec(spec).create()?;
    assert_eq!(container.status()?, Status::Created);
    container.start()?;
    println!("{id}: {:?}, init pid {}", container.status()?, container.pid());

    // `exec`: a process in the container's namespaces and cgroup, its stdout a pipe to us.
    let (mut output, writer) = std::io::pipe()?;
    let mut process = container.spec()?.process().clone().unwrap_or_default();
    process.set_args(Some(vec![
        "sh".into(),
        "-c".into(),
        "echo exec sees $(hostname)".into(),
    ]));
    let exec = container.exec(process).stdout(writer).spawn()?;
    let exec_status = exec.wait()?;
    let mut text = String::new();
    output.read_to_string(&mut text)?;
    print!("{text}");
    println!("exec exited with code {}", exec_status.code());

    // `kill` + wait; `delete` removes cgroup and state. SIGKILL: the init is its pid
    // namespace's pid 1, which the kernel shields from signals it has no handler for (sleep
    // has none for SIGTERM).
    const SIGKILL: i32 = 9;
    container.kill(SIGKILL, false)?;
    let status = container.wait()?;
    println!("init ended: {status:?}");
    container.delete(false)?;
    Ok(())
}
