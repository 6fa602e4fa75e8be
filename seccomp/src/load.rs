//! Installing a compiled filter in the calling thread (the container's init, last).

use std::os::fd::RawFd;

use crate::compile::{FLAG_NEW_LISTENER, FLAG_TSYNC, FLAG_TSYNC_ESRCH, SeccompProgram};

/// `SECCOMP_SET_MODE_FILTER`.
const SECCOMP_SET_MODE_FILTER: libc::c_ulong = 1;

impl SeccompProgram {
    /// Install the filter on the calling thread (all threads with TSYNC).
    ///
    /// Runs in the child: no allocation, no locks.
    ///
    /// Call it after the capabilities and the user switch, with `no_new_privs` set
    /// (or CAP_SYS_ADMIN kept). Returns the listener fd when
    /// [`needs_listener`](Self::needs_listener), `None` otherwise; on failure the
    /// errno. A TSYNC failure (another thread cannot take the filter) is `ESRCH`.
    pub fn load(&self) -> Result<Option<RawFd>, i32> {
        let Ok(len) = u16::try_from(self.instructions().len()) else {
            return Err(libc::EINVAL);
        };
        let prog = libc::sock_fprog {
            len,
            filter: self.instructions().as_ptr().cast_mut(),
        };
        let flags = libc::c_ulong::from(self.flags());
        let rc = seccomp_set_mode_filter(flags, &prog)?;
        if flags & libc::c_ulong::from(FLAG_NEW_LISTENER) != 0 {
            return RawFd::try_from(rc).map(Some).map_err(|_| libc::EBADF);
        }
        if rc != 0 && flags & libc::c_ulong::from(FLAG_TSYNC | FLAG_TSYNC_ESRCH) == libc::c_ulong::from(FLAG_TSYNC) {
            // Without TSYNC_ESRCH the kernel returns the id of the thread that failed.
            return Err(libc::ESRCH);
        }
        Ok(None)
    }
}

/// seccomp(SECCOMP_SET_MODE_FILTER, flags, prog). Returns the syscall's result or errno.
///
/// Runs in the child: no allocation, no locks.
fn seccomp_set_mode_filter(flags: libc::c_ulong, prog: &libc::sock_fprog) -> Result<libc::c_long, i32> {
    // SAFETY: `prog` points to a valid sock_fprog whose `filter` points to `len`
    // instructions that live as long as the borrowed program; the kernel copies them
    // and does not keep the pointer. No other memory is touched.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_SET_MODE_FILTER,
            flags,
            prog as *const libc::sock_fprog,
        )
    };
    if rc < 0 {
        // Reading errno allocates nothing.
        return Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EINVAL));
    }
    Ok(rc)
}
