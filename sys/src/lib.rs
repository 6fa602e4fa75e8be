//! The one system-call layer of ocirun: every crate of the workspace makes its system calls
//! through these wrappers, one definition of each.
//!
//! - Each wrapper makes one system call (a few make a short, fixed sequence, said in their
//!   docs) on borrowed, prepared data. Those the container's init uses between clone and exec
//!   allocate nothing, take no lock and never panic; they return the errno ([`SysResult`]),
//!   a plain `i32`, so that a failure can travel to the parent in a fixed-size message. The
//!   few wrappers that only the parent uses return [`std::io::Result`], as the parent's error
//!   types take it.
//! - File descriptors are typed: [`std::os::fd::OwnedFd`] for what a call returns,
//!   [`std::os::fd::BorrowedFd`] for what it takes.
//! - The system calls' `unsafe` blocks are here, each with its `// SAFETY:` line; the other
//!   crates call safe functions (runtime-core's own wrappers move here next).
//!
//! Modules by domain: [`fs`] (open, openat2, stat, read/write, chown/chmod, directories,
//! memfds, fifos, locks), [`fd`] (dup onto a number, close, close-on-exec, close_range, stdio),
//! [`mount`] (mount(2), the new mount API, mount_setattr, pivot_root, statmount),
//! [`mountinfo`] (the parser of `/proc/self/mountinfo` lines), [`ns`] (setns, unshare,
//! hostname), [`net`] (loopback, netlink sockets), [`socket`] (socketpairs, SCM_RIGHTS
//! messages), [`process`] (clone3, pidfds, wait, kill, ids and credentials, capabilities,
//! prctl, rlimits, scheduling, memory policy, personality, keyrings, exec), [`signal`]
//! (signal sets and masks, sigwait, signalfd, the reset before exec), [`term`] (ptys, window
//! sizes, the controlling terminal, termios), [`io`] (pipe, eventfd, poll), [`bpf`] (cgroup
//! device programs) and [`seccomp`] (installing a filter).
//!
//! # Why libc and not rustix
//! The wrappers call the kernel through `libc` (`libc::syscall` where glibc has no wrapper),
//! not rustix 1.x, by measurement (2026-12-07, a 2-vCPU AMD EPYC VM shared with two other
//! builds, hence interleaved rounds in random order, `ocirun run` of a busybox `true` bundle,
//! the static release binary of scripts/release-flags.sh):
//!
//! | variant | median, 2000 rounds | again, 2000 rounds | binary |
//! |---|---|---|---|
//! | before this crate (main) | 5.261 ms | 5.403 ms | 3,325,352 B |
//! | this crate, libc | 5.150 ms | 5.345 ms | 3,324,616 B |
//! | this crate, the 22 hot wrappers on rustix 1.1 (linux_raw) | 5.178 ms | 5.366 ms | 3,324,104 B |
//!
//! rustix's inline system calls are cheaper one by one (getppid 136-164 ns against 189-241 ns
//! through `libc::syscall`; openat2 + close mostly 100-900 ns less, once 500 ns more, in loops
//! of 10^5-10^6 calls), but a run makes about 540 system calls, of which ~150 go through the file and
//! mount wrappers: at most ~20 us of a 5.2 ms run, below what the interleaved bench resolves
//! (its two sittings moved by 0.2 ms), and the rustix variant's medians came out 0.4-0.5%
//! *slower*. The binaries differ by 512 bytes. With no measured gain, what decides is the
//! rest: rustix lacks about a third of the calls the runtime makes (mount_setattr, clone3 with
//! `CLONE_INTO_CGROUP`, statmount, bpf, seccomp, keyctl, ioprio_set, sched_setattr,
//! set_mempolicy, an all-64-signals rt_sigaction, execve outside its unstable `runtime`
//! feature), cannot pass a NULL source or type to mount(2), and returns its own `Stat` and
//! `StatFs` types where the callers read libc's; adopting it would mean two ways of calling the
//! kernel in one crate and behaviour to re-verify, for no measured gain. The wrappers' signatures
//! (errno `i32`, typed fds, `&CStr` paths) do not expose libc's calling convention, so a later
//! switch, were a measurement to favour it, stays inside this crate.

pub mod bpf;
pub mod fd;
pub mod fs;
pub mod io;
pub mod mount;
pub mod mountinfo;
pub mod net;
pub mod ns;
pub mod process;
pub mod seccomp;
pub mod signal;
pub mod socket;
pub mod term;

use std::os::fd::{FromRawFd, OwnedFd};

/// Result of a raw system call: the errno on failure.
pub type SysResult<T> = Result<T, i32>;

/// The calling thread's errno. Runs in the child: no allocation, no locks.
pub fn errno() -> i32 {
    // `last_os_error` only reads errno; an `io::Error` of the Os kind allocates nothing.
    std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO)
}

/// Turns a `-1`-on-error return value into a [`SysResult`].
pub(crate) fn check(ret: libc::c_int) -> SysResult<libc::c_int> {
    if ret < 0 { Err(errno()) } else { Ok(ret) }
}

/// Turns a `-1`-on-error `syscall(2)` return value into a [`SysResult`].
pub(crate) fn check_long(ret: libc::c_long) -> SysResult<libc::c_long> {
    if ret < 0 { Err(errno()) } else { Ok(ret) }
}

/// Turns a `-1`-on-error `ssize_t` return value into a byte count.
pub(crate) fn check_size(ret: libc::ssize_t) -> SysResult<usize> {
    if ret < 0 {
        return Err(errno());
    }
    usize::try_from(ret).map_err(|_| libc::EIO)
}

/// Takes ownership of a freshly returned file descriptor.
pub(crate) fn owned(fd: libc::c_int) -> OwnedFd {
    // SAFETY: `fd` was just returned by a successful open-like syscall; nobody else owns it.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// Takes ownership of a file descriptor that `syscall(2)` returned as a long.
pub(crate) fn owned_long(fd: libc::c_long) -> SysResult<OwnedFd> {
    libc::c_int::try_from(fd).map(owned).map_err(|_| libc::EBADF)
}

/// An `io::Error` for an errno, for the parent-side wrappers.
pub(crate) fn io_err(errno: i32) -> std::io::Error {
    std::io::Error::from_raw_os_error(errno)
}
