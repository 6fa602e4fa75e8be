use std::os::fd::{FromRawFd, OwnedFd, RawFd};

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
        // SAFETY: setns with a namespace fd the caller owns; for a pid namespace it only
        // changes where this thread's future children are created.
        if unsafe { libc::setns(target, libc::CLONE_NEWPID) } < 0 {
            return Err(NamespaceError::Clone {
                flags: 0,
                source: std::io::Error::last_os_error(),
            });
        }
        Ok(PidNsForChildren(own.into()))
    }
}

impl Drop for PidNsForChildren {
    fn drop(&mut self) {
        use std::os::fd::AsRawFd;
        // SAFETY: returning to the thread's own pid namespace, which it is a member of.
        unsafe { libc::setns(self.0.as_raw_fd(), libc::CLONE_NEWPID) };
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

/// `CLONE_INTO_CGROUP`, which does not fit libc's 32-bit flag type.
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// The kernel's `struct clone_args`, up to and including `cgroup` (version 2).
#[repr(C)]
#[derive(Default)]
struct RawCloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
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
            // SAFETY: PR_GET_DUMPABLE and PR_SET_DUMPABLE take and return integers only.
            state.1 = unsafe { libc::prctl(libc::PR_GET_DUMPABLE) };
            // SAFETY: as above.
            unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0 as libc::c_ulong) };
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
            // SAFETY: PR_SET_DUMPABLE takes an integer (the value PR_GET_DUMPABLE gave).
            unsafe { libc::prctl(libc::PR_SET_DUMPABLE, state.1 as libc::c_ulong) };
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
    let mut pidfd: libc::c_int = -1;
    let mut raw = RawCloneArgs {
        flags: args.namespaces.bits() | libc::CLONE_PIDFD as u64,
        pidfd: &raw mut pidfd as u64,
        exit_signal: libc::SIGCHLD as u64,
        ..Default::default()
    };
    if let Some(fd) = args.cgroup_fd {
        raw.flags |= CLONE_INTO_CGROUP;
        raw.cgroup = fd as u64;
    }
    let joined = args.pid_namespace.map(PidNsForChildren::enter).transpose()?;
    // The child is born non-dumpable: from its first instant it may be in a pid namespace that
    // container processes share, and until it execs it holds the host's root and more.
    let undumpable = NotDumpable::enter();
    // SAFETY: raw is a valid clone_args of the size we pass; without CLONE_VM and
    // with a zero stack the child gets a private copy of this address space, like fork.
    let mut ret = unsafe { libc::syscall(libc::SYS_clone3, &raw mut raw, std::mem::size_of::<RawCloneArgs>()) };
    let mut in_cgroup = args.cgroup_fd.is_some();
    if ret < 0 && matches!(crate::sys::errno(), libc::ENOSYS | libc::E2BIG) {
        in_cgroup = false;
        let flags = args.namespaces.bits() | libc::CLONE_PIDFD as u64 | libc::SIGCHLD as u64;
        // SAFETY: the classic clone with a null stack behaves like fork; CLONE_PIDFD
        // stores the pidfd through the parent_tid argument, which points at pidfd.
        ret = unsafe {
            libc::syscall(
                libc::SYS_clone,
                flags as libc::c_ulong,
                std::ptr::null_mut::<libc::c_void>(),
                &raw mut pidfd,
                std::ptr::null_mut::<libc::c_int>(),
                0 as libc::c_ulong,
            )
        };
    }
    if ret != 0 {
        // Back to the thread's own pid namespace and dumpable flag (the child, ret == 0, never
        // returns here).
        drop(joined);
        drop(undumpable);
    } else {
        std::mem::forget(joined);
        std::mem::forget(undumpable);
    }
    match ret {
        0 => {
            let code = child();
            // SAFETY: _exit ends the child without running the parent's atexit
            // handlers or flushing its buffers, which belong to the parent.
            unsafe { libc::_exit(code) }
        }
        pid if pid > 0 => Ok(Spawned {
            pid: pid as i32,
            // SAFETY: the kernel stored a new pidfd that nothing else owns.
            pidfd: unsafe { OwnedFd::from_raw_fd(pidfd) },
            in_cgroup,
        }),
        _ => Err(NamespaceError::Clone {
            flags: raw.flags,
            source: std::io::Error::last_os_error(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NamespaceKind;
    use std::os::fd::AsRawFd;

    fn wait_pidfd(fd: &OwnedFd) -> i32 {
        // SAFETY: zeroed siginfo_t is a valid out-parameter.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: waitid on a pidfd we own, writing into info.
        let r = unsafe { libc::waitid(libc::P_PIDFD, fd.as_raw_fd() as libc::id_t, &mut info, libc::WEXITED) };
        assert_eq!(r, 0, "waitid: {}", std::io::Error::last_os_error());
        // SAFETY: after a successful waitid for WEXITED, si_status is set.
        unsafe { info.si_status() }
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
        let child = unsafe { spawn(&args, || if libc::getpid() == 1 { 7 } else { 1 }) }.unwrap();
        assert!(child.pid > 1);
        assert_eq!(
            wait_pidfd(&child.pidfd),
            7,
            "the child was not pid 1 of a new pid namespace"
        );
    }
}
