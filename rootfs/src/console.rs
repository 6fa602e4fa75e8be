//! The container's console: the pty the init makes is bound onto the `/dev/console` its mount
//! plan found ([`Console`]), as runc's mountConsole does, so that programs that write to
//! /dev/console reach the container's pty.

use std::os::fd::{AsFd, BorrowedFd};

use crate::Console;
use crate::sys;

impl Console {
    /// Binds the pty peer `pty` onto the console the plan found, when it found one (a /dev
    /// that is not the runtime's and has none gets no console). The console was reached
    /// through no symlink and checked before the root switch (CVE-2025-52565): the bind goes
    /// onto its fd, and no path is walked. Returns the errno of a failure.
    ///
    /// Runs in the child: no allocation, no locks.
    pub fn bind_pty(&self, pty: BorrowedFd<'_>) -> Result<(), i32> {
        let Some(target) = &self.target else {
            return Ok(());
        };
        // A plain bind, as runc's (a pty has no mounts below it to take along).
        let tree = sys::clone_mount_fd(pty, false)?;
        sys::move_mount_onto(tree.as_fd(), target.as_fd())
    }
}
