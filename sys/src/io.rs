//! Pipes, eventfds and waiting for one fd (poll).

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
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events,
        revents: 0,
    };
    loop {
        // SAFETY: pfd is one valid pollfd on our stack.
        match check(unsafe { libc::poll(&mut pfd, 1, timeout_ms) }) {
            Err(libc::EINTR) => continue,
            Err(e) => return Err(e),
            Ok(_) => return Ok(pfd.revents),
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
}
