//! A cgroup v1 mount in the child: the tmpfs, a directory per hierarchy with its mount and
//! links, the binds left for the end, and the seal of the tree.
//!
//! Runs in the child: no allocation, no locks.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use super::at;
use super::ctx::Ctx;
use super::mount::{mount_action, mount_and_follow_up, remount_fd};
use super::resolve::{ProcFdPath, open_subdir};
use crate::StepFailure;
use crate::plan::ops::CgroupV1Op;
use crate::sys;

/// The cgroup v1 binds a plan left for later: the cgroup tmpfs, with a directory for each
/// hierarchy. Hand it to [`crate::MountPlan::bind_late_cgroups`] with the binds, once the container's
/// cgroup directories exist.
#[derive(Debug)]
pub struct LateCgroups {
    /// The index of the cgroup v1 op in the plan.
    pub(super) op: usize,
    /// The root of the cgroup tmpfs.
    pub(super) tmpfs: OwnedFd,
}

/// Mounts the cgroup v1 tmpfs, the hierarchies in it and their links, then makes the tree
/// read-only (or whatever per-mount flags the spec asks for).
///
/// Runs in the child: no allocation, no locks.
pub(super) fn run_cgroup_v1(ctx: &mut Ctx, op: &CgroupV1Op, index: usize, leave: bool) -> Result<(), StepFailure> {
    let tmpfs = mount_and_follow_up(ctx, &op.tmpfs)?.ok_or(StepFailure {
        step: op.tmpfs.action.step(),
        errno: libc::EBADF,
    })?;
    // Everything below works relative to `tmpfs`, the root of the tmpfs this child has just
    // mounted (its target resolved in the rootfs with RESOLVE_IN_ROOT, like every target),
    // instead of resolving each hierarchy's path from the rootfs again. That is as safe: the
    // tmpfs is new and empty, in a mount namespace no container process has entered yet, so
    // the only entries it can hold are the ones made here, named by the parent and checked to
    // be single components. No symlink from the image can be in it, and O_NOFOLLOW with
    // O_DIRECTORY still refuses anything but a directory (one of our own links, were a name
    // repeated).
    let late = leave && op.late;
    for h in &op.hierarchies {
        match sys::mkdirat(tmpfs.as_fd(), &h.name, 0o755) {
            Ok(()) | Err(libc::EEXIST) => {}
            Err(e) => return Err(at(h.mkdir_step)(e)),
        }
        if !late {
            let dir = open_subdir(tmpfs.as_fd(), &h.name).map_err(at(h.open_step))?;
            mount_action(&h.action, ProcFdPath::new(dir.as_fd()).as_cstr())?;
        }
        for (name, step) in &h.links {
            match sys::symlinkat(&h.name, tmpfs.as_fd(), name) {
                Ok(()) | Err(libc::EEXIST) => {}
                Err(e) => return Err(at(*step)(e)),
            }
        }
    }
    if late {
        ctx.late = Some(LateCgroups { op: index, tmpfs });
        return Ok(());
    }
    seal_cgroup_tree(tmpfs.as_fd(), op)
}

/// Gives the cgroup tmpfs and the hierarchies in it their final flags: one recursive
/// mount_setattr where the kernel has it, else a remount of each.
///
/// Runs in the child: no allocation, no locks.
pub(super) fn seal_cgroup_tree(tmpfs: BorrowedFd<'_>, op: &CgroupV1Op) -> Result<(), StepFailure> {
    if let Some((attr, step)) = &op.attrs {
        match sys::mount_setattr(tmpfs, true, attr) {
            Ok(()) => return Ok(()),
            Err(libc::ENOSYS) => {}
            Err(e) => return Err(at(*step)(e)),
        }
    }
    for h in &op.hierarchies {
        if let Some((reopen_step, r)) = &h.remount {
            // The directory, opened again, is now the root of the mount on it.
            let mounted = open_subdir(tmpfs, &h.name).map_err(at(*reopen_step))?;
            remount_fd(mounted.as_fd(), r)?;
        }
    }
    if let Some(r) = &op.tmpfs_remount {
        remount_fd(tmpfs, r)?;
    }
    Ok(())
}

/// Attaches the binds a plan left ([`LateCgroups`]) of the cgroup v1 op `op`, one per
/// hierarchy, each onto its directory in the cgroup tmpfs; then seals the tree.
///
/// Runs in the child: no allocation, no locks.
pub(super) fn attach_late<'a>(
    op: &CgroupV1Op,
    late: &LateCgroups,
    binds: impl IntoIterator<Item = BorrowedFd<'a>>,
) -> Result<(), StepFailure> {
    let mut binds = binds.into_iter();
    for h in &op.hierarchies {
        let step = h.late_step.unwrap_or(h.open_step);
        let bind = binds.next().ok_or(StepFailure {
            step,
            errno: libc::EBADF,
        })?;
        sys::attach_tree(bind, late.tmpfs.as_fd(), &h.name).map_err(at(step))?;
    }
    seal_cgroup_tree(late.tmpfs.as_fd(), op)
}
