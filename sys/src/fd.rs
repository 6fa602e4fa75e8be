//! File descriptors themselves: duplicating one onto a number, closing, close-on-exec, and the
//! standard fds 0-2.
//!
//! Runs in the child: no allocation, no locks.

use std::os::fd::{AsRawFd, BorrowedFd, IntoRawFd, OwnedFd, RawFd};

use crate::{SysResult, check, check_long, owned};

/// One of the standard fds 0, 1 and 2, which every process has open (the runtime's binary
/// makes sure of it at start, [`ensure_stdio`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum Stdio {
    /// Fd 0.
    In = 0,
    /// Fd 1.
    Out = 1,
    /// Fd 2.
    Err = 2,
}

impl Stdio {
    /// Fds 0, 1 and 2, in order.
    pub const ALL: [Stdio; 3] = [Stdio::In, Stdio::Out, Stdio::Err];

    /// The fd's number.
    pub fn raw(self) -> RawFd {
        self as RawFd
    }

    /// The fd, borrowed for the life of the process, as `std::io::Stdin::as_fd` lends it (which
    /// the child cannot call: `stdin()` allocates its buffer on first use).
    pub fn fd(self) -> BorrowedFd<'static> {
        // SAFETY: 0, 1 and 2 are not -1, and are the process's standard fds for its whole life,
        // as std's own `AsFd for Stdin/Stdout/Stderr` takes them.
        unsafe { BorrowedFd::borrow_raw(self.raw()) }
    }
}

/// dup3(2) of `fd` onto the number `target`, without close-on-exec (a stdio or passed fd of
/// the process about to exec); `target` is closed first if open.
pub fn dup2(fd: BorrowedFd<'_>, target: RawFd) -> SysResult<()> {
    if fd.as_raw_fd() == target {
        // dup3 refuses the same fd (EINVAL); what dup2(2) does then is keep it as it is.
        return clear_cloexec(target);
    }
    // SAFETY: dup3 only changes the fd table: `target` becomes a copy of the open `fd`.
    check(unsafe { libc::dup3(fd.as_raw_fd(), target, 0) }).map(drop)
}

/// close(2) of `fd`, reporting its error (dropping an `OwnedFd` ignores it).
pub fn close(fd: OwnedFd) -> SysResult<()> {
    // SAFETY: `fd` is given up here, so nothing else closes or uses the number.
    check(unsafe { libc::close(fd.into_raw_fd()) }).map(drop)
}

/// Whether the number `fd` is an open fd of this process (fcntl `F_GETFD`).
pub fn is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD only reads the descriptor flags of `fd`, if it is open.
    unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
}

/// Clears close-on-exec of the fd numbered `fd` (fcntl `F_SETFD` 0), so that it survives
/// exec: stdio and the passed fds, which a process holds by number. A number that is not open
/// is EBADF.
pub fn clear_cloexec(fd: RawFd) -> SysResult<()> {
    // SAFETY: F_SETFD with 0 only clears the descriptor flags of `fd`; the kernel checks it.
    check(unsafe { libc::fcntl(fd, libc::F_SETFD, 0) }).map(drop)
}

/// fcntl(2) `F_DUPFD_CLOEXEC` of the number `fd` at or above `min`.
fn dupfd_cloexec(fd: RawFd, min: RawFd) -> SysResult<OwnedFd> {
    // SAFETY: fcntl only reads the fd number (the kernel answers EBADF for one that is not
    // open) and returns a new fd or -1.
    check(unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, min) }).map(owned)
}

/// fcntl(2) `F_DUPFD_CLOEXEC`: a close-on-exec copy of `fd` at the lowest free number at or
/// above `min` (0: the lowest free one; above the fds passed to a container, so that the copy
/// cannot take one of their numbers).
pub fn dup_cloexec(fd: BorrowedFd<'_>, min: RawFd) -> SysResult<OwnedFd> {
    dupfd_cloexec(fd.as_raw_fd(), min)
}

/// [`dup_cloexec`] of the raw fd `fd`, which the caller keeps open (the kernel answers EBADF
/// for one that is not): for fds a public API takes as numbers.
pub fn dup_raw_cloexec(fd: RawFd) -> SysResult<OwnedFd> {
    dupfd_cloexec(fd, 0)
}

/// close_range(2) of `[first, last]` with `flags` (0 or `CLOSE_RANGE_CLOEXEC`).
fn close_range(first: libc::c_uint, last: libc::c_uint, flags: libc::c_uint) -> SysResult<()> {
    // SAFETY: close_range takes integers only; the callers own or mean to mark every fd in range.
    check_long(unsafe { libc::syscall(libc::SYS_close_range, first, last, flags) }).map(drop)
}

/// Marks every fd from `first` up close-on-exec (close_range `CLOSE_RANGE_CLOEXEC`).
pub fn cloexec_from(first: libc::c_uint) -> SysResult<()> {
    close_range(first, libc::c_uint::MAX, libc::CLOSE_RANGE_CLOEXEC)
}

/// Closes every fd from `first` up except those in `keep` (sorted ascending), one close_range
/// per gap: for fds of the process it does not know (other threads' files that came along
/// with a clone), which it does not own as values.
pub fn close_all_but(first: libc::c_uint, keep: &[libc::c_uint]) -> SysResult<()> {
    let mut next = first;
    for &fd in keep {
        if fd > next {
            close_range(next, fd - 1, 0)?;
        }
        next = next.max(fd.saturating_add(1));
    }
    close_range(next, libc::c_uint::MAX, 0)
}

/// Closes the fds in `fds` and empties it: one close_range per run of consecutive numbers
/// (the fds of a message come in order, mostly in one run), a close for each fd where
/// close_range is missing.
pub fn close_fds(fds: &mut [Option<OwnedFd>]) {
    let close_run = |lo: RawFd, hi: RawFd| {
        // Both ends are fds (non-negative) this function took out of their OwnedFds just now.
        if close_range(lo.unsigned_abs(), hi.unsigned_abs(), 0).is_err() {
            for fd in lo..=hi {
                // SAFETY: closes an fd this function took out of its OwnedFd; nothing else owns it.
                unsafe { libc::close(fd) };
            }
        }
    };
    let mut run: Option<(RawFd, RawFd)> = None;
    for fd in fds.iter_mut().filter_map(Option::take).map(IntoRawFd::into_raw_fd) {
        run = match run {
            Some((lo, hi)) if fd == hi + 1 => Some((lo, fd)),
            Some((lo, hi)) => {
                close_run(lo, hi);
                Some((fd, fd))
            }
            None => Some((fd, fd)),
        };
    }
    if let Some((lo, hi)) = run {
        close_run(lo, hi);
    }
}

/// Makes sure fds 0, 1 and 2 are open, on `/dev/null` (read-write) where one is not, so that
/// no file the process opens later takes their number: what a binary with `#![no_main]` misses
/// of Rust's start-up. One poll(2) when all are open.
pub fn ensure_stdio() {
    let mut fds = Stdio::ALL.map(|fd| libc::pollfd {
        fd: fd.raw(),
        events: 0,
        revents: 0,
    });
    // SAFETY: poll reads and writes the three pollfds of the array, whose length is passed.
    let polled = unsafe { libc::poll(fds.as_mut_ptr(), 3, 0) };
    for pfd in fds {
        let closed = if polled < 0 {
            // Without poll (it failed), ask each fd directly.
            !is_open(pfd.fd)
        } else {
            pfd.revents & libc::POLLNVAL != 0
        };
        if closed {
            // The lowest free number is this one: every lower one is open by now. The fd is
            // left open on purpose, as the standard fd.
            if let Ok(null) = crate::fs::open(c"/dev/null", libc::O_RDWR) {
                let _ = null.into_raw_fd();
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::os::fd::{AsFd, FromRawFd};

    /// Runs `check` in a forked child (single-threaded: no other thread of the test binary
    /// can reuse an fd number or see a disposition or mask change) and asserts it returned true.
    pub(crate) fn in_forked_child(check: impl FnOnce() -> bool) {
        // SAFETY: the child only makes system calls and _exit()s; the parent waits for it.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            let ok = check();
            crate::process::exit_now(i32::from(!ok));
        }
        assert!(pid > 0, "fork");
        let mut status = 0;
        // SAFETY: waits for our own child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "status {status:#x}"
        );
    }

    fn null() -> OwnedFd {
        crate::fs::open(c"/dev/null", libc::O_RDONLY | libc::O_CLOEXEC).unwrap()
    }

    #[test]
    fn close_fds_closes_every_fd_in_runs() {
        in_forked_child(|| {
            // Three fds in a row, then one kept open, then one more: two runs.
            let mut fds: [Option<OwnedFd>; 4] = [Some(null()), Some(null()), Some(null()), None];
            let kept = null();
            fds[3] = Some(null());
            let raw = fds.each_ref().map(|f| f.as_ref().map_or(-1, AsRawFd::as_raw_fd));
            close_fds(&mut fds);
            fds.iter().all(Option::is_none) && raw.iter().all(|fd| !is_open(*fd)) && is_open(kept.as_raw_fd())
        });
    }

    #[test]
    fn close_all_but_keeps_only_what_it_is_told() {
        in_forked_child(|| {
            let [a, b, c, d] = [null(), null(), null(), null()].map(IntoRawFd::into_raw_fd);
            let keep = [b.unsigned_abs(), d.unsigned_abs()];
            close_all_but(a.unsigned_abs(), &keep).is_ok()
                && !is_open(a)
                && is_open(b)
                && !is_open(c)
                && is_open(d)
                && is_open(Stdio::Err.raw())
        });
    }

    #[test]
    fn dup2_and_cloexec_flags() {
        in_forked_child(|| {
            let fd = null();
            let high = dup_cloexec(fd.as_fd(), 100).unwrap();
            // SAFETY: F_GETFD reads the flags of an fd this child holds.
            let flags = |fd: RawFd| unsafe { libc::fcntl(fd, libc::F_GETFD) };
            let raised = high.as_raw_fd() >= 100 && flags(high.as_raw_fd()) == libc::FD_CLOEXEC;
            // Onto stdin: a copy without close-on-exec; onto itself: close-on-exec cleared.
            let onto = dup2(fd.as_fd(), Stdio::In.raw()).is_ok() && flags(0) == 0;
            let same = dup2(high.as_fd(), high.as_raw_fd()).is_ok() && flags(high.as_raw_fd()) == 0;
            let cloexec = cloexec_from(high.as_raw_fd().unsigned_abs()).is_ok()
                && flags(high.as_raw_fd()) == libc::FD_CLOEXEC
                && clear_cloexec(high.as_raw_fd()).is_ok()
                && flags(high.as_raw_fd()) == 0;
            let closed = high.as_raw_fd();
            let closes = close(high).is_ok() && !is_open(closed) && clear_cloexec(closed) == Err(libc::EBADF);
            raised && onto && same && cloexec && closes
        });
    }

    #[test]
    fn ensure_stdio_reopens_closed_stdio_on_dev_null() {
        in_forked_child(|| {
            // SAFETY: closes this child's fds 1 and 2, which nothing in it uses afterwards.
            unsafe {
                drop(OwnedFd::from_raw_fd(1));
                drop(OwnedFd::from_raw_fd(2));
            }
            ensure_stdio();
            let mut buf = [0u8; 64];
            let self_fd = crate::fs::open(c"/proc/self/fd", libc::O_PATH | libc::O_CLOEXEC).unwrap();
            let n1 = crate::fs::readlinkat(self_fd.as_fd(), c"1", &mut buf).unwrap_or(0);
            let one = buf.get(..n1) == Some(b"/dev/null".as_slice());
            let n2 = crate::fs::readlinkat(self_fd.as_fd(), c"2", &mut buf).unwrap_or(0);
            one && buf.get(..n2) == Some(b"/dev/null".as_slice())
        });
    }
}
