//! Waiting for containers from async code: the init's pidfd becomes readable when it exits,
//! so a tokio program registers it with the reactor and awaits several containers at once,
//! with no thread per container; `wait` then only reaps.
//!
//! Usage: `cargo run -p ocirun-examples --example async_wait -- <rootfs>` (as root).

use anyhow::{Context, Result};
use ocirun_examples::{STATE_ROOT, spec, unique_id};
use runtime_core::Container;
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// Waits, without blocking the runtime's thread, until `container`'s init has exited.
async fn exited(container: &Container) -> Result<()> {
    let pidfd = container
        .pidfd()
        .context("a container this process created has a pidfd")?;
    let owned = pidfd.try_clone_to_owned()?;
    // SAFETY: tokio's contract for register: the fd stays open and the same for the AsyncFd's
    // whole life. An OwnedFd moved into it is closed only when the AsyncFd drops it.
    let fd = unsafe { AsyncFd::register_with_interest(owned, Interest::READABLE) }.map_err(std::io::Error::from)?;
    let _ready = fd.readable().await?;
    Ok(())
}

fn main() -> Result<()> {
    let rootfs = std::env::args().nth(1).context("usage: async_wait <rootfs>")?;
    let spec = |secs: &str| spec(&rootfs, vec!["sleep".into(), secs.into()], "async");
    // Before the tokio runtime starts any thread: protect may re-execute this program.
    let first = spec("0")?;
    runtime_core::exe::protect(|| Ok(first))?;

    let containers: Vec<Container> = ["2", "0", "1"]
        .iter()
        .enumerate()
        .map(|(i, secs)| {
            let id = format!("{}-{i}", unique_id("async"));
            Ok(Container::builder(id).root(STATE_ROOT).spec(spec(secs)?).run()?)
        })
        .collect::<Result<_>>()?;

    let runtime = tokio::runtime::Builder::new_current_thread().enable_io().build()?;
    runtime.block_on(async {
        let mut waiting = tokio::task::JoinSet::new();
        for c in containers {
            waiting.spawn(async move { exited(&c).await.map(|()| c) });
        }
        // Whichever exits first is reaped and deleted first.
        while let Some(done) = waiting.join_next().await {
            let mut c = done??;
            let status = c.wait()?;
            println!("{} exited with code {}", c.id(), status.code());
            c.delete(false)?;
        }
        Ok(())
    })
}
