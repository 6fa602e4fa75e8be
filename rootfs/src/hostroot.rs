//! The rootfs bind of a container that shares the runtime's mount namespace (runs in the
//! parent, and in `delete`).
//!
//! A container without a `mount` entry in `linux.namespaces` lives in the runtime's own mount
//! namespace, as the runtime spec allows. Its rootfs is set up as runc sets it up (a bind of
//! `root.path` onto itself, every mount of the spec and the runtime's `/dev` entries under it,
//! then a chroot), with two differences that keep the host as it was:
//! - no propagation of the host's is changed (runc makes the host's `/` rslave, recursively);
//!   the bind is cloned detached (open_tree), made private before it is attached, and rslave
//!   after, so that nothing mounted in it propagates back to the host's mounts;
//! - the bind's mount id is known before it is attached and kept in the container's state:
//!   `delete` (or a failed create, or `delete --force` after a killed create) detaches it, and
//!   with it every mount the container's setup made below it, since they all hang below it.

use std::ffi::CString;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::RootfsError;
use crate::child::ProcFdPath;
use crate::propagation::setattr;
use crate::sys;

/// The recursive bind of a container's rootfs onto itself in the runtime's mount namespace,
/// for a container that shares it ([`crate::RootfsConfig::host_root`]).
#[derive(Debug)]
pub struct HostRootBind {
    /// The rootfs as this process opened it (`O_PATH`), where the bind is attached.
    target: OwnedFd,
    /// The bind's root: a detached clone until [`HostRootBind::attach`].
    tree: OwnedFd,
    /// The bind's mount id.
    mount_id: u64,
    /// The rootfs path, for errors.
    rootfs: PathBuf,
}

/// What [`release`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Released {
    /// The bind was the top mount at the rootfs: detached, with everything below it.
    Detached,
    /// No mount with that id is left (never attached, or already detached).
    Gone,
    /// The bind is still mounted but not the top mount at the rootfs path (another mount is
    /// stacked over it, or it moved): left alone, since detaching it would take whatever is
    /// stacked on it too.
    Covered,
}

/// An error of `operation` on `rootfs` with `errno`.
fn fail(operation: &'static str, rootfs: &Path, errno: i32) -> RootfsError {
    RootfsError::HostRoot {
        operation,
        path: rootfs.to_path_buf(),
        source: std::io::Error::from_raw_os_error(errno),
    }
}

/// `rootfs` as a C string.
fn c_path(rootfs: &Path) -> Result<CString, RootfsError> {
    CString::new(rootfs.as_os_str().as_bytes()).map_err(|_| RootfsError::InvalidField {
        field: "root.path".to_owned(),
        value: rootfs.display().to_string(),
        reason: "contains a NUL byte",
    })
}

impl HostRootBind {
    /// A detached recursive clone of the mounts at `rootfs`, private: nothing is attached
    /// yet, and nothing of the host's changes. Record [`HostRootBind::mount_id`] where a later
    /// `delete` finds it, then [`attach`](HostRootBind::attach) it.
    pub fn new(rootfs: &Path) -> Result<HostRootBind, RootfsError> {
        let path = c_path(rootfs)?;
        let target = sys::open(
            &path,
            libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
        .map_err(|e| fail("open the rootfs", rootfs, e))?;
        let tree =
            sys::clone_mount_fd(target.as_fd(), true).map_err(|e| fail("clone the mounts of the rootfs", rootfs, e))?;
        // A clone of a shared mount is its peer: private before anything is attached or
        // mounted in it, so that none of it propagates to the host's mounts.
        sys::mount_setattr(tree.as_fd(), true, &setattr(libc::MS_PRIVATE))
            .map_err(|e| fail("make the clone of the rootfs private", rootfs, e))?;
        let mount_id = sys::place(tree.as_fd())
            .map_err(|e| fail("read the mount id of the rootfs bind", rootfs, e))?
            .mnt;
        if mount_id == 0 {
            // statx reports mount ids since Linux 5.8; without one, delete could not find it.
            return Err(fail("read the mount id of the rootfs bind", rootfs, libc::ENOSYS));
        }
        Ok(HostRootBind {
            target,
            tree,
            mount_id,
            rootfs: rootfs.to_path_buf(),
        })
    }

    /// The bind's mount id (as in `/proc/self/mountinfo`), which it keeps once attached.
    pub fn mount_id(&self) -> u64 {
        self.mount_id
    }

    /// The bind's root, for [`crate::RootfsConfig::host_root`]; valid while `self` lives.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.tree.as_fd()
    }

    /// Attaches the bind onto the rootfs and makes it rslave: it receives what the host mounts
    /// below the rootfs, and nothing mounted in it propagates anywhere. Attached below a shared
    /// mount, the kernel gives the bind's peers copies of it, which the unmount of
    /// [`release`] takes away again.
    pub fn attach(&self) -> Result<(), RootfsError> {
        sys::move_mount_onto(self.tree.as_fd(), self.target.as_fd())
            .map_err(|e| fail("bind mount the rootfs onto itself", &self.rootfs, e))?;
        sys::mount_setattr(self.tree.as_fd(), true, &setattr(libc::MS_SLAVE))
            .map_err(|e| fail("make the rootfs bind rslave", &self.rootfs, e))
    }
}

/// Detaches the rootfs bind with mount id `mount_id` at `rootfs` (made by [`HostRootBind`]),
/// with every mount below it, when it is the top mount there.
pub fn release(rootfs: &Path, mount_id: u64) -> Result<Released, RootfsError> {
    let path = c_path(rootfs)?;
    match sys::open(
        &path,
        libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
    ) {
        Ok(top) => {
            let place = sys::place(top.as_fd()).map_err(|e| fail("read the mount id at the rootfs", rootfs, e))?;
            if place.mnt == mount_id {
                // The mount the fd is on, not whatever a lookup of the path finds on top.
                let at = ProcFdPath::new(top.as_fd());
                sys::umount2(at.as_cstr(), libc::MNT_DETACH).map_err(|e| fail("detach the rootfs bind", rootfs, e))?;
                return Ok(Released::Detached);
            }
        }
        Err(libc::ENOENT | libc::ENOTDIR | libc::ELOOP) => {}
        Err(e) => return Err(fail("open the rootfs", rootfs, e)),
    }
    let info = std::fs::read("/proc/self/mountinfo").map_err(|e| RootfsError::HostRoot {
        operation: "read /proc/self/mountinfo",
        path: rootfs.to_path_buf(),
        source: e,
    })?;
    let listed = ocirun_sys::mountinfo::lines(&info).any(|m| m.id == mount_id);
    Ok(if listed { Released::Covered } else { Released::Gone })
}
