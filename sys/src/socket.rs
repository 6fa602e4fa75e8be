//! Unix sockets: socketpairs, fixed-size messages, and fds passed with them (SCM_RIGHTS).
//!
//! Runs in the child: no allocation, no locks (the control buffer is on the stack).

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use crate::{SysResult, check_size, errno};

/// The most fds one message carries ([`send_with_fds`], [`recv_with_fds`]).
pub const MAX_MSG_FDS: usize = 40;

/// A control buffer for SCM_RIGHTS, aligned as cmsghdr needs, on the stack: room for
/// [`MAX_MSG_FDS`] fds (a 16-byte header and 4 bytes each).
#[repr(C)]
struct FdControl {
    _align: [libc::cmsghdr; 0],
    bytes: [u8; 16 + 4 * MAX_MSG_FDS],
}

impl FdControl {
    /// An all-zero control buffer.
    fn new() -> FdControl {
        FdControl {
            _align: [],
            bytes: [0; 16 + 4 * MAX_MSG_FDS],
        }
    }
}

/// Sends `buf` on `sock` with one send(2) (`MSG_NOSIGNAL`: a peer that left is EPIPE, not
/// SIGPIPE); returns how many bytes went, retrying on EINTR.
pub fn send(sock: BorrowedFd<'_>, buf: &[u8]) -> SysResult<usize> {
    loop {
        // SAFETY: buf is a live slice of the given length; the fd is borrowed for the call.
        let n = unsafe { libc::send(sock.as_raw_fd(), buf.as_ptr().cast(), buf.len(), libc::MSG_NOSIGNAL) };
        match check_size(n) {
            Err(libc::EINTR) => continue,
            other => return other,
        }
    }
}

/// Sends the whole of `buf` as one message ([`send`]); fewer bytes sent (a stream socket's
/// short send) is EMSGSIZE. For the fixed-size messages of the runtime and its init.
pub fn send_whole(sock: BorrowedFd<'_>, buf: &[u8]) -> SysResult<()> {
    if send(sock, buf)? == buf.len() {
        Ok(())
    } else {
        Err(libc::EMSGSIZE)
    }
}

/// Receives one message into `buf`, retrying on EINTR; `Ok(0)` means the peer closed.
pub fn recv(sock: BorrowedFd<'_>, buf: &mut [u8]) -> SysResult<usize> {
    loop {
        // SAFETY: buf is a live, writable slice of the given length.
        let n = unsafe { libc::recv(sock.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        match check_size(n) {
            Err(libc::EINTR) => continue,
            other => return other,
        }
    }
}

/// Sends `buf` with `fds` attached (SCM_RIGHTS; none is a plain sendmsg) in one sendmsg(2)
/// with `MSG_NOSIGNAL`, retrying on EINTR; returns how many bytes of `buf` went (on a stream
/// socket maybe fewer than all; the fds go with the first byte). More than [`MAX_MSG_FDS`] fds
/// is EMSGSIZE.
pub fn send_with_fds(sock: BorrowedFd<'_>, buf: &[u8], fds: &[BorrowedFd<'_>]) -> SysResult<usize> {
    if fds.len() > MAX_MSG_FDS {
        return Err(libc::EMSGSIZE);
    }
    let mut control = FdControl::new();
    let mut iov = libc::iovec {
        iov_base: buf.as_ptr() as *mut libc::c_void,
        iov_len: buf.len(),
    };
    // SAFETY: msghdr is plain data; zeroed is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if !fds.is_empty() {
        let data_len = (std::mem::size_of::<libc::c_int>() * fds.len()) as u32;
        msg.msg_control = control.bytes.as_mut_ptr().cast();
        // `as _`: msg_controllen and cmsg_len are size_t on glibc, socklen_t on musl.
        // SAFETY: CMSG_SPACE only computes a size.
        msg.msg_controllen = unsafe { libc::CMSG_SPACE(data_len) } as _;
        debug_assert!(msg.msg_controllen as usize <= control.bytes.len());
        // SAFETY: msg points at a control buffer large enough for one cmsghdr with
        // MAX_MSG_FDS ints, so CMSG_FIRSTHDR is non-null and the ints fit after CMSG_DATA.
        unsafe {
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(data_len) as _;
            let data = libc::CMSG_DATA(cmsg).cast::<libc::c_int>();
            for (i, fd) in fds.iter().enumerate() {
                std::ptr::write_unaligned(data.add(i), fd.as_raw_fd());
            }
        }
    }
    loop {
        // SAFETY: msg and everything it points to live across the call.
        let n = unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) };
        match check_size(n) {
            Err(libc::EINTR) => continue,
            other => return other,
        }
    }
}

/// Sends the whole of `buf` with `fds` attached ([`send_with_fds`]); fewer bytes sent is
/// EMSGSIZE.
pub fn send_whole_with_fds(sock: BorrowedFd<'_>, buf: &[u8], fds: &[BorrowedFd<'_>]) -> SysResult<()> {
    if send_with_fds(sock, buf, fds)? == buf.len() {
        Ok(())
    } else {
        Err(libc::EMSGSIZE)
    }
}

/// A connected pair of Unix sockets of type `ty` (`SOCK_SEQPACKET`, `SOCK_STREAM`, ...),
/// close-on-exec. Runs in the parent.
pub fn socketpair(ty: libc::c_int) -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [-1 as libc::c_int; 2];
    // SAFETY: socketpair writes two fds into the array of two ints it is given.
    crate::check(unsafe { libc::socketpair(libc::AF_UNIX, ty | libc::SOCK_CLOEXEC, 0, fds.as_mut_ptr()) })
        .map_err(crate::io_err)?;
    Ok((crate::owned(fds[0]), crate::owned(fds[1])))
}

/// Receives one message and the fds riding with it (close-on-exec) into the front of `fds`;
/// returns the message length and the number of fds. `Ok((0, 0))` means the peer closed. More
/// fds than `fds` holds is EMSGSIZE, with every received fd closed.
///
/// A peer that exited with a message of ours unread makes the kernel report ECONNRESET once,
/// while what the peer sent first is still queued: that is read rather than lost.
pub fn recv_with_fds(sock: BorrowedFd<'_>, buf: &mut [u8], fds: &mut [Option<OwnedFd>]) -> SysResult<(usize, usize)> {
    let mut control = FdControl::new();
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: msghdr is plain data; zeroed is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.bytes.as_mut_ptr().cast();
    // size_t on glibc, socklen_t on musl; the buffer is a few hundred bytes.
    msg.msg_controllen = control.bytes.len() as _;
    let n = loop {
        // SAFETY: msg points at live buffers; MSG_CMSG_CLOEXEC marks received fds close-on-exec.
        let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
        if n < 0 && matches!(errno(), libc::EINTR | libc::ECONNRESET) {
            continue;
        }
        break check_size(n)?;
    };
    let mut count = 0;
    let mut overflow = msg.msg_flags & libc::MSG_CTRUNC != 0;
    // SAFETY: the kernel filled msg_control with msg_controllen bytes of cmsghdrs;
    // CMSG_FIRSTHDR/NXTHDR stay within it and CMSG_DATA of an SCM_RIGHTS header holds ints.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(cmsg).cast::<libc::c_int>();
                let len = ((*cmsg).cmsg_len as usize - libc::CMSG_LEN(0) as usize) / std::mem::size_of::<libc::c_int>();
                for i in 0..len {
                    let raw = std::ptr::read_unaligned(data.add(i));
                    // Each received fd is new in this process: owned here, closed if unwanted.
                    let owned = OwnedFd::from_raw_fd(raw);
                    match fds.get_mut(count) {
                        Some(slot) => {
                            *slot = Some(owned);
                            count += 1;
                        }
                        None => overflow = true,
                    }
                }
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    if overflow {
        fds.iter_mut().for_each(|slot| *slot = None);
        return Err(libc::EMSGSIZE);
    }
    Ok((n, count))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixStream;

    #[test]
    fn fds_travel_with_a_message_and_too_many_are_refused() {
        let (a, b) = UnixStream::pair().unwrap();
        let (r, w) = std::io::pipe().unwrap();
        assert_eq!(send_with_fds(a.as_fd(), b"hello", &[r.as_fd(), w.as_fd()]), Ok(5));
        let mut buf = [0u8; 16];
        let mut fds: [Option<OwnedFd>; 2] = [None, None];
        assert_eq!(recv_with_fds(b.as_fd(), &mut buf, &mut fds), Ok((5, 2)));
        assert_eq!(&buf[..5], b"hello");
        // The received write end reaches the pipe whose read end we kept.
        let got_w = fds[1].take().unwrap();
        assert_eq!(crate::fs::write(got_w.as_fd(), b"x"), Ok(1));
        let mut one = [0u8; 1];
        assert_eq!(crate::fs::read(r.as_fd(), &mut one), Ok(1));
        // Two fds into room for one: EMSGSIZE, and nothing is kept.
        assert_eq!(send_with_fds(a.as_fd(), b"x", &[r.as_fd(), w.as_fd()]), Ok(1));
        let mut small: [Option<OwnedFd>; 1] = [None];
        assert_eq!(recv_with_fds(b.as_fd(), &mut buf, &mut small), Err(libc::EMSGSIZE));
        assert!(small[0].is_none());
        let too_many = [r.as_fd(); MAX_MSG_FDS + 1];
        assert_eq!(send_with_fds(a.as_fd(), b"x", &too_many), Err(libc::EMSGSIZE));
        assert_eq!(send(a.as_fd(), b"bye"), Ok(3));
        assert_eq!(recv(b.as_fd(), &mut buf), Ok(3));
    }

    #[test]
    fn a_seqpacket_pair_keeps_message_boundaries() {
        let (a, b) = socketpair(libc::SOCK_SEQPACKET).unwrap();
        assert_eq!(send_whole(a.as_fd(), b"one"), Ok(()));
        assert_eq!(send_whole_with_fds(a.as_fd(), b"two!", &[a.as_fd()]), Ok(()));
        let mut buf = [0u8; 16];
        assert_eq!(recv(b.as_fd(), &mut buf), Ok(3));
        let mut fds: [Option<OwnedFd>; 1] = [None];
        assert_eq!(recv_with_fds(b.as_fd(), &mut buf, &mut fds), Ok((4, 1)));
        assert_eq!(&buf[..4], b"two!");
        // A peer that left: EPIPE, not SIGPIPE.
        drop(b);
        assert_eq!(send_whole(a.as_fd(), b"gone"), Err(libc::EPIPE));
    }
}
