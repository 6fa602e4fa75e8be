//! Executing a [`MountPlan`] in the container's init child.
//!
//! Runs in the child: no allocation, no locks. Everything here reads data the parent prepared
//! (C strings, flags, step numbers), calls the wrappers in [`crate::sys`], and keeps paths in
//! stack buffers. Errors are `Copy` [`StepFailure`] values.

use std::ffi::CStr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use libc::c_ulong;

use crate::copyup;
use crate::plan::PER_MOUNT_FLAGS;
use crate::plan::ops::{
    Action, Base, CgroupV1Op, ConsoleOp, DetachOp, DeviceOp, Leaf, ListedPath, MaskOp, Mknod, MountOp, NullSteps, Op,
    Placement, ReadonlyOp, Remount, SymlinkOp, Target,
};
use crate::sys::{self, SysResult};
use crate::{MountPlan, StepFailure};

/// How every container path is resolved: inside the rootfs, no magic links.
const RESOLVE: u64 = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;

/// [`RESOLVE`], and `RESOLVE_NO_SYMLINKS` with `no_symlinks`.
///
/// Runs in the child: no allocation, no locks.
fn resolve_flags(no_symlinks: bool) -> u64 {
    if no_symlinks {
        RESOLVE | libc::RESOLVE_NO_SYMLINKS
    } else {
        RESOLVE
    }
}

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

/// Attaches a step number to an errno.
fn at(step: u32) -> impl Fn(i32) -> StepFailure {
    move |errno| StepFailure { step, errno }
}

/// `/proc/self/fd/<n>` in a stack buffer. Only for steps before the root switch, where
/// `/proc` is the host's procfs; after it, `/proc` is the container's, and every step there
/// acts on fds (mount_setattr, move_mount, the fd as the current directory).
///
/// Runs in the child: no allocation, no locks.
pub(crate) struct ProcFdPath {
    /// NUL-terminated path.
    buf: [u8; 32],
}

impl ProcFdPath {
    /// Formats the path of `fd`.
    ///
    /// Runs in the child: no allocation, no locks.
    pub(crate) fn new(fd: BorrowedFd<'_>) -> Self {
        const PREFIX: &[u8] = b"/proc/self/fd/";
        let mut buf = [0u8; 32];
        let mut len = 0;
        for (dst, src) in buf.iter_mut().zip(PREFIX) {
            *dst = *src;
            len += 1;
        }
        let mut digits = [0u8; 10];
        let mut n = fd.as_raw_fd().unsigned_abs();
        let mut count = 0;
        loop {
            if let Some(d) = digits.get_mut(count) {
                // n % 10 < 10, so the cast cannot truncate.
                *d = b'0' + (n % 10) as u8;
            }
            count += 1;
            n /= 10;
            if n == 0 || count >= digits.len() {
                break;
            }
        }
        for i in (0..count).rev() {
            if let (Some(dst), Some(src)) = (buf.get_mut(len), digits.get(i)) {
                *dst = *src;
            }
            len += 1;
        }
        // The buffer was zeroed, so it stays NUL-terminated (at most 14 + 10 < 32 bytes used).
        ProcFdPath { buf }
    }

    /// The path as a C string.
    ///
    /// Runs in the child: no allocation, no locks.
    pub(crate) fn as_cstr(&self) -> &CStr {
        CStr::from_bytes_until_nul(&self.buf).unwrap_or(c"/proc/self/fd/")
    }
}

/// Opens `rel` inside the root with `RESOLVE_IN_ROOT`, and `RESOLVE_NO_SYMLINKS` when
/// `no_symlinks`.
///
/// Runs in the child: no allocation, no locks.
fn open_in_root(root: BorrowedFd<'_>, rel: &CStr, dir: bool, no_symlinks: bool) -> SysResult<OwnedFd> {
    let mut flags = libc::O_PATH | libc::O_CLOEXEC;
    if dir {
        flags |= libc::O_DIRECTORY;
    }
    sys::openat2(root, rel, flags, resolve_flags(no_symlinks))
}

/// Resolves `target` inside the root, creating missing directories one component at a time
/// (mkdirat in the already-resolved parent, never a multi-component mkdir) and, for
/// `Some(Leaf::File)`, an empty file at the end. `None` creates nothing.
///
/// Runs in the child: no allocation, no locks.
fn resolve(root: BorrowedFd<'_>, target: &Target, leaf: Option<Leaf>) -> SysResult<OwnedFd> {
    let Some(full) = target.prefixes.last() else {
        return open_in_root(root, c".", true, false);
    };
    let leaf_is_dir = leaf != Some(Leaf::File);
    let strict = target.no_symlinks;
    match open_in_root(root, full, leaf == Some(Leaf::Dir), strict) {
        Ok(fd) => return Ok(fd),
        Err(libc::ENOENT) if leaf.is_some() => {}
        Err(e) => return Err(e),
    }
    let count = target.prefixes.len();
    // A single component: its parent is the base directory itself.
    if let (1, Some(name)) = (count, target.names.first()) {
        create_entry(root, name, leaf_is_dir)?;
        return open_in_root(root, full, leaf_is_dir, strict);
    }
    // Usually only the last component is missing: open its parent directly (resolved in the
    // root like every other open) and create it there, instead of walking from the root.
    if let (Some(parent_path), Some(name)) = (
        count.checked_sub(2).and_then(|i| target.prefixes.get(i)),
        target.names.last(),
    ) {
        match open_in_root(root, parent_path, true, strict) {
            Ok(dir) => {
                create_entry(dir.as_fd(), name, leaf_is_dir)?;
                return open_in_root(root, full, leaf_is_dir, strict);
            }
            Err(libc::ENOENT) => {}
            Err(e) => return Err(e),
        }
    }
    let mut parent: Option<OwnedFd> = None;
    for (i, (prefix, name)) in target.prefixes.iter().zip(&target.names).enumerate() {
        let last = i + 1 == count;
        let want_dir = !last || leaf_is_dir;
        let fd = match open_in_root(root, prefix, want_dir, strict) {
            Ok(fd) => fd,
            Err(libc::ENOENT) => {
                create_entry(parent.as_ref().map_or(root, AsFd::as_fd), name, want_dir)?;
                open_in_root(root, prefix, want_dir, strict)?
            }
            Err(e) => return Err(e),
        };
        parent = Some(fd);
    }
    parent.ok_or(libc::ENOENT)
}

/// Creates the directory (or, with `dir` false, the empty file) `name` in `parent`; an existing
/// entry is fine: a lost race, or a dangling symlink, which the caller's reopen then refuses.
///
/// Runs in the child: no allocation, no locks.
fn create_entry(parent: BorrowedFd<'_>, name: &CStr, dir: bool) -> SysResult<()> {
    let created = if dir {
        sys::mkdirat(parent, name, 0o755)
    } else {
        sys::openat(
            parent,
            name,
            libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            0o644,
        )
        .map(drop)
    };
    match created {
        Ok(()) | Err(libc::EEXIST) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Gives the mount whose root `fd` is the per-mount flags of `r`, on that fd, with no path:
/// one mount_setattr(2) where the kernel has it; otherwise [`remount_in_place`].
///
/// Runs in the child: no allocation, no locks.
fn remount_fd(fd: BorrowedFd<'_>, r: &Remount) -> Result<(), StepFailure> {
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
fn remount_in_place(fd: BorrowedFd<'_>, r: &Remount) -> Result<(), StepFailure> {
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

/// The state the ops share.
struct Ctx<'p> {
    /// The rootfs directory, once opened.
    root: Option<OwnedFd>,
    /// What a cgroup v1 op left for [`MountPlan::bind_late_cgroups`].
    late: Option<LateCgroups>,
    /// The parent directory the last device or symlink op resolved below /dev or the root,
    /// with its path there: the next such op with the same parent reuses it. Any other op
    /// drops it.
    parent: Option<((Base, &'p CStr), OwnedFd)>,
    /// The container's /dev, where the runtime makes its device nodes and symlinks.
    dev: DevDir,
    /// The null device masks are bound from, once the first mask of a file opened it.
    null: Option<OwnedFd>,
    /// The procfs at /proc or the sysfs at /sys the last mask or read-only path under it
    /// opened and checked: the next one under the same reuses it. Any other op drops it.
    pseudo: Option<(Base, OwnedFd)>,
    /// Where the rootfs's root is, once a check needed it.
    root_place: Option<sys::Place>,
    /// The umask the process had before the device nodes, while they are made with umask 0.
    saved_umask: Option<libc::mode_t>,
    /// The container's /dev and console, once the console op found them.
    console: Option<Console>,
}

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

/// What [`MountPlan::execute_with`] and [`MountPlan::execute_leaving_cgroups`] leave for the
/// steps after the root switch.
#[derive(Debug, Default)]
pub struct Finished {
    /// The cgroup binds left for [`MountPlan::bind_late_cgroups`], when the plan left any.
    pub late: Option<LateCgroups>,
    /// The container's /dev and console, with [`crate::RootfsConfig::console`].
    pub console: Option<Console>,
}

/// The cgroup v1 binds a plan left for later: the cgroup tmpfs, with a directory for each
/// hierarchy. Hand it to [`MountPlan::bind_late_cgroups`] with the binds, once the container's
/// cgroup directories exist.
#[derive(Debug)]
pub struct LateCgroups {
    /// The index of the cgroup v1 op in the plan.
    op: usize,
    /// The root of the cgroup tmpfs.
    tmpfs: OwnedFd,
}

/// The container's /dev as the runtime's device nodes and symlinks see it ([`Base::Dev`]).
enum DevDir {
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
    /// The directory `target` of a device or symlink op, resolved inside the root or the
    /// container's /dev (creating what is missing, following no symlink) and checked to be
    /// on neither procfs nor sysfs (at `check_step`), or the one the previous such op resolved
    /// for the same path; `None` when it is under a /dev the runtime makes nothing in
    /// ([`DevDir::NotOurs`]).
    ///
    /// Runs in the child: no allocation, no locks.
    fn parent_dir(
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
    fn dev_dir(&mut self, step: u32, check_step: u32) -> Result<Option<BorrowedFd<'_>>, StepFailure> {
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
    fn console_dev(&mut self, step: u32, check_step: u32) -> Result<(BorrowedFd<'_>, bool), StepFailure> {
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
    fn root_place(&mut self, step: u32) -> Result<sys::Place, StepFailure> {
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
    fn null_device(&mut self, steps: &NullSteps) -> Result<BorrowedFd<'_>, StepFailure> {
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
    fn base(&mut self, target: &Target, base_step: u32) -> Result<BorrowedFd<'_>, StepFailure> {
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
    fn check_not_root(&mut self, target: BorrowedFd<'_>, step: u32) -> Result<(), StepFailure> {
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
    fn zero_umask(&mut self) {
        if self.saved_umask.is_none() {
            self.saved_umask = Some(sys::umask(0));
        }
    }

    /// Puts back the umask [`Ctx::zero_umask`] replaced.
    ///
    /// Runs in the child: no allocation, no locks.
    fn restore_umask(&mut self) {
        if let Some(mask) = self.saved_umask.take() {
            sys::umask(mask);
        }
    }

    /// The rootfs fd, or EBADF (with `step`) when the plan did not open it yet.
    ///
    /// Runs in the child: no allocation, no locks.
    fn root(&self, step: u32) -> Result<BorrowedFd<'_>, StepFailure> {
        self.root.as_ref().map(AsFd::as_fd).ok_or(StepFailure {
            step,
            errno: libc::EBADF,
        })
    }
}

/// Makes the mount(2) call of `action` onto `target`.
///
/// Runs in the child: no allocation, no locks.
fn mount_action(action: &Action, target: &CStr) -> Result<(), StepFailure> {
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
fn run_mount(ctx: &mut Ctx, op: &MountOp) -> Result<(), StepFailure> {
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
        } => sys::dup_cloexec(tree.as_fd()).map_err(at(*step)),
        Action::Bind {
            source,
            tree: Some(tree),
            flags,
            step,
            ..
        } => match sys::clone_mount(source, flags & libc::MS_REC != 0) {
            Err(libc::EACCES) => sys::dup_cloexec(tree.as_fd()).map_err(at(*step)),
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
fn mount_and_follow_up(ctx: &mut Ctx, op: &MountOp) -> Result<Option<OwnedFd>, StepFailure> {
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
        Some(c) => Some(
            sys::openat(
                fd.as_fd(),
                c".",
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
                0,
            )
            .map_err(at(c.open_step))?,
        ),
        None => None,
    };
    let new = detached_mount(&op.action)?;
    if let (Some(c), Some(src)) = (&op.copyup, &copy_from) {
        let dst = sys::openat(
            new.as_fd(),
            c".",
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
            0,
        )
        .map_err(at(c.copy_step))?;
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

/// Opens the directory `name` (one component) in `dir` without following a symlink: a mount
/// point there yields the root of what is mounted on it.
///
/// Runs in the child: no allocation, no locks.
fn open_subdir(dir: BorrowedFd<'_>, name: &CStr) -> SysResult<OwnedFd> {
    sys::openat(
        dir,
        name,
        libc::O_PATH | libc::O_NOFOLLOW | libc::O_DIRECTORY | libc::O_CLOEXEC,
        0,
    )
}

/// Mounts the cgroup v1 tmpfs, the hierarchies in it and their links, then makes the tree
/// read-only (or whatever per-mount flags the spec asks for).
///
/// Runs in the child: no allocation, no locks.
fn run_cgroup_v1(ctx: &mut Ctx, op: &CgroupV1Op, index: usize, leave: bool) -> Result<(), StepFailure> {
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
fn seal_cgroup_tree(tmpfs: BorrowedFd<'_>, op: &CgroupV1Op) -> Result<(), StepFailure> {
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
fn run_device<'p>(ctx: &mut Ctx<'p>, op: &'p DeviceOp) -> Result<(), StepFailure> {
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
    let node =
        sys::openat(parent, name, libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC, 0).map_err(at(m.chown_step))?;
    let st = sys::fstat(node.as_fd()).map_err(at(m.chown_step))?;
    if !is_node(&st, m) {
        return Err(at(m.chown_step)(libc::EEXIST));
    }
    if (st.st_uid, st.st_gid) != (m.uid, m.gid) {
        sys::fchown_fd(node.as_fd(), m.uid, m.gid).map_err(at(m.chown_step))?;
    }
    // After a chown (which may clear setuid/setgid bits) the mode goes on again; through the
    // host's /proc/self/fd (before the root switch), which leads to exactly that inode.
    sys::chmod(ProcFdPath::new(node.as_fd()).as_cstr(), perm).map_err(at(m.chmod_step))
}

/// Creates one symlink; an existing entry is kept unless `replace`.
///
/// Runs in the child: no allocation, no locks.
fn run_symlink<'p>(ctx: &mut Ctx<'p>, op: &'p SymlinkOp) -> Result<(), StepFailure> {
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

/// Refuses (EACCES) a directory on procfs or sysfs as the place of the runtime's own entries.
///
/// Runs in the child: no allocation, no locks.
fn check_runtime_dir(dir: BorrowedFd<'_>) -> SysResult<()> {
    let magic = sys::fstatfs(dir)?.magic;
    if magic == sys::PROC_SUPER_MAGIC || magic == sys::SYSFS_MAGIC {
        return Err(libc::EACCES);
    }
    Ok(())
}

/// Creates the empty file `name` in `dir` when nothing is there and opens what is there
/// (`O_PATH|O_NOFOLLOW`) for a bind mount onto it: a symlink is refused (ELOOP), and so is a
/// directory (EISDIR).
///
/// Runs in the child: no allocation, no locks.
fn open_bind_target(dir: BorrowedFd<'_>, name: &CStr) -> SysResult<OwnedFd> {
    create_entry(dir, name, false)?;
    let fd = sys::openat(dir, name, libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC, 0)?;
    match sys::fstat(fd.as_fd())?.st_mode & libc::S_IFMT {
        libc::S_IFLNK => Err(libc::ELOOP),
        libc::S_IFDIR => Err(libc::EISDIR),
        _ => Ok(fd),
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
fn run_console(ctx: &mut Ctx, op: &ConsoleOp) -> Result<(), StepFailure> {
    let (dev, ours) = ctx.console_dev(op.dev_step, op.check_step)?;
    let target = if ours {
        Some(open_bind_target(dev, c"console").map_err(at(op.open_step))?)
    } else {
        match sys::openat(dev, c"console", libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC, 0) {
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
    let magic = sys::fstatfs(console)?.magic;
    if magic == sys::PROC_SUPER_MAGIC || magic == sys::SYSFS_MAGIC {
        return Err(libc::EXDEV);
    }
    Ok(())
}

/// pivot_root(".", ".") in the rootfs, then detach the old root (runc's pivotRoot).
///
/// Runs in the child: no allocation, no locks.
fn run_pivot(ctx: &Ctx, steps: &[u32; 7]) -> Result<(), StepFailure> {
    let [open_old, chdir_new, pivot, chdir_old, slave_old, detach, chdir_root] = *steps;
    let oldroot = sys::open(c"/", libc::O_DIRECTORY | libc::O_PATH | libc::O_CLOEXEC).map_err(at(open_old))?;
    sys::fchdir(ctx.root(chdir_new)?).map_err(at(chdir_new))?;
    sys::pivot_root(c".", c".").map_err(at(pivot))?;
    sys::fchdir(oldroot.as_fd()).map_err(at(chdir_old))?;
    // Make sure the unmount below cannot propagate anywhere.
    sys::mount(None, c".", None, libc::MS_SLAVE | libc::MS_REC, None).map_err(at(slave_old))?;
    sys::umount2(c".", libc::MNT_DETACH).map_err(at(detach))?;
    sys::chdir(c"/").map_err(at(chdir_root))
}

/// chroot into the rootfs bind, for a container in the runtime's mount namespace (runc's
/// chroot without CLONE_NEWNS): its mounts stay where they are, the host's.
///
/// Runs in the child: no allocation, no locks.
fn run_chroot(ctx: &Ctx, steps: &[u32; 3]) -> Result<(), StepFailure> {
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
fn run_move_root(ctx: &Ctx, detach: &[DetachOp], steps: &[u32; 4]) -> Result<(), StepFailure> {
    for d in detach {
        detach_host_mount(d)?;
    }
    let [chdir_new, mv, chroot, chdir_root] = *steps;
    let root = ctx.root(chdir_new)?;
    sys::fchdir(root).map_err(at(chdir_new))?;
    // The mount the rootfs fd is on, by fd: a lookup of the rootfs path would find the top of
    // whatever is stacked there.
    sys::move_mount_to_root(root).map_err(at(mv))?;
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
        match sys::mount(None, &d.path, None, libc::MS_SLAVE | libc::MS_REC, None) {
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

/// Runs one op.
///
/// Runs in the child: no allocation, no locks.
fn run_op<'p>(ctx: &mut Ctx<'p>, op: &'p Op, index: usize, leave: bool) -> Result<(), StepFailure> {
    if !matches!(op, Op::Device(_) | Op::Symlink(_)) {
        ctx.parent = None;
    }
    if !op.under_pseudo_base() {
        ctx.pseudo = None;
    }
    match op {
        Op::Propagate {
            path,
            propagation,
            step,
        } => sys::mount(None, path, None, propagation.flags(), None).map_err(at(*step)),
        Op::ParentPrivate { candidates, step } => {
            for dir in candidates {
                match sys::mount(None, dir, None, libc::MS_PRIVATE, None) {
                    Ok(()) => return Ok(()),
                    // Not a mount point: try the parent directory.
                    Err(libc::EINVAL) => {}
                    Err(e) => return Err(at(*step)(e)),
                }
            }
            Err(at(*step)(libc::EINVAL))
        }
        Op::BindRootfs { rootfs, step } => {
            sys::mount(Some(rootfs), rootfs, None, libc::MS_BIND | libc::MS_REC, None).map_err(at(*step))
        }
        Op::HostRoot { fd, step } => {
            // A copy of its own: the caller's stays open until the plan has run (`source_fds`).
            let fd = sys::dup_raw_cloexec(*fd).map_err(at(*step))?;
            ctx.root = Some(fd);
            Ok(())
        }
        Op::OpenRoot { rootfs, step } => {
            let fd = sys::open(rootfs, libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC).map_err(at(*step))?;
            ctx.root = Some(fd);
            Ok(())
        }
        Op::Mount(m) => run_mount(ctx, m),
        Op::CgroupV1(c) => run_cgroup_v1(ctx, c, index, leave),
        Op::Device(d) => run_device(ctx, d),
        Op::Symlink(s) => run_symlink(ctx, s),
        Op::Console(c) => run_console(ctx, c),
        Op::Pivot { steps } => run_pivot(ctx, steps),
        Op::Chroot { steps } => run_chroot(ctx, steps),
        Op::MoveRoot { detach, steps } => run_move_root(ctx, detach, steps),
        Op::ReadonlyPath(r) => run_readonly_path(ctx, r),
        Op::MaskPath(m) => run_mask(ctx, m),
        Op::RemountPath {
            target,
            resolve_step,
            remount: r,
        } => {
            // /dev by the fd its mount left, / by the rootfs fd: no lookup.
            let base = match target.base {
                Base::Dev => match ctx.dev_dir(*resolve_step, *resolve_step)? {
                    Some(dev) => dev,
                    None => return Ok(()),
                },
                _ => ctx.root(*resolve_step)?,
            };
            if target.prefixes.is_empty() {
                return remount_fd(base, r);
            }
            let fd = resolve(base, target, None).map_err(at(*resolve_step))?;
            remount_fd(fd.as_fd(), r)
        }
    }
}

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
fn run_readonly_path(ctx: &mut Ctx, op: &ReadonlyOp) -> Result<(), StepFailure> {
    let Some(fd) = resolve_listed(ctx, &op.path, op.path.resolve_step)? else {
        return Ok(());
    };
    // A detached rbind of exactly the resolved place, made read-only and attached onto it by
    // fd: nothing looks the path up again to find the new mount.
    let bind = sys::clone_mount_fd(fd.as_fd()).map_err(at(op.bind_step))?;
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
fn run_mask(ctx: &mut Ctx, op: &MaskOp) -> Result<(), StepFailure> {
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

/// Why [`MountPlan::execute_with`] stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop<E> {
    /// A step of the plan failed.
    Step(StepFailure),
    /// The caller's `before_switch` failed.
    Caller(E),
}

impl MountPlan {
    /// Runs the plan in the container's init child, which must already be in its own mount
    /// namespace; ends in the new root with the current directory `/`.
    ///
    /// Runs in the child: no allocation, no locks.
    pub fn execute(&self) -> Result<(), StepFailure> {
        self.execute_with(|| Ok::<(), ()>(()))
            .map(drop)
            .map_err(|stop| match stop {
                Stop::Step(f) => f,
                Stop::Caller(()) => unreachable!("the caller's pause cannot fail"),
            })
    }

    /// Like [`execute`](Self::execute), but calls `before_switch` once every mount, device
    /// and symlink is in place, and before the read-only paths, masks and the root switch
    /// (pivot_root, or the move with `no_pivot`): where OCI's createContainer hooks run. Its
    /// error stops the plan. Returns what the plan leaves for after the switch (no late cgroup
    /// binds).
    ///
    /// Runs in the child: no allocation, no locks (as long as `before_switch` has none).
    pub fn execute_with<E>(&self, before_switch: impl FnOnce() -> Result<(), E>) -> Result<Finished, Stop<E>> {
        self.run(before_switch, false)
    }

    /// Like [`execute`](Self::execute), but leaves the binds of cgroup directories that were
    /// not ready at the start ([`crate::CgroupMount::ready_at_start`]) for the end, where the
    /// plan allows it, and returns them ([`Finished::late`]): attach them with
    /// [`bind_late_cgroups`](Self::bind_late_cgroups) once the directories exist, before the
    /// process gives up the capability to mount.
    ///
    /// Runs in the child: no allocation, no locks.
    pub fn execute_leaving_cgroups(&self) -> Result<Finished, StepFailure> {
        self.run(|| Ok::<(), ()>(()), true).map_err(|stop| match stop {
            Stop::Step(f) => f,
            Stop::Caller(()) => unreachable!("the empty pause cannot fail"),
        })
    }

    /// Runs every op, calling `before_switch` before the read-only paths, masks and root
    /// switch; with `leave`, late cgroup binds are left and returned.
    ///
    /// Runs in the child: no allocation, no locks (as long as `before_switch` has none).
    fn run<E>(&self, before_switch: impl FnOnce() -> Result<(), E>, leave: bool) -> Result<Finished, Stop<E>> {
        let mut ctx = Ctx {
            root: None,
            late: None,
            parent: None,
            dev: DevDir::Unknown,
            null: None,
            pseudo: None,
            root_place: None,
            saved_umask: None,
            console: None,
        };
        let mut pause = Some(before_switch);
        for (index, op) in self.ops.iter().enumerate() {
            if !matches!(op, Op::Device(_)) {
                ctx.restore_umask();
            }
            if op.follows_create_hooks()
                && let Some(f) = pause.take()
            {
                f().map_err(Stop::Caller)?;
            }
            if let Err(f) = run_op(&mut ctx, op, index, leave) {
                ctx.restore_umask();
                return Err(Stop::Step(f));
            }
        }
        ctx.restore_umask();
        if let Some(f) = pause.take() {
            f().map_err(Stop::Caller)?;
        }
        Ok(Finished {
            late: ctx.late,
            console: ctx.console,
        })
    }

    /// Attaches the binds [`execute_leaving_cgroups`](Self::execute_leaving_cgroups) left: one
    /// detached bind of the container's directory per hierarchy, in the order of
    /// [`crate::RootfsConfig::cgroup_mounts`] (made in the parent by [`crate::detached_bind`]),
    /// each onto its directory in the cgroup tmpfs; then seals the tree (read-only, or the
    /// spec's flags) with one recursive mount_setattr.
    ///
    /// Runs in the child: no allocation, no locks.
    pub fn bind_late_cgroups<'a>(
        &self,
        late: LateCgroups,
        binds: impl IntoIterator<Item = BorrowedFd<'a>>,
    ) -> Result<(), StepFailure> {
        let Some(Op::CgroupV1(op)) = self.ops.get(late.op) else {
            return Err(StepFailure {
                step: 0,
                errno: libc::EINVAL,
            });
        };
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

    /// Whether the plan leaves cgroup binds for [`bind_late_cgroups`](Self::bind_late_cgroups)
    /// when run with [`execute_leaving_cgroups`](Self::execute_leaving_cgroups).
    pub fn has_late_cgroup_binds(&self) -> bool {
        self.ops.iter().any(|op| matches!(op, Op::CgroupV1(c) if c.late))
    }

    /// Whether the plan binds, before it ends, a cgroup directory that was not ready at its
    /// start ([`crate::CgroupMount::ready_at_start`]), even when run with
    /// [`execute_leaving_cgroups`](Self::execute_leaving_cgroups): the caller must make it
    /// before the plan runs.
    pub fn needs_cgroup_dirs(&self) -> bool {
        self.needs_cgroup_dirs
    }

    /// The fds of the bind sources the parent opened for a new user namespace
    /// ([`crate::RootfsConfig::new_user_namespace`]), and of the rootfs bind in the runtime's
    /// mount namespace ([`crate::RootfsConfig::host_root`]): the child must keep them open
    /// until the plan has run, and may close them then.
    ///
    /// Runs in the child too: no allocation, no locks.
    pub fn source_fds(&self) -> impl Iterator<Item = std::os::fd::RawFd> + '_ {
        use std::os::fd::AsRawFd;
        self.ops.iter().filter_map(|op| match op {
            Op::Mount(MountOp {
                action: Action::Bind { tree: Some(tree), .. },
                ..
            }) => Some(tree.as_raw_fd()),
            Op::HostRoot { fd, .. } => Some(*fd),
            _ => None,
        })
    }
}
