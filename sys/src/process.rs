//! Processes: clone3 and clone with a pidfd, pidfds (open, signal, wait), kill, ids and
//! credentials (groups, uids, gids, capabilities, sessions), prctl, resource limits, I/O and
//! CPU scheduling, the memory policy, the personality, the session keyring, exec and `_exit`.

use std::ffi::{CStr, OsString};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

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

/// The arguments a C `main` received, for a `#![no_main]` program: std's own list
/// (`std::env::args`) is filled from glibc's start-up only, and is empty on musl.
///
/// # Safety
/// `argv` must hold `argc` pointers to NUL-terminated strings that stay valid, as the C
/// runtime passes them to `main`.
pub unsafe fn main_args(argc: libc::c_int, argv: *const *const libc::c_char) -> Vec<OsString> {
    let count = usize::try_from(argc).unwrap_or(0);
    (0..count)
        .map(|i| {
            // SAFETY: the caller promises `argc` valid string pointers at `argv`.
            let arg = unsafe { CStr::from_ptr(*argv.add(i)) };
            std::ffi::OsStr::from_bytes(arg.to_bytes()).to_owned()
        })
        .collect()
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

/// prctl(2) `option` with one integer argument (the others 0): `PR_SET_PDEATHSIG`,
/// `PR_SET_KEEPCAPS`, `PR_CAPBSET_DROP`, `PR_SET_NO_NEW_PRIVS`, ... Runs in the child: no
/// allocation, no locks.
pub fn prctl(option: libc::c_int, arg2: libc::c_ulong) -> SysResult<()> {
    // SAFETY: the options this takes read plain integers; the unused arguments are 0.
    check(unsafe { libc::prctl(option, arg2, 0 as libc::c_ulong, 0 as libc::c_ulong, 0 as libc::c_ulong) }).map(drop)
}

/// Raises the ambient capability `cap` (`PR_CAP_AMBIENT_RAISE`). Runs in the child: no
/// allocation, no locks.
pub fn ambient_raise(cap: u32) -> SysResult<()> {
    // SAFETY: PR_CAP_AMBIENT takes integer arguments only.
    check(unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong,
            libc::c_ulong::from(cap),
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    })
    .map(drop)
}

/// The kernel's `struct __user_cap_header_struct`.
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

/// The kernel's `struct __user_cap_data_struct`: one 32-bit half of each set.
#[repr(C)]
#[derive(Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// `_LINUX_CAPABILITY_VERSION_3`: 64-bit sets, as two halves.
const CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// Sets the calling thread's effective, permitted and inheritable capability sets (bit n for
/// capability n; capset(2) version 3). Runs in the child: no allocation, no locks.
pub fn capset(effective: u64, permitted: u64, inheritable: u64) -> SysResult<()> {
    let mut header = CapHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let half = |shift: u32| CapData {
        effective: (effective >> shift) as u32,
        permitted: (permitted >> shift) as u32,
        inheritable: (inheritable >> shift) as u32,
    };
    let data = [half(0), half(32)];
    // SAFETY: header and data have the layout of _LINUX_CAPABILITY_VERSION_3 (two data
    // structs), and live across the call.
    check_long(unsafe { libc::syscall(libc::SYS_capset, &raw mut header, data.as_ptr()) }).map(drop)
}

/// The calling thread's effective, permitted and inheritable capability sets (capget(2)
/// version 3).
#[cfg(test)]
fn capget() -> SysResult<(u64, u64, u64)> {
    let mut header = CapHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData {
        effective: 0,
        permitted: 0,
        inheritable: 0,
    }; 2];
    // SAFETY: header and the two data structs of version 3 are writable and live across the call.
    check_long(unsafe { libc::syscall(libc::SYS_capget, &raw mut header, data.as_mut_ptr()) })?;
    let join = |lo: u32, hi: u32| u64::from(lo) | u64::from(hi) << 32;
    Ok((
        join(data[0].effective, data[1].effective),
        join(data[0].permitted, data[1].permitted),
        join(data[0].inheritable, data[1].inheritable),
    ))
}

/// Sets the supplementary groups of the calling thread only (the raw system call: glibc's
/// wrapper would signal every thread, which the child has not). Runs in the child: no
/// allocation, no locks.
pub fn setgroups(groups: &[libc::gid_t]) -> SysResult<()> {
    // SAFETY: the pointer and length describe a live slice the kernel only reads.
    check_long(unsafe { libc::syscall(libc::SYS_setgroups, groups.len(), groups.as_ptr()) }).map(drop)
}

/// The calling thread's supplementary groups into `buf`; returns how many (getgroups(2)).
#[cfg(test)]
fn getgroups(buf: &mut [libc::gid_t]) -> SysResult<usize> {
    let len = libc::c_int::try_from(buf.len()).map_err(|_| libc::EINVAL)?;
    // SAFETY: the kernel writes at most `len` gids into `buf`.
    let n = check(unsafe { libc::getgroups(len, buf.as_mut_ptr()) })?;
    usize::try_from(n).map_err(|_| libc::EIO)
}

/// Sets the real, effective and saved gid of the calling thread only (the raw system call).
/// Runs in the child: no allocation, no locks.
pub fn setresgid(gid: libc::gid_t) -> SysResult<()> {
    // SAFETY: integer arguments only.
    check_long(unsafe { libc::syscall(libc::SYS_setresgid, gid, gid, gid) }).map(drop)
}

/// Sets the real, effective and saved uid of the calling thread only (the raw system call).
/// Runs in the child: no allocation, no locks.
pub fn setresuid(uid: libc::uid_t) -> SysResult<()> {
    // SAFETY: integer arguments only.
    check_long(unsafe { libc::syscall(libc::SYS_setresuid, uid, uid, uid) }).map(drop)
}

/// This process's effective gid.
pub fn getegid() -> libc::gid_t {
    // SAFETY: getegid cannot fail and touches no memory.
    unsafe { libc::getegid() }
}

/// Starts a new session led by the caller (setsid(2)); returns its id. Runs in the child: no
/// allocation, no locks.
pub fn setsid() -> SysResult<libc::pid_t> {
    // SAFETY: setsid takes no arguments.
    check(unsafe { libc::setsid() })
}

/// Sets the soft and hard limit of `resource` (`RLIMIT_*`) of this process (prlimit64 of pid
/// 0; `u64::MAX` is unlimited). Runs in the child: no allocation, no locks.
pub fn setrlimit(resource: libc::c_int, soft: u64, hard: u64) -> SysResult<()> {
    let lim = libc::rlimit64 {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: `lim` is a valid rlimit64 the kernel only reads; a null old-limit pointer is allowed.
    check_long(unsafe {
        libc::syscall(
            libc::SYS_prlimit64,
            0,
            resource,
            &raw const lim,
            std::ptr::null_mut::<libc::rlimit64>(),
        )
    })
    .map(drop)
}

/// The soft and hard limit of `resource` (`RLIMIT_*`) of this process (prlimit64 of pid 0;
/// `u64::MAX` is unlimited).
pub fn getrlimit(resource: libc::c_int) -> SysResult<(u64, u64)> {
    let mut lim = libc::rlimit64 {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a null new limit only reads; `lim` is a writable rlimit64.
    check_long(unsafe {
        libc::syscall(
            libc::SYS_prlimit64,
            0,
            resource,
            std::ptr::null::<libc::rlimit64>(),
            &raw mut lim,
        )
    })?;
    Ok((lim.rlim_cur, lim.rlim_max))
}

/// `IOPRIO_WHO_PROCESS` from `linux/ioprio.h`.
const IOPRIO_WHO_PROCESS: libc::c_int = 1;

/// Sets the I/O priority of this process (`ioprio_set(IOPRIO_WHO_PROCESS, 0, value)`, `value`
/// as `IOPRIO_PRIO_VALUE(class, level)` makes it).
pub fn ioprio_set(value: libc::c_int) -> SysResult<()> {
    // SAFETY: integer arguments only; who 0 is the calling process.
    check_long(unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, value) }).map(drop)
}

/// The I/O priority of this process (`ioprio_get(IOPRIO_WHO_PROCESS, 0)`).
#[cfg(test)]
fn ioprio_get() -> SysResult<libc::c_int> {
    // SAFETY: integer arguments only; who 0 is the calling process.
    let v = check_long(unsafe { libc::syscall(libc::SYS_ioprio_get, IOPRIO_WHO_PROCESS, 0) })?;
    libc::c_int::try_from(v).map_err(|_| libc::EIO)
}

/// The kernel's `struct sched_attr` (`SCHED_ATTR_SIZE_VER1`, with the utilisation clamps).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SchedAttr {
    /// The size of this struct.
    pub size: u32,
    /// SCHED_OTHER, SCHED_FIFO, ...
    pub policy: u32,
    /// SCHED_FLAG_* bits.
    pub flags: u64,
    /// The nice value (SCHED_OTHER, SCHED_BATCH).
    pub nice: i32,
    /// The static priority (SCHED_FIFO, SCHED_RR).
    pub priority: u32,
    /// SCHED_DEADLINE runtime in nanoseconds.
    pub runtime: u64,
    /// SCHED_DEADLINE deadline in nanoseconds.
    pub deadline: u64,
    /// SCHED_DEADLINE period in nanoseconds.
    pub period: u64,
    /// The minimum utilisation clamp.
    pub util_min: u32,
    /// The maximum utilisation clamp.
    pub util_max: u32,
}

/// Sets the scheduling policy and attributes of the calling thread (sched_setattr(2)); the
/// kernel reads `attr.size` bytes. Runs in the child: no allocation, no locks.
pub fn sched_setattr(attr: &SchedAttr) -> SysResult<()> {
    if usize::try_from(attr.size).map_or(true, |n| n > std::mem::size_of::<SchedAttr>()) {
        return Err(libc::E2BIG);
    }
    // SAFETY: `attr` is a live sched_attr, at least as large as its size field says.
    check_long(unsafe { libc::syscall(libc::SYS_sched_setattr, 0, std::ptr::from_ref(attr), 0) }).map(drop)
}

/// A set of CPUs (`cpu_set_t`, [`CpuSet::CAPACITY`] of them), empty when made.
#[derive(Clone, Copy)]
pub struct CpuSet(libc::cpu_set_t);

impl std::fmt::Debug for CpuSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set()
            .entries((0..Self::CAPACITY).filter(|c| self.contains(*c)))
            .finish()
    }
}

impl PartialEq for CpuSet {
    fn eq(&self, other: &CpuSet) -> bool {
        (0..Self::CAPACITY).all(|c| self.contains(c) == other.contains(c))
    }
}

impl Eq for CpuSet {}

impl Default for CpuSet {
    fn default() -> CpuSet {
        CpuSet::empty()
    }
}

impl CpuSet {
    /// How many CPUs a set can name (CPUs 0 to `CAPACITY - 1`).
    pub const CAPACITY: usize = 8 * std::mem::size_of::<libc::cpu_set_t>();

    /// The empty set.
    pub fn empty() -> CpuSet {
        // SAFETY: cpu_set_t is a plain bit array; all zeroes is the empty set.
        CpuSet(unsafe { std::mem::zeroed() })
    }

    /// Every CPU the set can name (the kernel narrows an affinity to the task's cpuset).
    pub fn all() -> CpuSet {
        let mut set = CpuSet::empty();
        for cpu in 0..Self::CAPACITY {
            // Every cpu below CAPACITY fits.
            let _ = set.add(cpu);
        }
        set
    }

    /// Adds `cpu`; one at or above [`CpuSet::CAPACITY`] is EINVAL.
    pub fn add(&mut self, cpu: usize) -> SysResult<()> {
        if cpu >= Self::CAPACITY {
            return Err(libc::EINVAL);
        }
        // SAFETY: cpu is below the number of bits of the set, checked above.
        unsafe { libc::CPU_SET(cpu, &mut self.0) };
        Ok(())
    }

    /// Whether `cpu` is in the set.
    pub fn contains(&self, cpu: usize) -> bool {
        // SAFETY: cpu is below the number of bits of the set, checked first.
        cpu < Self::CAPACITY && unsafe { libc::CPU_ISSET(cpu, &self.0) }
    }
}

/// Sets the CPU affinity of `pid` (0: the calling thread) to `set` (sched_setaffinity(2)).
/// Runs in the child: no allocation, no locks.
pub fn sched_setaffinity(pid: libc::pid_t, set: &CpuSet) -> SysResult<()> {
    // SAFETY: set.0 is a live cpu_set_t of the size passed.
    check(unsafe { libc::sched_setaffinity(pid, std::mem::size_of::<libc::cpu_set_t>(), &set.0) }).map(drop)
}

/// The CPU affinity of `pid` (0: the calling thread), sched_getaffinity(2).
#[cfg(test)]
fn sched_getaffinity(pid: libc::pid_t) -> SysResult<CpuSet> {
    let mut set = CpuSet::empty();
    // SAFETY: set.0 is a writable cpu_set_t of the size passed.
    check(unsafe { libc::sched_getaffinity(pid, std::mem::size_of::<libc::cpu_set_t>(), &mut set.0) })?;
    Ok(set)
}

/// Sets the NUMA memory policy of the calling thread (set_mempolicy(2)): `mode` with its
/// flags, and the node mask `nodes`, of which the kernel reads `max_node - 1` bits (more than
/// `nodes` holds is EINVAL). Runs in the child: no allocation, no locks.
pub fn set_mempolicy(mode: libc::c_int, nodes: &[libc::c_ulong], max_node: libc::c_ulong) -> SysResult<()> {
    let bits = nodes.len().saturating_mul(libc::c_ulong::BITS as usize);
    if usize::try_from(max_node.saturating_sub(1)).unwrap_or(usize::MAX) > bits {
        return Err(libc::EINVAL);
    }
    // SAFETY: `nodes` holds at least max_node - 1 bits (checked above), all the kernel reads.
    check_long(unsafe { libc::syscall(libc::SYS_set_mempolicy, mode, nodes.as_ptr(), max_node) }).map(drop)
}

/// Sets the execution domain of this process (personality(2)); returns the previous one.
/// Runs in the child: no allocation, no locks.
pub fn personality(persona: libc::c_ulong) -> SysResult<libc::c_ulong> {
    // SAFETY: an integer argument only; the old persona is returned, or -1 with errno.
    let old = check_long(unsafe { libc::syscall(libc::SYS_personality, persona) })?;
    libc::c_ulong::try_from(old).map_err(|_| libc::EIO)
}

/// The permissions runc gives a container's session keyring: all to the possessor, and view,
/// read, search and link to its owner (`KEY_POS_ALL | KEY_USR_VIEW | READ | SEARCH | LINK`).
pub const SESSION_KEYRING_PERM: u32 = 0x3f1b_0000;

/// Joins a new session keyring named `name` (`KEYCTL_JOIN_SESSION_KEYRING`) and gives it
/// [`SESSION_KEYRING_PERM`] (`KEYCTL_SETPERM`); returns its serial. Runs in the child: no
/// allocation, no locks.
pub fn join_session_keyring(name: &CStr) -> SysResult<i32> {
    // SAFETY: KEYCTL_JOIN_SESSION_KEYRING reads one NUL-terminated string that outlives the call.
    let id = check_long(unsafe { libc::syscall(libc::SYS_keyctl, libc::KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr()) })?;
    let id = i32::try_from(id).map_err(|_| libc::EIO)?;
    // SAFETY: KEYCTL_SETPERM takes a key serial and a permission mask, both integers.
    check_long(unsafe { libc::syscall(libc::SYS_keyctl, libc::KEYCTL_SETPERM, id, SESSION_KEYRING_PERM) })?;
    Ok(id)
}

/// execve(2) of `path` with `argv` and `envp`, arrays of pointers to NUL-terminated strings
/// that end in a null pointer (EINVAL if either does not); returns only on failure, with the
/// errno. Runs in the child: no allocation, no locks.
pub fn execve(path: &CStr, argv: &[*const libc::c_char], envp: &[*const libc::c_char]) -> i32 {
    if argv.last().is_none_or(|p| !p.is_null()) || envp.last().is_none_or(|p| !p.is_null()) {
        return libc::EINVAL;
    }
    // SAFETY: both arrays end in a null pointer (checked above) and point at NUL-terminated
    // strings the caller keeps alive; `path` is NUL-terminated.
    unsafe { libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    crate::errno()
}

/// execveat(2) of `name` below `dir` (a final symlink not followed), or of `dir` itself when
/// `name` is empty (`AT_EMPTY_PATH`); as [`execve`] otherwise. Runs in the child: no
/// allocation, no locks.
pub fn execveat(dir: BorrowedFd<'_>, name: &CStr, argv: &[*const libc::c_char], envp: &[*const libc::c_char]) -> i32 {
    if argv.last().is_none_or(|p| !p.is_null()) || envp.last().is_none_or(|p| !p.is_null()) {
        return libc::EINVAL;
    }
    let flags = if name.is_empty() {
        libc::AT_EMPTY_PATH
    } else {
        libc::AT_SYMLINK_NOFOLLOW
    };
    // SAFETY: both arrays end in a null pointer (checked above) and point at NUL-terminated
    // strings the caller keeps alive; `name` is NUL-terminated and `dir` open.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            dir.as_raw_fd(),
            name.as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
            flags,
        )
    };
    crate::errno()
}

/// Now, in clock ticks ([`clock_ticks`]) since boot: the clock of the start times in
/// `/proc/<pid>/stat` (`CLOCK_BOOTTIME`, read through the vDSO: no system call).
pub fn boot_ticks_now() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a writable timespec; CLOCK_BOOTTIME always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    let hz = clock_ticks();
    let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(ts.tv_nsec).unwrap_or(0);
    secs * hz + nanos * hz / 1_000_000_000
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn main_args_copies_each_argument_as_given() {
        let given = [c"ocirun", c"run", c"", c"--bundle=/b b"];
        let argv: Vec<*const libc::c_char> = given.iter().map(|a| a.as_ptr()).chain([std::ptr::null()]).collect();
        // SAFETY: argv holds four pointers to the NUL-terminated strings above, which outlive the call.
        let args = unsafe { main_args(4, argv.as_ptr()) };
        assert_eq!(args, ["ocirun", "run", "", "--bundle=/b b"]);
        // SAFETY: no argument is read when argc is 0 (or negative).
        assert!(unsafe { main_args(0, argv.as_ptr()) }.is_empty());
        // SAFETY: as above.
        assert!(unsafe { main_args(-1, argv.as_ptr()) }.is_empty());
    }

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

    use crate::fd::tests::in_forked_child;

    #[test]
    fn credentials_change_for_the_calling_thread() {
        if geteuid() != 0 {
            eprintln!("skipped: changing ids and capabilities needs root");
            return;
        }
        in_forked_child(|| {
            let keep = prctl(libc::PR_SET_KEEPCAPS, 1).is_ok();
            let groups = setgroups(&[4242, 4343]).is_ok();
            let mut got = [0; 8];
            let listed = getgroups(&mut got).ok().and_then(|n| got.get(..n)) == Some(&[4242, 4343][..]);
            let ids = setresgid(4545).is_ok() && setresuid(4646).is_ok();
            let (mut r, mut e, mut s) = (0, 0, 0);
            // SAFETY: getresuid writes three ids into our locals.
            let uids = unsafe { libc::getresuid(&mut r, &mut e, &mut s) } == 0 && (r, e, s) == (4646, 4646, 4646);
            let gids = getegid() == 4545 && geteuid() == 4646;
            // KEEPCAPS kept the permitted set; make CAP_CHOWN (0) alone effective and inheritable.
            const CAP_CHOWN: u32 = 0;
            const CAP_KILL: u32 = 5;
            let chown = 1u64 << CAP_CHOWN;
            let caps = capset(chown, chown, chown).is_ok() && capget() == Ok((chown, chown, chown));
            let ambient = ambient_raise(CAP_CHOWN).is_ok()
                // SAFETY: PR_CAP_AMBIENT_IS_SET reads integers and returns 0 or 1.
                && unsafe { libc::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_IS_SET, CAP_CHOWN, 0, 0) } == 1
                && ambient_raise(CAP_KILL) == Err(libc::EPERM);
            keep && groups && listed && ids && uids && gids && caps && ambient
        });
    }

    #[test]
    fn limits_priorities_and_affinity_are_set_and_read_back() {
        in_forked_child(|| {
            let (soft, hard) = getrlimit(libc::RLIMIT_NOFILE as libc::c_int).unwrap_or((0, 0));
            let lowered = setrlimit(libc::RLIMIT_NOFILE as libc::c_int, soft.min(64), hard.min(128)).is_ok()
                && getrlimit(libc::RLIMIT_NOFILE as libc::c_int) == Ok((soft.min(64), hard.min(128)));
            // Best effort, level 7: IOPRIO_PRIO_VALUE(IOPRIO_CLASS_BE, 7).
            let io = (2 << 13) | 7;
            let ioprio = ioprio_set(io).is_ok() && ioprio_get() == Ok(io);
            let attr = SchedAttr {
                size: std::mem::size_of::<SchedAttr>() as u32,
                policy: libc::SCHED_BATCH as u32,
                nice: 7,
                ..SchedAttr::default()
            };
            // SAFETY: sched_getscheduler and getpriority read integers of this process.
            let sched = sched_setattr(&attr).is_ok()
                && unsafe { libc::sched_getscheduler(0) } == libc::SCHED_BATCH
                && unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) } == 7;
            let too_big = SchedAttr { size: 4096, ..attr };
            let checked = sched_setattr(&too_big) == Err(libc::E2BIG);
            let mut one = CpuSet::empty();
            let Ok(current) = sched_getaffinity(0) else {
                return false;
            };
            let first = (0..CpuSet::CAPACITY).find(|c| current.contains(*c)).unwrap_or(0);
            let affinity = one.add(first).is_ok()
                && one.add(CpuSet::CAPACITY) == Err(libc::EINVAL)
                && sched_setaffinity(0, &one).is_ok()
                && sched_getaffinity(0) == Ok(one)
                && sched_setaffinity(0, &CpuSet::all()).is_ok()
                && sched_getaffinity(0) == Ok(current);
            lowered && ioprio && sched && checked && affinity
        });
    }

    #[test]
    fn mempolicy_personality_and_keyring() {
        in_forked_child(|| {
            // Node 0 preferred (max_node 2: one bit read), then the default again (max_node 1:
            // no bits); a mask shorter than max_node says is refused before the kernel reads it.
            let policy = set_mempolicy(libc::MPOL_PREFERRED, &[1], 2).is_ok()
                && set_mempolicy(libc::MPOL_DEFAULT, &[], 1).is_ok()
                && set_mempolicy(libc::MPOL_BIND, &[1], 66) == Err(libc::EINVAL);
            // 0xffffffff asks for the persona without changing it.
            let Ok(now) = personality(0xffff_ffff) else {
                return false;
            };
            let persona = personality(now | libc::ADDR_NO_RANDOMIZE as libc::c_ulong) == Ok(now)
                && personality(0xffff_ffff) == Ok(now | libc::ADDR_NO_RANDOMIZE as libc::c_ulong);
            let keyring = match join_session_keyring(c"ocirun-sys-test") {
                Ok(id) => id > 0,
                // A kernel without keys, or a seccomp profile that refuses keyctl.
                Err(libc::ENOSYS | libc::EPERM) => true,
                Err(_) => false,
            };
            policy && persona && keyring
        });
    }

    #[test]
    fn exec_needs_null_terminated_arrays_and_replaces_the_process() {
        let argv = [c"true".as_ptr()];
        let envp = [std::ptr::null()];
        assert_eq!(execve(c"/bin/true", &argv, &envp), libc::EINVAL);
        let dir = crate::fs::open(c"/bin", libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC).unwrap();
        assert_eq!(execveat(dir.as_fd(), c"true", &argv, &envp), libc::EINVAL);
        let argv = [c"true".as_ptr(), std::ptr::null()];
        assert_eq!(execve(c"/nonexistent/true", &argv, &envp), libc::ENOENT);
        // The forked child exits 0 only if it became `true`.
        in_forked_child(|| {
            execve(c"/bin/true", &argv, &envp);
            false
        });
        in_forked_child(|| {
            execveat(dir.as_fd(), c"true", &argv, &envp);
            false
        });
    }

    #[test]
    fn boot_ticks_are_after_this_process_started() {
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
        let after_comm = &stat[stat.rfind(')').unwrap() + 2..];
        // Field 22, starttime, is the 20th after the comm.
        let start: u64 = after_comm.split(' ').nth(19).unwrap().parse().unwrap();
        let now = boot_ticks_now();
        assert!(now >= start, "{now} < {start}");
    }
}
