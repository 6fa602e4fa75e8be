//! The runtime's entries in the container's /dev, in the child: device nodes (made, or bound
//! from the host), symlinks, and the console the pty is bound onto.
//!
//! Runs in the child: no allocation, no locks.

use std::ffi::CStr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use super::at;
use super::ctx::Ctx;
use super::resolve::{ProcFdPath, on_proc_or_sys, open_bind_target, open_nofollow};
use crate::StepFailure;
use crate::plan::ops::{ConsoleOp, DeviceOp, Mknod, SymlinkOp};
use crate::sys::{self, SysResult};

/// The container's /dev and its console as a plan with [`crate::RootfsConfig::console`] found
/// them before the root switch, for the pty: it comes from `dev`'s `pts` and is bound onto
/// `target`. Both fds stay valid across the root switch; nothing is looked up by path again.
#[derive(Debug)]
pub struct Console {
    /// The container's /dev: the filesystem the plan mounted there (by the fd its mount left),
    /// or `dev` of the rootfs opened without following a symlink.
    pub dev: OwnedFd,
    /// `console` in it, an `O_PATH` fd of a regular file or a character device on neither
    /// procfs nor sysfs, reached through no symlink; created (an empty file) when missing only
    /// in the runtime's own /dev. `None` when /dev is not the runtime's (a bind of a host
    /// directory, or a volume stacked over it) and has no console: the runtime makes nothing
    /// there, as with its device nodes, and binds no console.
    pub target: Option<OwnedFd>,
}

/// Creates one device node: mknod, or a bind of the host node in a user namespace (and, as
/// runc, when mknod is not permitted). An existing entry is kept, as runc, unless it is a
/// symlink (the image's: ELOOP), which nothing the runtime makes may follow.
///
/// The node is made with umask 0, so it has its mode from mknod; then looked at without
/// following a symlink: it must be the node just made (type and device number), and if its
/// owner or mode is not the spec's (a setgid parent, a default ACL, a uid or gid), it is
/// fixed through an `O_PATH|O_NOFOLLOW` fd of it, checked again. Nothing is done to the node
/// by name after mknod: in a directory another container shares, the name could by then be a
/// symlink to a host file.
///
/// Runs in the child: no allocation, no locks.
pub(super) fn run_device<'p>(ctx: &mut Ctx<'p>, op: &'p DeviceOp) -> Result<(), StepFailure> {
    if op.mknod.is_some() {
        ctx.zero_umask();
    }
    let Some(parent) = ctx.parent_dir(&op.parent, op.parent_step, op.check_step)? else {
        return Ok(());
    };
    if let Some(m) = &op.mknod {
        match sys::mknodat(parent, &op.name, m.mode, m.dev) {
            Ok(()) => return settle_node(parent, &op.name, m),
            Err(libc::EEXIST) => {
                let st = sys::fstatat_nofollow(parent, &op.name).map_err(at(m.mknod_step))?;
                if st.st_mode & libc::S_IFMT == libc::S_IFLNK {
                    return Err(at(m.mknod_step)(libc::ELOOP));
                }
                return Ok(());
            }
            // A device the runtime may not make is bound from the host; never a fifo.
            Err(libc::EPERM) if m.mode & libc::S_IFMT != libc::S_IFIFO => {}
            Err(e) => return Err(at(m.mknod_step)(e)),
        }
    }
    let fd = open_bind_target(parent, &op.name).map_err(at(op.open_step))?;
    let path = ProcFdPath::new(fd.as_fd());
    sys::mount(Some(&op.host), path.as_cstr(), None, libc::MS_BIND, None).map_err(at(op.bind_step))
}

/// Whether `st` is the node `m` makes (type and, for a device, its number).
///
/// Runs in the child: no allocation, no locks.
fn is_node(st: &libc::stat, m: &Mknod) -> bool {
    let kind = m.mode & libc::S_IFMT;
    st.st_mode & libc::S_IFMT == kind && (kind == libc::S_IFIFO || st.st_rdev == m.dev)
}

/// Checks the node `name` of `parent` that mknod just made and gives it the owner and mode of
/// `m` where it lacks them, through an fd of the node itself ([`run_device`]).
///
/// Runs in the child: no allocation, no locks.
fn settle_node(parent: BorrowedFd<'_>, name: &CStr, m: &Mknod) -> Result<(), StepFailure> {
    let st = sys::fstatat_nofollow(parent, name).map_err(at(m.mknod_step))?;
    if !is_node(&st, m) {
        // Replaced since mknod (in a directory another process shares).
        return Err(at(m.mknod_step)(libc::EEXIST));
    }
    let perm = m.mode & 0o7777;
    if (st.st_uid, st.st_gid) == (m.uid, m.gid) && st.st_mode & 0o7777 == perm {
        return Ok(());
    }
    let node = open_nofollow(parent, name).map_err(at(m.chown_step))?;
    let st = sys::fstat(node.as_fd()).map_err(at(m.chown_step))?;
    if !is_node(&st, m) {
        return Err(at(m.chown_step)(libc::EEXIST));
    }
    if (st.st_uid, st.st_gid) != (m.uid, m.gid) {
        sys::fchown(node.as_fd(), m.uid, m.gid).map_err(at(m.chown_step))?;
    }
    // After a chown (which may clear setuid/setgid bits) the mode goes on again; through the
    // host's /proc/self/fd (before the root switch), which leads to exactly that inode.
    sys::chmod(ProcFdPath::new(node.as_fd()).as_cstr(), perm).map_err(at(m.chmod_step))
}

/// Creates one symlink; an existing entry is kept unless `replace`.
///
/// Runs in the child: no allocation, no locks.
pub(super) fn run_symlink<'p>(ctx: &mut Ctx<'p>, op: &'p SymlinkOp) -> Result<(), StepFailure> {
    let Some(parent) = ctx.parent_dir(&op.parent, op.parent_step, op.check_step)? else {
        return Ok(());
    };
    if op.replace {
        match sys::unlinkat(parent, &op.name) {
            Ok(()) | Err(libc::ENOENT) => {}
            Err(e) => return Err(at(op.unlink_step)(e)),
        }
    }
    match sys::symlinkat(&op.link, parent, &op.name) {
        Ok(()) => Ok(()),
        Err(libc::EEXIST) if !op.replace => Ok(()),
        Err(e) => Err(at(op.step)(e)),
    }
}

/// Finds the container's /dev and its console for the pty ([`Console`]): in the runtime's own
/// /dev the console is created when missing, in another (a bind, a volume stacked over /dev)
/// only an existing one is taken; either way it is reached through no symlink (ELOOP), is
/// not a directory (EISDIR), and must be a regular file or a character device (EINVAL) on
/// neither procfs nor sysfs (EXDEV): an image cannot send the pty's bind onto another file
/// with a `dev/console` or `dev` symlink (CVE-2025-52565), nor make the runtime create a file
/// in a host directory.
///
/// Runs in the child: no allocation, no locks.
pub(super) fn run_console(ctx: &mut Ctx, op: &ConsoleOp) -> Result<(), StepFailure> {
    let (dev, ours) = ctx.console_dev(op.dev_step, op.check_step)?;
    let target = if ours {
        Some(open_bind_target(dev, c"console").map_err(at(op.open_step))?)
    } else {
        match open_nofollow(dev, c"console") {
            Ok(fd) => Some(fd),
            Err(libc::ENOENT) => None,
            Err(e) => return Err(at(op.open_step)(e)),
        }
    };
    if let Some(fd) = &target {
        check_console(fd.as_fd()).map_err(at(op.open_step))?;
    }
    // A descriptor of its own for /dev, which the ops after this one may still use.
    let dev = sys::openat(dev, c".", libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC, 0).map_err(at(op.dev_step))?;
    ctx.console = Some(Console { dev, target });
    Ok(())
}

/// Checks that the file behind `console` (an `O_PATH` fd that followed no symlink) may have the
/// pty bound over it: a regular file or a character device, on neither procfs nor sysfs.
///
/// Runs in the child: no allocation, no locks.
fn check_console(console: BorrowedFd<'_>) -> SysResult<()> {
    match sys::fstat(console)?.st_mode & libc::S_IFMT {
        libc::S_IFREG | libc::S_IFCHR => {}
        libc::S_IFLNK => return Err(libc::ELOOP),
        libc::S_IFDIR => return Err(libc::EISDIR),
        _ => return Err(libc::EINVAL),
    }
    if on_proc_or_sys(console)? {
        return Err(libc::EXDEV);
    }
    Ok(())
}
