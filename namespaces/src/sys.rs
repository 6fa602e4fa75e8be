//! Raw system calls used in the child between clone and exec.
//!
//! Runs in the child: no allocation, no locks. Every function makes one system
//! call on borrowed, prepared data and returns the errno on failure.

use std::ffi::CStr;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

use crate::kind::expected_ns_type;
use crate::{NamespaceError, NamespaceKind};

/// The calling thread's errno. Runs in the child: no allocation, no locks.
pub fn errno() -> i32 {
    // SAFETY: __errno_location returns a valid pointer to this thread's errno.
    unsafe { *libc::__errno_location() }
}

fn check(ret: libc::c_long) -> Result<libc::c_long, i32> {
    if ret < 0 { Err(errno()) } else { Ok(ret) }
}

/// Joins the namespace behind `fd`. Runs in the child: no allocation, no locks.
pub fn setns(fd: BorrowedFd<'_>, kind: NamespaceKind) -> Result<(), i32> {
    // SAFETY: setns takes an fd we borrow for the call and an integer flag.
    let ret = unsafe { libc::setns(fd.as_raw_fd(), kind.clone_flag() as libc::c_int) };
    check(ret.into()).map(drop)
}

/// Creates new namespaces of the kinds in `flags`. Runs in the child: no allocation, no locks.
pub fn unshare(flags: u64) -> Result<(), i32> {
    // SAFETY: unshare takes only an integer flag set.
    let ret = unsafe { libc::unshare(flags as libc::c_int) };
    check(ret.into()).map(drop)
}

/// Brings up the loopback interface of the current network namespace, as runc and crun do in
/// a network namespace they made. Runs in the child: no allocation, no locks.
pub fn loopback_up() -> Result<(), i32> {
    // SAFETY: socket takes no pointers; the fd is closed below.
    let fd = check(unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) }.into())? as i32;
    // SAFETY: an all-zero ifreq is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in req.ifr_name.iter_mut().zip(b"lo") {
        *d = *s as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads the name in req and writes its flags; req outlives the call.
    let mut ret = check(unsafe { libc::ioctl(fd, libc::SIOCGIFFLAGS, &raw mut req) }.into());
    if ret.is_ok() {
        // SAFETY: the flags are the union member SIOCGIFFLAGS filled.
        unsafe { req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
        // SAFETY: SIOCSIFFLAGS reads the name and flags of req, which outlives the call.
        ret = check(unsafe { libc::ioctl(fd, libc::SIOCSIFFLAGS, &raw const req) }.into());
    }
    // SAFETY: fd is the socket opened above, owned here.
    unsafe { libc::close(fd) };
    ret.map(drop)
}

/// Sets the hostname of the current UTS namespace. Runs in the child: no allocation, no locks.
pub fn sethostname(name: &CStr) -> Result<(), i32> {
    // SAFETY: the pointer and length describe the bytes of a live CStr.
    let ret = unsafe { libc::sethostname(name.as_ptr(), name.to_bytes().len()) };
    check(ret.into()).map(drop)
}

/// Sets the NIS domain name of the current UTS namespace. Runs in the child: no allocation, no locks.
pub fn setdomainname(name: &CStr) -> Result<(), i32> {
    // SAFETY: the pointer and length describe the bytes of a live CStr.
    let ret = unsafe { libc::setdomainname(name.as_ptr(), name.to_bytes().len()) };
    check(ret.into()).map(drop)
}

/// Opens a namespace file given in the spec, and checks that it is of `kind`.
///
/// Runs in the parent; the fd is later passed to [`setns`] in the child.
pub fn open_namespace(kind: NamespaceKind, path: &Path) -> Result<OwnedFd, NamespaceError> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
        .map_err(|source| NamespaceError::Open {
            kind: kind.proc_name(),
            path: path.to_owned(),
            source,
        })?;
    const NS_GET_NSTYPE: libc::c_ulong = 0xb703;
    // SAFETY: NS_GET_NSTYPE takes no argument and only reads the fd's namespace.
    let ty = unsafe { libc::ioctl(file.as_raw_fd(), NS_GET_NSTYPE as _) };
    if ty != expected_ns_type(kind) {
        return Err(NamespaceError::WrongKind {
            kind: kind.proc_name(),
            path: path.to_owned(),
        });
    }
    Ok(OwnedFd::from(file))
}

/// A NETLINK_ROUTE socket in the calling thread's network namespace. Runs in the parent.
pub(crate) fn netlink_route_socket() -> std::io::Result<OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: socket takes integers only.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_ROUTE,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd is a new socket nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Sends one netlink message to the kernel. Runs in the parent.
pub(crate) fn netlink_send(fd: BorrowedFd<'_>, msg: &[u8]) -> std::io::Result<()> {
    loop {
        // SAFETY: the pointer and length describe `msg`, which outlives the call; an
        // unconnected netlink socket sends to the kernel.
        let n = unsafe { libc::send(fd.as_raw_fd(), msg.as_ptr().cast(), msg.len(), 0) };
        if n >= 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Receives one datagram of netlink replies into `buf`; returns its length. Runs in the parent.
pub(crate) fn netlink_recv(fd: BorrowedFd<'_>, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        // SAFETY: the pointer and length describe `buf`, writable for the call.
        let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_namespace_checks_the_kind() {
        let fd = open_namespace(NamespaceKind::Network, Path::new("/proc/self/ns/net"));
        assert!(fd.is_ok());
        let err = open_namespace(NamespaceKind::Pid, Path::new("/proc/self/ns/net")).unwrap_err();
        assert!(err.to_string().contains("is not a pid namespace"), "{err}");
        let err = open_namespace(NamespaceKind::Pid, Path::new("/nonexistent/ns")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/ns"), "{err}");
    }
}
