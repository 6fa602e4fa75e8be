//! Processes: clone3 and clone with a pidfd, pidfds (open, signal, wait), kill, ids, the
//! dumpable flag, and `_exit`.

use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

use crate::{SysResult, check, check_long, owned, owned_long};

/// `CLONE_INTO_CGROUP`, which does not fit libc's 32-bit flag type.
pub const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// The kernel's `struct clone_args`, up to and including `cgroup` (`CLONE_ARGS_SIZE_VER2`).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct Clone3Args {
    /// `CLONE_*` flags.
    pub flags: u64,
    /// Where the kernel stores the pidfd (`CLONE_PIDFD`): a pointer to a `c_int`.
    pub pidfd: u64,
    /// Where the child's tid goes (`CLONE_CHILD_SETTID`).
    pub child_tid: u64,
    /// Where the parent's copy of the tid goes (`CLONE_PARENT_SETTID`).
    pub parent_tid: u64,
    /// The signal sent to the parent when the child ends.
    pub exit_signal: u64,
    /// The child's stack (0: a copy of the caller's, as fork).
    pub stack: u64,
    /// The stack's size.
    pub stack_size: u64,
    /// The child's TLS (`CLONE_SETTLS`).
    pub tls: u64,
    /// The pids to give the child (`set_tid` array pointer).
    pub set_tid: u64,
    /// The length of `set_tid`.
    pub set_tid_size: u64,
    /// A cgroup v2 directory fd (`CLONE_INTO_CGROUP`).
    pub cgroup: u64,
}

/// clone3(2) with `CLONE_PIDFD` (added to `args.flags`, the kernel's pidfd pointer set
/// here), without `CLONE_VM` and with no stack: like fork, in the namespaces and cgroup `args`
/// names. Returns the child's pid and its pidfd in the caller, `(0, None)` in the child.
///
/// # Safety
/// The child is a copy of the calling thread only: if the program has other threads, the
/// child must not allocate, take locks or call anything that is not async-signal-safe, and
/// must not unwind or return into code that would. `args` must not set `CLONE_VM`, a stack,
/// `CLONE_SETTLS` or the tid flags, and its `set_tid` must point at live memory if set.
pub unsafe fn clone3(args: &mut Clone3Args) -> SysResult<(libc::pid_t, Option<OwnedFd>)> {
    let mut pidfd: libc::c_int = -1;
    args.flags |= libc::CLONE_PIDFD as u64;
    args.pidfd = (&raw mut pidfd) as u64;
    // SAFETY: args is a valid clone_args of the size we pass, its pidfd field points at
    // `pidfd`, live across the call; the caller upholds the rest (no CLONE_VM, no stack: the
    // child gets a private copy of this address space, like fork).
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            std::ptr::from_mut(args),
            std::mem::size_of::<Clone3Args>(),
        )
    };
    match check_long(ret)? {
        0 => Ok((0, None)),
        pid => Ok((
            libc::pid_t::try_from(pid).map_err(|_| libc::EINVAL)?,
            Some(owned(pidfd)),
        )),
    }
}

/// The classic clone(2) with `CLONE_PIDFD` (added to `flags`, which hold the exit signal in
/// their low byte) and no stack: like fork, with a pidfd. Returns the child's pid and its
/// pidfd in the caller, `(0, None)` in the child.
///
/// # Safety
/// As for [`clone3`]: the child is a copy of the calling thread only, and `flags` must not
/// hold `CLONE_VM`, `CLONE_SETTLS`, `CLONE_CHILD_SETTID` or `CLONE_PARENT_SETTID`.
pub unsafe fn clone_pidfd(flags: u64) -> SysResult<(libc::pid_t, Option<OwnedFd>)> {
    let mut pidfd: libc::c_int = -1;
    let flags = flags | libc::CLONE_PIDFD as u64;
    // SAFETY: the classic clone without CLONE_VM and with a null stack behaves like fork;
    // CLONE_PIDFD stores the pidfd through the parent_tid argument (the third on x86-64 and
    // aarch64), which points at pidfd; the child-tid and tls arguments are unused without
    // their flags. The caller upholds the rest.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone,
            flags as libc::c_ulong,
            std::ptr::null_mut::<libc::c_void>(),
            &raw mut pidfd,
            std::ptr::null_mut::<libc::c_int>(),
            0 as libc::c_ulong,
        )
    };
    match check_long(ret)? {
        0 => Ok((0, None)),
        pid => Ok((
            libc::pid_t::try_from(pid).map_err(|_| libc::EINVAL)?,
            Some(owned(pidfd)),
        )),
    }
}

/// Ends the calling process at once with `code` (`_exit`: no atexit handlers, no flushing of
/// buffers that belong to the parent). Runs in the child: no allocation, no locks.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit takes an integer and does not return.
    unsafe { libc::_exit(code) }
}

/// Opens a pidfd for `pid` (pidfd_open). The caller must check that the pid is still the
/// process it means (for example by its start time) after opening.
pub fn pidfd_open(pid: libc::pid_t) -> SysResult<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    owned_long(check_long(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })?)
}

/// Sends `signal` to the process behind `pidfd` (pidfd_send_signal), as kill(2) would.
pub fn pidfd_send_signal(pidfd: BorrowedFd<'_>, signal: i32) -> SysResult<()> {
    // SAFETY: pidfd is a live fd; a null siginfo means "as kill(2) would send it".
    check_long(unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signal,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    })
    .map(drop)
}

/// What waitid(2) reports of a child that changed state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitInfo {
    /// `si_code`: `CLD_EXITED`, `CLD_KILLED`, `CLD_DUMPED`, ...
    pub code: i32,
    /// `si_status`: the exit code, or the signal.
    pub status: i32,
}

/// waitid(2) `P_PIDFD` of our child behind `pidfd`, with `flags` (`WEXITED`, `WNOHANG`, ...),
/// retrying on EINTR; `None` when `WNOHANG` found no change.
pub fn waitid_pidfd(pidfd: BorrowedFd<'_>, flags: libc::c_int) -> SysResult<Option<WaitInfo>> {
    let id = libc::id_t::try_from(pidfd.as_raw_fd()).map_err(|_| libc::EBADF)?;
    loop {
        // SAFETY: a zeroed siginfo_t is a valid out-parameter for waitid.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: waitid writes into info; the pidfd is live for the call.
        match check(unsafe { libc::waitid(libc::P_PIDFD, id, &mut info, flags) }) {
            Err(libc::EINTR) => continue,
            Err(e) => return Err(e),
            Ok(_) => {}
        }
        // SAFETY: waitid succeeded, so si_pid and si_status are initialised (si_pid is 0 when
        // WNOHANG found nothing).
        let (pid, status) = unsafe { (info.si_pid(), info.si_status()) };
        return Ok((pid != 0).then_some(WaitInfo {
            code: info.si_code,
            status,
        }));
    }
}

/// Sends `sig` to `pid` (kill(2)).
pub fn kill(pid: libc::pid_t, sig: i32) -> SysResult<()> {
    // SAFETY: kill takes two integers and touches no memory of ours.
    check(unsafe { libc::kill(pid, sig) }).map(drop)
}

/// This process's effective uid.
pub fn geteuid() -> libc::uid_t {
    // SAFETY: geteuid cannot fail and touches no memory.
    unsafe { libc::geteuid() }
}

/// This process's real uid.
pub fn getuid() -> libc::uid_t {
    // SAFETY: getuid cannot fail and touches no memory.
    unsafe { libc::getuid() }
}

/// This process's pid.
pub fn getpid() -> libc::pid_t {
    // SAFETY: getpid cannot fail and touches no memory.
    unsafe { libc::getpid() }
}

/// Whether this process is not root (euid != 0).
pub fn unprivileged() -> bool {
    geteuid() != 0
}

/// The process's dumpable flag (`PR_GET_DUMPABLE`: 0, 1 or 2).
pub fn dumpable() -> SysResult<libc::c_int> {
    // SAFETY: PR_GET_DUMPABLE takes no further argument and returns an integer.
    check(unsafe { libc::prctl(libc::PR_GET_DUMPABLE) })
}

/// Sets the process's dumpable flag (`PR_SET_DUMPABLE`).
pub fn set_dumpable(value: libc::c_int) -> SysResult<()> {
    let value = libc::c_ulong::try_from(value).map_err(|_| libc::EINVAL)?;
    // SAFETY: PR_SET_DUMPABLE takes an integer.
    check(unsafe { libc::prctl(libc::PR_SET_DUMPABLE, value) }).map(drop)
}

/// Clock ticks per second (`sysconf(_SC_CLK_TCK)`), the unit of the times in `/proc` and
/// cgroup v1's cpuacct; 100 where sysconf cannot tell.
pub fn clock_ticks() -> u64 {
    // SAFETY: sysconf only reads a constant.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(t).ok().filter(|t| *t > 0).unwrap_or(100)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn a_signalled_child_is_reported_by_its_pidfd() {
        #[allow(clippy::zombie_processes, reason = "reaped through the pidfd below")]
        let child = std::process::Command::new("sleep").arg("100").spawn().unwrap();
        let fd = pidfd_open(child.id() as libc::pid_t).unwrap();
        assert_eq!(waitid_pidfd(fd.as_fd(), libc::WEXITED | libc::WNOHANG), Ok(None));
        pidfd_send_signal(fd.as_fd(), libc::SIGKILL).unwrap();
        let info = waitid_pidfd(fd.as_fd(), libc::WEXITED).unwrap().unwrap();
        assert_eq!((info.code, info.status), (libc::CLD_KILLED, libc::SIGKILL));
    }
}
