//! Signals: sets, the thread's mask, waiting (sigwait, signalfd), ignoring one, and resetting
//! every disposition to its default before exec.

use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

use crate::{SysResult, check, owned};

/// A set of signals (`sigset_t`), empty when made.
#[derive(Clone, Copy)]
pub struct SigSet(libc::sigset_t);

impl std::fmt::Debug for SigSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries((1..=64).filter(|s| self.contains(*s))).finish()
    }
}

impl SigSet {
    /// The empty set. Runs in the child: no allocation, no locks.
    pub fn empty() -> SigSet {
        // SAFETY: sigset_t is plain data; zeroed is a valid value that sigemptyset then empties.
        let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: `set` is a sigset_t we own; sigemptyset cannot fail on it.
        unsafe { libc::sigemptyset(&mut set) };
        SigSet(set)
    }

    /// The set of `signals`; one that is not a signal is EINVAL.
    pub fn of(signals: &[libc::c_int]) -> SysResult<SigSet> {
        let mut set = SigSet::empty();
        for &sig in signals {
            set.add(sig)?;
        }
        Ok(set)
    }

    /// Adds `sig`; one that is not a signal is EINVAL.
    pub fn add(&mut self, sig: libc::c_int) -> SysResult<()> {
        // SAFETY: self.0 is an initialised sigset_t; sigaddset checks `sig`.
        check(unsafe { libc::sigaddset(&mut self.0, sig) }).map(drop)
    }

    /// Whether `sig` is in the set.
    pub fn contains(&self, sig: libc::c_int) -> bool {
        // SAFETY: self.0 is an initialised sigset_t; sigismember checks `sig` (-1 if invalid).
        unsafe { libc::sigismember(&self.0, sig) == 1 }
    }
}

/// Changes the calling thread's signal mask (pthread_sigmask: `SIG_BLOCK`, `SIG_UNBLOCK` or
/// `SIG_SETMASK` with `set`). Runs in the child: no allocation, no locks.
pub fn sigmask(how: libc::c_int, set: &SigSet) -> SysResult<()> {
    // SAFETY: `set` is an initialised sigset_t; the old mask is not asked for.
    match unsafe { libc::pthread_sigmask(how, &set.0, std::ptr::null_mut()) } {
        0 => Ok(()),
        e => Err(e),
    }
}

/// Waits for one of the signals in `set`, which the calling thread blocks (sigwait(3)); returns
/// the signal. Runs in the parent.
pub fn sigwait(set: &SigSet) -> std::io::Result<libc::c_int> {
    let mut sig = 0;
    // SAFETY: `set` is an initialised sigset_t and `sig` is writable.
    match unsafe { libc::sigwait(&set.0, &mut sig) } {
        0 => Ok(sig),
        e => Err(crate::io_err(e)),
    }
}

/// A new signalfd (`SFD_CLOEXEC`) of the signals in `set`, which the caller blocks. Runs in the
/// parent.
pub fn signalfd(set: &SigSet) -> std::io::Result<OwnedFd> {
    // SAFETY: -1 asks for a new fd; `set` is an initialised sigset_t.
    check(unsafe { libc::signalfd(-1, &set.0, libc::SFD_CLOEXEC) })
        .map(owned)
        .map_err(crate::io_err)
}

/// Reads one `signalfd_siginfo` from the signalfd `fd`; returns its signal. A short read is
/// `UnexpectedEof`. Runs in the parent.
pub fn read_signal(fd: BorrowedFd<'_>) -> std::io::Result<libc::c_int> {
    // SAFETY: signalfd_siginfo is plain data; a zeroed one is valid.
    let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::signalfd_siginfo>();
    // SAFETY: reads at most `size` bytes into `info`, which is that large, from an fd we borrow.
    let n = unsafe { libc::read(fd.as_raw_fd(), (&raw mut info).cast(), size) };
    match crate::check_size(n) {
        Ok(n) if n == size => libc::c_int::try_from(info.ssi_signo).map_err(|_| crate::io_err(libc::EINVAL)),
        Ok(_) => Err(std::io::ErrorKind::UnexpectedEof.into()),
        Err(e) => Err(crate::io_err(e)),
    }
}

/// Ignores `sig` (`SIG_IGN`), as Rust's start-up does SIGPIPE. Runs in the child: no
/// allocation, no locks.
pub fn ignore(sig: libc::c_int) -> SysResult<()> {
    // SAFETY: sets the disposition of one signal to SIG_IGN; no handler code is involved.
    if unsafe { libc::signal(sig, libc::SIG_IGN) } == libc::SIG_ERR {
        return Err(crate::errno());
    }
    Ok(())
}

/// Gives every signal its default disposition and unblocks them all, as a process the
/// runtime execs must start: what the runtime ignores (SIGPIPE, in any Rust program) would
/// otherwise stay ignored across exec, and a handler must not run in the child.
///
/// Only the signals that are not at their default are touched: the ignored and the caught
/// ones, which `/proc/self/status` lists (`SigIgn`, `SigCgt`); usually three, where asking
/// the kernel about each of the 64 is 62 system calls. Without that file, every signal is
/// reset. Handlers go first and the mask last, so that no blocked signal reaches a handler.
///
/// Runs in the child: no allocation, no locks.
pub fn reset_to_default() -> SysResult<()> {
    let touched = non_default_signals().unwrap_or(u64::MAX);
    // The kernel's struct sigaction, all zero: handler SIG_DFL, no flags, empty mask (the
    // raw call, since libc refuses the real-time signals it reserves for itself).
    let default = [0u64; 4];
    for sig in 1..=64 {
        if touched & (1u64 << (sig - 1)) != 0 && sig != libc::SIGKILL && sig != libc::SIGSTOP {
            // SAFETY: rt_sigaction reads a zeroed kernel sigaction (SIG_DFL) of the size
            // the kernel expects for an 8-byte signal set; the old action is not asked for.
            unsafe {
                libc::syscall(
                    libc::SYS_rt_sigaction,
                    sig,
                    default.as_ptr(),
                    std::ptr::null_mut::<u64>(),
                    8,
                )
            };
        }
    }
    sigmask(libc::SIG_SETMASK, &SigSet::empty())
}

/// The signals (bit n-1 for signal n) this process ignores or catches, from the `SigIgn` and
/// `SigCgt` lines of `/proc/self/status`; `None` when they cannot be read.
///
/// Runs in the child: no allocation, no locks.
fn non_default_signals() -> Option<u64> {
    let mut buf = [0u8; 4096];
    let text = read_self_status(&mut buf)?;
    Some(status_mask(text, b"SigIgn:")? | status_mask(text, b"SigCgt:")?)
}

/// `/proc/self/status` read into `buf` (it is shorter than 4 KiB); `None` when it cannot be
/// opened.
///
/// Runs in the child: no allocation, no locks.
fn read_self_status(buf: &mut [u8; 4096]) -> Option<&[u8]> {
    use std::os::fd::AsFd;
    let fd = crate::fs::open(c"/proc/self/status", libc::O_RDONLY | libc::O_CLOEXEC).ok()?;
    let mut len = 0;
    while let Some(rest) = buf.get_mut(len..).filter(|r| !r.is_empty()) {
        match crate::fs::read(fd.as_fd(), rest) {
            Ok(n) if n > 0 => len += n,
            _ => break,
        }
    }
    buf.get(..len)
}

/// The hexadecimal mask after `key` at the start of a line of `/proc/<pid>/status`.
///
/// Runs in the child: no allocation, no locks.
fn status_mask(text: &[u8], key: &[u8]) -> Option<u64> {
    let mut lines = text.split(|b| *b == b'\n');
    let line = lines.find(|l| l.starts_with(key))?;
    let hex = line.get(key.len()..)?.trim_ascii();
    if hex.is_empty() || hex.len() > 16 {
        return None;
    }
    hex.iter()
        .try_fold(0u64, |acc, b| Some(acc << 4 | u64::from(char::from(*b).to_digit(16)?)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fd::tests::in_forked_child;
    use std::os::fd::AsFd;

    #[test]
    fn status_masks_are_read_from_their_lines() {
        let text = b"Name:\tx\nSigQ:\t0/1\nSigPnd:\t0000000000000000\nSigBlk:\t0000000000010000\nSigIgn:\t0000000000001000\nSigCgt:\t0000000180000100\n";
        assert_eq!(status_mask(text, b"SigIgn:"), Some(0x1000));
        assert_eq!(status_mask(text, b"SigCgt:"), Some(0x1_8000_0100));
        assert_eq!(status_mask(text, b"SigX:"), None);
        assert_eq!(status_mask(b"SigIgn:\tzz\n", b"SigIgn:"), None);
        assert_eq!(status_mask(b"SigIgn:\t\n", b"SigIgn:"), None);
    }

    #[test]
    fn a_reset_leaves_no_signal_ignored_caught_or_blocked() {
        extern "C" fn handler(_: libc::c_int) {}
        in_forked_child(|| {
            // SAFETY: installs a do-nothing handler in this single-threaded child.
            let caught = |sig| unsafe { libc::signal(sig, handler as *const () as libc::sighandler_t) };
            let set_up = ignore(libc::SIGPIPE).is_ok()
                && caught(libc::SIGUSR1) != libc::SIG_ERR
                && caught(libc::SIGRTMIN() + 3) != libc::SIG_ERR
                && sigmask(libc::SIG_BLOCK, &SigSet::of(&[libc::SIGUSR2]).unwrap()).is_ok();
            let before = non_default_signals();
            let after = reset_to_default().ok().and_then(|()| non_default_signals());
            let mut buf = [0u8; 4096];
            let blocked = read_self_status(&mut buf).and_then(|text| status_mask(text, b"SigBlk:"));
            let expected_before =
                (1u64 << (libc::SIGPIPE - 1)) | (1 << (libc::SIGUSR1 - 1)) | (1 << (libc::SIGRTMIN() + 3 - 1));
            set_up
                && matches!((before, after, blocked), (Some(b), Some(0), Some(0)) if b & expected_before == expected_before)
        });
    }

    #[test]
    fn an_ignored_signal_has_sig_ign() {
        in_forked_child(|| {
            // SAFETY: restores SIGPIPE's default in this single-threaded child.
            let reset = unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) } != libc::SIG_ERR;
            let ignored = ignore(libc::SIGPIPE).is_ok();
            // SAFETY: sigaction is plain data; with a null new action it only fills `old`.
            let old = unsafe {
                let mut old: libc::sigaction = std::mem::zeroed();
                libc::sigaction(libc::SIGPIPE, std::ptr::null(), &mut old);
                old
            };
            reset && ignored && old.sa_sigaction == libc::SIG_IGN && ignore(0) == Err(libc::EINVAL)
        });
    }

    #[test]
    fn a_blocked_signal_arrives_by_signalfd_and_by_sigwait() {
        in_forked_child(|| {
            let set = SigSet::of(&[libc::SIGUSR1, libc::SIGUSR2]).unwrap();
            let sets = set.contains(libc::SIGUSR2) && !set.contains(libc::SIGTERM) && SigSet::of(&[0]).is_err();
            let Ok(sfd) = signalfd(&set) else { return false };
            let blocked = sigmask(libc::SIG_BLOCK, &set).is_ok();
            let pid = crate::process::getpid();
            let by_fd = crate::process::kill(pid, libc::SIGUSR1).is_ok()
                && crate::io::poll_one(sfd.as_fd(), libc::POLLIN, -1).is_ok()
                && read_signal(sfd.as_fd()).ok() == Some(libc::SIGUSR1);
            let by_wait = crate::process::kill(pid, libc::SIGUSR2).is_ok() && sigwait(&set).ok() == Some(libc::SIGUSR2);
            sets && blocked && by_fd && by_wait
        });
    }
}
