//! Passing the signals a runtime process receives on to the container process it
//! waits for, as `runc run` and `runc exec` do in the foreground.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::thread::JoinHandle;

use namespaces::pidfd;
use ocirun_sys::io::{self, PollFd};
use ocirun_sys::signal::{self, SigSet};

/// The signals passed on: the ones a terminal or a supervisor sends. Not SIGWINCH: with a
/// terminal, a new window size reaches the container through its pty (as in runc).
const FORWARDED: [libc::c_int; 7] = [
    libc::SIGHUP,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGTERM,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGALRM,
];

fn forwarded_set() -> SigSet {
    let mut set = SigSet::empty();
    for sig in FORWARDED {
        // Every one is a signal.
        let _ = set.add(sig);
    }
    set
}

/// Blocks the forwarded signals in the calling thread and the threads it starts later,
/// so that a [`Forwarder`] receives them; call it first thing in `main`.
///
/// Container processes do not inherit the mask: their init and hooks unblock every signal.
pub fn block_forwarded() {
    // SIG_BLOCK of a valid set cannot fail.
    let _ = signal::sigmask(libc::SIG_BLOCK, &forwarded_set());
}

/// A thread passing the blocked signals to one process until it exits or this is dropped.
#[derive(Debug)]
pub struct Forwarder {
    stop: OwnedFd,
    thread: Option<JoinHandle<()>>,
}

impl Forwarder {
    /// Starts forwarding to the process behind `target` (a pidfd). Needs [`block_forwarded`] first.
    pub fn start(target: BorrowedFd<'_>) -> std::io::Result<Forwarder> {
        let sfd = signalfd()?;
        let stop = io::eventfd()?;
        let stop_rx = stop.try_clone()?;
        let target = target.try_clone_to_owned()?;
        let thread = std::thread::Builder::new()
            .name("ocirun-signals".into())
            .spawn(move || forward(&sfd, Some(&stop_rx), target.as_fd()))?;
        Ok(Forwarder {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        let _ = io::eventfd_write(self.stop.as_fd(), 1);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Passes the blocked signals to the process behind `target` (a pidfd) on the calling thread,
/// until that process exits: a [`Forwarder`] without the thread, for a caller with nothing
/// else to do meanwhile. Needs [`block_forwarded`] first. The process is left to reap.
pub fn forward_until_exit(target: BorrowedFd<'_>) -> std::io::Result<()> {
    forward(&signalfd()?, None, target);
    Ok(())
}

/// A signalfd of the forwarded signals.
fn signalfd() -> std::io::Result<OwnedFd> {
    signal::signalfd(&forwarded_set())
}

/// The forwarding loop: signals in, pidfd_send_signal out, until the target exits or `stop`.
fn forward(sfd: &OwnedFd, stop: Option<&OwnedFd>, target: BorrowedFd<'_>) {
    loop {
        // Without a stop fd, an entry poll skips.
        let mut fds = [
            PollFd::new(sfd.as_fd(), libc::POLLIN),
            PollFd::maybe(stop.map(AsFd::as_fd), libc::POLLIN),
            PollFd::new(target, libc::POLLIN),
        ];
        // poll retries EINTR itself; any other failure ends the loop.
        if io::poll(&mut fds, -1).is_err() || fds[1].revents() != 0 || fds[2].revents() != 0 {
            return;
        }
        if let Ok(sig) = signal::read_signal(sfd.as_fd()) {
            let _ = pidfd::send_signal(target, sig);
        }
    }
}
