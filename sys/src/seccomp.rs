//! Installing a classic-BPF seccomp filter on the calling thread.
//!
//! Runs in the child: no allocation, no locks.

use std::os::fd::OwnedFd;

use crate::{SysResult, check_long, owned_long};

/// `SECCOMP_SET_MODE_FILTER`.
const SECCOMP_SET_MODE_FILTER: libc::c_ulong = 1;

/// seccomp(SECCOMP_SET_MODE_FILTER, flags, {filter}): installs `filter` with the
/// `SECCOMP_FILTER_FLAG_*` bits `flags`; returns the syscall's result (the listener fd with
/// `NEW_LISTENER`, a thread id when `TSYNC` failed without `TSYNC_ESRCH`, else 0). More than
/// 65535 instructions is EINVAL.
pub fn set_mode_filter(flags: libc::c_ulong, filter: &[libc::sock_filter]) -> SysResult<libc::c_long> {
    let len = u16::try_from(filter.len()).map_err(|_| libc::EINVAL)?;
    let prog = libc::sock_fprog {
        len,
        filter: filter.as_ptr().cast_mut(),
    };
    // SAFETY: `prog` is a valid sock_fprog whose `filter` points to `len` instructions that
    // live across the call; the kernel copies them, does not write them and keeps no pointer.
    check_long(unsafe { libc::syscall(libc::SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &raw const prog) })
}

/// [`set_mode_filter`] with `SECCOMP_FILTER_FLAG_NEW_LISTENER` among `flags`: returns the
/// notify listener the kernel made, owned. `flags` without that bit is EINVAL.
pub fn set_mode_filter_with_listener(flags: libc::c_ulong, filter: &[libc::sock_filter]) -> SysResult<OwnedFd> {
    if flags & SECCOMP_FILTER_FLAG_NEW_LISTENER == 0 {
        return Err(libc::EINVAL);
    }
    owned_long(set_mode_filter(flags, filter)?)
}

/// `SECCOMP_FILTER_FLAG_NEW_LISTENER`.
const SECCOMP_FILTER_FLAG_NEW_LISTENER: libc::c_ulong = 1 << 3;
