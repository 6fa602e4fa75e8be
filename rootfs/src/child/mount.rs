//! The spec's mounts in the child: each onto its resolved target, detached and attached by fd
//! when anything follows it (flags, propagation, tmpcopyup), and bind remounts that keep
//! locked flags.
//!
//! Runs in the child: no allocation, no locks.

use std::ffi::CStr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use libc::c_ulong;

use super::at;
use super::ctx::{Ctx, DevDir};
use super::resolve::{ProcFdPath, reopen_dir, resolve};
use crate::plan::PER_MOUNT_FLAGS;
use crate::plan::ops::{Action, Base, MountOp, Placement, Remount};
use crate::sys;
use crate::{StepFailure, copyup};

/// `ST_NOSYMFOLLOW` from `sys/statvfs.h` (not in libc for every target).
const ST_NOSYMFOLLOW: c_ulong = 0x2000;

/// The mount flags statfs reports that a bind remount must keep (they may be locked in a
/// user namespace), as (ST_* bit, MS_* bit).
const LOCKED_FLAGS: [(c_ulong, c_ulong); 5] = [
    (libc::ST_RDONLY, libc::MS_RDONLY),
    (libc::ST_NOSUID, libc::MS_NOSUID),
    (libc::ST_NODEV, libc::MS_NODEV),
    (libc::ST_NOEXEC, libc::MS_NOEXEC),
    (ST_NOSYMFOLLOW, libc::MS_NOSYMFOLLOW),
];

/// Gives the mount whose root `fd` is the per-mount flags of `r`, on that fd, with no path:
/// one mount_setattr(2) where the kernel has it; otherwise [`remount_in_place`].
///
/// Runs in the child: no allocation, no locks.
pub(super) fn remount_fd(fd: BorrowedFd<'_>, r: &Remount) -> Result<(), StepFailure> {
    match sys::mount_setattr(fd, false, &r.attr) {
        Ok(()) => Ok(()),
        Err(libc::ENOSYS) => remount_in_place(fd, r),
        Err(e) => Err(at(r.step)(e)),
    }
}

/// Remounts the mount whose root `fd` is (`MS_BIND|MS_REMOUNT`) with `r.set`, keeping the
/// flags statfs reports unless the spec cleared them, so it also works where those flags are
/// locked (user namespaces): for kernels without mount_setattr(2). The mount is named by the
/// current directory, changed to `fd` for the call (`.` is the fd's place itself, no mount
/// is crossed) and changed back: no path through any /proc, which after the root switch is
/// the container's.
///
/// Runs in the child: no allocation, no locks.
pub(super) fn remount_in_place(fd: BorrowedFd<'_>, r: &Remount) -> Result<(), StepFailure> {
    let current = sys::fstatfs(fd).map_err(at(r.statfs_step))?.flags;
    let mut keep: c_ulong = 0;
    for (st, ms) in LOCKED_FLAGS {
        if current & st != 0 {
            keep |= ms;
        }
    }
    let flags = libc::MS_BIND | libc::MS_REMOUNT | (r.set & PER_MOUNT_FLAGS) | (keep & !r.cleared);
    let cwd = sys::open(c".", libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC).map_err(at(r.statfs_step))?;
    sys::fchdir(fd).map_err(at(r.step))?;
    let remounted = sys::mount(None, c".", None, flags, None).map_err(at(r.step));
    sys::fchdir(cwd.as_fd()).map_err(at(r.step))?;
    remounted
}

/// Makes the mount(2) call of `action` onto `target`.
///
/// Runs in the child: no allocation, no locks.
pub(super) fn mount_action(action: &Action, target: &CStr) -> Result<(), StepFailure> {
    match action {
        Action::Bind {
            source, flags, step, ..
        } => sys::mount(Some(source), target, None, *flags, None).map_err(at(*step)),
        // mount(2) cannot give it its pid namespace: made detached ([`MountOp::needs_handle`]).
        Action::Fs {
            pid_namespace: Some(_),
            step,
            ..
        } => Err(at(*step)(libc::EINVAL)),
        Action::Fs {
            source,
            fstype,
            flags,
            data,
            step,
            ..
        } => sys::mount(Some(source), target, Some(fstype), *flags, data.as_deref()).map_err(at(*step)),
    }
}

/// Refuses a resolved mount target on procfs or sysfs that its mount may not go onto
/// ([`Placement`]): fstatfs on the fd the mount then goes onto.
///
/// Runs in the child: no allocation, no locks.
fn check_placement(target: BorrowedFd<'_>, placement: &Placement) -> Result<(), StepFailure> {
    if placement.on_proc && placement.on_sys {
        return Ok(());
    }
    let magic = sys::fstatfs(target).map_err(at(placement.step))?.magic;
    let refused =
        (magic == sys::PROC_SUPER_MAGIC && !placement.on_proc) || (magic == sys::SYSFS_MAGIC && !placement.on_sys);
    if refused {
        return Err(at(placement.step)(libc::EACCES));
    }
    Ok(())
}

/// Runs one spec mount.
///
/// Runs in the child: no allocation, no locks.
pub(super) fn run_mount(ctx: &mut Ctx, op: &MountOp) -> Result<(), StepFailure> {
    let held = mount_and_follow_up(ctx, op)?;
    if op.dev
        && let Some(fd) = held
    {
        ctx.dev = DevDir::Mounted(fd);
    }
    Ok(())
}

/// Makes the mount of `action` detached and returns its root: open_tree(2) of the host source
/// for a bind, fsopen(2)/fsconfig(2)/fsmount(2) for a new filesystem.
///
/// Runs in the child: no allocation, no locks.
fn detached_mount(action: &Action) -> Result<OwnedFd, StepFailure> {
    match action {
        // The child's own clone first: made in its user namespace, it keeps the source's locked
        // flags. Only a source its user cannot reach (EACCES) comes from the parent's clone.
        // An id-mapped bind is the parent's, always.
        Action::Bind {
            tree: Some(tree),
            idmapped: true,
            step,
            ..
        } => sys::dup_cloexec(tree.as_fd(), 0).map_err(at(*step)),
        Action::Bind {
            source,
            tree: Some(tree),
            flags,
            step,
            ..
        } => match sys::clone_mount(source, flags & libc::MS_REC != 0) {
            Err(libc::EACCES) => sys::dup_cloexec(tree.as_fd(), 0).map_err(at(*step)),
            cloned => cloned.map_err(at(*step)),
        },
        Action::Bind {
            source, flags, step, ..
        } => sys::clone_mount(source, flags & libc::MS_REC != 0).map_err(at(*step)),
        Action::Fs {
            fstype,
            context: Some(context),
            step,
            ..
        } => {
            let fs = sys::fsopen(fstype).map_err(at(*step))?;
            for (key, value) in &context.params {
                sys::fsconfig_set(fs.as_fd(), key, value.as_deref()).map_err(at(*step))?;
            }
            if let Some(ns) = context.pid_namespace {
                sys::fsconfig_set_fd(fs.as_fd(), c"pidns", ns).map_err(at(*step))?;
            }
            sys::fsconfig_create(fs.as_fd()).map_err(at(*step))?;
            sys::fsmount(fs.as_fd(), context.attr).map_err(at(*step))
        }
        Action::Fs { step, .. } => Err(at(*step)(libc::EINVAL)),
    }
}

/// Runs one mount and what follows it on the new mount; returns the new mount's root when
/// the op needs it ([`MountOp::needs_handle`]).
///
/// Without follow-ups the mount goes onto the resolved target through `/proc/self/fd` (the
/// host's procfs: this runs before the root switch), exactly where the fd is. With them, the
/// mount is made detached, given its flags, copied into (tmpcopyup), attached onto the
/// resolved target by fd, and made shared/private/...: every step on the new mount's own fd,
/// none looks the destination up again (a symlink or a rename in a volume shared with another
/// container would lead such a lookup elsewhere: CVE-2021-30465's class).
///
/// Runs in the child: no allocation, no locks.
pub(super) fn mount_and_follow_up(ctx: &mut Ctx, op: &MountOp) -> Result<Option<OwnedFd>, StepFailure> {
    let fd = {
        let base = match op.target.base {
            // The /dev the plan mounted, by the fd its mount left.
            Base::Dev => ctx.dev_dir(op.resolve_step, op.placement.step)?.ok_or(StepFailure {
                step: op.resolve_step,
                errno: libc::EBADF,
            })?,
            _ => ctx.root(op.resolve_step)?,
        };
        resolve(base, &op.target, Some(op.leaf)).map_err(at(op.resolve_step))?
    };
    check_placement(fd.as_fd(), &op.placement)?;
    if let Some(step) = op.not_root_step {
        ctx.check_not_root(fd.as_fd(), step)?;
    }
    if !op.needs_handle() {
        return mount_action(&op.action, ProcFdPath::new(fd.as_fd()).as_cstr()).map(|()| None);
    }
    // For tmpcopyup, hold the old directory open: it stays readable under the new mount. It is
    // the directory the target resolved to, reopened from that fd for reading (`.` is the fd's
    // place itself): a second lookup of the path could be sent elsewhere by a rename in a
    // volume shared with another container (/sys/firmware, say, which is not masked yet).
    let copy_from = match &op.copyup {
        Some(c) => Some(reopen_dir(fd.as_fd()).map_err(at(c.open_step))?),
        None => None,
    };
    let new = detached_mount(&op.action)?;
    if let (Some(c), Some(src)) = (&op.copyup, &copy_from) {
        let dst = reopen_dir(new.as_fd()).map_err(at(c.copy_step))?;
        copyup::copy_tree(src.as_fd(), dst.as_fd()).map_err(at(c.copy_step))?;
    }
    // The flags before the mount is attached where it shows; a kernel without mount_setattr
    // gets them by a remount once it is attached.
    let mut remount_later = None;
    if let Some(r) = &op.remount {
        match sys::mount_setattr(new.as_fd(), false, &r.attr) {
            Ok(()) => {}
            Err(libc::ENOSYS) => remount_later = Some(r),
            Err(e) => return Err(at(r.step)(e)),
        }
    }
    if let Some((attr, step)) = &op.attrs {
        sys::mount_setattr(new.as_fd(), true, attr).map_err(at(*step))?;
    }
    sys::move_mount_onto(new.as_fd(), fd.as_fd()).map_err(at(op.action.step()))?;
    drop(fd);
    if let Some(r) = remount_later {
        remount_in_place(new.as_fd(), r)?;
    }
    // Propagation once attached (attaching under a shared mount makes the new one shared).
    let path = ProcFdPath::new(new.as_fd());
    for &(propagation, step) in &op.propagation {
        sys::mount(None, path.as_cstr(), None, propagation.flags(), None).map_err(at(step))?;
    }
    Ok(Some(new))
}
