use std::os::fd::{AsFd, OwnedFd, RawFd};

use ocirun_sys::process::{self, Clone3Args};

use crate::{NamespaceError, NamespaceSet};

/// How to create the container's first process.
#[derive(Debug, Clone, Copy, Default)]
pub struct CloneArgs {
    /// Namespaces the child is created in.
    pub namespaces: NamespaceSet,
    /// A cgroup v2 directory fd to create the child in (`CLONE_INTO_CGROUP`).
    pub cgroup_fd: Option<RawFd>,
    /// An existing pid namespace to create the child in: the calling thread joins it
    /// for its children around the clone, then returns to its own.
    pub pid_namespace: Option<RawFd>,
}

/// Sets the calling thread's pid namespace for children to `target` until dropped.
struct PidNsForChildren(OwnedFd);

impl PidNsForChildren {
    fn enter(target: RawFd) -> Result<PidNsForChildren, NamespaceError> {
        let own = std::fs::File::open("/proc/thread-self/ns/pid_for_children")
            .map_err(|source| NamespaceError::Clone { flags: 0, source })?;
        // For a pid namespace, setns only changes where this thread's future children are
        // created.
        ocirun_sys::ns::setns_raw(target, libc::CLONE_NEWPID).map_err(|e| NamespaceError::Clone {
            flags: 0,
            source: std::io::Error::from_raw_os_error(e),
        })?;
        Ok(PidNsForChildren(own.into()))
    }
}

impl Drop for PidNsForChildren {
    fn drop(&mut self) {
        // Back to the thread's own pid namespace, which it is a member of.
        let _ = ocirun_sys::ns::setns(self.0.as_fd(), libc::CLONE_NEWPID);
    }
}

/// A child created by [`spawn`].
#[derive(Debug)]
pub struct Spawned {
    /// Its pid, as the parent's pid namespace sees it.
    pub pid: i32,
    /// A pidfd that names this process and no other.
    pub pidfd: OwnedFd,
    /// Whether the child was created inside `cgroup_fd` already.
    pub in_cgroup: bool,
}

/// The process is non-dumpable while at least one [`spawn`] of any thread is cloning; the
/// flag it had before comes back when the last one is done. Dumpable is a property of the whole
/// process, so concurrent spawns share one count.
struct NotDumpable;

/// How many spawns are between their clear and restore of dumpable, and the flag before the first.
static DUMPABLE: std::sync::Mutex<(u32, libc::c_int)> = std::sync::Mutex::new((0, 0));

impl NotDumpable {
    /// Clears dumpable for the clone that follows (the first spawn saves the old flag).
    fn enter() -> NotDumpable {
        let mut state = DUMPABLE.lock().unwrap_or_else(|e| e.into_inner());
        if state.0 == 0 {
            state.1 = process::dumpable().unwrap_or(-1);
            let _ = process::set_dumpable(0);
        }
        state.0 += 1;
        NotDumpable
    }
}

impl Drop for NotDumpable {
    fn drop(&mut self) {
        let mut state = DUMPABLE.lock().unwrap_or_else(|e| e.into_inner());
        state.0 -= 1;
        if state.0 == 0 && state.1 > 0 {
            let _ = process::set_dumpable(state.1);
        }
    }
}

/// Creates a child process like fork(2), in new namespaces, with a pidfd.
///
/// Uses `clone3`, with `CLONE_INTO_CGROUP` when a cgroup fd is given, and falls
/// back to `clone` with `CLONE_PIDFD` on kernels without it (then the caller must
/// move the child into its cgroup itself; [`Spawned::in_cgroup`] says which).
/// The child runs `child` and exits with its return value.
///
/// # Safety
/// The child is a copy of the calling thread only. If the program has other
/// threads, `child` must not allocate, take locks or otherwise call anything that
/// is not async-signal-safe, and must not unwind.
pub unsafe fn spawn<F: FnOnce() -> i32>(args: &CloneArgs, child: F) -> Result<Spawned, NamespaceError> {
    let mut raw = Clone3Args {
        flags: args.namespaces.bits(),
        exit_signal: libc::SIGCHLD as u64,
        ..Default::default()
    };
    if let Some(fd) = args.cgroup_fd {
        raw.flags |= process::CLONE_INTO_CGROUP;
        raw.cgroup = fd as u64;
    }
    let joined = args.pid_namespace.map(PidNsForChildren::enter).transpose()?;
    // The child is born non-dumpable: from its first instant it may be in a pid namespace that
    // container processes share, and until it execs it holds the host's root and more.
    let undumpable = NotDumpable::enter();
    // SAFETY: our caller upholds clone3's contract for the child (this function's own); raw
    // sets no CLONE_VM, stack, TLS or tid flag.
    let mut ret = unsafe { process::clone3(&mut raw) };
    let mut in_cgroup = args.cgroup_fd.is_some();
    if matches!(ret, Err(libc::ENOSYS | libc::E2BIG)) {
        in_cgroup = false;
        // SAFETY: as above; the flags are namespace flags and the exit signal only.
        ret = unsafe { process::clone_pidfd(args.namespaces.bits() | libc::SIGCHLD as u64) };
    }
    if matches!(ret, Ok((0, _))) {
        // The child never returns from here: the guards stay as they are in it.
        std::mem::forget(joined);
        std::mem::forget(undumpable);
    } else {
        // Back to the thread's own pid namespace and dumpable flag.
        drop(joined);
        drop(undumpable);
    }
    match ret {
        Ok((0, _)) => process::exit_now(child()),
        Ok((pid, Some(pidfd))) => Ok(Spawned { pid, pidfd, in_cgroup }),
        Ok((_, None)) => Err(NamespaceError::Clone {
            flags: raw.flags,
            source: std::io::Error::from_raw_os_error(libc::EBADF),
        }),
        Err(e) => Err(NamespaceError::Clone {
            flags: raw.flags,
            source: std::io::Error::from_raw_os_error(e),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NamespaceKind;

    fn wait_pidfd(fd: &OwnedFd) -> i32 {
        process::waitid_pidfd(fd.as_fd(), libc::WEXITED)
            .unwrap()
            .unwrap()
            .status
    }

    #[test]
    fn spawn_creates_a_child_in_new_namespaces_with_a_pidfd() {
        let mut ns = NamespaceSet::empty();
        ns.insert(NamespaceKind::Pid);
        ns.insert(NamespaceKind::Uts);
        let args = CloneArgs {
            namespaces: ns,
            cgroup_fd: None,
            pid_namespace: None,
        };
        // SAFETY: the child makes only the getpid system call.
        let child = unsafe { spawn(&args, || if process::getpid() == 1 { 7 } else { 1 }) }.unwrap();
        assert!(child.pid > 1);
        assert_eq!(
            wait_pidfd(&child.pidfd),
            7,
            "the child was not pid 1 of a new pid namespace"
        );
    }
}
