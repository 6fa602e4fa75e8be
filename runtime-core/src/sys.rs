//! The few raw system calls runtime-core makes in the container's init between
//! clone and exec, each wrapped once.
//!
//! Runs in the child: no allocation, no locks. Every function returns the errno
//! on failure and never panics.

use std::ffi::CStr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// The current directory, as the `dirfd` of the `*at` calls.
// SAFETY: AT_FDCWD is no fd to close; the `*at` calls read it as the current directory.
pub const CWD: BorrowedFd<'static> = unsafe { BorrowedFd::borrow_raw(libc::AT_FDCWD) };

pub use namespaces::sys::errno;

fn check(ret: libc::c_long) -> Result<libc::c_long, i32> {
    if ret < 0 { Err(errno()) } else { Ok(ret) }
}

/// prctl with integer arguments.
pub fn prctl(option: libc::c_int, arg2: libc::c_ulong) -> Result<(), i32> {
    // SAFETY: every option used here takes plain integers.
    check(unsafe { libc::prctl(option, arg2, 0 as libc::c_ulong, 0 as libc::c_ulong, 0 as libc::c_ulong) }.into())
        .map(drop)
}

/// The permissions runc gives a container's session keyring: all to the possessor, and view,
/// read, search and link to its owner (`KEY_POS_ALL | KEY_USR_VIEW | READ | SEARCH | LINK`).
pub const SESSION_KEYRING_PERM: u32 = 0x3f1b_0000;

/// Joins a new session keyring named `name` (KEYCTL_JOIN_SESSION_KEYRING) and gives it
/// [`SESSION_KEYRING_PERM`]; the caller's session keyring is no longer this process's.
///
/// Runs in the child: no allocation, no locks.
pub fn join_session_keyring(name: &CStr) -> Result<(), i32> {
    // SAFETY: KEYCTL_JOIN_SESSION_KEYRING reads one NUL-terminated string.
    let id = check(unsafe { libc::syscall(libc::SYS_keyctl, libc::KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr()) })?;
    // SAFETY: KEYCTL_SETPERM takes a key serial and a permission mask, both integers.
    check(unsafe { libc::syscall(libc::SYS_keyctl, libc::KEYCTL_SETPERM, id, SESSION_KEYRING_PERM) }).map(drop)
}

/// Raises one ambient capability.
pub fn ambient_raise(cap: u32) -> Result<(), i32> {
    // SAFETY: PR_CAP_AMBIENT takes integer arguments only.
    let ret = unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong,
            cap as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    };
    check(ret.into()).map(drop)
}

/// Sends one fixed-size message on a socket.
pub fn send(fd: BorrowedFd<'_>, buf: &[u8]) -> Result<(), i32> {
    // SAFETY: fd is open for the borrow; buf is a live slice; MSG_NOSIGNAL avoids SIGPIPE if the peer left.
    let n = check(
        unsafe { libc::send(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len(), libc::MSG_NOSIGNAL) } as libc::c_long,
    )?;
    if n as usize == buf.len() {
        Ok(())
    } else {
        Err(libc::EMSGSIZE)
    }
}

/// The most fds one message carries ([`send_with_fds`], [`recv_with_fds`]).
pub const MAX_MSG_FDS: usize = 40;

/// A control buffer for SCM_RIGHTS, aligned as cmsghdr needs, on the stack: room for
/// [`MAX_MSG_FDS`] fds (a 16-byte header and 4 bytes each).
#[repr(C)]
struct FdControl {
    _align: [libc::cmsghdr; 0],
    bytes: [u8; 16 + 4 * MAX_MSG_FDS],
}

impl FdControl {
    fn new() -> FdControl {
        FdControl {
            _align: [],
            bytes: [0; 16 + 4 * MAX_MSG_FDS],
        }
    }
}

/// Sends one fixed-size message with `fds` attached (SCM_RIGHTS; none is a plain send).
/// More than [`MAX_MSG_FDS`] is EMSGSIZE.
pub fn send_with_fds(sock: BorrowedFd<'_>, buf: &[u8], fds: &[libc::c_int]) -> Result<(), i32> {
    if fds.len() > MAX_MSG_FDS {
        return Err(libc::EMSGSIZE);
    }
    let mut control = FdControl::new();
    let mut iov = libc::iovec {
        iov_base: buf.as_ptr() as *mut libc::c_void,
        iov_len: buf.len(),
    };
    // SAFETY: msghdr is plain data; zeroed is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if !fds.is_empty() {
        let data_len = std::mem::size_of_val(fds) as u32;
        msg.msg_control = control.bytes.as_mut_ptr().cast();
        // SAFETY: CMSG_SPACE only computes a size.
        msg.msg_controllen = unsafe { libc::CMSG_SPACE(data_len) } as usize;
        debug_assert!(msg.msg_controllen <= control.bytes.len());
        // SAFETY: msg points at a control buffer large enough for one cmsghdr with
        // MAX_MSG_FDS ints, so CMSG_FIRSTHDR is non-null and the ints fit after CMSG_DATA.
        unsafe {
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(data_len) as usize;
            let data = libc::CMSG_DATA(cmsg).cast::<libc::c_int>();
            for (i, fd) in fds.iter().enumerate() {
                std::ptr::write_unaligned(data.add(i), *fd);
            }
        }
    }
    // SAFETY: msg and everything it points to live across the call.
    let n = check(unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) } as libc::c_long)?;
    if n as usize == buf.len() {
        Ok(())
    } else {
        Err(libc::EMSGSIZE)
    }
}

/// Receives one fixed-size message; `Ok(0)` means the peer closed.
pub fn recv(fd: BorrowedFd<'_>, buf: &mut [u8]) -> Result<usize, i32> {
    loop {
        // SAFETY: fd is open for the borrow; buf is a live, writable slice of the given length.
        let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 && errno() == libc::EINTR {
            continue;
        }
        return check(n as libc::c_long).map(|n| n as usize);
    }
}

/// Receives one fixed-size message and the fds riding with it (close-on-exec) into the front
/// of `fds`; returns the message length and the number of fds. `Ok((0, 0))` means the peer
/// closed. More fds than `fds` holds is EMSGSIZE, with every received fd closed.
///
/// A peer that exited with a message of ours unread makes the kernel report ECONNRESET once,
/// while what the peer sent first is still queued: that is read rather than lost.
///
/// Runs in the child: no allocation, no locks.
pub fn recv_with_fds(
    sock: BorrowedFd<'_>,
    buf: &mut [u8],
    fds: &mut [Option<std::os::fd::OwnedFd>],
) -> Result<(usize, usize), i32> {
    let mut control = FdControl::new();
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: msghdr is plain data; zeroed is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.bytes.as_mut_ptr().cast();
    msg.msg_controllen = control.bytes.len();
    let n = loop {
        // SAFETY: msg points at live buffers; MSG_CMSG_CLOEXEC marks received fds close-on-exec.
        let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
        if n < 0 && matches!(errno(), libc::EINTR | libc::ECONNRESET) {
            continue;
        }
        break check(n as libc::c_long)? as usize;
    };
    let mut count = 0;
    let mut overflow = msg.msg_flags & libc::MSG_CTRUNC != 0;
    // SAFETY: the kernel filled msg_control with msg_controllen bytes of cmsghdrs;
    // CMSG_FIRSTHDR/NXTHDR stay within it and CMSG_DATA of an SCM_RIGHTS header holds ints.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(cmsg).cast::<libc::c_int>();
                let len = ((*cmsg).cmsg_len - libc::CMSG_LEN(0) as usize) / std::mem::size_of::<libc::c_int>();
                for i in 0..len {
                    let raw = std::ptr::read_unaligned(data.add(i));
                    // Each received fd is new in this process: owned here, closed if unwanted.
                    let owned = <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw);
                    match fds.get_mut(count) {
                        Some(slot) => {
                            *slot = Some(owned);
                            count += 1;
                        }
                        None => overflow = true,
                    }
                }
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    if overflow {
        fds.iter_mut().for_each(|slot| *slot = None);
        return Err(libc::EMSGSIZE);
    }
    Ok((n, count))
}

/// Opens `name` relative to `dirfd`.
pub fn openat(dirfd: libc::c_int, name: &CStr, flags: libc::c_int) -> Result<libc::c_int, i32> {
    loop {
        // SAFETY: name is NUL-terminated; mode is unused without O_CREAT.
        let fd = unsafe { libc::openat(dirfd, name.as_ptr(), flags | libc::O_CLOEXEC) };
        if fd < 0 && errno() == libc::EINTR {
            continue;
        }
        return check(fd.into()).map(|fd| fd as libc::c_int);
    }
}

/// Writes all of `buf` to `fd`.
pub fn write(fd: libc::c_int, buf: &[u8]) -> Result<(), i32> {
    // SAFETY: buf is a live slice.
    let n = check(unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) } as libc::c_long)?;
    if n as usize == buf.len() {
        Ok(())
    } else {
        Err(libc::EIO)
    }
}

/// Makes `target` a copy of `fd`, without close-on-exec.
pub fn dup2(fd: libc::c_int, target: libc::c_int) -> Result<(), i32> {
    // SAFETY: dup3 only manipulates the fd table; target is one of stdio.
    check(unsafe { libc::dup3(fd, target, 0) }.into()).map(drop)
}

/// Closes an fd we own.
pub fn close(fd: libc::c_int) {
    // SAFETY: the caller owns fd and does not use it afterwards.
    unsafe { libc::close(fd) };
}

/// Whether `fd` is an open file descriptor of this process.
pub fn is_open(fd: libc::c_int) -> bool {
    // SAFETY: F_GETFD only reads the descriptor flags of fd, if it is open.
    unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
}

/// A close-on-exec duplicate of `fd` at the lowest free number at or above `min`.
pub fn dup_from(fd: std::os::fd::BorrowedFd<'_>, min: libc::c_int) -> Result<std::os::fd::OwnedFd, i32> {
    use std::os::fd::{AsRawFd, FromRawFd};
    // SAFETY: F_DUPFD_CLOEXEC duplicates an fd the caller holds into a new one.
    let new = check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, min) }.into())?;
    // SAFETY: new is a fresh fd that nothing else owns.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(new as libc::c_int) })
}

/// A pipe, both ends close-on-exec: `(read, write)`.
pub fn pipe() -> Result<(libc::c_int, libc::c_int), i32> {
    let mut fds = [-1; 2];
    // SAFETY: pipe2 writes two fds into the array of two ints it is given.
    check(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }.into())?;
    Ok((fds[0], fds[1]))
}

/// Copies the calling process like fork(2), as a child of the caller's parent (`CLONE_PARENT`):
/// `Some((pid, pidfd))` in the caller, the new process's pid in the caller's pid namespace and a
/// pidfd naming it (`CLONE_PIDFD`), and `None` in the new process. It is created in the pid
/// namespace the caller set for its children; its exit signal is the caller's.
///
/// Only for the init (or an exec's first child), a copy of one thread: the new process is a
/// whole copy of a single-threaded process, as after fork(2) with no other threads.
///
/// Runs in the child: no allocation, no locks.
pub fn clone_sibling() -> Result<Option<(libc::pid_t, std::os::fd::OwnedFd)>, i32> {
    let mut pidfd: libc::c_int = -1;
    let flags = (libc::CLONE_PARENT | libc::CLONE_PIDFD | libc::SIGCHLD) as libc::c_ulong;
    // SAFETY: the classic clone without CLONE_VM and with a null stack behaves like fork: the new
    // process gets its own copy of this single-threaded address space. CLONE_PIDFD stores the
    // pidfd through the parent_tid argument (the third on every architecture), which points at
    // pidfd; the child-tid and tls arguments are unused without their flags.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone,
            flags,
            std::ptr::null_mut::<libc::c_void>(),
            &raw mut pidfd,
            std::ptr::null_mut::<libc::c_int>(),
            0 as libc::c_ulong,
        )
    };
    match check(ret)? {
        0 => Ok(None),
        // SAFETY: the kernel stored a new pidfd, close-on-exec, that nothing else owns.
        pid => Ok(Some((pid as libc::pid_t, unsafe {
            <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(pidfd)
        }))),
    }
}

/// Changes the working directory.
pub fn chdir(path: &CStr) -> Result<(), i32> {
    // SAFETY: path is NUL-terminated.
    check(unsafe { libc::chdir(path.as_ptr()) }.into()).map(drop)
}

/// Changes the working directory to the directory `fd` refers to.
pub fn fchdir(fd: std::os::fd::BorrowedFd<'_>) -> Result<(), i32> {
    // SAFETY: fchdir only takes an open fd.
    check(unsafe { libc::fchdir(std::os::fd::AsRawFd::as_raw_fd(&fd)) }.into()).map(drop)
}

/// Changes the root directory to `path`.
pub fn chroot(path: &CStr) -> Result<(), i32> {
    // SAFETY: path is NUL-terminated.
    check(unsafe { libc::chroot(path.as_ptr()) }.into()).map(drop)
}

/// Whether this process is not root (euid != 0): it writes id maps as an unprivileged user.
pub fn unprivileged() -> bool {
    // SAFETY: geteuid cannot fail and touches no memory.
    unsafe { libc::geteuid() != 0 }
}

/// This process's effective uid and gid.
pub fn effective_ids() -> (libc::uid_t, libc::gid_t) {
    // SAFETY: geteuid and getegid cannot fail and touch no memory.
    unsafe { (libc::geteuid(), libc::getegid()) }
}

/// Sets the supplementary groups.
pub fn setgroups(groups: &[libc::gid_t]) -> Result<(), i32> {
    // SAFETY: the pointer and length describe a live slice (the raw syscall, so
    // glibc does not try to broadcast it to other threads).
    check(unsafe { libc::syscall(libc::SYS_setgroups, groups.len(), groups.as_ptr()) }).map(drop)
}

/// Sets real, effective and saved gid (raw syscall: this thread only, no glibc broadcast).
pub fn setresgid(gid: libc::gid_t) -> Result<(), i32> {
    // SAFETY: integer arguments only.
    check(unsafe { libc::syscall(libc::SYS_setresgid, gid, gid, gid) }).map(drop)
}

/// Sets real, effective and saved uid (raw syscall: this thread only, no glibc broadcast).
pub fn setresuid(uid: libc::uid_t) -> Result<(), i32> {
    // SAFETY: integer arguments only.
    check(unsafe { libc::syscall(libc::SYS_setresuid, uid, uid, uid) }).map(drop)
}

/// Sets the file mode creation mask.
pub fn umask(mask: libc::mode_t) {
    // SAFETY: umask cannot fail.
    unsafe { libc::umask(mask) };
}

/// Sets a resource limit of this process.
pub fn setrlimit(resource: libc::c_int, soft: u64, hard: u64) -> Result<(), i32> {
    let lim = libc::rlimit64 {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: lim is a valid rlimit64; a null old-limit pointer is allowed.
    check(unsafe {
        libc::syscall(
            libc::SYS_prlimit64,
            0,
            resource,
            &lim,
            std::ptr::null_mut::<libc::rlimit64>(),
        )
    })
    .map(drop)
}

/// Marks every fd from `first` up as close-on-exec.
pub fn cloexec_from(first: libc::c_uint) -> Result<(), i32> {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets flags on fds.
    check(unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            libc::c_uint::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    })
    .map(drop)
}

/// Closes every fd from `first` up except those in `keep` (sorted).
pub fn close_all_but(first: libc::c_uint, keep: &[libc::c_uint]) -> Result<(), i32> {
    let close_range = |lo: libc::c_uint, hi: libc::c_uint| {
        // SAFETY: close_range only closes fds; the ones we need are outside [lo, hi].
        check(unsafe { libc::syscall(libc::SYS_close_range, lo, hi, 0) }).map(drop)
    };
    let mut next = first;
    for &fd in keep {
        if fd > next {
            close_range(next, fd - 1)?;
        }
        next = next.max(fd.saturating_add(1));
    }
    close_range(next, libc::c_uint::MAX)
}

/// Closes the fds in `fds` and empties it: one close_range per run of consecutive numbers
/// (the fds of a message come in order, mostly in one run), a close for each fd where
/// close_range is missing.
///
/// Runs in the child: no allocation, no locks.
pub fn close_fds(fds: &mut [Option<std::os::fd::OwnedFd>]) {
    use std::os::fd::IntoRawFd;
    let mut run: Option<(libc::c_int, libc::c_int)> = None;
    let close_run = |lo: libc::c_int, hi: libc::c_int| {
        // SAFETY: closes [lo, hi], fds this function took out of their OwnedFds just now.
        if unsafe { libc::syscall(libc::SYS_close_range, lo as libc::c_uint, hi as libc::c_uint, 0) } != 0 {
            for fd in lo..=hi {
                close(fd);
            }
        }
    };
    for fd in fds.iter_mut().filter_map(Option::take).map(IntoRawFd::into_raw_fd) {
        run = match run {
            Some((lo, hi)) if fd == hi + 1 => Some((lo, fd)),
            Some((lo, hi)) => {
                close_run(lo, hi);
                Some((fd, fd))
            }
            None => Some((fd, fd)),
        };
    }
    if let Some((lo, hi)) = run {
        close_run(lo, hi);
    }
}

/// Clears close-on-exec on one fd so it survives exec (preserved fds, stdio).
pub fn clear_cloexec(fd: libc::c_int) -> Result<(), i32> {
    // SAFETY: F_SETFD with 0 only clears the descriptor flags.
    check(unsafe { libc::fcntl(fd, libc::F_SETFD, 0) }.into()).map(drop)
}

/// Whether `path` names a regular file this process may execute, by its effective ids and
/// capabilities as execve judges (access(2) would take the real ids and drop the capabilities
/// of a non-root user, refusing a program only CAP_DAC_OVERRIDE reaches).
pub fn is_executable(path: &CStr) -> Result<(), i32> {
    // SAFETY: a zeroed stat is a valid out-parameter.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: path is NUL-terminated and st is writable.
    check(unsafe { libc::stat(path.as_ptr(), &mut st) }.into())?;
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err(libc::EACCES);
    }
    // SAFETY: path is NUL-terminated.
    check(unsafe { libc::faccessat(libc::AT_FDCWD, path.as_ptr(), libc::X_OK, libc::AT_EACCESS) }.into()).map(drop)
}

/// Replaces this process image. Returns only on failure.
pub fn execve(path: &CStr, argv: &[*const libc::c_char], envp: &[*const libc::c_char]) -> i32 {
    // SAFETY: argv and envp are NULL-terminated arrays of pointers into CStrings
    // that the plan owns and that outlive this call.
    unsafe { libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    errno()
}

/// The kernel's capability header and data for capset, version 3.
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}
#[repr(C)]
#[derive(Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// Sets the effective, permitted and inheritable capability sets (64-bit masks).
pub fn capset(effective: u64, permitted: u64, inheritable: u64) -> Result<(), i32> {
    let mut header = CapHeader {
        version: 0x2008_0522,
        pid: 0,
    };
    let data = [
        CapData {
            effective: effective as u32,
            permitted: permitted as u32,
            inheritable: inheritable as u32,
        },
        CapData {
            effective: (effective >> 32) as u32,
            permitted: (permitted >> 32) as u32,
            inheritable: (inheritable >> 32) as u32,
        },
    ];
    // SAFETY: header and data have the layout of _LINUX_CAPABILITY_VERSION_3.
    check(unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) }).map(drop)
}

/// Sets the I/O priority of this process (`ioprio_set(IOPRIO_WHO_PROCESS, 0, value)`).
pub fn ioprio_set(value: libc::c_int) -> Result<(), i32> {
    const IOPRIO_WHO_PROCESS: libc::c_int = 1;
    // SAFETY: integer arguments only; who 0 is the calling process.
    check(unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, value) }).map(drop)
}

/// The kernel's `struct sched_attr` (SCHED_ATTR_SIZE_VER1, with the utilisation clamps).
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

/// Sets the scheduling policy and attributes of this thread.
pub fn sched_setattr(attr: &SchedAttr) -> Result<(), i32> {
    // SAFETY: attr is a live sched_attr whose size field says how much the kernel may read.
    check(unsafe { libc::syscall(libc::SYS_sched_setattr, 0, attr as *const SchedAttr, 0) }).map(drop)
}

/// Sets the CPU affinity of process `pid` (0: this thread).
pub fn sched_setaffinity(pid: libc::pid_t, set: &libc::cpu_set_t) -> Result<(), i32> {
    // SAFETY: set is a live cpu_set_t of the size passed.
    check(unsafe { libc::sched_setaffinity(pid, std::mem::size_of::<libc::cpu_set_t>(), set) }.into()).map(drop)
}

/// Sets the NUMA memory policy of this thread: `mode` with its flags, the node mask `nodes`
/// of which the kernel reads `max_node - 1` bits.
pub fn set_mempolicy(mode: libc::c_int, nodes: &[libc::c_ulong], max_node: libc::c_ulong) -> Result<(), i32> {
    if (max_node.saturating_sub(1)) as usize > nodes.len() * libc::c_ulong::BITS as usize {
        return Err(libc::EINVAL);
    }
    // SAFETY: nodes holds at least max_node - 1 bits, all the kernel reads.
    check(unsafe { libc::syscall(libc::SYS_set_mempolicy, mode, nodes.as_ptr(), max_node) }).map(drop)
}

/// Sets the execution domain of this process.
pub fn personality(persona: libc::c_ulong) -> Result<(), i32> {
    // SAFETY: an integer argument only; the old persona is returned, or -1 with errno.
    check(unsafe { libc::syscall(libc::SYS_personality, persona) }).map(drop)
}

/// Gives every signal its default disposition and unblocks them all, as a process the
/// runtime execs must start: what the runtime ignores (SIGPIPE, in any Rust program) would
/// otherwise stay ignored across exec, and a handler must not run in the child.
///
/// Only the signals that are not at their default are touched: the ignored and the caught
/// ones, which `/proc/self/status` lists (`SigIgn`, `SigCgt`); usually three, where asking
/// the kernel about each of the 64 is 62 system calls. Without that file, every signal is
/// reset. Handlers go first and the mask last, so that no blocked signal reaches a handler.
///
/// Runs in the child: no allocation, no locks.
pub fn reset_signals() -> Result<(), i32> {
    let touched = non_default_signals().unwrap_or(u64::MAX);
    // The kernel's struct sigaction, all zero: handler SIG_DFL, no flags, empty mask (the
    // raw call, since libc refuses the real-time signals it reserves for itself).
    let default = [0u64; 4];
    for sig in 1..=64 {
        if touched & (1u64 << (sig - 1)) != 0 && sig != libc::SIGKILL && sig != libc::SIGSTOP {
            // SAFETY: rt_sigaction reads a zeroed kernel sigaction (SIG_DFL) of the size
            // the kernel expects for an 8-byte signal set; the old action is not asked for.
            unsafe {
                libc::syscall(
                    libc::SYS_rt_sigaction,
                    sig,
                    default.as_ptr(),
                    std::ptr::null_mut::<u64>(),
                    8,
                )
            };
        }
    }
    // SAFETY: a zeroed sigset_t emptied by sigemptyset is a valid empty set.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: set is a sigset_t we own.
    unsafe { libc::sigemptyset(&mut set) };
    // SAFETY: setting the mask of this thread to the empty set.
    check(unsafe { libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut()) }.into())?;
    Ok(())
}

/// The signals (bit n-1 for signal n) this process ignores or catches, from the `SigIgn` and
/// `SigCgt` lines of `/proc/self/status`; `None` when they cannot be read.
///
/// Runs in the child: no allocation, no locks.
fn non_default_signals() -> Option<u64> {
    let mut buf = [0u8; 4096];
    let text = read_self_status(&mut buf)?;
    Some(status_mask(text, b"SigIgn:")? | status_mask(text, b"SigCgt:")?)
}

/// `/proc/self/status` read into `buf` (it is shorter than 4 KiB); `None` when it cannot be
/// opened.
///
/// Runs in the child: no allocation, no locks.
fn read_self_status(buf: &mut [u8; 4096]) -> Option<&[u8]> {
    // SAFETY: a NUL-terminated path; the fd is closed below.
    let fd = unsafe { libc::open(c"/proc/self/status".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return None;
    }
    let mut len = 0;
    while let Some(rest) = buf.get_mut(len..).filter(|r| !r.is_empty()) {
        // SAFETY: reads into the unfilled part of a stack buffer of the given length.
        let n = unsafe { libc::read(fd, rest.as_mut_ptr().cast(), rest.len()) };
        if n <= 0 {
            break;
        }
        len += n as usize;
    }
    // SAFETY: fd was opened above and is closed once.
    unsafe { libc::close(fd) };
    buf.get(..len)
}

/// The hexadecimal mask after `key` at the start of a line of `/proc/<pid>/status`.
///
/// Runs in the child: no allocation, no locks.
fn status_mask(text: &[u8], key: &[u8]) -> Option<u64> {
    let mut lines = text.split(|b| *b == b'\n');
    let line = lines.find(|l| l.starts_with(key))?;
    let hex = line.get(key.len()..)?.trim_ascii();
    if hex.is_empty() || hex.len() > 16 {
        return None;
    }
    hex.iter()
        .try_fold(0u64, |acc, b| Some(acc << 4 | u64::from(char::from(*b).to_digit(16)?)))
}

/// openat2(2) of `name` below `dirfd` with `RESOLVE_*` flags.
pub fn openat2(dirfd: BorrowedFd<'_>, name: &CStr, flags: libc::c_int, resolve: u64) -> Result<OwnedFd, i32> {
    // SAFETY: open_how is plain data; zeroed is a valid starting value.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (flags | libc::O_CLOEXEC) as u64;
    how.resolve = resolve;
    loop {
        // SAFETY: name is NUL-terminated and how is a valid open_how whose size is passed.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dirfd.as_raw_fd(),
                name.as_ptr(),
                &raw const how,
                std::mem::size_of::<libc::open_how>(),
            )
        };
        if fd < 0 && errno() == libc::EINTR {
            continue;
        }
        // SAFETY: the fd is new and nothing else owns it.
        return check(fd).map(|fd| unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) });
    }
}

/// The file system type (`statfs.f_type`, a `*_SUPER_MAGIC`) of the file behind `fd`.
pub fn fs_type(fd: BorrowedFd<'_>) -> Result<libc::c_long, i32> {
    // SAFETY: a zeroed statfs is a valid out-parameter.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: st is writable and fd is open.
    check(unsafe { libc::fstatfs(fd.as_raw_fd(), &mut st) }.into())?;
    Ok(st.f_type as libc::c_long)
}

/// Whether the file behind `fd` is on a devpts file system.
pub fn is_devpts(fd: BorrowedFd<'_>) -> Result<bool, i32> {
    Ok(fs_type(fd)? == libc::DEVPTS_SUPER_MAGIC as libc::c_long)
}

/// The `stat` of the file behind `fd` (an `O_PATH` fd included).
pub fn fstat(fd: libc::c_int) -> Result<libc::stat, i32> {
    // SAFETY: a zeroed stat is a valid out-parameter.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    let flags = libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW;
    // SAFETY: st is writable; an empty path with AT_EMPTY_PATH names fd itself.
    let ret = unsafe { libc::fstatat(fd, c"".as_ptr(), &mut st, flags) };
    check(ret.into())?;
    Ok(st)
}

/// Reads the symlink `name` below `dirfd` into `buf`; returns its length (ENAMETOOLONG when
/// `buf` may have cut it short).
pub fn readlinkat(dirfd: libc::c_int, name: &CStr, buf: &mut [u8]) -> Result<usize, i32> {
    // SAFETY: name is NUL-terminated; buf is a live, writable slice of the given length.
    let n =
        check(unsafe { libc::readlinkat(dirfd, name.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) } as libc::c_long)?
            as usize;
    if n >= buf.len() { Err(libc::ENAMETOOLONG) } else { Ok(n) }
}

/// The working directory as the kernel's getcwd(2) reports it, into `buf`; returns its
/// length without the NUL. A directory outside this process's root comes back as
/// "(unreachable)/...", one that is gone as ENOENT.
pub fn getcwd(buf: &mut [u8]) -> Result<usize, i32> {
    // SAFETY: the raw system call writes at most buf.len() bytes into buf (glibc's wrapper
    // would turn "(unreachable)" into ENOENT, and allocates when asked to).
    let n = check(unsafe { libc::syscall(libc::SYS_getcwd, buf.as_mut_ptr(), buf.len()) })? as usize;
    Ok(n.saturating_sub(1))
}

/// Checks that the working directory is inside this process's root, as runc's verifyCwd: the
/// kernel's getcwd reports one outside it as "(unreachable)/..." and one that is gone as
/// ENOENT. Either is ENOENT here.
///
/// Runs in the child: no allocation, no locks.
pub fn verify_cwd() -> Result<(), i32> {
    let mut buf = [0u8; libc::PATH_MAX as usize];
    let len = getcwd(&mut buf)?;
    match buf.get(..len) {
        Some([b'/', ..]) => Ok(()),
        _ => Err(libc::ENOENT),
    }
}

/// Waits until `fd` is readable or hung up (poll(2) with no timeout); returns its `revents`.
pub fn poll_in(fd: libc::c_int) -> Result<libc::c_short, i32> {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    loop {
        // SAFETY: pfd is one live pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, -1) };
        if n < 0 && errno() == libc::EINTR {
            continue;
        }
        check(n.into())?;
        return Ok(pfd.revents);
    }
}

/// Reads into `buf` from `fd`; returns how many bytes came (0: end of file).
pub fn read(fd: libc::c_int, buf: &mut [u8]) -> Result<usize, i32> {
    // SAFETY: buf is a live, writable slice of the given length.
    check(unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) } as libc::c_long).map(|n| n as usize)
}

/// The procfs the init writes through: the runtime's own `/proc`, opened and verified (the
/// root of a procfs) before any container mount exists, so that no mount of the container's
/// can redirect a write (CVE-2025-52881). Every file is opened beneath it with `openat2`,
/// following no symlink, magic link or mount; `self` is read once, as the number it stands
/// for. It is the only way the init writes to procfs, and it is closed before the container's
/// filesystem is in place (CVE-2024-21626).
///
/// Runs in the child: no allocation, no locks.
pub struct ProcFs {
    fd: std::os::fd::OwnedFd,
    /// This process's pid in this procfs's pid namespace, as `self` reads.
    pid: [u8; 12],
    pid_len: usize,
}

/// Why [`ProcFs::open`] failed: the part that did, and the errno.
pub type ProcFsError = (ProcFsStep, i32);

/// The parts of [`ProcFs::open`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum ProcFsStep {
    /// Opening `/proc`.
    Open,
    /// Checking that it is a procfs (fstatfs), and its root (inode 1).
    Verify,
    /// Reading its `self` link.
    ReadSelf,
}

impl ProcFs {
    /// Where `/proc` is: the runtime's own mount namespace's, before any container mount.
    const PATH: &CStr = c"/proc";
    /// The inode number of a procfs's root directory.
    const ROOT_INO: u64 = 1;
    /// What every lookup beneath it refuses: leaving it, crossing a mount, any symlink.
    const RESOLVE: u64 =
        libc::RESOLVE_BENEATH | libc::RESOLVE_NO_XDEV | libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS;

    /// Opens `/proc` and checks that it is the root of a procfs.
    ///
    /// Runs in the child: no allocation, no locks.
    pub fn open() -> Result<ProcFs, ProcFsError> {
        let raw = openat(
            libc::AT_FDCWD,
            Self::PATH,
            libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW,
        )
        .map_err(|e| (ProcFsStep::Open, e))?;
        // SAFETY: raw is a new fd that nothing else owns.
        let fd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw) };
        let is_proc =
            fs_type(fd.as_fd()).map_err(|e| (ProcFsStep::Verify, e))? == libc::PROC_SUPER_MAGIC as libc::c_long;
        let is_root = fstat(raw).map_err(|e| (ProcFsStep::Verify, e))?.st_ino == Self::ROOT_INO;
        if !is_proc || !is_root {
            return Err((ProcFsStep::Verify, libc::EXDEV));
        }
        let mut pid = [0u8; 12];
        let pid_len = readlinkat(raw, c"self", &mut pid).map_err(|e| (ProcFsStep::ReadSelf, e))?;
        // A pid is digits: anything else would make its paths lead elsewhere.
        match pid.get(..pid_len) {
            Some(digits) if !digits.is_empty() && digits.iter().all(u8::is_ascii_digit) => {}
            _ => return Err((ProcFsStep::ReadSelf, libc::EINVAL)),
        }
        Ok(ProcFs { fd, pid, pid_len })
    }

    /// Writes `content` in one write(2) to `path`, relative to the procfs root
    /// (`sys/kernel/shmmax`).
    ///
    /// Runs in the child: no allocation, no locks.
    pub fn write(&self, path: &CStr, content: &[u8]) -> Result<(), i32> {
        let fd = openat2(self.fd.as_fd(), path, libc::O_WRONLY | libc::O_NOFOLLOW, Self::RESOLVE)?;
        write(fd.as_raw_fd(), content)
    }

    /// Writes `content` in one write(2) to `name` in this process's own directory, what
    /// `/proc/self/<name>` is (`oom_score_adj`, `attr/exec`).
    ///
    /// Runs in the child: no allocation, no locks.
    pub fn write_self(&self, name: &CStr, content: &[u8]) -> Result<(), i32> {
        let mut buf = [0u8; 128];
        let pid = self.pid.get(..self.pid_len).unwrap_or_default();
        let name = name.to_bytes_with_nul();
        let path = buf.get_mut(..pid.len() + 1 + name.len()).ok_or(libc::ENAMETOOLONG)?;
        let (head, tail) = path.split_at_mut(pid.len());
        head.copy_from_slice(pid);
        let Some((slash, rest)) = tail.split_first_mut() else {
            return Err(libc::EINVAL);
        };
        *slash = b'/';
        rest.copy_from_slice(name);
        self.write(CStr::from_bytes_with_nul(path).map_err(|_| libc::EINVAL)?, content)
    }
}

/// Unlocks the peer of a pty master (TIOCSPTLCK 0), as unlockpt(3) does.
pub fn unlock_pty(master: BorrowedFd<'_>) -> Result<(), i32> {
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads one int from the pointer, which lives across the call.
    check(unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &raw const unlock) }.into()).map(drop)
}

/// Sets a terminal's window size (TIOCSWINSZ).
pub fn set_winsize(fd: BorrowedFd<'_>, rows: u16, cols: u16) -> Result<(), i32> {
    let size = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize from the pointer, which lives across the call.
    check(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &raw const size) }.into()).map(drop)
}

/// Opens the peer (slave) of a pty master without a path lookup (TIOCGPTPEER).
pub fn pty_peer(master: BorrowedFd<'_>, flags: libc::c_int) -> Result<OwnedFd, i32> {
    // SAFETY: TIOCGPTPEER takes open flags as an integer and returns a new fd.
    let fd = check(
        unsafe {
            libc::ioctl(
                master.as_raw_fd(),
                libc::TIOCGPTPEER,
                flags | libc::O_CLOEXEC | libc::O_NOCTTY,
            )
        }
        .into(),
    )?;
    // SAFETY: the fd is new and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) })
}

/// Starts a new session with this process as its leader.
pub fn setsid() -> Result<(), i32> {
    // SAFETY: setsid takes no arguments.
    check(unsafe { libc::setsid() }.into()).map(drop)
}

/// Makes the terminal behind `fd` the controlling terminal of this session (TIOCSCTTY).
pub fn set_controlling_tty(fd: BorrowedFd<'_>) -> Result<(), i32> {
    // SAFETY: TIOCSCTTY takes an integer (0: do not steal it from another session).
    check(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSCTTY, 0 as libc::c_int) }.into()).map(drop)
}

/// Changes the owner of the file behind `fd`; `u32::MAX` leaves the group as it is.
pub fn fchown(fd: BorrowedFd<'_>, uid: libc::uid_t, gid: libc::gid_t) -> Result<(), i32> {
    // SAFETY: integer arguments only.
    check(unsafe { libc::fchown(fd.as_raw_fd(), uid, gid) }.into()).map(drop)
}

/// mkfifo(3): a fifo at `path` with `mode`.
pub fn mkfifo(path: &CStr, mode: libc::mode_t) -> Result<(), i32> {
    // SAFETY: path is NUL-terminated; mkfifo only creates a node.
    check(unsafe { libc::mkfifo(path.as_ptr(), mode) }.into()).map(drop)
}

/// The soft RLIMIT_NOFILE of this process.
pub fn nofile_limit() -> Result<u64, i32> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: lim is a writable rlimit.
    check(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }.into())?;
    Ok(lim.rlim_cur)
}

/// A pair of connected `SOCK_SEQPACKET` unix sockets, close-on-exec.
pub fn seqpacket_pair() -> Result<(OwnedFd, OwnedFd), i32> {
    let mut fds = [0; 2];
    let flags = libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC;
    // SAFETY: fds is a writable array of two ints.
    let ret = unsafe { libc::socketpair(libc::AF_UNIX, flags, 0, fds.as_mut_ptr()) };
    check(ret.into())?;
    // SAFETY: both fds are new and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Blocks until `a` or `b` is readable or has an event (EINTR is retried); returns both
/// `revents`.
pub fn poll_either(a: BorrowedFd<'_>, b: BorrowedFd<'_>) -> Result<(libc::c_short, libc::c_short), i32> {
    let mut fds = [a, b].map(|fd| libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    });
    loop {
        // SAFETY: fds is an array of two valid pollfds, whose length is passed.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if n >= 0 {
            return Ok((fds[0].revents, fds[1].revents));
        }
        if errno() != libc::EINTR {
            return Err(errno());
        }
    }
}

/// What a binary with `#![no_main]` needs of Rust's start-up, first thing in its `main`:
/// SIGPIPE ignored (a closed pipe is then an EPIPE error, not a silent death), and fds 0, 1
/// and 2 open, on /dev/null when they are not, so that no file the process opens takes their
/// place. One poll and one rt_sigaction when all is well.
pub fn process_start() {
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    });
    // SAFETY: poll reads and writes the three pollfds of the array, whose length is passed.
    let polled = unsafe { libc::poll(fds.as_mut_ptr(), 3, 0) };
    for pfd in fds {
        let closed = if polled < 0 {
            // Without poll (it failed), ask each fd directly.
            // SAFETY: F_GETFD only reads the flags of an fd number.
            let flags = unsafe { libc::fcntl(pfd.fd, libc::F_GETFD) };
            flags < 0
        } else {
            pfd.revents & libc::POLLNVAL != 0
        };
        if closed {
            // The lowest free number is this one: every lower one is open by now.
            // SAFETY: a NUL-terminated path; the new fd is left open on purpose, as stdio.
            unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
        }
    }
    // SAFETY: sets the disposition of one signal to SIG_IGN; no handler code is involved.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
}

/// Now, in clock ticks since boot: the clock of the start times in `/proc/<pid>/stat`
/// (CLOCK_BOOTTIME, read through the vDSO: no system call).
pub fn boot_ticks_now() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: ts is a writable timespec; CLOCK_BOOTTIME always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    // SAFETY: sysconf only reads a constant.
    let hz = u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) })
        .unwrap_or(100)
        .max(1);
    (ts.tv_sec as u64) * hz + (ts.tv_nsec as u64) * hz / 1_000_000_000
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `check` in a forked child (single-threaded: no other thread of the test binary
    /// can reuse an fd number or see a disposition change) and asserts it returned true.
    fn in_forked_child(check: impl FnOnce() -> bool) {
        // SAFETY: the child only makes raw system calls and _exit()s; the parent waits for it.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            let ok = check();
            // SAFETY: ends the forked child without running the test harness's exit code.
            unsafe { libc::_exit(i32::from(!ok)) };
        }
        assert!(pid > 0, "fork");
        let mut status = 0;
        // SAFETY: waits for our own child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "status {status:#x}"
        );
    }

    #[test]
    fn process_start_reopens_closed_stdio_and_ignores_sigpipe() {
        in_forked_child(|| {
            // SAFETY: closes this child's fds 1 and 2, and restores SIGPIPE's default.
            unsafe {
                libc::close(1);
                libc::close(2);
                libc::signal(libc::SIGPIPE, libc::SIG_DFL);
            }
            process_start();
            let mut buf = [0u8; 64];
            // SAFETY: readlink of this child's own fd into a stack buffer; F_GETFD reads flags.
            unsafe {
                let n = libc::readlink(c"/proc/self/fd/1".as_ptr(), buf.as_mut_ptr().cast(), buf.len());
                let mut old: libc::sigaction = std::mem::zeroed();
                libc::sigaction(libc::SIGPIPE, std::ptr::null(), &mut old);
                buf.get(..n.max(0) as usize) == Some(b"/dev/null".as_slice())
                    && libc::fcntl(2, libc::F_GETFD) >= 0
                    && old.sa_sigaction == libc::SIG_IGN
            }
        });
    }

    #[test]
    fn close_fds_closes_every_fd_in_runs() {
        in_forked_child(|| {
            // SAFETY: opens /dev/null (fds this child owns) and checks fd numbers with F_GETFD.
            unsafe {
                let open = || std::os::fd::FromRawFd::from_raw_fd(libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY));
                // Three fds in a row, then one kept open, then one more: two runs.
                let mut fds: [Option<std::os::fd::OwnedFd>; 4] = [Some(open()), Some(open()), Some(open()), None];
                let kept: std::os::fd::OwnedFd = open();
                fds[3] = Some(open());
                let raw = fds
                    .each_ref()
                    .map(|f| f.as_ref().map_or(-1, std::os::fd::AsRawFd::as_raw_fd));
                close_fds(&mut fds);
                fds.iter().all(Option::is_none)
                    && raw.iter().all(|fd| libc::fcntl(*fd, libc::F_GETFD) == -1)
                    && libc::fcntl(std::os::fd::AsRawFd::as_raw_fd(&kept), libc::F_GETFD) >= 0
            }
        });
    }

    #[test]
    fn procfs_writes_this_process_s_own_files() {
        in_forked_child(|| {
            let Ok(procfs) = ProcFs::open() else { return false };
            let written = procfs.write_self(c"oom_score_adj", b"17").is_ok();
            let now = std::fs::read_to_string("/proc/self/oom_score_adj").unwrap_or_default();
            written && now.trim() == "17"
        });
    }

    #[test]
    fn procfs_follows_no_symlink() {
        in_forked_child(|| {
            let Ok(procfs) = ProcFs::open() else { return false };
            // `self` and `mounts` are symlinks in every procfs.
            procfs.write(c"self/oom_score_adj", b"17") == Err(libc::ELOOP)
                && procfs.write(c"mounts", b"x") == Err(libc::ELOOP)
                && procfs.write(c"../etc/passwd", b"x") == Err(libc::EXDEV)
        });
    }

    /// In a forked child with a private mount namespace (the host's mounts stay as they are).
    fn in_private_mounts(check: impl FnOnce() -> bool) {
        in_forked_child(|| {
            // SAFETY: unshare and mount with constant arguments, in this forked child only.
            let private = unsafe {
                libc::unshare(libc::CLONE_NEWNS) == 0
                    && libc::mount(
                        c"none".as_ptr(),
                        c"/".as_ptr(),
                        std::ptr::null(),
                        libc::MS_REC | libc::MS_PRIVATE,
                        std::ptr::null(),
                    ) == 0
            };
            private && check()
        });
    }

    #[test]
    fn procfs_writes_are_not_redirected_by_a_mount_over_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let decoy = dir.path().join("decoy");
        std::fs::write(&decoy, "unchanged").unwrap();
        let decoy = std::ffi::CString::new(decoy.as_os_str().as_encoded_bytes()).unwrap();
        in_private_mounts(|| {
            // SAFETY: a bind mount in this child's own mount namespace.
            let bound = unsafe {
                libc::mount(
                    decoy.as_ptr(),
                    c"/proc/self/oom_score_adj".as_ptr(),
                    std::ptr::null(),
                    libc::MS_BIND,
                    std::ptr::null(),
                )
            } == 0;
            let Ok(procfs) = ProcFs::open() else { return false };
            bound && procfs.write_self(c"oom_score_adj", b"17") == Err(libc::EXDEV)
        });
        assert_eq!(std::fs::read_to_string(dir.path().join("decoy")).unwrap(), "unchanged");
    }

    #[test]
    fn procfs_is_refused_where_proc_is_not_a_procfs_root() {
        in_private_mounts(|| {
            // SAFETY: mounts in this child's own mount namespace.
            let tmpfs = unsafe {
                libc::mount(
                    c"tmpfs".as_ptr(),
                    c"/proc".as_ptr(),
                    c"tmpfs".as_ptr(),
                    0,
                    std::ptr::null(),
                )
            } == 0;
            let refused = matches!(ProcFs::open(), Err((ProcFsStep::Verify, libc::EXDEV)));
            // A procfs directory bound on /proc is a procfs, but not its root.
            // SAFETY: as above.
            let sys = unsafe {
                libc::umount2(c"/proc".as_ptr(), libc::MNT_DETACH) == 0
                    && libc::mount(
                        c"/proc/sys".as_ptr(),
                        c"/proc".as_ptr(),
                        std::ptr::null(),
                        libc::MS_BIND,
                        std::ptr::null(),
                    ) == 0
            };
            tmpfs && refused && sys && matches!(ProcFs::open(), Err((ProcFsStep::Verify, libc::EXDEV)))
        });
    }

    #[test]
    fn a_cwd_outside_the_root_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::ffi::CString::new(dir.path().as_os_str().as_encoded_bytes()).unwrap();
        in_forked_child(|| {
            let inside = verify_cwd().is_ok();
            // SAFETY: chroot to a directory of this test while the cwd stays where it was, in
            // this forked child only.
            let chrooted = unsafe { libc::chroot(root.as_ptr()) } == 0;
            inside && chrooted && verify_cwd() == Err(libc::ENOENT)
        });
    }

    #[test]
    fn status_masks_are_read_from_their_lines() {
        let text = b"Name:\tx\nSigQ:\t0/1\nSigPnd:\t0000000000000000\nSigBlk:\t0000000000010000\nSigIgn:\t0000000000001000\nSigCgt:\t0000000180000100\n";
        assert_eq!(status_mask(text, b"SigIgn:"), Some(0x1000));
        assert_eq!(status_mask(text, b"SigCgt:"), Some(0x1_8000_0100));
        assert_eq!(status_mask(text, b"SigX:"), None);
        assert_eq!(status_mask(b"SigIgn:\tzz\n", b"SigIgn:"), None);
        assert_eq!(status_mask(b"SigIgn:\t\n", b"SigIgn:"), None);
    }

    #[test]
    fn a_reset_leaves_no_signal_ignored_caught_or_blocked() {
        extern "C" fn handler(_: libc::c_int) {}
        in_forked_child(|| {
            // SAFETY: setting dispositions and the mask of this single-threaded child.
            unsafe {
                libc::signal(libc::SIGPIPE, libc::SIG_IGN);
                libc::signal(libc::SIGUSR1, handler as *const () as libc::sighandler_t);
                libc::signal(libc::SIGRTMIN() + 3, handler as *const () as libc::sighandler_t);
                let mut set: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut set);
                libc::sigaddset(&mut set, libc::SIGUSR2);
                libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            }
            let before = non_default_signals();
            let after = reset_signals().ok().and_then(|()| non_default_signals());
            let mut buf = [0u8; 4096];
            let blocked = read_self_status(&mut buf).and_then(|text| status_mask(text, b"SigBlk:"));
            let expected_before =
                (1u64 << (libc::SIGPIPE - 1)) | (1 << (libc::SIGUSR1 - 1)) | (1 << (libc::SIGRTMIN() + 3 - 1));
            matches!((before, after, blocked), (Some(b), Some(0), Some(0)) if b & expected_before == expected_before)
        });
    }
}
