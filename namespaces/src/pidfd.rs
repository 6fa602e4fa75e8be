//! Process handles that cannot be confused with a reused pid.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::time::Duration;

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// It called exit with this code.
    Exited(i32),
    /// A signal with this number ended it.
    Signaled(i32),
}

impl ExitStatus {
    /// The shell convention: the exit code, or 128 + the signal number.
    pub fn code(self) -> i32 {
        match self {
            ExitStatus::Exited(c) => c,
            ExitStatus::Signaled(s) => 128 + s,
        }
    }
}

/// Opens a pidfd for `pid` (pidfd_open). The caller must check that the pid is
/// still the process it means (for example by its start time) after opening.
pub fn open(pid: i32) -> std::io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Sends `signal` to the process behind `pidfd` (pidfd_send_signal).
pub fn send_signal(pidfd: BorrowedFd<'_>, signal: i32) -> std::io::Result<()> {
    // SAFETY: pidfd is a live fd; a null siginfo means "as kill(2) would send it".
    let ret = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signal,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if ret < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Waits until the process behind `pidfd` has exited, or `timeout` passes.
/// Returns whether it exited. Works for processes that are not our children.
pub fn wait_exited(pidfd: BorrowedFd<'_>, timeout: Option<Duration>) -> std::io::Result<bool> {
    let mut pfd = libc::pollfd {
        fd: pidfd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = timeout.map_or(-1, |t| t.as_millis().min(i32::MAX as u128) as i32);
    loop {
        // SAFETY: pfd is one valid pollfd for the duration of the call.
        let n = unsafe { libc::poll(&mut pfd, 1, ms) };
        if n < 0 {
            let err = std::io::Error::last_os_error();
            if err.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        return Ok(n > 0);
    }
}

/// Reaps our child behind `pidfd` and returns how it ended (waitid P_PIDFD).
/// With `block` false, returns `Ok(None)` while it still runs.
pub fn reap(pidfd: impl AsFd, block: bool) -> std::io::Result<Option<ExitStatus>> {
    let mut flags = libc::WEXITED;
    if !block {
        flags |= libc::WNOHANG;
    }
    loop {
        // SAFETY: a zeroed siginfo_t is a valid out-parameter for waitid.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: waitid writes into info; the pidfd is live for the call.
        let ret = unsafe { libc::waitid(libc::P_PIDFD, pidfd.as_fd().as_raw_fd() as libc::id_t, &mut info, flags) };
        if ret < 0 {
            let err = std::io::Error::last_os_error();
            if err.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        // SAFETY: waitid succeeded, so si_pid and si_status are initialised
        // (si_pid is 0 when WNOHANG found nothing).
        let (pid, status) = unsafe { (info.si_pid(), info.si_status()) };
        if pid == 0 {
            return Ok(None);
        }
        return Ok(Some(if info.si_code == libc::CLD_EXITED {
            ExitStatus::Exited(status)
        } else {
            ExitStatus::Signaled(status)
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signalled_child_reports_128_plus_the_signal() {
        #[allow(clippy::zombie_processes, reason = "reaped through the pidfd below")]
        let child = std::process::Command::new("sleep").arg("100").spawn().unwrap();
        let fd = open(child.id() as i32).unwrap();
        assert!(!wait_exited(fd.as_fd(), Some(Duration::from_millis(1))).unwrap());
        send_signal(fd.as_fd(), libc::SIGKILL).unwrap();
        assert!(wait_exited(fd.as_fd(), Some(Duration::from_secs(10))).unwrap());
        let status = reap(&fd, true).unwrap().unwrap();
        assert_eq!(status, ExitStatus::Signaled(libc::SIGKILL));
        assert_eq!(status.code(), 137);
    }
}
