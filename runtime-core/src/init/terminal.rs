//! The container's pty, when process.terminal is true: made from the container's own devpts,
//! its master sent to the runtime, its peer the process's controlling terminal and stdio.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use oci_spec::runtime::Process;
use ocirun_sys::{fs, process, socket, term};

use super::step::{Failed, InitStep};
use crate::sync::{FdKind, Msg, Tag};
use crate::{Error, Result};

/// The parts of [`InitStep::Console`], sent as its index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum ConsoleStep {
    OpenDev,
    OpenPts,
    CheckDevpts,
    OpenPtmx,
    Unlock,
    Size,
    Peer,
    MountConsole,
    SendMaster,
    Setsid,
    ControllingTty,
    Chown,
}

impl ConsoleStep {
    const ALL: [ConsoleStep; 12] = [
        ConsoleStep::OpenDev,
        ConsoleStep::OpenPts,
        ConsoleStep::CheckDevpts,
        ConsoleStep::OpenPtmx,
        ConsoleStep::Unlock,
        ConsoleStep::Size,
        ConsoleStep::Peer,
        ConsoleStep::MountConsole,
        ConsoleStep::SendMaster,
        ConsoleStep::Setsid,
        ConsoleStep::ControllingTty,
        ConsoleStep::Chown,
    ];

    /// A failure of this part. Runs in the child: no allocation.
    fn failed(self) -> impl Fn(i32) -> Failed {
        move |errno| Failed {
            step: InitStep::Console,
            index: self as u32,
            errno,
        }
    }

    /// What it was doing, for the parent's error; `uid` is process.user.uid.
    pub(crate) fn describe(index: u32, uid: libc::uid_t) -> String {
        let what = match ConsoleStep::ALL.into_iter().find(|s| *s as u32 == index) {
            Some(ConsoleStep::OpenDev) => "open /dev (no symlink may lead there)",
            Some(ConsoleStep::OpenPts) => "open /dev/pts (no symlink may lead there)",
            Some(ConsoleStep::CheckDevpts) => "check that /dev/pts is a devpts mount (process.terminal needs one)",
            Some(ConsoleStep::OpenPtmx) => "open /dev/pts/ptmx",
            Some(ConsoleStep::Unlock) => "unlock the pty",
            Some(ConsoleStep::Size) => "set process.consoleSize",
            Some(ConsoleStep::Peer) => "open the pty peer",
            Some(ConsoleStep::MountConsole) => "bind-mount the pty onto /dev/console",
            Some(ConsoleStep::SendMaster) => "send the pty master to the runtime",
            Some(ConsoleStep::Setsid) => "start a new session",
            Some(ConsoleStep::ControllingTty) => "make the pty the controlling terminal",
            Some(ConsoleStep::Chown) => return format!("console: give the pty to uid {uid} (process.user.uid)"),
            None => "set up the pty",
        };
        format!("console: {what}")
    }
}

/// The pty the init makes when process.terminal is true.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Terminal {
    /// process.consoleSize as (rows, columns), when both are set.
    size: Option<(u16, u16)>,
    /// Bind the pty onto /dev/console: for the init, not for an exec'd process,
    /// which shares the container's mounts.
    mount_console: bool,
}

impl Terminal {
    /// The terminal of `process`, if it asks for one; `exec`: an exec'd process, which binds
    /// no console.
    pub(crate) fn compile(process: &Process, exec: bool) -> Result<Option<Terminal>> {
        Ok(match process.terminal() {
            Some(true) => Some(Terminal {
                size: console_size(process)?,
                mount_console: !exec,
            }),
            _ => None,
        })
    }

    /// Makes the container's pty from its own devpts: sends the master to the runtime, makes
    /// the peer the controlling terminal of a new session, and returns the peer. `console` is
    /// the init's /dev and console as its mount plan found them before the root switch; an
    /// exec'd process, which binds no console, looks /dev up in the container's root.
    ///
    /// Runs in the child: no allocation, no locks.
    pub(crate) fn open(&self, sync: BorrowedFd<'_>, console: Option<&rootfs::Console>) -> Result<OwnedFd, Failed> {
        if let Some(c) = console {
            return self.open_pty(sync, c.dev.as_fd(), Some(c).filter(|_| self.mount_console));
        }
        // The container's /dev, reached through no symlink the image could have planted: the pty
        // is looked up beneath it.
        let dev = fs::openat2(
            fs::CWD,
            c"/dev",
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
            libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS,
        )
        .map_err(ConsoleStep::OpenDev.failed())?;
        self.open_pty(sync, dev.as_fd(), None)
    }

    /// [`Terminal::open`] with the container's /dev open as `dev`, and the console the pty is
    /// bound onto, if any, as `console`.
    ///
    /// Runs in the child: no allocation, no locks.
    fn open_pty(
        &self,
        sync: BorrowedFd<'_>,
        dev: BorrowedFd<'_>,
        console: Option<&rootfs::Console>,
    ) -> Result<OwnedFd, Failed> {
        let pts = fs::openat2(
            dev,
            c"pts",
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
            libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS,
        )
        .map_err(ConsoleStep::OpenPts.failed())?;
        // Only a devpts mount's own ptmx is opened: not a device node an image planted there.
        match fs::fstatfs(pts.as_fd()).map(|st| st.magic == fs::DEVPTS_SUPER_MAGIC) {
            Ok(true) => {}
            Ok(false) => return Err(ConsoleStep::CheckDevpts.failed()(libc::ENOTTY)),
            Err(e) => return Err(ConsoleStep::CheckDevpts.failed()(e)),
        }
        let master = fs::openat2(
            pts.as_fd(),
            c"ptmx",
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
            libc::RESOLVE_BENEATH | libc::RESOLVE_NO_XDEV | libc::RESOLVE_NO_SYMLINKS,
        );
        drop(pts);
        let master = master.map_err(ConsoleStep::OpenPtmx.failed())?;
        let slave = self.pty_pair(master.as_fd(), console)?;
        socket::send_whole_with_fds(
            sync,
            &Msg::new(Tag::Fd, FdKind::PtyMaster as u32, 0, 0).encode(),
            &[master.as_fd()],
        )
        .map_err(ConsoleStep::SendMaster.failed())?;
        drop(master);
        process::setsid().map(drop).map_err(ConsoleStep::Setsid.failed())?;
        term::set_controlling_tty(slave.as_fd()).map_err(ConsoleStep::ControllingTty.failed())?;
        Ok(slave)
    }

    /// Unlocks and sizes the pty of `master`, opens its peer and binds the peer onto `console`,
    /// when there is one to bind onto.
    ///
    /// Runs in the child: no allocation, no locks.
    fn pty_pair(&self, master: BorrowedFd<'_>, console: Option<&rootfs::Console>) -> Result<OwnedFd, Failed> {
        term::unlock_pty(master).map_err(ConsoleStep::Unlock.failed())?;
        if let Some((rows, cols)) = self.size {
            term::set_winsize(master, rows, cols).map_err(ConsoleStep::Size.failed())?;
        }
        let slave = term::pty_peer(master, libc::O_RDWR).map_err(ConsoleStep::Peer.failed())?;
        // runc's mountConsole, by rootfs: onto the console its mount plan found by fd.
        if let Some(console) = console {
            console
                .bind_pty(slave.as_fd())
                .map_err(ConsoleStep::MountConsole.failed())?;
        }
        Ok(slave)
    }
}

/// A session of its own, as runc's init makes it with or without a terminal: nothing outside
/// the container leads its session (CRIU refuses to dump a tree whose session leader is
/// outside its pid namespace).
///
/// Runs in the child: no allocation, no locks.
pub(crate) fn new_session() -> Result<(), Failed> {
    process::setsid().map(drop).map_err(ConsoleStep::Setsid.failed())
}

/// process.consoleSize as (rows, columns) when both are non-zero, as runc applies it.
fn console_size(process: &Process) -> Result<Option<(u16, u16)>> {
    let Some(size) = process.console_size() else {
        return Ok(None);
    };
    let fit =
        |field: &str, v: u64| u16::try_from(v).map_err(|_| Error::spec(field, format!("{v} is above {}", u16::MAX)));
    let rows = fit("process.consoleSize.height", size.height())?;
    let cols = fit("process.consoleSize.width", size.width())?;
    Ok((rows != 0 && cols != 0).then_some((rows, cols)))
}
