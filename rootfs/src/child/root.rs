//! The rootfs in the child: the propagation and bind before the mounts, opening it, and the
//! root switch (pivot_root, the `--no-pivot` move, or a chroot).
//!
//! Runs in the child: no allocation, no locks.

use std::ffi::{CStr, CString};
use std::os::fd::{AsFd, RawFd};

use super::at;
use super::ctx::Ctx;
use crate::plan::ops::DetachOp;
use crate::sys;
use crate::{Propagation, StepFailure};

/// Changes the propagation of the mount at `path`.
///
/// Runs in the child: no allocation, no locks.
pub(super) fn propagate(path: &CStr, propagation: Propagation, step: u32) -> Result<(), StepFailure> {
    sys::mount(None, path, None, propagation.flags(), None).map_err(at(step))
}

/// Makes the mount containing the rootfs private: the first of `candidates` (the rootfs, then
/// its ancestors) that is a mount point.
///
/// Runs in the child: no allocation, no locks.
pub(super) fn make_parent_private(candidates: &[CString], step: u32) -> Result<(), StepFailure> {
    for dir in candidates {
        match sys::mount(None, dir, None, Propagation::PRIVATE.flags(), None) {
            Ok(()) => return Ok(()),
            // Not a mount point: try the parent directory.
            Err(libc::EINVAL) => {}
            Err(e) => return Err(at(step)(e)),
        }
    }
    Err(at(step)(libc::EINVAL))
}

/// Binds the rootfs onto itself (`MS_BIND|MS_REC`).
///
/// Runs in the child: no allocation, no locks.
pub(super) fn bind_rootfs(rootfs: &CStr, step: u32) -> Result<(), StepFailure> {
    sys::mount(Some(rootfs), rootfs, None, libc::MS_BIND | libc::MS_REC, None).map_err(at(step))
}

/// Takes the rootfs bind the caller made in the runtime's mount namespace: a copy of its fd
/// of its own (the caller's stays open until the plan has run: `source_fds`).
///
/// Runs in the child: no allocation, no locks.
pub(super) fn take_host_root(ctx: &mut Ctx, fd: RawFd, step: u32) -> Result<(), StepFailure> {
    ctx.root = Some(sys::dup_raw_cloexec(fd).map_err(at(step))?);
    Ok(())
}

/// Opens the rootfs directory, in which every later path resolves.
///
/// Runs in the child: no allocation, no locks.
pub(super) fn open_root(ctx: &mut Ctx, rootfs: &CStr, step: u32) -> Result<(), StepFailure> {
    ctx.root = Some(sys::open(rootfs, libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC).map_err(at(step))?);
    Ok(())
}

/// pivot_root(".", ".") in the rootfs, then detach the old root (runc's pivotRoot), made
/// rslave first when the plan says so.
///
/// Runs in the child: no allocation, no locks.
pub(super) fn run_pivot(ctx: &Ctx, steps: &[u32; 6], slave_old: Option<u32>) -> Result<(), StepFailure> {
    let [open_old, chdir_new, pivot, chdir_old, detach, chdir_root] = *steps;
    let oldroot = sys::open(c"/", libc::O_DIRECTORY | libc::O_PATH | libc::O_CLOEXEC).map_err(at(open_old))?;
    sys::fchdir(ctx.root(chdir_new)?).map_err(at(chdir_new))?;
    sys::pivot_root(c".", c".").map_err(at(pivot))?;
    sys::fchdir(oldroot.as_fd()).map_err(at(chdir_old))?;
    if let Some(step) = slave_old {
        // Make sure the unmount below cannot propagate anywhere.
        sys::mount(None, c".", None, Propagation::RSLAVE.flags(), None).map_err(at(step))?;
    }
    sys::umount2(c".", libc::MNT_DETACH).map_err(at(detach))?;
    sys::chdir(c"/").map_err(at(chdir_root))
}

/// chroot into the rootfs bind, for a container in the runtime's mount namespace (runc's
/// chroot without CLONE_NEWNS): its mounts stay where they are, the host's.
///
/// Runs in the child: no allocation, no locks.
pub(super) fn run_chroot(ctx: &Ctx, steps: &[u32; 3]) -> Result<(), StepFailure> {
    let [chdir_new, chroot, chdir_root] = *steps;
    sys::fchdir(ctx.root(chdir_new)?).map_err(at(chdir_new))?;
    sys::chroot(c".").map_err(at(chroot))?;
    sys::chdir(c"/").map_err(at(chdir_root))
}

/// `--no-pivot`: detach every mount of the host outside the rootfs, then move the rootfs
/// mount onto `/` and chroot into it (runc's msMoveRoot, which detaches only procfs and sysfs).
///
/// What stays of the host afterwards are the mounts the rootfs hung below (`/`, maybe the
/// filesystem of the bundle), covered by the rootfs and private since the rootfs was bound.
/// The list comes from the parent's read of its mount table before the clone. A mount the
/// host makes after that read reaches this namespace only as a copy at clone time or by
/// propagation: below a listed mount it is detached along with it (a lazy unmount takes
/// everything below); directly on one of the mounts above the rootfs it can only arrive in
/// the instants between the parent's read and the step that made them private, is made by
/// the host's root and not by anything in the container, and is hidden below the rootfs
/// like the rest; a host mount made later propagates nowhere in here.
///
/// Runs in the child: no allocation, no locks.
pub(super) fn run_move_root(ctx: &Ctx, detach: &[DetachOp], steps: &[u32; 4]) -> Result<(), StepFailure> {
    for d in detach {
        detach_host_mount(d)?;
    }
    let [chdir_new, mv, chroot, chdir_root] = *steps;
    let root = ctx.root(chdir_new)?;
    sys::fchdir(root).map_err(at(chdir_new))?;
    // The mount the rootfs fd is on, by fd: a lookup of the rootfs path would find the top of
    // whatever is stacked there.
    sys::attach_tree(root, sys::CWD, c"/").map_err(at(mv))?;
    sys::chroot(c".").map_err(at(chroot))?;
    sys::chdir(c"/").map_err(at(chdir_root))
}

/// The most mounts [`detach_host_mount`] takes off one mount point.
const MAX_STACKED: usize = 256;

/// Detaches the mounts at one of the host's mount points, the stacked ones one after the
/// other, until none is left there: each is first made rslave (with what is below it), so
/// that the unmount propagates nowhere, whatever the root's propagation, then lazily
/// unmounted with everything below it. A mount the kernel will not unmount (EINVAL or EPERM:
/// locked, in a user namespace) stays where it is, hidden below the chroot; a procfs or sysfs
/// is then covered with a tmpfs, which makes it not fully visible, as runc does. A path that
/// no longer leads to a mount point (detached with a mount above it) is done.
///
/// Runs in the child: no allocation, no locks.
fn detach_host_mount(d: &DetachOp) -> Result<(), StepFailure> {
    for _ in 0..MAX_STACKED {
        match sys::mount(None, &d.path, None, Propagation::RSLAVE.flags(), None) {
            Ok(()) => {}
            Err(libc::EINVAL | libc::ENOENT | libc::ENOTDIR) => return Ok(()),
            Err(e) => return Err(at(d.slave_step)(e)),
        }
        match sys::umount2(&d.path, libc::MNT_DETACH) {
            Ok(()) => {}
            Err(libc::EINVAL | libc::EPERM) if d.pseudo => {
                let flags = libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
                return sys::mount(Some(c"tmpfs"), &d.path, Some(c"tmpfs"), flags, None).map_err(at(d.cover_step));
            }
            Err(libc::EINVAL | libc::EPERM) => return Ok(()),
            Err(e) => return Err(at(d.umount_step)(e)),
        }
    }
    Err(at(d.umount_step)(libc::ELOOP))
}
