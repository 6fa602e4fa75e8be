//! Process handles that cannot be confused with a reused pid.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use ocirun_sys::process;

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
    process::pidfd_open(pid).map_err(std::io::Error::from_raw_os_error)
}

/// Sends `signal` to the process behind `pidfd` (pidfd_send_signal).
pub fn send_signal(pidfd: BorrowedFd<'_>, signal: i32) -> std::io::Result<()> {
    process::pidfd_send_signal(pidfd, signal).map_err(std::io::Error::from_raw_os_error)
}

/// Waits until the process behind `pidfd` has exited, or `timeout` passes.
/// Returns whether it exited. Works for processes that are not our children.
pub fn wait_exited(pidfd: BorrowedFd<'_>, timeout: Option<Duration>) -> std::io::Result<bool> {
    let ms = timeout.map_or(-1, |t| t.as_millis().min(i32::MAX as u128) as i32);
    let revents = ocirun_sys::io::poll_one(pidfd, libc::POLLIN, ms).map_err(std::io::Error::from_raw_os_error)?;
    Ok(revents != 0)
}

/// Reaps our child behind `pidfd` and returns how it ended (waitid P_PIDFD).
/// With `block` false, returns `Ok(None)` while it still runs.
pub fn reap(pidfd: impl AsFd, block: bool) -> std::io::Result<Option<ExitStatus>> {
    let mut flags = libc::WEXITED;
    if !block {
        flags |= libc::WNOHANG;
    }
    let info = process::waitid_pidfd(pidfd.as_fd(), flags).map_err(std::io::Error::from_raw_os_error)?;
    Ok(info.map(|i| {
        if i.code == libc::CLD_EXITED {
            ExitStatus::Exited(i.status)
        } else {
            ExitStatus::Signaled(i.status)
        }
    }))
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
