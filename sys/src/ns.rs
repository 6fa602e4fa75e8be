//! Namespaces: joining one (setns), making new ones (unshare), the UTS names, and the type
//! of a namespace fd.
//!
//! Runs in the child: no allocation, no locks.

use std::ffi::CStr;
use std::os::fd::{AsRawFd, BorrowedFd};

use crate::{SysResult, check};

/// Joins the namespace behind `fd`; `nstype` is its `CLONE_NEW*` flag (0: any kind).
pub fn setns(fd: BorrowedFd<'_>, nstype: libc::c_int) -> SysResult<()> {
    // SAFETY: setns takes an fd we borrow for the call and an integer flag.
    check(unsafe { libc::setns(fd.as_raw_fd(), nstype) }).map(drop)
}

/// Creates new namespaces of the kinds in `flags` (`CLONE_NEW*` bits; only the low 32 bits
/// exist for unshare).
pub fn unshare(flags: u64) -> SysResult<()> {
    let flags = libc::c_int::try_from(flags).map_err(|_| libc::EINVAL)?;
    // SAFETY: unshare takes only an integer flag set.
    check(unsafe { libc::unshare(flags) }).map(drop)
}

/// Sets the hostname of the current UTS namespace.
pub fn sethostname(name: &CStr) -> SysResult<()> {
    // SAFETY: the pointer and length describe the bytes of a live CStr.
    check(unsafe { libc::sethostname(name.as_ptr(), name.to_bytes().len()) }).map(drop)
}

/// Sets the NIS domain name of the current UTS namespace.
pub fn setdomainname(name: &CStr) -> SysResult<()> {
    // SAFETY: the pointer and length describe the bytes of a live CStr.
    check(unsafe { libc::setdomainname(name.as_ptr(), name.to_bytes().len()) }).map(drop)
}

/// The `CLONE_NEW*` type of the namespace behind `fd` (ioctl `NS_GET_NSTYPE`).
pub fn ns_type(fd: BorrowedFd<'_>) -> SysResult<libc::c_int> {
    const NS_GET_NSTYPE: libc::c_ulong = 0xb703;
    // SAFETY: NS_GET_NSTYPE takes no argument and only reads the fd's namespace.
    check(unsafe { libc::ioctl(fd.as_raw_fd(), NS_GET_NSTYPE as _) })
}

/// Joins the namespace behind the raw fd `fd`, which the caller holds open (the kernel answers
/// EBADF for one that is not): for fds a public API takes as numbers.
pub fn setns_raw(fd: std::os::fd::RawFd, nstype: libc::c_int) -> SysResult<()> {
    // SAFETY: setns only reads the fd number and an integer flag; the kernel checks the fd.
    check(unsafe { libc::setns(fd, nstype) }).map(drop)
}
