//! What is left of runtime-core's own system-call wrappers while its conversion to ocirun-sys
//! is under way: only those the files not yet converted call (console, hooks, cgroup, sched,
//! user, state, the CLI's start), and `sched_setaffinity`, whose `cpu_set_t` sched.rs still
//! makes. The file goes once they call ocirun-sys.
//!
//! Runs in the child: no allocation, no locks. Every function returns the errno
//! on failure and never panics.

use std::ffi::CStr;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

pub use namespaces::sys::errno;

fn check(ret: libc::c_long) -> Result<libc::c_long, i32> {
    if ret < 0 { Err(errno()) } else { Ok(ret) }
}

/// The most fds one message carries ([`send_with_fds`]).
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

/// Whether this process is not root (euid != 0): it writes id maps as an unprivileged user.
pub fn unprivileged() -> bool {
    // SAFETY: geteuid cannot fail and touches no memory.
    unsafe { libc::geteuid() != 0 }
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

/// Replaces this process image. Returns only on failure.
pub fn execve(path: &CStr, argv: &[*const libc::c_char], envp: &[*const libc::c_char]) -> i32 {
    // SAFETY: argv and envp are NULL-terminated arrays of pointers into CStrings
    // that the plan owns and that outlive this call.
    unsafe { libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    errno()
}

/// The kernel's `struct sched_attr`, ocirun-sys's: sched.rs builds it.
pub use ocirun_sys::process::SchedAttr;

/// Sets the CPU affinity of process `pid` (0: this thread).
pub fn sched_setaffinity(pid: libc::pid_t, set: &libc::cpu_set_t) -> Result<(), i32> {
    // SAFETY: set is a live cpu_set_t of the size passed.
    check(unsafe { libc::sched_setaffinity(pid, std::mem::size_of::<libc::cpu_set_t>(), set) }.into()).map(drop)
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
#[cfg(test)] // Only state/store.rs's tests call it now.
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
    use crate::init::tests::in_forked_child;

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
