//! Pipes, eventfds and waiting for fds (poll).

use std::marker::PhantomData;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

use crate::{SysResult, check, check_size, owned};

/// A pipe, both ends close-on-exec: `(read, write)`. Runs in the child: no allocation, no locks.
pub fn pipe() -> SysResult<(OwnedFd, OwnedFd)> {
    let mut fds = [-1 as libc::c_int; 2];
    // SAFETY: pipe2 writes two fds into the array of two ints it is given.
    check(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    Ok((owned(fds[0]), owned(fds[1])))
}

/// A new eventfd (`EFD_CLOEXEC`), counter 0. Runs in the parent.
pub fn eventfd() -> std::io::Result<OwnedFd> {
    // SAFETY: eventfd takes two integers and returns a new fd or -1.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
    check(fd).map(owned).map_err(crate::io_err)
}

/// Reads an eventfd's 8-byte counter (and resets it). Runs in the parent.
pub fn eventfd_read(fd: BorrowedFd<'_>) -> std::io::Result<u64> {
    let mut value = 0u64;
    // SAFETY: reads at most 8 bytes into a u64 on our stack from an fd we borrow.
    let n = unsafe { libc::read(fd.as_raw_fd(), (&raw mut value).cast(), 8) };
    match check_size(n) {
        Ok(8) => Ok(value),
        Ok(_) => Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof)),
        Err(e) => Err(crate::io_err(e)),
    }
}

/// Waits up to `timeout_ms` (-1: no limit) for `events` on `fd`, retrying on EINTR; returns
/// the revents (0 on timeout). Runs in the child: no allocation, no locks.
pub fn poll_one(fd: BorrowedFd<'_>, events: i16, timeout_ms: i32) -> SysResult<i16> {
    let mut fds = [PollFd::new(fd, events)];
    poll(&mut fds, timeout_ms)?;
    Ok(fds[0].revents())
}

/// Adds `value` to an eventfd's counter (an 8-byte write), waking its reader. Runs in the
/// parent.
pub fn eventfd_write(fd: BorrowedFd<'_>, value: u64) -> std::io::Result<()> {
    crate::fs::write_whole(fd, &value.to_ne_bytes()).map_err(crate::io_err)
}

/// One fd [`poll`] waits on, with the events asked for and, after the call, those that came.
#[repr(transparent)]
#[derive(Debug, Clone, Copy)]
pub struct PollFd<'fd> {
    pfd: libc::pollfd,
    _fd: PhantomData<BorrowedFd<'fd>>,
}

impl<'fd> PollFd<'fd> {
    /// Waits for `events` (`POLLIN`, ...) on `fd`.
    pub fn new(fd: BorrowedFd<'fd>, events: i16) -> PollFd<'fd> {
        PollFd {
            pfd: libc::pollfd {
                fd: fd.as_raw_fd(),
                events,
                revents: 0,
            },
            _fd: PhantomData,
        }
    }

    /// An entry poll skips (fd -1; its revents stay 0): a place kept for an fd a caller may
    /// not have.
    pub fn unused() -> PollFd<'fd> {
        PollFd {
            pfd: libc::pollfd {
                fd: -1,
                events: 0,
                revents: 0,
            },
            _fd: PhantomData,
        }
    }

    /// [`PollFd::new`] of `fd` if there is one, else [`PollFd::unused`].
    pub fn maybe(fd: Option<BorrowedFd<'fd>>, events: i16) -> PollFd<'fd> {
        fd.map_or_else(PollFd::unused, |fd| PollFd::new(fd, events))
    }

    /// The events that came (`POLLIN`, `POLLHUP`, ...), after [`poll`].
    pub fn revents(&self) -> i16 {
        self.pfd.revents
    }
}

/// Waits up to `timeout_ms` (-1: no limit) for the events of `fds`, retrying on EINTR; returns
/// how many have events (0 on timeout), each entry's [`PollFd::revents`] set. Runs in the
/// child: no allocation, no locks.
pub fn poll(fds: &mut [PollFd<'_>], timeout_ms: i32) -> SysResult<usize> {
    let n = libc::nfds_t::try_from(fds.len()).map_err(|_| libc::EINVAL)?;
    loop {
        // SAFETY: PollFd is a transparent pollfd, so `fds` is an array of `n` pollfds; the
        // borrowed fds live across the call.
        match check(unsafe { libc::poll(fds.as_mut_ptr().cast::<libc::pollfd>(), n, timeout_ms) }) {
            Err(libc::EINTR) => continue,
            Err(e) => return Err(e),
            Ok(ready) => return usize::try_from(ready).map_err(|_| libc::EIO),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn a_pipe_polls_readable_once_written() {
        let (r, w) = pipe().unwrap();
        assert_eq!(poll_one(r.as_fd(), libc::POLLIN, 0), Ok(0));
        assert_eq!(crate::fs::write(w.as_fd(), b"x"), Ok(1));
        assert_eq!(poll_one(r.as_fd(), libc::POLLIN, -1), Ok(libc::POLLIN));
        let e = eventfd().unwrap();
        assert_eq!(crate::fs::write(e.as_fd(), &3u64.to_ne_bytes()), Ok(8));
        assert_eq!(eventfd_read(e.as_fd()).unwrap(), 3);
    }

    #[test]
    fn poll_reports_each_fd_s_events_and_skips_unused_ones() {
        let (r, w) = pipe().unwrap();
        let e = eventfd().unwrap();
        let mut fds = [
            PollFd::new(r.as_fd(), libc::POLLIN),
            PollFd::maybe(None, libc::POLLIN),
            PollFd::maybe(Some(e.as_fd()), libc::POLLIN),
        ];
        assert_eq!(poll(&mut fds, 0), Ok(0));
        eventfd_write(e.as_fd(), 2).unwrap();
        assert_eq!(poll(&mut fds, -1), Ok(1));
        assert_eq!(fds.map(|f| f.revents()), [0, 0, libc::POLLIN]);
        assert_eq!(eventfd_read(e.as_fd()).unwrap(), 2);
        drop(w);
        let mut fds = [
            PollFd::new(r.as_fd(), libc::POLLIN),
            PollFd::new(e.as_fd(), libc::POLLIN),
        ];
        assert_eq!(poll(&mut fds, -1), Ok(1));
        assert_eq!(fds.map(|f| f.revents()), [libc::POLLHUP, 0]);
    }
}
