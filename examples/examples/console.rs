//! A container whose process has a terminal: ocirun makes the pty inside the container and
//! hands this program the master, from which it reads what the process writes (a shell's
//! `tty` and window size here), as a container engine's attach does.
//!
//! Usage: `cargo run -p ocirun-examples --example console -- <rootfs>` (as root).

use std::fs::File;
use std::io::Read;

use anyhow::{Context, Result};
use ocirun_examples::{STATE_ROOT, spec, unique_id};
use runtime_core::Container;

fn main() -> Result<()> {
    let rootfs = std::env::args().nth(1).context("usage: console <rootfs>")?;
    let command = vec!["sh".into(), "-c".into(), "echo my terminal is $(tty); stty size".into()];
    let mut spec = spec(&rootfs, command, "console")?;
    let mut process = spec.process().clone().unwrap_or_default();
    process.set_terminal(Some(true));
    spec.set_process(Some(process));
    runtime_core::exe::protect(|| Ok(spec.clone()))?;

    let id = unique_id("console");
    // keep_pty_master: the master comes back to us instead of to a --console-socket.
    let mut container = Container::builder(&id)
        .root(STATE_ROOT)
        .spec(spec)
        .keep_pty_master(true)
        .run()?;
    let master = container.take_pty_master().context("the pty master")?;
    let mut output = Vec::new();
    // A pty master reads EIO once the last process holding the slave has exited.
    let _ = File::from(master).read_to_end(&mut output);
    print!("{}", String::from_utf8_lossy(&output).replace("\r\n", "\n"));
    let status = container.wait()?;
    container.delete(false)?;
    println!("exited with code {}", status.code());
    Ok(())
}
