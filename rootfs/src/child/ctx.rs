//! The state the child's ops share: the rootfs fd, the container's /dev, the bases of the
//! masks, the null device, and what the plan leaves for after the root switch.
//!
//! Runs in the child: no allocation, no locks.

use std::ffi::CStr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use super::at;
use super::cgroup::LateCgroups;
use super::device::Console;
use super::resolve::{check_runtime_dir, create_entry, open_in_root, resolve};
use crate::StepFailure;
use crate::plan::ops::{Base, Leaf, NullSteps, Target};
use crate::sys;

/// The state the ops share.
pub(super) struct Ctx<'p> {
    /// The rootfs directory, once opened.
    pub(super) root: Option<OwnedFd>,
    /// What a cgroup v1 op left for [`crate::MountPlan::bind_late_cgroups`].
    pub(super) late: Option<LateCgroups>,
    /// The parent directory the last device or symlink op resolved below /dev or the root,
    /// with its path there: the next such op with the same parent reuses it. Any other op
    /// drops it.
    pub(super) parent: Option<((Base, &'p CStr), OwnedFd)>,
    /// The container's /dev, where the runtime makes its device nodes and symlinks.
    pub(super) dev: DevDir,
    /// The null device masks are bound from, once the first mask of a file opened it.
    pub(super) null: Option<OwnedFd>,
    /// The procfs at /proc or the sysfs at /sys the last mask or read-only path under it
    /// opened and checked: the next one under the same reuses it. Any other op drops it.
    pub(super) pseudo: Option<(Base, OwnedFd)>,
    /// Where the rootfs's root is, once a check needed it.
    pub(super) root_place: Option<sys::Place>,
    /// The umask the process had before the device nodes, while they are made with umask 0.
    pub(super) saved_umask: Option<libc::mode_t>,
    /// The container's /dev and console, once the console op found them.
    pub(super) console: Option<Console>,
}

/// The container's /dev as the runtime's device nodes and symlinks see it ([`Base::Dev`]).
pub(super) enum DevDir {
    /// Not looked at yet.
    Unknown,
    /// The filesystem the plan mounted at /dev (its fd, kept from the mount), not checked yet.
    Mounted(OwnedFd),
    /// The filesystem the plan mounted at /dev, or `dev` of the rootfs on the rootfs's own
    /// mount, checked to be neither procfs nor sysfs.
    Ready(OwnedFd),
    /// `dev` of the rootfs, with no /dev mount in the plan, is on another mount than the
    /// rootfs's (a bind from the host, carried by the rootfs's rbind or stacked there through
    /// an image symlink): as runc does for a /dev that is a bind mount, the runtime makes no
    /// device node or symlink in it. Kept for the console, which may be bound onto an existing
    /// entry there.
    NotOurs(OwnedFd),
}

impl<'p> Ctx<'p> {
    /// The state before the first op: nothing opened yet.
    ///
    /// Runs in the child: no allocation, no locks.
    pub(super) fn new() -> Ctx<'p> {
        Ctx {
            root: None,
            late: None,
            parent: None,
            dev: DevDir::Unknown,
            null: None,
            pseudo: None,
            root_place: None,
            saved_umask: None,
            console: None,
        }
    }

    /// The directory `target` of a device or symlink op, resolved inside the root or the
    /// container's /dev (creating what is missing, following no symlink) and checked to be
    /// on neither procfs nor sysfs (at `check_step`), or the one the previous such op resolved
    /// for the same path; `None` when it is under a /dev the runtime makes nothing in
    /// ([`DevDir::NotOurs`]).
    ///
    /// Runs in the child: no allocation, no locks.
    pub(super) fn parent_dir(
        &mut self,
        target: &'p Target,
        step: u32,
        check_step: u32,
    ) -> Result<Option<BorrowedFd<'_>>, StepFailure> {
        if target.base == Base::Dev && target.prefixes.is_empty() {
            return self.dev_dir(step, check_step);
        }
        let key = (target.base, target.prefixes.last().map_or(c".", |p| p.as_c_str()));
        if !matches!(&self.parent, Some((k, _)) if *k == key) {
            let fd = {
                let base = match target.base {
                    Base::Dev => match self.dev_dir(step, check_step)? {
                        Some(dev) => dev,
                        None => return Ok(None),
                    },
                    _ => self.root(step)?,
                };
                resolve(base, target, Some(Leaf::Dir)).map_err(at(step))?
            };
            check_runtime_dir(fd.as_fd()).map_err(at(check_step))?;
            self.parent = Some((key, fd));
        }
        Ok(self.parent.as_ref().map(|(_, fd)| fd.as_fd()))
    }

    /// The container's /dev for the runtime's entries: the fd the /dev mount left, or else
    /// (the first time) `dev` of the rootfs, made if missing and opened without following a
    /// symlink, if it is on the rootfs's own mount; `None` if it is not ([`DevDir`]). Checked
    /// (the first time, at `check_step`) to be on neither procfs nor sysfs.
    ///
    /// Runs in the child: no allocation, no locks.
    pub(super) fn dev_dir(&mut self, step: u32, check_step: u32) -> Result<Option<BorrowedFd<'_>>, StepFailure> {
        if let DevDir::Mounted(_) = &self.dev
            && let DevDir::Mounted(fd) = std::mem::replace(&mut self.dev, DevDir::Unknown)
        {
            check_runtime_dir(fd.as_fd()).map_err(at(check_step))?;
            self.dev = DevDir::Ready(fd);
        }
        if matches!(self.dev, DevDir::Unknown) {
            let root = self.root_place(step)?;
            let dev = {
                let root_fd = self.root(step)?;
                create_entry(root_fd, c"dev", true).map_err(at(step))?;
                open_in_root(root_fd, c"dev", true, true).map_err(at(step))?
            };
            let here = sys::place(dev.as_fd()).map_err(at(step))?;
            // Without mount ids (kernels before 5.8), the filesystem: a bind from elsewhere.
            let ours = if here.mnt != 0 && root.mnt != 0 {
                here.mnt == root.mnt
            } else {
                here.dev == root.dev
            };
            self.dev = if ours { DevDir::Ready(dev) } else { DevDir::NotOurs(dev) };
        }
        Ok(match &self.dev {
            DevDir::Ready(fd) => Some(fd.as_fd()),
            DevDir::Unknown | DevDir::Mounted(_) | DevDir::NotOurs(_) => None,
        })
    }

    /// The container's /dev for the console, as [`Ctx::dev_dir`] finds it, and whether it is
    /// the runtime's own; one that is not is checked here (at `check_step`) to be on neither
    /// procfs nor sysfs.
    ///
    /// Runs in the child: no allocation, no locks.
    pub(super) fn console_dev(&mut self, step: u32, check_step: u32) -> Result<(BorrowedFd<'_>, bool), StepFailure> {
        if self.dev_dir(step, check_step)?.is_none()
            && let DevDir::NotOurs(fd) = &self.dev
        {
            check_runtime_dir(fd.as_fd()).map_err(at(check_step))?;
        }
        match &self.dev {
            DevDir::Ready(fd) => Ok((fd.as_fd(), true)),
            DevDir::NotOurs(fd) => Ok((fd.as_fd(), false)),
            DevDir::Unknown | DevDir::Mounted(_) => Err(at(step)(libc::EBADF)),
        }
    }

    /// Where the rootfs's root is (statx, the first time).
    ///
    /// Runs in the child: no allocation, no locks.
    pub(super) fn root_place(&mut self, step: u32) -> Result<sys::Place, StepFailure> {
        if let Some(place) = self.root_place {
            return Ok(place);
        }
        let place = sys::place(self.root(step)?).map_err(at(step))?;
        self.root_place = Some(place);
        Ok(place)
    }

    /// The host's null device, opened (the first time) by absolute path before the root
    /// switch, so from the host's /dev and never through the container's, and checked to be
    /// the character device 1:3 with fstat on the very fd the masks then bind through
    /// `/proc/self/fd` (CVE-2025-31133: an image's `dev/null` symlink cannot stand in for it).
    ///
    /// Runs in the child: no allocation, no locks.
    pub(super) fn null_device(&mut self, steps: &NullSteps) -> Result<BorrowedFd<'_>, StepFailure> {
        if self.null.is_none() {
            let flags = libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC;
            let fd = sys::open(c"/dev/null", flags).map_err(at(steps.open_step))?;
            let st = sys::fstat(fd.as_fd()).map_err(at(steps.check_step))?;
            if st.st_mode & libc::S_IFMT != libc::S_IFCHR || st.st_rdev != libc::makedev(1, 3) {
                return Err(at(steps.check_step)(libc::ENODEV));
            }
            self.null = Some(fd);
        }
        self.null.as_ref().map(AsFd::as_fd).ok_or(StepFailure {
            step: steps.open_step,
            errno: libc::EBADF,
        })
    }

    /// The directory `target` is relative to: the rootfs, or for [`Base::Proc`] ([`Base::Sys`])
    /// `proc` (`sys`) of the rootfs, opened (the first time) without following any symlink and
    /// checked at `base_step` to be a procfs (sysfs): the mount the plan made there, not a
    /// place an image symlink or a rename moved it from.
    ///
    /// Runs in the child: no allocation, no locks.
    pub(super) fn base(&mut self, target: &Target, base_step: u32) -> Result<BorrowedFd<'_>, StepFailure> {
        let (name, magic) = match target.base {
            Base::Root => return self.root(base_step),
            Base::Dev => return Err(at(base_step)(libc::EINVAL)),
            Base::Proc => (c"proc", sys::PROC_SUPER_MAGIC),
            Base::Sys => (c"sys", sys::SYSFS_MAGIC),
        };
        if !matches!(&self.pseudo, Some((b, _)) if *b == target.base) {
            let fd = open_in_root(self.root(base_step)?, name, true, true).map_err(at(base_step))?;
            if sys::fstatfs(fd.as_fd()).map_err(at(base_step))?.magic != magic {
                return Err(at(base_step)(libc::EACCES));
            }
            self.pseudo = Some((target.base, fd));
        }
        self.pseudo.as_ref().map(|(_, fd)| fd.as_fd()).ok_or(StepFailure {
            step: base_step,
            errno: libc::EBADF,
        })
    }

    /// Refuses (EINVAL, at `step`) a resolved target that is the container's root directory
    /// itself, the same mount and inode as the rootfs fd: a symlink to `/` leads there, and a
    /// mount stacked over the root is one the root switch does not see (only `/..` reaches
    /// it) and the one `--no-pivot` would move. Targets resolved from the root of the
    /// rootfs's own mount with symlinks allowed only; one statx each.
    ///
    /// Runs in the child: no allocation, no locks.
    pub(super) fn check_not_root(&mut self, target: BorrowedFd<'_>, step: u32) -> Result<(), StepFailure> {
        let root = self.root_place(step)?;
        let here = sys::place(target).map_err(at(step))?;
        // Without mount ids (kernels before 5.8), the root directory's inode in any bind of
        // the rootfs's filesystem counts as the root.
        if (here.dev, here.ino) == (root.dev, root.ino) && (here.mnt == root.mnt || here.mnt == 0) {
            return Err(at(step)(libc::EINVAL));
        }
        Ok(())
    }

    /// Sets the umask to 0 (the first time), so that mknod gives a node exactly its mode, as
    /// runc's createDevices does: no chmod of the node by name afterwards.
    ///
    /// Runs in the child: no allocation, no locks.
    pub(super) fn zero_umask(&mut self) {
        if self.saved_umask.is_none() {
            self.saved_umask = Some(sys::umask(0));
        }
    }

    /// Puts back the umask [`Ctx::zero_umask`] replaced.
    ///
    /// Runs in the child: no allocation, no locks.
    pub(super) fn restore_umask(&mut self) {
        if let Some(mask) = self.saved_umask.take() {
            sys::umask(mask);
        }
    }

    /// The rootfs fd, or EBADF (with `step`) when the plan did not open it yet.
    ///
    /// Runs in the child: no allocation, no locks.
    pub(super) fn root(&self, step: u32) -> Result<BorrowedFd<'_>, StepFailure> {
        self.root.as_ref().map(AsFd::as_fd).ok_or(StepFailure {
            step,
            errno: libc::EBADF,
        })
    }
}
