//! The init's file descriptors: the sync socket, stdio, the passed fds (listen and preserved),
//! the exec fifo; what it closes first and what reaches the container process.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use ocirun_sys::fd::{self, Stdio};
use ocirun_sys::{fs, io};

use super::raise_fd;
use super::step::{At, Failed, InitStep, Stop};
use crate::Result;

/// The fds of the init, compiled in the parent.
pub(crate) struct FdPlan {
    /// How many fds from 3 on the process gets (listen and preserved fds).
    preserve_fds: u32,
    /// The exec fifo's read end, which `start` writes a byte to: the init waits for it after
    /// Ready. `None`: the init execs right after Ready (run, exec).
    fifo: Option<OwnedFd>,
    stdio: [Option<OwnedFd>; 3],
    /// The placeholders of the passed fds that were not open: closed first thing in the init.
    closed_fds: Vec<OwnedFd>,
    /// Their numbers, which stay closed in the container process.
    closed: Vec<libc::c_uint>,
    /// The child's end of the sync socket.
    pub sync: Option<OwnedFd>,
    /// Every fd the child keeps past its first step, sorted ([`FdPlan::keep`]).
    keep: Vec<libc::c_uint>,
}

impl FdPlan {
    /// The fds of `opts`, each moved above the `passed` fds 3, 4, ….
    pub(crate) fn compile(
        preserve_fds: u32,
        fifo: Option<OwnedFd>,
        stdio: [Option<OwnedFd>; 3],
        closed_fds: Vec<OwnedFd>,
        sync: OwnedFd,
        passed: u32,
    ) -> Result<FdPlan> {
        let [i, o, e] = stdio;
        Ok(FdPlan {
            preserve_fds,
            fifo: fifo.map(|fd| raise_fd(fd, passed)).transpose()?,
            stdio: [
                i.map(|fd| raise_fd(fd, passed)).transpose()?,
                o.map(|fd| raise_fd(fd, passed)).transpose()?,
                e.map(|fd| raise_fd(fd, passed)).transpose()?,
            ],
            closed: closed_fds.iter().map(|fd| fd.as_raw_fd().unsigned_abs()).collect(),
            closed_fds,
            sync: Some(raise_fd(sync, passed)?),
            keep: Vec::new(),
        })
    }

    /// Keeps `others` (the other sub-plans' fds) open past the first step, with this plan's own.
    pub(crate) fn keep(&mut self, others: impl Iterator<Item = libc::c_int>) {
        let own = self
            .fifo
            .iter()
            .chain(self.stdio.iter().flatten())
            .chain(self.sync.iter())
            .map(AsRawFd::as_raw_fd);
        let mut keep: Vec<libc::c_uint> = others.chain(own).map(|fd| fd as libc::c_uint).collect();
        keep.sort_unstable();
        self.keep = keep;
    }

    /// Closes the parent's copies of the fds that belong to the child now, so that the parent
    /// sees EOF on the sync socket and on stdio pipes when the child goes.
    pub(crate) fn close_child_fds(&mut self) {
        self.sync = None;
        self.stdio = [None, None, None];
        self.fifo = None;
        self.closed_fds.clear();
    }

    /// Closes the fds that other threads of the embedding program opened, which came along
    /// with the clone, rather than hold them until exec; and the placeholders: the passed fds
    /// that were not open are not open in the container either.
    ///
    /// Runs in the child: no allocation, no locks.
    pub(crate) fn close_inherited(&mut self) -> Result<(), Stop> {
        if fd::close_all_but(3 + self.preserve_fds, &self.keep).is_err() {
            return Err(Stop::Exit(1));
        }
        // Closes each placeholder; clear keeps the vector's memory (nothing is freed).
        self.closed_fds.clear();
        Ok(())
    }

    /// Makes fds 0-2 the pty, with a terminal, or the stdio the runtime was given.
    ///
    /// Runs in the child: no allocation, no locks.
    pub(crate) fn set_stdio(&self, pty: Option<BorrowedFd<'_>>) -> Result<(), Failed> {
        if let Some(pty) = pty {
            // With a terminal, the pty is the process's stdin, stdout and stderr (a pty that
            // is one of them already only loses its close-on-exec).
            for target in Stdio::ALL {
                fd::dup2(pty, target.raw()).at_index(InitStep::Fds, target as u32)?;
            }
            return Ok(());
        }
        for (target, fd) in Stdio::ALL.into_iter().zip(&self.stdio) {
            if let Some(fd) = fd {
                fd::dup2(fd.as_fd(), target.raw()).at_index(InitStep::Fds, target as u32)?;
            }
        }
        // Stdio on the host's null device goes to the container's own (runc's
        // reOpenDevNull): the process holds no file of the host's mounts, and CRIU, which
        // must find every open file inside the container, can dump it.
        reopen_dev_null().at(InitStep::Fds)
    }

    /// Lets only stdio and the passed fds reach the container process. Before an early
    /// seccomp filter, which may refuse close_range (runtime-tools' default profile does).
    ///
    /// Runs in the child: no allocation, no locks.
    pub(crate) fn restrict_to_passed(&self) -> Result<(), Failed> {
        let keep = 3 + self.preserve_fds;
        fd::cloexec_from(keep).at(InitStep::Fds)?;
        for n in 3..keep {
            if !self.closed.contains(&n) {
                fd::clear_cloexec(n as libc::c_int).at_index(InitStep::Fds, n)?;
            }
        }
        Ok(())
    }

    /// Waits for `start`'s byte on the exec fifo, when there is one; a writer that leaves
    /// without one is no start.
    ///
    /// Runs in the child: no allocation, no locks.
    pub(crate) fn wait_start(&self) -> Result<(), Stop> {
        let Some(fifo) = &self.fifo else { return Ok(()) };
        if wait_start(fifo.as_fd()).is_err() {
            let _ = fs::write_whole(Stdio::Err.fd(), b"ocirun: the exec fifo closed without a start\n");
            return Err(Stop::Exit(1));
        }
        Ok(())
    }
}

/// Waits for `start`'s byte on the exec fifo's read end.
///
/// Runs in the child: no allocation, no locks.
fn wait_start(fifo: BorrowedFd<'_>) -> Result<(), i32> {
    let mut byte = [0u8; 1];
    loop {
        io::poll_one(fifo, libc::POLLIN, -1)?;
        match fs::read(fifo, &mut byte) {
            Ok(1) => return Ok(()),
            // Only a writer that closed with nothing written makes the fifo readable and empty.
            Ok(_) => return Err(libc::EPIPE),
            Err(libc::EAGAIN) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Points each of fds 0-2 that is a null device at the container's own `/dev/null`, opened
/// without following a symlink and checked to be the null device (char 1:3) itself; leaves
/// them as they are when the container has none.
///
/// Runs in the child: no allocation, no locks.
fn reopen_dev_null() -> Result<(), i32> {
    let is_null = |st: &libc::stat| st.st_mode & libc::S_IFMT == libc::S_IFCHR && st.st_rdev == libc::makedev(1, 3);
    let mut null: Option<OwnedFd> = None;
    for target in Stdio::ALL {
        if !fs::fstat(target.fd()).is_ok_and(|st| is_null(&st)) {
            continue;
        }
        let null = match &null {
            Some(fd) => fd,
            None => {
                let Ok(fd) = fs::openat2(
                    fs::CWD,
                    c"/dev/null",
                    libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
                    libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS,
                ) else {
                    return Ok(());
                };
                if !fs::fstat(fd.as_fd()).is_ok_and(|st| is_null(&st)) {
                    return Ok(());
                }
                null.insert(fd)
            }
        };
        fd::dup2(null.as_fd(), target.raw())?;
    }
    Ok(())
}
