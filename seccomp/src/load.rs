//! Installing a compiled filter in the calling thread (the container's init, last).

use std::os::fd::OwnedFd;

use crate::compile::{FLAG_NEW_LISTENER, FLAG_TSYNC, FLAG_TSYNC_ESRCH, SeccompProgram};

impl SeccompProgram {
    /// Install the filter on the calling thread (all threads with TSYNC).
    ///
    /// Runs in the child: no allocation, no locks.
    ///
    /// Call it after the capabilities and the user switch, with `no_new_privs` set
    /// (or CAP_SYS_ADMIN kept). Returns the listener fd when
    /// [`needs_listener`](Self::needs_listener), `None` otherwise; on failure the
    /// errno. A TSYNC failure (another thread cannot take the filter) is `ESRCH`.
    pub fn load(&self) -> Result<Option<OwnedFd>, i32> {
        let flags = libc::c_ulong::from(self.flags());
        if flags & libc::c_ulong::from(FLAG_NEW_LISTENER) != 0 {
            return ocirun_sys::seccomp::set_mode_filter_with_listener(flags, self.instructions()).map(Some);
        }
        let rc = ocirun_sys::seccomp::set_mode_filter(flags, self.instructions())?;
        if rc != 0 && flags & libc::c_ulong::from(FLAG_TSYNC | FLAG_TSYNC_ESRCH) == libc::c_ulong::from(FLAG_TSYNC) {
            // Without TSYNC_ESRCH the kernel returns the id of the thread that failed.
            return Err(libc::ESRCH);
        }
        Ok(None)
    }
}
