//! Read-only paths, masks and read-only remounts in the child, before the root switch: each
//! resolved in its base (the plan's procfs or sysfs, or the root) and mounted onto by fd.
//!
//! Runs in the child: no allocation, no locks.

use std::os::fd::{AsFd, OwnedFd};

use super::at;
use super::ctx::Ctx;
use super::mount::{remount_fd, remount_in_place};
use super::resolve::{ProcFdPath, resolve};
use crate::StepFailure;
use crate::plan::ops::{Base, ListedPath, MaskOp, ReadonlyOp, Remount, Target};
use crate::sys;

/// Resolves a read-only or masked path in its base (the plan's procfs or sysfs, or the root)
/// and checks that it is not the root itself; `None` when the rootfs does not have it, which
/// is skipped, as runc. A component that is not a directory fails at `enotdir_step`.
///
/// Runs in the child: no allocation, no locks.
fn resolve_listed(ctx: &mut Ctx, path: &ListedPath, enotdir_step: u32) -> Result<Option<OwnedFd>, StepFailure> {
    let fd = match resolve(ctx.base(&path.target, path.base_step)?, &path.target, None) {
        Ok(fd) => fd,
        Err(libc::ENOENT) => return Ok(None),
        Err(libc::ENOTDIR) => return Err(at(enotdir_step)(libc::ENOTDIR)),
        Err(e) => return Err(at(path.resolve_step)(e)),
    };
    if path.target.base == Base::Root {
        ctx.check_not_root(fd.as_fd(), path.not_root_step)?;
    }
    Ok(Some(fd))
}

/// Binds a read-only path onto itself (recursively) and remounts the new mount read-only;
/// a path the rootfs does not have is skipped, as runc.
///
/// Runs in the child: no allocation, no locks.
pub(super) fn run_readonly_path(ctx: &mut Ctx, op: &ReadonlyOp) -> Result<(), StepFailure> {
    let Some(fd) = resolve_listed(ctx, &op.path, op.path.resolve_step)? else {
        return Ok(());
    };
    // A detached rbind of exactly the resolved place, made read-only and attached onto it by
    // fd: nothing looks the path up again to find the new mount.
    let bind = sys::clone_mount_fd(fd.as_fd(), true).map_err(at(op.bind_step))?;
    let later = match sys::mount_setattr(bind.as_fd(), false, &op.remount.attr) {
        Ok(()) => false,
        Err(libc::ENOSYS) => true,
        Err(e) => return Err(at(op.remount.step)(e)),
    };
    sys::move_mount_onto(bind.as_fd(), fd.as_fd()).map_err(at(op.attach_step))?;
    if later {
        remount_in_place(bind.as_fd(), &op.remount)?;
    }
    Ok(())
}

/// Masks one path: the runtime's null device over a file, a read-only tmpfs over a
/// directory; a path the rootfs does not have is skipped, as runc.
///
/// Runs in the child: no allocation, no locks.
pub(super) fn run_mask(ctx: &mut Ctx, op: &MaskOp) -> Result<(), StepFailure> {
    // A component that is not a directory: runc's bind fails with ENOTDIR there, and so does
    // the tmpfs mount it then tries; reported at that step, as before.
    let Some(fd) = resolve_listed(ctx, &op.path, op.tmpfs_step)? else {
        return Ok(());
    };
    let st = sys::fstat(fd.as_fd()).map_err(at(op.path.resolve_step))?;
    let path = ProcFdPath::new(fd.as_fd());
    if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
        let data = op.data.as_deref();
        return sys::mount(Some(c"tmpfs"), path.as_cstr(), Some(c"tmpfs"), libc::MS_RDONLY, data)
            .map_err(at(op.tmpfs_step));
    }
    let null = ProcFdPath::new(ctx.null_device(&op.null)?);
    sys::mount(Some(null.as_cstr()), path.as_cstr(), None, libc::MS_BIND, None).map_err(at(op.bind_step))
}

/// Remounts read-only the mount at a path (`/dev` by the fd its mount left, `/` by the rootfs
/// fd: no lookup); a /dev that is not the runtime's is left alone.
///
/// Runs in the child: no allocation, no locks.
pub(super) fn run_remount_path(
    ctx: &mut Ctx,
    target: &Target,
    resolve_step: u32,
    remount: &Remount,
) -> Result<(), StepFailure> {
    let base = match target.base {
        Base::Dev => match ctx.dev_dir(resolve_step, resolve_step)? {
            Some(dev) => dev,
            None => return Ok(()),
        },
        _ => ctx.root(resolve_step)?,
    };
    if target.prefixes.is_empty() {
        return remount_fd(base, remount);
    }
    let fd = resolve(base, target, None).map_err(at(resolve_step))?;
    remount_fd(fd.as_fd(), remount)
}
