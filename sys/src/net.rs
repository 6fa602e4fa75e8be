//! Network: the loopback interface and NETLINK_ROUTE sockets.

use std::os::fd::{AsRawFd, OwnedFd};

use crate::{SysResult, check, owned};

/// Brings up the loopback interface of the current network namespace, as runc and crun do in
/// a network namespace they made. Runs in the child: no allocation, no locks.
pub fn loopback_up() -> SysResult<()> {
    // SAFETY: socket takes no pointers; the new fd is owned (and closed) by `fd`.
    let fd = owned(check(unsafe {
        libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0)
    })?);
    // SAFETY: an all-zero ifreq is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in req.ifr_name.iter_mut().zip(b"lo") {
        *d = *s as libc::c_char;
    }
    // `as _`: ioctl's request is an unsigned long on glibc, an int on musl.
    // SAFETY: SIOCGIFFLAGS reads the name in req and writes its flags; req outlives the call.
    let mut ret = check(unsafe { libc::ioctl(fd.as_raw_fd(), libc::SIOCGIFFLAGS as _, &raw mut req) });
    if ret.is_ok() {
        // SAFETY: the flags are the union member SIOCGIFFLAGS filled.
        unsafe { req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
        // SAFETY: SIOCSIFFLAGS reads the name and flags of req, which outlives the call.
        ret = check(unsafe { libc::ioctl(fd.as_raw_fd(), libc::SIOCSIFFLAGS as _, &raw const req) });
    }
    ret.map(drop)
}

/// A NETLINK_ROUTE socket in the calling thread's network namespace, to talk on with
/// [`crate::socket::send_whole`] and [`crate::socket::recv`]. Runs in the parent.
pub fn netlink_route_socket() -> std::io::Result<OwnedFd> {
    // SAFETY: socket takes integers only.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_ROUTE,
        )
    };
    check(fd).map(owned).map_err(crate::io_err)
}
