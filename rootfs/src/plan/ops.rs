//! The op model: the operations a compiled plan holds, which the child executes in order
//! (`crate::child`). Everything here is data the parent prepared: C strings, flags, step
//! numbers.

use std::ffi::CString;

use libc::{c_ulong, dev_t, gid_t, mode_t, uid_t};

use crate::Propagation;
use crate::sys::MountAttr;

/// A path inside the container, prepared for component-by-component resolution in the rootfs.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// Relative prefixes: `dev`, `dev/pts`.
    pub(crate) prefixes: Vec<CString>,
    /// The single components: `dev`, `pts`.
    pub(crate) names: Vec<CString>,
    /// Resolve without following any symlink (`RESOLVE_NO_SYMLINKS`), not even one that stays
    /// inside the rootfs: for the lxcfs files under /proc a mount may cover.
    pub(crate) no_symlinks: bool,
    /// What `prefixes` are relative to.
    pub(crate) base: Base,
}

/// The directory a [`Target`]'s prefixes are resolved in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Base {
    /// The container's root (the rootfs).
    Root,
    /// The procfs the plan mounted at /proc, as `proc` of the rootfs (opened without following
    /// symlinks) leads to it and checked to be a procfs: masks and read-only paths under /proc.
    Proc,
    /// The sysfs the plan mounted at /sys, likewise: masks and read-only paths under /sys.
    Sys,
    /// The container's /dev, where the runtime makes its device nodes and symlinks: the
    /// filesystem the plan mounted at /dev (its fd, kept from the mount), or without one
    /// `dev` of the rootfs, opened without following symlinks and used only if it is on the
    /// rootfs's own mount (a volume stacked over it is not the runtime's to fill).
    Dev,
}

impl Base {
    /// The rootfs path of the base directory, as a component (empty for the root).
    pub(crate) fn name(self) -> &'static [u8] {
        match self {
            Base::Root => b"",
            Base::Proc => b"proc",
            Base::Sys => b"sys",
            Base::Dev => b"dev",
        }
    }
}

/// The pseudo-filesystems a mount's target may resolve onto, and the step that checks it
/// (fstatfs on the resolved target). A spec path that is not under /proc can still resolve
/// onto the container's procfs through a symlink in the image (`/myproc -> /proc`), and a
/// mount there would cover what the masks and read-only paths protect (CVE-2023-27561).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Placement {
    /// The target may be on procfs: a proc mount, or a destination at or under /proc that
    /// `check_proc_mount` let through.
    pub(crate) on_proc: bool,
    /// The target may be on sysfs: the destination is /sys or below it (the cgroup mount).
    pub(crate) on_sys: bool,
    /// Step of the check.
    pub(crate) step: u32,
}

/// What to create at the end of a [`Target`] when it is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Leaf {
    /// A directory (mode 0755).
    Dir,
    /// An empty regular file (mode 0644), for bind mounts of files and device nodes.
    File,
}

/// A change of the per-mount flags of one mount (not recursive), as `MS_BIND|MS_REMOUNT`
/// with `set` makes it, keeping the flags the spec did not clear (they may be locked): one
/// mount_setattr(2) of `attr` on the mount's fd, or, on kernels without it, the remount.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Remount {
    /// `MS_*` flags to set.
    pub(crate) set: c_ulong,
    /// `MS_*` flags the spec explicitly cleared (not kept from the current mount).
    pub(crate) cleared: c_ulong,
    /// The same change for mount_setattr(2).
    pub(crate) attr: MountAttr,
    /// Step of the fstatfs that reads the current flags (the remount without mount_setattr).
    pub(crate) statfs_step: u32,
    /// Step of the remount.
    pub(crate) step: u32,
}

/// The mount(2) call of a [`MountOp`].
#[derive(Debug, Clone)]
pub(crate) enum Action {
    /// Bind mount of a host path.
    Bind {
        /// Host source path.
        source: CString,
        /// In a new user namespace: the source's detached mount (open_tree(2) clone), made by
        /// the parent with the runtime's privileges, for a path the mapped root cannot reach
        /// (EACCES; runc's mount sources). The child attaches it by fd then; its flags are the
        /// source's, but not locked as a clone made in the user namespace has them.
        tree: Option<std::sync::Arc<std::os::fd::OwnedFd>>,
        /// `tree` is id-mapped (`idmap`, `ridmap`, `uidMappings`): the child attaches it, never
        /// a bind of its own (the kernel id-maps a mount only for a caller privileged over the
        /// source's filesystem, which the parent is).
        idmapped: bool,
        /// `MS_BIND`, maybe `|MS_REC`.
        flags: c_ulong,
        /// Step of the mount.
        step: u32,
    },
    /// A new filesystem instance.
    Fs {
        /// The source argument.
        source: CString,
        /// The filesystem type.
        fstype: CString,
        /// `MS_*` flags.
        flags: c_ulong,
        /// The data argument, if any.
        data: Option<CString>,
        /// The same mount for fsopen(2)/fsconfig(2)/fsmount(2), when the child needs the new
        /// mount's fd ([`MountOp::needs_handle`]).
        context: Option<FsContext>,
        /// For a proc mount: the pid namespace it shows ([`crate::RootfsConfig::proc_pid_namespace`]),
        /// which only fsconfig(2) can give it.
        pid_namespace: Option<std::os::fd::RawFd>,
        /// Step of the mount.
        step: u32,
    },
}

impl Action {
    /// The step of the mount.
    pub(crate) fn step(&self) -> u32 {
        match self {
            Action::Bind { step, .. } | Action::Fs { step, .. } => *step,
        }
    }
}

/// A new filesystem's mount as fsopen(2), fsconfig(2) and fsmount(2) make it: what mount(2)
/// with the same source, flags and data makes, but detached, with its fd in hand.
#[derive(Debug, Clone)]
pub(crate) struct FsContext {
    /// The fsconfig(2) parameters, in order: `source`, the superblock flags (`ro`, `sync`, ...)
    /// and the data options, each `key=value` or a flag `key`.
    pub(crate) params: Vec<(CString, Option<CString>)>,
    /// The `MOUNT_ATTR_*` flags of fsmount(2).
    pub(crate) attr: u64,
    /// `pidns`, set with `FSCONFIG_SET_FD`: the pid namespace a procfs shows.
    pub(crate) pid_namespace: Option<std::os::fd::RawFd>,
}

/// One mount onto a path inside the rootfs, and what follows it on the new mount.
#[derive(Debug, Clone)]
pub(crate) struct MountOp {
    /// Where, inside the rootfs.
    pub(crate) target: Target,
    /// What to create there when missing.
    pub(crate) leaf: Leaf,
    /// Step of the resolution/creation of the target.
    pub(crate) resolve_step: u32,
    /// Which pseudo-filesystems the resolved target may be on.
    pub(crate) placement: Placement,
    /// Step of checking that the resolved target is not the container's root directory itself
    /// (a symlink to `/` leads there), when the target may be reached through a symlink.
    pub(crate) not_root_step: Option<u32>,
    /// The mount itself.
    pub(crate) action: Action,
    /// The child keeps the new mount's fd after the op (the cgroup v1 tmpfs, /dev).
    pub(crate) hold: bool,
    /// The mount is the container's /dev, a new filesystem: the child keeps its fd as the
    /// directory it makes the device nodes and symlinks in ([`Base::Dev`]).
    pub(crate) dev: bool,
    /// Per-mount flags to apply after a bind.
    pub(crate) remount: Option<Remount>,
    /// Propagation changes, in order, each with its step.
    pub(crate) propagation: Vec<(Propagation, u32)>,
    /// Recursive attributes (mount_setattr with `AT_RECURSIVE`) and their step.
    pub(crate) attrs: Option<(MountAttr, u32)>,
    /// `tmpcopyup`: copy the target's old contents into the new tmpfs.
    pub(crate) copyup: Option<CopyUp>,
}

/// Steps of a `tmpcopyup`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CopyUp {
    /// Step of opening the target directory (before the mount) for reading.
    pub(crate) open_step: u32,
    /// Step of opening the new tmpfs and copying.
    pub(crate) copy_step: u32,
}

impl MountOp {
    /// Whether the child needs the new mount's fd: anything acts on the new mount after it is
    /// made, or the child keeps it. The mount is then made detached (open_tree(2) for a bind,
    /// fsmount(2) for a new filesystem) and attached by fd, and everything that follows acts
    /// on that fd: no path is walked again to find the new mount, which a symlink or a racing
    /// rename could send elsewhere.
    pub(crate) fn needs_handle(&self) -> bool {
        matches!(
            self.action,
            Action::Fs {
                pid_namespace: Some(_),
                ..
            }
        ) || self.hold
            || matches!(self.action, Action::Bind { tree: Some(_), .. })
            || self.remount.is_some()
            || !self.propagation.is_empty()
            || self.attrs.is_some()
            || self.copyup.is_some()
    }
}

/// What a mount of type "cgroup" becomes on cgroup v1 (or hybrid), as runc makes it: a tmpfs
/// with one directory per hierarchy, each a bind of the container's host cgroup (or, with a
/// cgroup namespace, a new cgroup mount), and symlinks for co-mounted controllers.
#[derive(Debug, Clone)]
pub(crate) struct CgroupV1Op {
    /// The tmpfs at the destination; the child holds its root open (`hold`) for the rest.
    pub(crate) tmpfs: MountOp,
    /// The hierarchies, in order.
    pub(crate) hierarchies: Vec<CgroupHierarchy>,
    /// Attributes that one recursive mount_setattr(2) on the tmpfs applies to it and every
    /// hierarchy, leaving the state the remounts below would; with its step. `None` when no
    /// single set does (the remounts then run, as they do on kernels without mount_setattr).
    /// Unlike the remounts it also reaches mounts below a hierarchy's host directory, which
    /// the rbind carries along (a host has none there in practice): they end read-only too.
    pub(crate) attrs: Option<(MountAttr, u32)>,
    /// The read-only remount of the tmpfs (spec `ro`).
    pub(crate) tmpfs_remount: Option<Remount>,
    /// The hierarchies may be bound at the end of the plan, by [`crate::MountPlan::bind_late_cgroups`],
    /// instead of here: each has its `late_step`, and nothing after this op depends on them.
    pub(crate) late: bool,
}

/// One hierarchy under the cgroup tmpfs.
#[derive(Debug, Clone)]
pub(crate) struct CgroupHierarchy {
    /// Its directory in the tmpfs, a single validated component (`cpu`, `cpu,cpuacct`).
    pub(crate) name: CString,
    /// Step of mkdirat in the tmpfs.
    pub(crate) mkdir_step: u32,
    /// Step of opening the new directory.
    pub(crate) open_step: u32,
    /// The mount onto the directory.
    pub(crate) action: Action,
    /// For a bind: the step of reopening it after the mount, and the remount with the spec's flags.
    pub(crate) remount: Option<(u32, Remount)>,
    /// Symlinks in the tmpfs to this hierarchy (`cpu` for `cpu,cpuacct`), each with its step.
    pub(crate) links: Vec<(CString, u32)>,
    /// Step of attaching the detached bind the caller made ([`crate::detached_bind`]) in the
    /// tmpfs, when the op is late.
    pub(crate) late_step: Option<u32>,
}

/// mknod parameters of a device node.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mknod {
    /// File type bits | permission bits.
    pub(crate) mode: mode_t,
    /// Device number.
    pub(crate) dev: dev_t,
    /// Owner.
    pub(crate) uid: uid_t,
    /// Group.
    pub(crate) gid: gid_t,
    /// Step of mknodat.
    pub(crate) mknod_step: u32,
    /// Step of fchownat.
    pub(crate) chown_step: u32,
    /// Step of fchmodat (mknod is subject to the umask).
    pub(crate) chmod_step: u32,
}

/// One device node inside the rootfs.
#[derive(Debug, Clone)]
pub(crate) struct DeviceOp {
    /// The directory that holds the node, resolved without following symlinks.
    pub(crate) parent: Target,
    /// Step of resolving/creating the parent directory.
    pub(crate) parent_step: u32,
    /// Step of checking that the parent directory is on neither procfs nor sysfs.
    pub(crate) check_step: u32,
    /// The node's name in its parent.
    pub(crate) name: CString,
    /// `None` in a user namespace: bind-mount the host node instead.
    pub(crate) mknod: Option<Mknod>,
    /// Step of creating (when missing) and opening, without following a symlink, the entry
    /// the host node is bound onto.
    pub(crate) open_step: u32,
    /// The host node (same path on the host, as runc).
    pub(crate) host: CString,
    /// Step of the bind mount.
    pub(crate) bind_step: u32,
}

/// A symlink inside the rootfs.
#[derive(Debug, Clone)]
pub(crate) struct SymlinkOp {
    /// The directory that holds the link, resolved without following symlinks.
    pub(crate) parent: Target,
    /// Step of resolving/creating the parent directory.
    pub(crate) parent_step: u32,
    /// Step of checking that the parent directory is on neither procfs nor sysfs.
    pub(crate) check_step: u32,
    /// The link's name in its parent.
    pub(crate) name: CString,
    /// What the link points to.
    pub(crate) link: CString,
    /// Remove what is there first (`/dev/ptmx`); otherwise an existing entry is kept.
    pub(crate) replace: bool,
    /// Step of the unlink when `replace`.
    pub(crate) unlink_step: u32,
    /// Step of symlinkat.
    pub(crate) step: u32,
}

/// The container's /dev and its console, opened for the pty that is bound there after the root
/// switch ([`crate::RootfsConfig::console`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConsoleOp {
    /// Step of getting the container's /dev: the plan's /dev mount, or `dev` of the rootfs
    /// opened without following symlinks.
    pub(crate) dev_step: u32,
    /// Step of checking that it is on neither procfs nor sysfs.
    pub(crate) check_step: u32,
    /// Step of creating (in the runtime's own /dev, when missing) and opening `console`
    /// without following a symlink, and checking what it is.
    pub(crate) open_step: u32,
}

/// One operation of the plan; the child runs them in order.
#[derive(Debug, Clone)]
pub(crate) enum Op {
    /// `mount(NULL, path, NULL, flags)`: change propagation.
    Propagate {
        /// The mount point.
        path: CString,
        /// The change (`rslave`, ...).
        propagation: Propagation,
        /// Step.
        step: u32,
    },
    /// Make the mount containing the rootfs private: try each candidate (the rootfs, then its
    /// ancestors) until one is a mount point.
    ParentPrivate {
        /// The rootfs and its ancestors, deepest first.
        candidates: Vec<CString>,
        /// Step.
        step: u32,
    },
    /// Bind-mount the rootfs onto itself (`MS_BIND|MS_REC`).
    BindRootfs {
        /// The rootfs.
        rootfs: CString,
        /// Step.
        step: u32,
    },
    /// The rootfs bind the caller made in the runtime's mount namespace
    /// ([`crate::RootfsConfig::host_root`]): a descriptor of its own for it, in which every
    /// later path resolves.
    HostRoot {
        /// The bind's root, open in the process that runs the plan.
        fd: std::os::fd::RawFd,
        /// Step.
        step: u32,
    },
    /// Open the rootfs directory; every later path resolves in it.
    OpenRoot {
        /// The rootfs.
        rootfs: CString,
        /// Step.
        step: u32,
    },
    /// A mount from the spec.
    Mount(MountOp),
    /// A cgroup v1 (or hybrid) mount: the tmpfs and every hierarchy below it.
    CgroupV1(CgroupV1Op),
    /// A device node.
    Device(DeviceOp),
    /// A symlink.
    Symlink(SymlinkOp),
    /// The container's /dev and its console, for the pty.
    Console(ConsoleOp),
    /// `pivot_root(".", ".")` and detach the old root.
    Pivot {
        /// Steps: open old root, fchdir new root, pivot_root, fchdir old root, umount2 detach,
        /// chdir "/".
        steps: [u32; 6],
        /// Step of making the old root rslave before the detach, when anything may have made
        /// one of its mounts shared since `/` was made rslave or rprivate (see
        /// [`crate::RootfsConfig::create_hooks`]).
        slave_old: Option<u32>,
    },
    /// A container in the runtime's mount namespace: chroot into the rootfs bind, whose
    /// mounts are the host's too (nothing is pivoted, moved or detached).
    Chroot {
        /// Steps: fchdir rootfs, chroot ".", chdir "/".
        steps: [u32; 3],
    },
    /// `--no-pivot`: detach the host's mounts outside the rootfs, move the rootfs mount onto
    /// `/` and chroot into it.
    MoveRoot {
        /// The host's mounts to detach first ([`crate::hostmounts`]).
        detach: Vec<DetachOp>,
        /// Steps: fchdir rootfs, move_mount of the rootfs fd onto `/`, chroot ".", chdir "/".
        steps: [u32; 4],
    },
    /// A read-only path: bind onto itself (recursively), then remount read-only.
    ReadonlyPath(ReadonlyOp),
    /// A masked path: the runtime's own null device over files, a read-only tmpfs over
    /// directories.
    MaskPath(MaskOp),
    /// A read-only remount of the mount at a path (`/dev`, `/`), resolved inside the rootfs;
    /// before the root switch.
    RemountPath {
        /// The path in the container (no components: the rootfs itself).
        target: Target,
        /// Step of resolving it inside the rootfs.
        resolve_step: u32,
        /// The remount.
        remount: Remount,
    },
}

impl Op {
    /// Whether the op is a mask or read-only path resolved in the procfs or sysfs the plan
    /// mounted ([`Base::Proc`], [`Base::Sys`]).
    pub(crate) fn under_pseudo_base(&self) -> bool {
        self.listed().is_some_and(|path| path.target.base != Base::Root)
    }

    /// The path of a read-only path or mask op.
    pub(crate) fn listed(&self) -> Option<&ListedPath> {
        match self {
            Op::ReadonlyPath(ReadonlyOp { path, .. }) | Op::MaskPath(MaskOp { path, .. }) => Some(path),
            _ => None,
        }
    }

    /// Whether the op comes after the point where the createContainer hooks run: the
    /// read-only paths, masks and read-only remounts, and the root switch.
    pub(crate) fn follows_create_hooks(&self) -> bool {
        matches!(
            self,
            Op::ReadonlyPath { .. }
                | Op::MaskPath { .. }
                | Op::RemountPath { .. }
                | Op::Pivot { .. }
                | Op::Chroot { .. }
                | Op::MoveRoot { .. }
        )
    }
}

/// One of the host's mount points for a `--no-pivot` plan to detach, with the mounts stacked
/// there, before the rootfs moves onto `/`.
#[derive(Debug, Clone)]
pub(crate) struct DetachOp {
    /// The absolute host path.
    pub(crate) path: CString,
    /// A full procfs or sysfs: covered with a tmpfs when it cannot be detached.
    pub(crate) pseudo: bool,
    /// Step of making it rslave, so that the unmount propagates nowhere.
    pub(crate) slave_step: u32,
    /// Step of the lazy unmount.
    pub(crate) umount_step: u32,
    /// Step of covering it with a tmpfs.
    pub(crate) cover_step: u32,
}

/// A path of `linux.readonlyPaths` or `linux.maskedPaths`, resolved inside the rootfs (in the
/// procfs or sysfs the plan mounted, for one under /proc or /sys) before the root switch.
#[derive(Debug, Clone)]
pub(crate) struct ListedPath {
    /// The path in the container.
    pub(crate) target: Target,
    /// Step of opening and checking the target's base (/proc or /sys), when it has one.
    pub(crate) base_step: u32,
    /// Step of resolving it inside the rootfs.
    pub(crate) resolve_step: u32,
    /// Step of checking that it did not resolve to the container's root directory itself.
    pub(crate) not_root_step: u32,
}

/// A read-only path (`linux.readonlyPaths`).
#[derive(Debug, Clone)]
pub(crate) struct ReadonlyOp {
    /// Where it is.
    pub(crate) path: ListedPath,
    /// Step of the detached rbind of it (open_tree(2) of the resolved fd).
    pub(crate) bind_step: u32,
    /// Step of attaching that bind onto it (move_mount(2) onto the resolved fd).
    pub(crate) attach_step: u32,
    /// The read-only remount.
    pub(crate) remount: Remount,
}

/// A masked path (`linux.maskedPaths`).
#[derive(Debug, Clone)]
pub(crate) struct MaskOp {
    /// Where it is.
    pub(crate) path: ListedPath,
    /// Data for the tmpfs (the mount label), if any.
    pub(crate) data: Option<CString>,
    /// Steps of opening and checking the null device (shared by every mask).
    pub(crate) null: NullSteps,
    /// Step of the bind of the null device.
    pub(crate) bind_step: u32,
    /// Step of the tmpfs mount.
    pub(crate) tmpfs_step: u32,
}

/// The steps of getting the null device masks are bound from: the host's `/dev/null`, opened
/// in the child before the root switch and checked on that fd (CVE-2025-31133).
#[derive(Debug, Clone, Copy)]
pub(crate) struct NullSteps {
    /// Step of opening the host's `/dev/null`.
    pub(crate) open_step: u32,
    /// Step of checking that it is the character device 1:3.
    pub(crate) check_step: u32,
}
