//! Passing the signals a runtime process receives on to the container process it
//! waits for, as `runc run` and `runc exec` do in the foreground.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::thread::JoinHandle;

use namespaces::pidfd;

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

fn forwarded_set() -> libc::sigset_t {
    // SAFETY: sigemptyset and sigaddset initialise and fill a sigset_t we own.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for sig in FORWARDED {
            libc::sigaddset(&mut set, sig);
        }
        set
    }
}

/// Blocks the forwarded signals in the calling thread and the threads it starts later,
/// so that a [`Forwarder`] receives them; call it first thing in `main`.
///
/// Container processes do not inherit the mask: their init and hooks unblock every signal.
pub fn block_forwarded() {
    let set = forwarded_set();
    // SAFETY: set is initialised; the old mask is not needed.
    unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
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
        // SAFETY: eventfd returns a new fd or -1.
        let stop = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
        if stop < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: stop is new and ours alone.
        let stop = unsafe { OwnedFd::from_raw_fd(stop) };
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
        let one: u64 = 1;
        // SAFETY: writing 8 bytes from a u64 to an eventfd we own.
        unsafe { libc::write(self.stop.as_raw_fd(), (&raw const one).cast(), 8) };
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
    let set = forwarded_set();
    // SAFETY: signalfd with a new fd (-1) and an initialised set.
    let sfd = unsafe { libc::signalfd(-1, &set, libc::SFD_CLOEXEC) };
    if sfd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: sfd is new and ours alone.
    Ok(unsafe { OwnedFd::from_raw_fd(sfd) })
}

/// The forwarding loop: signals in, pidfd_send_signal out, until the target exits or `stop`.
fn forward(sfd: &OwnedFd, stop: Option<&OwnedFd>, target: BorrowedFd<'_>) {
    // Without a stop fd, -1: poll ignores it.
    let stop = stop.map_or(-1, |fd| fd.as_raw_fd());
    loop {
        let mut fds = [sfd.as_raw_fd(), stop, target.as_raw_fd()].map(|fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        });
        // SAFETY: fds is an array of three valid pollfds.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 3, -1) };
        if n < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        if fds[1].revents != 0 || fds[2].revents != 0 {
            return;
        }
        // SAFETY: signalfd_siginfo is plain data; a zeroed one is valid.
        let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
        let size = std::mem::size_of::<libc::signalfd_siginfo>();
        // SAFETY: reading one signalfd_siginfo into a buffer of its size.
        let r = unsafe { libc::read(sfd.as_raw_fd(), (&raw mut info).cast(), size) };
        if r as usize == size {
            let _ = pidfd::send_signal(target, info.ssi_signo as i32);
        }
    }
}
