//! Compiling the spec's filesystem part into a [`MountPlan`] (runs in the parent).

use std::ffi::{CString, OsStr};
use std::fmt::Write as _;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use libc::{c_ulong, dev_t, gid_t, mode_t, uid_t};
use oci_spec::runtime::{LinuxDeviceType, Mount};

use crate::hostmounts::HostMounts;
use crate::options::{MountOptions, parse_mount_options};
use crate::sys::{
    MOUNT_ATTR_ATIME_MASK, MOUNT_ATTR_NOATIME, MOUNT_ATTR_NODEV, MOUNT_ATTR_NODIRATIME, MOUNT_ATTR_NOEXEC,
    MOUNT_ATTR_NOSUID, MOUNT_ATTR_NOSYMFOLLOW, MOUNT_ATTR_RDONLY, MOUNT_ATTR_RELATIME, MOUNT_ATTR_STRICTATIME,
    MountAttr,
};
use crate::{RootfsConfig, RootfsError, StepFailure};

/// The per-mount flags a bind remount can change (everything else is a superblock flag).
pub(crate) const PER_MOUNT_FLAGS: c_ulong = libc::MS_RDONLY
    | libc::MS_NOSUID
    | libc::MS_NODEV
    | libc::MS_NOEXEC
    | libc::MS_NOATIME
    | libc::MS_NODIRATIME
    | libc::MS_RELATIME
    | libc::MS_STRICTATIME
    | libc::MS_NOSYMFOLLOW;

/// Flags of the tmpfs runc puts under a cgroup v1 mount.
const CGROUP_TMPFS_FLAGS: c_ulong = libc::MS_NOEXEC | libc::MS_NOSUID | libc::MS_NODEV;

/// runc's default device nodes: path, major, minor (all character devices, mode 0666).
const DEFAULT_DEVICES: [(&str, u32, u32); 6] = [
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
];

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
    /// [`check_proc_mount`] let through.
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
    pub(crate) propagation: Vec<(c_ulong, u32)>,
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
    /// The op with the child keeping the new mount's fd ([`MountOp::hold`]).
    fn held(mut self, field: &str) -> Result<MountOp, RootfsError> {
        self.hold = true;
        self.with_context(field)
    }

    /// The op with the fsopen(2) form of its new filesystem's mount when the child needs the
    /// mount's fd ([`FsContext`]).
    fn with_context(mut self, field: &str) -> Result<MountOp, RootfsError> {
        if !self.needs_handle() {
            return Ok(self);
        }
        if let Action::Fs {
            source,
            flags,
            data,
            context: context @ None,
            pid_namespace,
            ..
        } = &mut self.action
        {
            let text = |c: &CString| String::from_utf8_lossy(c.to_bytes()).into_owned();
            let data = data.as_ref().map(text).unwrap_or_default();
            let mut made = fs_context(field, &text(source), *flags, &data)?;
            made.pid_namespace = *pid_namespace;
            *context = Some(made);
        }
        Ok(self)
    }

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
    /// The hierarchies may be bound at the end of the plan, by [`MountPlan::bind_late_cgroups`],
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
        /// `MS_SLAVE|MS_REC`, ...
        flags: c_ulong,
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
        /// Steps: open old root, fchdir new root, pivot_root, fchdir old root, make old root
        /// rslave, umount2 detach, chdir "/".
        steps: [u32; 7],
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
        match self {
            Op::ReadonlyPath(ReadonlyOp {
                path: ListedPath { target, .. },
                ..
            })
            | Op::MaskPath(MaskOp {
                path: ListedPath { target, .. },
                ..
            }) => target.base != Base::Root,
            _ => false,
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

/// The compiled filesystem setup of one container: every string, flag and step prepared in
/// the parent, ready for [`MountPlan::execute`] in the child.
#[derive(Debug, Clone)]
pub struct MountPlan {
    /// The operations, in order.
    pub(crate) ops: Vec<Op>,
    /// The number of steps; [`MountPlan::explain`] describes one from `cfg`.
    step_count: u32,
    /// The configuration compiled.
    cfg: RootfsConfig,
    /// Some op binds, before the plan ends, a cgroup directory that was not ready at its start.
    pub(crate) needs_cgroup_dirs: bool,
    /// With `no_pivot`, the host's mounts as the parent read them when compiling; kept so
    /// that describing the steps later finds the same ones.
    host: Option<HostMounts>,
}

/// The MS_* flag names, for messages.
const FLAG_NAMES: [(c_ulong, &str); 18] = [
    (libc::MS_RDONLY, "ro"),
    (libc::MS_NOSUID, "nosuid"),
    (libc::MS_NODEV, "nodev"),
    (libc::MS_NOEXEC, "noexec"),
    (libc::MS_SYNCHRONOUS, "sync"),
    (libc::MS_REMOUNT, "remount"),
    (libc::MS_MANDLOCK, "mand"),
    (libc::MS_DIRSYNC, "dirsync"),
    (libc::MS_NOSYMFOLLOW, "nosymfollow"),
    (libc::MS_NOATIME, "noatime"),
    (libc::MS_NODIRATIME, "nodiratime"),
    (libc::MS_BIND, "bind"),
    (libc::MS_REC, "rec"),
    (libc::MS_SILENT, "silent"),
    (libc::MS_RELATIME, "relatime"),
    (libc::MS_I_VERSION, "iversion"),
    (libc::MS_STRICTATIME, "strictatime"),
    (libc::MS_LAZYTIME, "lazytime"),
];

/// Renders `MS_*` flags as option names (`ro,nosuid`), for messages.
fn flag_names(flags: c_ulong) -> String {
    let mut out = String::new();
    for (bit, name) in FLAG_NAMES {
        if flags & bit != 0 {
            if !out.is_empty() {
                out.push(',');
            }
            out.push_str(name);
        }
    }
    if out.is_empty() {
        out.push_str("none");
    }
    out
}

/// Renders a propagation change (`rslave`, `private`), for messages.
fn propagation_name(flags: c_ulong) -> &'static str {
    let rec = flags & libc::MS_REC != 0;
    match (flags & !libc::MS_REC, rec) {
        (libc::MS_SHARED, false) => "shared",
        (libc::MS_SHARED, true) => "rshared",
        (libc::MS_SLAVE, false) => "slave",
        (libc::MS_SLAVE, true) => "rslave",
        (libc::MS_PRIVATE, false) => "private",
        (libc::MS_PRIVATE, true) => "rprivate",
        (libc::MS_UNBINDABLE, false) => "unbindable",
        (libc::MS_UNBINDABLE, true) => "runbindable",
        _ => "unknown propagation",
    }
}

/// The attributes with which one recursive mount_setattr(2) on the fresh cgroup tmpfs does
/// what the remounts would: the tmpfs (mounted with [`CGROUP_TMPFS_FLAGS`], relatime) ends
/// with `CGROUP_TMPFS_FLAGS` plus `set`'s `ro`, and each mount below it gains `set` and loses
/// `cleared`, keeping the rest (a [`Remount`]). `None` when no single set of attributes gives
/// both: `set` holds a flag or an atime mode the tmpfs must not get, or `cleared` one it keeps.
fn cgroup_tree_attrs(set: c_ulong, cleared: c_ulong) -> Option<MountAttr> {
    if set & !(CGROUP_TMPFS_FLAGS | libc::MS_RDONLY | libc::MS_RELATIME) != 0
        || cleared & (CGROUP_TMPFS_FLAGS | libc::MS_NOSYMFOLLOW) != 0
    {
        return None;
    }
    let mut attr = MountAttr::default();
    for (ms, ma) in [
        (libc::MS_RDONLY, MOUNT_ATTR_RDONLY),
        (libc::MS_NOSUID, MOUNT_ATTR_NOSUID),
        (libc::MS_NODEV, MOUNT_ATTR_NODEV),
        (libc::MS_NOEXEC, MOUNT_ATTR_NOEXEC),
    ] {
        if set & ms != 0 {
            attr.attr_set |= ma;
        }
        if cleared & ms != 0 {
            attr.attr_clr |= ma;
        }
    }
    if set & libc::MS_RELATIME != 0 {
        // A remount that names an atime flag replaces the whole atime setting, nodiratime too.
        // (MOUNT_ATTR_RELATIME is the atime value 0: nothing to add to `attr_set`.)
        attr.attr_clr |= MOUNT_ATTR_ATIME_MASK | MOUNT_ATTR_NODIRATIME;
    }
    Some(attr)
}

/// The mount_setattr(2) change that gives one mount what `MS_BIND|MS_REMOUNT` with `set`
/// gives it, keeping the flags statfs reports (ro, nosuid, nodev, noexec, nosymfollow) unless
/// `cleared` names them: those in `set` are set, those in `cleared` cleared, the rest kept;
/// nodiratime and the atime mode are replaced, as a remount replaces them (relatime unless
/// `set` says noatime or strictatime).
fn remount_attr(set: c_ulong, cleared: c_ulong) -> MountAttr {
    let mut attr = MountAttr::default();
    for (ms, ma) in [
        (libc::MS_RDONLY, MOUNT_ATTR_RDONLY),
        (libc::MS_NOSUID, MOUNT_ATTR_NOSUID),
        (libc::MS_NODEV, MOUNT_ATTR_NODEV),
        (libc::MS_NOEXEC, MOUNT_ATTR_NOEXEC),
        (libc::MS_NOSYMFOLLOW, MOUNT_ATTR_NOSYMFOLLOW),
    ] {
        if set & ms != 0 {
            attr.attr_set |= ma;
        } else if cleared & ms != 0 {
            attr.attr_clr |= ma;
        }
    }
    if set & libc::MS_NODIRATIME != 0 {
        attr.attr_set |= MOUNT_ATTR_NODIRATIME;
    } else {
        attr.attr_clr |= MOUNT_ATTR_NODIRATIME;
    }
    attr.attr_clr |= MOUNT_ATTR_ATIME_MASK;
    attr.attr_set |= atime_attr(set);
    attr
}

/// The `MOUNT_ATTR_*` atime mode mount(2) gives a mount for `flags`: strictatime over noatime
/// over the default relatime.
fn atime_attr(flags: c_ulong) -> u64 {
    if flags & libc::MS_STRICTATIME != 0 {
        MOUNT_ATTR_STRICTATIME
    } else if flags & libc::MS_NOATIME != 0 {
        MOUNT_ATTR_NOATIME
    } else {
        MOUNT_ATTR_RELATIME
    }
}

/// The fsopen(2)/fsconfig(2)/fsmount(2) form of `mount(source, _, fstype, flags, data)`
/// ([`FsContext`]): the superblock flags become fsconfig flags, the per-mount ones fsmount
/// attributes, and `data` is split the way the kernel splits mount(2)'s data: at commas
/// outside double quotes, each `key=value` or a flag `key`, the quotes of a value removed (a
/// SELinux `context="..."` holds commas). `silent` is dropped (it only quiets the kernel's
/// log of a failing mount); `iversion` has no fsconfig form and is refused.
fn fs_context(field: &str, source: &str, flags: c_ulong, data: &str) -> Result<FsContext, RootfsError> {
    if flags & libc::MS_I_VERSION != 0 {
        return Err(invalid(
            format!("{field}.options"),
            "iversion",
            "not supported on a mount the runtime acts on after making it (tmpcopyup, propagation, \
             recursive attributes, /dev, the cgroup tmpfs)",
        ));
    }
    let opt = |s: &str| cstring(&format!("{field}.options"), s.as_bytes());
    let mut params = vec![(
        c"source".to_owned(),
        Some(cstring(&format!("{field}.source"), source.as_bytes())?),
    )];
    for (ms, key) in [
        (libc::MS_RDONLY, c"ro"),
        (libc::MS_SYNCHRONOUS, c"sync"),
        (libc::MS_DIRSYNC, c"dirsync"),
        (libc::MS_LAZYTIME, c"lazytime"),
        (libc::MS_MANDLOCK, c"mand"),
    ] {
        if flags & ms != 0 {
            params.push((key.to_owned(), None));
        }
    }
    for item in split_mount_data(data) {
        match item.split_once('=') {
            Some((key, value)) => {
                let value = value
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or(value);
                params.push((opt(key)?, Some(opt(value)?)));
            }
            None => params.push((opt(item)?, None)),
        }
    }
    let mut attr = atime_attr(flags);
    for (ms, ma) in [
        (libc::MS_RDONLY, MOUNT_ATTR_RDONLY),
        (libc::MS_NOSUID, MOUNT_ATTR_NOSUID),
        (libc::MS_NODEV, MOUNT_ATTR_NODEV),
        (libc::MS_NOEXEC, MOUNT_ATTR_NOEXEC),
        (libc::MS_NODIRATIME, MOUNT_ATTR_NODIRATIME),
        (libc::MS_NOSYMFOLLOW, MOUNT_ATTR_NOSYMFOLLOW),
    ] {
        if flags & ms != 0 {
            attr |= ma;
        }
    }
    Ok(FsContext {
        params,
        attr,
        pid_namespace: None,
    })
}

/// mount(2) data split as the kernel splits it: at commas outside double quotes; empty items
/// dropped.
fn split_mount_data(data: &str) -> Vec<&str> {
    let mut items = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (i, c) in data.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                items.push(&data[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&data[start..]);
    items.retain(|s| !s.is_empty());
    items
}

/// Parses `linux.rootfsPropagation`.
fn parse_root_propagation(value: &str) -> Option<c_ulong> {
    Some(match value {
        "shared" => libc::MS_SHARED,
        "rshared" => libc::MS_SHARED | libc::MS_REC,
        "slave" => libc::MS_SLAVE,
        "rslave" => libc::MS_SLAVE | libc::MS_REC,
        "private" => libc::MS_PRIVATE,
        "rprivate" => libc::MS_PRIVATE | libc::MS_REC,
        "unbindable" => libc::MS_UNBINDABLE,
        "runbindable" => libc::MS_UNBINDABLE | libc::MS_REC,
        _ => return None,
    })
}

/// A `RootfsError::InvalidField`.
fn invalid(field: impl Into<String>, value: impl Into<String>, reason: &'static str) -> RootfsError {
    RootfsError::InvalidField {
        field: field.into(),
        value: value.into(),
        reason,
    }
}

/// A C string from bytes, or an error naming the field when they hold a NUL.
fn cstring(field: &str, bytes: &[u8]) -> Result<CString, RootfsError> {
    CString::new(bytes).map_err(|_| {
        invalid(
            field,
            String::from_utf8_lossy(bytes).into_owned(),
            "contains a NUL byte",
        )
    })
}

/// A container path split into its normal components; rejects relative paths and "..".
fn container_components(field: &str, path: &Path) -> Result<Vec<Vec<u8>>, RootfsError> {
    let shown = || path.display().to_string();
    if !path.is_absolute() {
        return Err(invalid(field, shown(), "must be an absolute path"));
    }
    let mut parts = Vec::new();
    for comp in path.components() {
        match comp {
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir => {
                return Err(invalid(field, shown(), "must not contain \"..\""));
            }
            Component::Normal(s) => {
                if s.as_bytes().contains(&0) {
                    return Err(invalid(field, shown(), "contains a NUL byte"));
                }
                parts.push(s.as_bytes().to_vec());
            }
            Component::Prefix(_) => return Err(invalid(field, shown(), "is not a unix path")),
        }
    }
    Ok(parts)
}

/// `/a/b` from components, for messages and post-pivot paths.
fn absolute_from(parts: &[Vec<u8>]) -> Vec<u8> {
    if parts.is_empty() {
        return b"/".to_vec();
    }
    let mut out = Vec::new();
    for p in parts {
        out.push(b'/');
        out.extend_from_slice(p);
    }
    out
}

/// A [`Target`] from components.
fn target_from(field: &str, parts: &[Vec<u8>]) -> Result<Target, RootfsError> {
    let mut prefixes = Vec::with_capacity(parts.len());
    let mut names = Vec::with_capacity(parts.len());
    let mut prefix: Vec<u8> = Vec::new();
    for p in parts {
        if !prefix.is_empty() {
            prefix.push(b'/');
        }
        prefix.extend_from_slice(p);
        prefixes.push(cstring(field, &prefix)?);
        names.push(cstring(field, p)?);
    }
    Ok(Target {
        prefixes,
        names,
        no_symlinks: false,
        base: Base::Root,
    })
}

/// The detached bind (rbind with `recursive`) of the host path `source` for mount `field`,
/// id-mapped through the user namespace `userns`: every mount of it with `all` (`ridmap`),
/// else only its own (`idmap`: the mounts an rbind carries along keep the ids of their
/// filesystems, as runc's). Runs in the parent, which is privileged over the source's
/// filesystem as the kernel requires.
fn id_mapped_tree(
    field: &str,
    source: &Path,
    source_c: &CString,
    recursive: bool,
    all: bool,
    userns: std::os::fd::RawFd,
) -> Result<std::os::fd::OwnedFd, RootfsError> {
    let tree = crate::sys::clone_mount(source_c, recursive).map_err(|errno| RootfsError::BindSource {
        field: format!("{field}.source"),
        path: source.to_path_buf(),
        source: std::io::Error::from_raw_os_error(errno),
    })?;
    let attr = MountAttr {
        attr_set: crate::sys::MOUNT_ATTR_IDMAP,
        userns_fd: u64::try_from(userns).unwrap_or(u64::MAX),
        ..MountAttr::default()
    };
    crate::sys::mount_setattr(std::os::fd::AsFd::as_fd(&tree), all, &attr).map_err(|errno| RootfsError::IdMap {
        field: field.to_owned(),
        path: source.to_path_buf(),
        hint: match errno {
            libc::EINVAL => ": the filesystem (of a mount) of the source does not support id-mapped mounts",
            libc::ENOSYS => ": this kernel has no mount_setattr (Linux 5.12)",
            libc::EPERM => {
                ": the runtime is not privileged over the source's filesystem (root of the host's \
                            user namespace), or the mount is id-mapped already"
            }
            _ => "",
        },
        source: std::io::Error::from_raw_os_error(errno),
    })?;
    Ok(tree)
}

/// Whether a spec mount is a bind mount: type `bind` or `none`, or a `bind`/`rbind` option.
/// The one predicate for everything that depends on it (how the mount is made, whether /dev
/// gets the runtime's device nodes, what may go on /proc).
pub(crate) fn is_bind_mount(typ: &str, opts: &MountOptions) -> bool {
    typ == "bind" || typ == "none" || opts.is_bind()
}

/// The files under /proc a mount may cover, as runc's checkProcMount allows: those lxcfs
/// emulates, so that `top` and `free` in a container see the container's numbers. Not
/// `/proc/net/dev`, which runc 1.3.1 dropped: `/proc/net` is a symlink into `/proc/self`.
pub(crate) const PROC_FILES_MOUNTABLE: [&str; 10] = [
    "/proc/cpuinfo",
    "/proc/diskstats",
    "/proc/meminfo",
    "/proc/stat",
    "/proc/swaps",
    "/proc/uptime",
    "/proc/loadavg",
    "/proc/slabinfo",
    "/proc/sys/kernel/ns_last_pid",
    "/proc/sys/crypto/fips_enabled",
];

/// The inode number of the root of every procfs (`PROC_ROOT_INO` in the kernel).
const PROC_ROOT_INO: u64 = 1;

/// Refuses, naming the mount, anything on /proc that is not procfs and anything under /proc
/// but runc's lxcfs files (CVE-2019-16884): the masks, the read-only paths and every procfs
/// path the container's processes trust live there. On /proc itself only a proc mount, or a
/// bind of the root of a procfs. Runs in the parent on the spec's path; the child checks
/// where the target resolves ([`Placement`]), for symlinks in the image.
fn check_proc_mount(
    field: &str,
    parts: &[Vec<u8>],
    typ: &str,
    is_bind: bool,
    source: Option<&Path>,
) -> Result<(), RootfsError> {
    if parts.first().is_none_or(|p| p != b"proc") {
        return Ok(());
    }
    let dest = String::from_utf8_lossy(&absolute_from(parts)).into_owned();
    let field = format!("{field}.destination");
    if parts.len() > 1 {
        if PROC_FILES_MOUNTABLE.contains(&dest.as_str()) {
            return Ok(());
        }
        return Err(invalid(
            field,
            dest,
            "nothing may be mounted under /proc but the files lxcfs emulates (/proc/cpuinfo, /proc/diskstats, \
             /proc/meminfo, /proc/stat, /proc/swaps, /proc/uptime, /proc/loadavg, /proc/slabinfo, \
             /proc/sys/kernel/ns_last_pid, /proc/sys/crypto/fips_enabled), as runc",
        ));
    }
    if !is_bind {
        if typ == "proc" {
            return Ok(());
        }
        return Err(invalid(
            field,
            dest,
            "only a proc mount or a bind of the root of a procfs may be mounted on /proc",
        ));
    }
    if source.is_some_and(is_procfs_root) {
        return Ok(());
    }
    Err(invalid(
        field,
        dest,
        "a bind mount on /proc must have the root of a procfs as its source",
    ))
}

/// Whether the host path `source` is the root of a procfs (fstatfs and fstat on one fd).
fn is_procfs_root(source: &Path) -> bool {
    let Ok(path) = CString::new(source.as_os_str().as_bytes()) else {
        return false;
    };
    let Ok(fd) = crate::sys::open(&path, libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC) else {
        return false;
    };
    let fd = std::os::fd::AsFd::as_fd(&fd);
    let on_proc = crate::sys::fstatfs(fd).is_ok_and(|st| st.magic == crate::sys::PROC_SUPER_MAGIC);
    on_proc && crate::sys::fstat(fd).is_ok_and(|st| st.st_ino == PROC_ROOT_INO)
}

/// A directory the runtime makes device nodes or symlinks in (`/dev`): resolved without
/// following any symlink, not even one that stays in the rootfs, so that an image cannot
/// send the runtime's entries into a bind mount of a host directory or onto procfs
/// (CVE-2025-52565, runc CVE-2026-41579, crun CVE-2026-47766); at or under /dev, relative to
/// the container's /dev ([`Base::Dev`]), so that a volume an image symlink stacks over /dev
/// does not get them either.
fn runtime_dir(field: &str, parts: &[Vec<u8>]) -> Result<Target, RootfsError> {
    let mut t = match parts.split_first() {
        Some((first, rest)) if first == b"dev" => {
            let mut t = target_from(field, rest)?;
            t.base = Base::Dev;
            t
        }
        _ => target_from(field, parts)?,
    };
    t.no_symlinks = true;
    Ok(t)
}

/// Registers a step of builder `$b` and returns its number: `step!(b, "format", args..)`.
/// The description is formatted, and its arguments evaluated, only when `$b.describe`.
macro_rules! step {
    ($b:expr, $($description:tt)+) => {{
        let description = if $b.describe { Some(format!($($description)+)) } else { None };
        $b.step(description)
    }};
}

/// Builds the plan: ops, and the step descriptions when asked for.
struct Builder<'a> {
    /// The configuration being compiled.
    cfg: &'a RootfsConfig,
    /// Whether to describe the steps. Compiling for a run does not: a run that goes well
    /// never shows them, and formatting them is most of the compile's time.
    /// [`MountPlan::explain`] compiles again with descriptions when a step fails.
    describe: bool,
    /// The operations so far.
    ops: Vec<Op>,
    /// Step descriptions so far (only when `describe`).
    steps: Vec<String>,
    /// Steps registered so far.
    step_count: u32,
    /// A bind of a cgroup directory that was not ready at the start is in place (not late).
    needs_cgroup_dirs: bool,
    /// Set while compiling a mount of type "cgroup": its destination must be an ordinary
    /// directory, like a proc or sysfs mount's.
    cgroup_mount: bool,
    /// The last mount at /dev so far is a new filesystem, whose fd the child keeps: mounts
    /// under /dev go in it by that fd ([`Base::Dev`]).
    dev_mounted: bool,
}

impl Builder<'_> {
    /// Registers a step and returns its number; use [`step!`].
    fn step(&mut self, description: Option<String>) -> u32 {
        if let Some(d) = description {
            self.steps.push(d);
        }
        self.step_count += 1;
        self.step_count - 1
    }

    /// `/dev (<rootfs>/dev)` for messages; empty when not describing.
    fn where_(&self, parts: &[Vec<u8>]) -> String {
        if !self.describe {
            return String::new();
        }
        let inside = String::from_utf8_lossy(&absolute_from(parts)).into_owned();
        let mut host = self.cfg.rootfs.clone();
        for p in parts {
            host.push(OsStr::from_bytes(p));
        }
        format!("{inside} ({})", host.display())
    }

    /// A path inside the container for messages; empty when not describing.
    fn shown(&self, path: &[u8]) -> String {
        if self.describe {
            String::from_utf8_lossy(path).into_owned()
        } else {
            String::new()
        }
    }

    /// Entry `i` of the path list `list` (`readonlyPaths`, `maskedPaths`): its components in
    /// the container, and its absolute path for messages ([`Builder::shown`]).
    fn listed_path(&self, list: &str, i: usize, p: &str) -> Result<(Vec<Vec<u8>>, String), RootfsError> {
        let field = format!("{list}[{i}]");
        let parts = container_components(&field, Path::new(p))?;
        // The path must be representable as a C string; resolving it needs its prefixes.
        cstring(&field, &absolute_from(&parts))?;
        let shown = self.shown(&absolute_from(&parts));
        Ok((parts, shown))
    }

    /// `resolve /x in the rootfs ...` step.
    fn resolve_step(&mut self, parts: &[Vec<u8>], leaf: Option<Leaf>, no_symlinks: bool) -> u32 {
        let what = match leaf {
            Some(Leaf::Dir) => " (creating missing directories)",
            Some(Leaf::File) => " (creating missing directories and an empty file)",
            None => "",
        };
        let how = if no_symlinks { " without following symlinks" } else { "" };
        step!(self, "resolve {} inside the rootfs{what}{how}", self.where_(parts))
    }

    /// Registers the check that `what` at `place` did not resolve to the container's root
    /// directory itself.
    fn not_root_step(&mut self, what: &str, place: &str) -> u32 {
        step!(
            self,
            "check that {what} at {place} is not the container's root directory itself (an image symlink \
             to / leads there?): nothing is mounted over the rootfs's root, where the root switch would \
             not see it and --no-pivot would move it instead of the rootfs"
        )
    }

    /// Registers a remount of per-mount flags on `place`.
    fn remount(&mut self, place: &str, set: c_ulong, cleared: c_ulong) -> Remount {
        let statfs_step = step!(self, "read the mount flags of {place}");
        let step = step!(
            self,
            "remount {place} with flags {} (keeping locked flags)",
            flag_names(set)
        );
        Remount {
            set,
            cleared,
            attr: remount_attr(set, cleared),
            statfs_step,
            step,
        }
    }

    /// The label data for a mount of `fstype`, as runc's `label.FormatMountLabel`.
    fn label_data(&self, data: &str, fstype: &str) -> String {
        match self.cfg.mount_label.as_deref() {
            Some(label)
                if !label.is_empty() && !matches!(fstype, "proc" | "sysfs" | "mqueue" | "cgroup" | "cgroup2") =>
            {
                if data.is_empty() {
                    format!("context=\"{label}\"")
                } else {
                    format!("{data},context=\"{label}\"")
                }
            }
            _ => data.to_owned(),
        }
    }

    /// Adds one mount of a new filesystem or a bind, with its follow-up operations.
    fn push_mount(
        &mut self,
        field: &str,
        parts: &[Vec<u8>],
        leaf: Leaf,
        kind: MountKind,
        opts: &MountOptions,
        remount: Option<(c_ulong, c_ulong)>,
    ) -> Result<(), RootfsError> {
        // The spec's /dev, a new filesystem: the runtime's device nodes go in it, by its fd.
        let at_dev = parts == [b"dev".to_vec()];
        let dev = !self.cgroup_mount && at_dev && matches!(kind, MountKind::Fs { .. });
        let mut op = self.mount_op(field, parts, leaf, kind, opts, remount)?;
        if dev {
            op.dev = true;
            op = op.held(field)?;
        }
        if at_dev {
            self.dev_mounted = dev;
        }
        self.ops.push(Op::Mount(op));
        Ok(())
    }

    /// The mount(2) call for `kind` onto `place`, with its step.
    fn action(&mut self, field: &str, place: &str, kind: MountKind) -> Result<Action, RootfsError> {
        Ok(match kind {
            MountKind::Bind {
                source,
                recursive,
                idmap,
            } => {
                let flags = libc::MS_BIND | if recursive { libc::MS_REC } else { 0 };
                let step = step!(
                    self,
                    "{} {}{} on {place}",
                    if recursive { "rbind mount" } else { "bind mount" },
                    source.display(),
                    match idmap {
                        Some((true, _)) => " id-mapped with every mount below it (ridmap)",
                        Some((false, _)) => " id-mapped",
                        None => "",
                    }
                );
                let source_c = cstring(&format!("{field}.source"), source.as_os_str().as_bytes())?;
                // Describing the steps needs none of the detached binds.
                let tree = if self.describe {
                    None
                } else if let Some((all, userns)) = idmap {
                    Some(std::sync::Arc::new(id_mapped_tree(
                        field, &source, &source_c, recursive, all, userns,
                    )?))
                } else if self.cfg.new_user_namespace {
                    match crate::sys::clone_mount(&source_c, recursive) {
                        Ok(fd) => Some(std::sync::Arc::new(fd)),
                        // Kernels before 5.2, or a runtime without CAP_SYS_ADMIN (rootless):
                        // the child binds the path, as its own user can.
                        Err(libc::ENOSYS | libc::EPERM) => None,
                        Err(errno) => {
                            return Err(RootfsError::BindSource {
                                field: format!("{field}.source"),
                                path: source,
                                source: std::io::Error::from_raw_os_error(errno),
                            });
                        }
                    }
                } else {
                    None
                };
                Action::Bind {
                    source: source_c,
                    tree,
                    idmapped: idmap.is_some(),
                    flags,
                    step,
                }
            }
            MountKind::Fs {
                source,
                fstype,
                flags,
                data,
            } => {
                let pid_namespace = self.cfg.proc_pid_namespace.filter(|_| fstype == "proc");
                let step = step!(
                    self,
                    "mount {fstype} on {place} with flags {}{}{}",
                    flag_names(flags),
                    if data.is_empty() {
                        String::new()
                    } else {
                        format!(" and data {data:?}")
                    },
                    if pid_namespace.is_some() {
                        " showing the pid namespace the container joins (pidns)"
                    } else {
                        ""
                    }
                );
                Action::Fs {
                    source: cstring(&format!("{field}.source"), source.as_bytes())?,
                    fstype: cstring(&format!("{field}.type"), fstype.as_bytes())?,
                    flags,
                    data: if data.is_empty() {
                        None
                    } else {
                        Some(cstring(&format!("{field}.options"), data.as_bytes())?)
                    },
                    context: None,
                    pid_namespace,
                    step,
                }
            }
        })
    }

    /// One mount of a new filesystem or a bind, with its follow-up operations.
    fn mount_op(
        &mut self,
        field: &str,
        parts: &[Vec<u8>],
        leaf: Leaf,
        kind: MountKind,
        opts: &MountOptions,
        remount: Option<(c_ulong, c_ulong)>,
    ) -> Result<MountOp, RootfsError> {
        let under = |dir: &[u8]| parts.first().is_some_and(|p| p == dir);
        // Under the /dev the plan mounted (pts, shm, mqueue, ...): in it, by its fd, whatever
        // a later mount through an image symlink stacks over /dev.
        let mut target = if self.dev_mounted && under(b"dev") && parts.len() > 1 {
            let mut t = target_from(field, &parts[1..])?;
            t.base = Base::Dev;
            t
        } else {
            target_from(field, parts)?
        };
        // At and under /proc only procfs and the lxcfs files get here (check_proc_mount): no
        // symlink may lead the mount from one to another procfs file, or a procfs elsewhere.
        // /dev and its mounts (pts, shm, mqueue) are the runtime's: no symlink of the image may
        // move them (CVE-2025-52565). A proc, sysfs or cgroup mount, and whatever is mounted
        // at /sys, goes on an ordinary directory, as runc requires: an image's `proc -> /`
        // would otherwise stack it where the masks and read-only paths do not reach.
        let pseudo = self.cgroup_mount
            || parts == [b"sys".to_vec()]
            || matches!(&kind, MountKind::Fs { fstype, .. }
                if matches!(fstype.as_str(), "proc" | "sysfs" | "cgroup" | "cgroup2"));
        target.no_symlinks = under(b"dev") || under(b"proc") || pseudo;
        let place = self.where_(parts);
        let resolve_step = if pseudo {
            step!(
                self,
                "resolve {place} inside the rootfs (creating missing directories) without following symlinks: \
                 a proc, sysfs or cgroup mount, and any mount at /sys, goes on an ordinary directory (as runc)"
            )
        } else {
            self.resolve_step(parts, Some(leaf), target.no_symlinks)
        };
        let placement = Placement {
            on_proc: under(b"proc") || matches!(&kind, MountKind::Fs { fstype, .. } if fstype == "proc"),
            on_sys: under(b"sys"),
            step: step!(
                self,
                "check that {field} at {place} lands on neither procfs nor sysfs (a symlink in the image \
                 leads there?): only proc mounts, binds of a procfs root onto /proc and binds onto the lxcfs files \
                 runc allows go on procfs, only mounts at or under /sys on sysfs"
            ),
        };
        let not_root_step = (!target.no_symlinks).then(|| self.not_root_step(field, &place));
        let copyup_open = opts
            .tmpcopyup
            .then(|| step!(self, "open {place} to copy its contents into the new tmpfs"));
        let action = self.action(field, &place, kind)?;
        let copyup = copyup_open.map(|open_step| CopyUp {
            open_step,
            copy_step: step!(self, "copy the old contents of {place} into the new tmpfs (tmpcopyup)"),
        });
        let remount = remount.map(|(set, cleared)| self.remount(&place, set, cleared));
        let propagation = opts
            .propagation
            .iter()
            .map(|&p| {
                let step = step!(self, "make {place} {}", propagation_name(p));
                (p, step)
            })
            .collect();
        let attrs = if opts.has_recursive_attrs() {
            let step = step!(
                self,
                "set recursive mount attributes (set {:#x}, clear {:#x}) on {place}",
                opts.attr_set,
                opts.attr_clr
            );
            Some((
                MountAttr {
                    attr_set: opts.attr_set,
                    attr_clr: opts.attr_clr,
                    ..MountAttr::default()
                },
                step,
            ))
        } else {
            None
        };
        MountOp {
            target,
            leaf,
            resolve_step,
            placement,
            not_root_step,
            action,
            hold: false,
            dev: false,
            remount,
            propagation,
            attrs,
            copyup,
        }
        .with_context(field)
    }

    /// Adds one entry of `mounts`; returns whether it asked for a read-only /dev.
    fn push_spec_mount(&mut self, index: usize, m: &Mount) -> Result<(), RootfsError> {
        let field = format!("mounts[{index}]");
        let parts = container_components(&format!("{field}.destination"), m.destination())?;
        if parts.is_empty() {
            return Err(invalid(
                format!("{field}.destination"),
                m.destination().display().to_string(),
                "mounting over the container's root is not supported",
            ));
        }
        let raw_opts: &[String] = m.options().as_deref().unwrap_or(&[]);
        let opts = parse_mount_options(raw_opts).map_err(|e| match e {
            RootfsError::InvalidField { value, reason, .. } => invalid(format!("{field}.options"), value, reason),
            other => other,
        })?;
        let typ = m.typ().as_deref().unwrap_or("");
        let is_bind = is_bind_mount(typ, &opts);
        let idmap = match crate::idmap::requested(m, &opts) {
            Some(all) => {
                crate::idmap::check_bind(&field, m, is_bind)?;
                let Some(&(_, userns)) = self.cfg.mount_user_namespaces.iter().find(|(i, _)| *i == index) else {
                    return Err(invalid(
                        crate::idmap::idmap_field(&field, m),
                        "no user namespace",
                        "an id-mapped mount needs the user namespace its ids map through \
                         (RootfsConfig::mount_user_namespaces, as rootfs::id_mapped_mounts says)",
                    ));
                };
                Some((all, userns))
            }
            None => None,
        };
        if opts.tmpcopyup && (is_bind || typ != "tmpfs") {
            return Err(invalid(
                format!("{field}.options"),
                "tmpcopyup",
                "tmpcopyup is only valid on tmpfs mounts",
            ));
        }
        if !is_bind && opts.flags & libc::MS_REMOUNT != 0 {
            // mount(2) with MS_REMOUNT and no MS_BIND reconfigures the superblock of whatever
            // is mounted at the destination, a host filesystem under a volume included, for
            // the host too. runc passes it through; a bind ignores it (its flags go to a bind
            // remount of the new mount).
            return Err(invalid(
                format!("{field}.options"),
                format!("remount (on {})", m.destination().display()),
                "remount would reconfigure the filesystem already mounted at the destination (a host \
                 filesystem, under a volume) instead of mounting a new one; it is only accepted on bind mounts",
            ));
        }
        check_proc_mount(&field, &parts, typ, is_bind, m.source().as_deref())?;
        if typ == "cgroup" && !is_bind {
            return self.push_cgroup_mount(&field, &parts, &opts);
        }
        if is_bind {
            let Some(source) = m.source() else {
                return Err(invalid(format!("{field}.source"), "", "a bind mount needs a source"));
            };
            let source = std::path::absolute(source).map_err(|e| RootfsError::Inspect {
                field: format!("{field}.source"),
                path: source.clone(),
                source: e,
            })?;
            let meta = std::fs::metadata(&source).map_err(|e| RootfsError::Inspect {
                field: format!("{field}.source"),
                path: source.clone(),
                source: e,
            })?;
            let leaf = if meta.is_dir() { Leaf::Dir } else { Leaf::File };
            let set = opts.flags & PER_MOUNT_FLAGS;
            let remount =
                (set != 0 || opts.cleared & PER_MOUNT_FLAGS != 0).then_some((set, opts.cleared & PER_MOUNT_FLAGS));
            let recursive = opts.flags & libc::MS_REC != 0;
            return self.push_mount(
                &field,
                &parts,
                leaf,
                MountKind::Bind {
                    source,
                    recursive,
                    idmap,
                },
                &opts,
                remount,
            );
        }
        if typ.is_empty() {
            return Err(invalid(
                format!("{field}.type"),
                "",
                "a mount that is not a bind mount needs a filesystem type",
            ));
        }
        let source = match m.source() {
            Some(s) => s.as_os_str().as_bytes().to_vec(),
            None => typ.as_bytes().to_vec(),
        };
        let mut flags = opts.flags;
        let mut remount = None;
        if parts.len() == 1 && parts[0] == b"dev" {
            // As runc: /dev stays writable until the devices are made, then goes read-only.
            flags &= !libc::MS_RDONLY;
        } else if opts.tmpcopyup && flags & libc::MS_RDONLY != 0 {
            // Writable for the copy, read-only right after it (as runc).
            flags &= !libc::MS_RDONLY;
            remount = Some((libc::MS_RDONLY, 0));
        }
        let data = self.label_data(&opts.data_string(), typ);
        self.push_mount(
            &field,
            &parts,
            Leaf::Dir,
            MountKind::Fs {
                source: String::from_utf8_lossy(&source).into_owned(),
                fstype: typ.to_owned(),
                flags,
                data,
            },
            &opts,
            remount,
        )
    }

    /// Adds a mount of type "cgroup", from [`RootfsConfig::cgroup_mounts`], as runc.
    fn push_cgroup_mount(&mut self, field: &str, parts: &[Vec<u8>], opts: &MountOptions) -> Result<(), RootfsError> {
        self.cgroup_mount = true;
        let pushed = self.push_cgroup_mount_ops(field, parts, opts);
        self.cgroup_mount = false;
        pushed
    }

    /// [`Builder::push_cgroup_mount`]'s work.
    fn push_cgroup_mount_ops(
        &mut self,
        field: &str,
        parts: &[Vec<u8>],
        opts: &MountOptions,
    ) -> Result<(), RootfsError> {
        let cfg = self.cfg;
        if cfg.cgroup_mounts.is_empty() {
            return Err(invalid(
                format!("{field}.type"),
                "cgroup",
                "a cgroup mount needs cgroup hierarchies (RootfsConfig::cgroup_mounts is empty)",
            ));
        }
        let cgroupns = cfg.new_cgroup_namespace;
        let ro = opts.flags & libc::MS_RDONLY;
        let set = opts.flags & PER_MOUNT_FLAGS;
        let cleared = opts.cleared & PER_MOUNT_FLAGS;
        let bind_remount = (set != 0 || cleared != 0).then_some((set, cleared));
        // cgroup2 mounted directly at the destination.
        if cfg.cgroup_mounts.iter().any(|c| c.name.is_empty()) {
            let [cm] = cfg.cgroup_mounts.as_slice() else {
                return Err(invalid(
                    "cgroup_mounts",
                    "\"\"",
                    "a hierarchy mounted directly (empty name) must be the only one",
                ));
            };
            if cgroupns {
                let data = opts.data_string();
                return self.push_mount(
                    field,
                    parts,
                    Leaf::Dir,
                    MountKind::Fs {
                        source: "cgroup2".to_owned(),
                        fstype: "cgroup2".to_owned(),
                        flags: opts.flags & !libc::MS_BIND,
                        data,
                    },
                    opts,
                    None,
                );
            }
            return self
                .push_mount(
                    field,
                    parts,
                    Leaf::Dir,
                    MountKind::Bind {
                        source: cm.host_path.clone(),
                        recursive: true,
                        idmap: None,
                    },
                    opts,
                    bind_remount,
                )
                .map(|()| self.needs_cgroup_dirs |= !cm.ready_at_start);
        }
        // cgroup v1 (or hybrid): a tmpfs with one directory per hierarchy.
        let data = self.label_data("mode=755", "tmpfs");
        let tmpfs = self
            .mount_op(
                field,
                parts,
                Leaf::Dir,
                MountKind::Fs {
                    source: "tmpfs".to_owned(),
                    fstype: "tmpfs".to_owned(),
                    flags: CGROUP_TMPFS_FLAGS,
                    data,
                },
                opts,
                None,
            )?
            .held(field)?;
        let mut hierarchies = Vec::with_capacity(cfg.cgroup_mounts.len());
        for (i, cm) in cfg.cgroup_mounts.iter().enumerate() {
            let cm_field = format!("cgroup_mounts[{i}].name");
            if cm.name.contains('/') || cm.name == "." || cm.name == ".." || cm.name.contains('\0') {
                return Err(invalid(cm_field, cm.name.clone(), "must be a single path component"));
            }
            let mut sub = parts.to_vec();
            sub.push(cm.name.as_bytes().to_vec());
            let place = self.where_(&sub);
            let kind = match (cm.unified, cgroupns) {
                (true, true) => MountKind::Fs {
                    source: "cgroup2".to_owned(),
                    fstype: "cgroup2".to_owned(),
                    flags: CGROUP_TMPFS_FLAGS | ro,
                    data: String::new(),
                },
                (false, true) => MountKind::Fs {
                    source: "cgroup".to_owned(),
                    fstype: "cgroup".to_owned(),
                    flags: CGROUP_TMPFS_FLAGS | ro,
                    data: cm.controllers.clone(),
                },
                (_, false) => MountKind::Bind {
                    source: cm.host_path.clone(),
                    recursive: true,
                    idmap: None,
                },
            };
            let mkdir_step = step!(self, "create directory {place} in the new cgroup tmpfs");
            let open_step = step!(self, "open directory {place} in the new cgroup tmpfs");
            let action = self.action(field, &place, kind)?;
            let remount = match bind_remount {
                Some((set, cleared)) if !cgroupns => Some((
                    step!(self, "reopen {place} after mounting on it"),
                    self.remount(&place, set, cleared),
                )),
                _ => None,
            };
            // runc links each controller of a co-mounted hierarchy: cpu -> cpu,cpuacct.
            let mut links = Vec::new();
            for part in cm.name.split(',').filter(|p| !p.is_empty() && *p != cm.name) {
                let mut link_parts = parts.to_vec();
                link_parts.push(part.as_bytes().to_vec());
                let step = step!(self, "create symlink {} -> {}", self.where_(&link_parts), cm.name);
                links.push((cstring(field, part.as_bytes())?, step));
            }
            hierarchies.push(CgroupHierarchy {
                name: cstring(&cm_field, cm.name.as_bytes())?,
                mkdir_step,
                open_step,
                action,
                remount,
                links,
                late_step: None,
            });
        }
        let place = self.where_(parts);
        let tmpfs_remount = (ro != 0).then(|| self.remount(&place, CGROUP_TMPFS_FLAGS | libc::MS_RDONLY, 0));
        // With a cgroup namespace the hierarchies are mounted with the tmpfs's own flags, so
        // making the whole tree read-only is the tmpfs remount; binds need the spec's flags.
        let seal = if cgroupns {
            (ro != 0).then_some((CGROUP_TMPFS_FLAGS | libc::MS_RDONLY, 0))
        } else {
            bind_remount
        };
        let attrs = match seal {
            Some((set, cleared)) => cgroup_tree_attrs(set, cleared).map(|attr| {
                let step = step!(
                    self,
                    "set mount attributes {} on {place} and the hierarchies below it (recursive mount_setattr)",
                    flag_names(set)
                );
                (attr, step)
            }),
            None => None,
        };
        // Binds of directories the runtime is still making go last, where the kernel can seal
        // them all with one mount_setattr; [`settle_late_cgroup_binds`] keeps them there only
        // if nothing after this op depends on them.
        let late = !cgroupns
            && attrs.is_some()
            && cfg.cgroup_mounts.iter().any(|cm| !cm.ready_at_start)
            && cfg.cgroup_mounts.len() <= MAX_LATE_HIERARCHIES
            && crate::sys::has_mount_setattr();
        if late {
            for (h, cm) in hierarchies.iter_mut().zip(&cfg.cgroup_mounts) {
                h.late_step = Some(step!(
                    self,
                    "attach the bind of the container's cgroup {} at {} in the cgroup tmpfs",
                    cm.host_path.display(),
                    String::from_utf8_lossy(h.name.to_bytes())
                ));
            }
        }
        self.needs_cgroup_dirs |= !cgroupns && !late && cfg.cgroup_mounts.iter().any(|cm| !cm.ready_at_start);
        self.ops.push(Op::CgroupV1(CgroupV1Op {
            tmpfs,
            hierarchies,
            attrs,
            tmpfs_remount,
            late,
        }));
        Ok(())
    }

    /// The step that checks a directory the runtime makes entries in (`/dev`) is on neither
    /// procfs nor sysfs.
    fn runtime_dir_check_step(&mut self, parts: &[Vec<u8>]) -> u32 {
        step!(
            self,
            "check that {} is on neither procfs nor sysfs before making entries in it",
            self.where_(parts)
        )
    }

    /// Adds a symlink at `parts` (inside the rootfs) pointing to `link`.
    fn push_symlink(&mut self, field: &str, parts: &[Vec<u8>], link: &[u8], replace: bool) -> Result<(), RootfsError> {
        let Some((name, parent_parts)) = parts.split_last() else {
            return Err(invalid(field, "/", "cannot make the root a symlink"));
        };
        let parent = runtime_dir(field, parent_parts)?;
        let parent_step = self.resolve_step(parent_parts, Some(Leaf::Dir), true);
        let check_step = self.runtime_dir_check_step(parent_parts);
        let place = self.where_(parts);
        let unlink_step = step!(self, "remove {place} to replace it with a symlink");
        let step = step!(self, "create symlink {place} -> {}", String::from_utf8_lossy(link));
        self.ops.push(Op::Symlink(SymlinkOp {
            parent,
            parent_step,
            check_step,
            name: cstring(field, name)?,
            link: cstring(field, link)?,
            replace,
            unlink_step,
            step,
        }));
        Ok(())
    }

    /// Adds a read-only remount of the mount at `parts` (`/dev`, or `/` for no components).
    fn push_remount_path(&mut self, parts: &[Vec<u8>]) -> Result<(), RootfsError> {
        let target = runtime_dir("mounts", parts)?;
        let resolve_step = self.resolve_step(parts, None, true);
        let shown = self.shown(&absolute_from(parts));
        let remount = self.remount(&shown, libc::MS_RDONLY, 0);
        self.ops.push(Op::RemountPath {
            target,
            resolve_step,
            remount,
        });
        Ok(())
    }

    /// Adds one device node.
    #[allow(clippy::too_many_arguments)]
    fn push_device(
        &mut self,
        field: &str,
        path: &Path,
        kind: LinuxDeviceType,
        major: i64,
        minor: i64,
        file_mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
    ) -> Result<(), RootfsError> {
        let parts = container_components(&format!("{field}.path"), path)?;
        let Some((name, parent_parts)) = parts.split_last() else {
            return Err(invalid(
                format!("{field}.path"),
                path.display().to_string(),
                "a device cannot be the container's root",
            ));
        };
        let file_type = match kind {
            LinuxDeviceType::C | LinuxDeviceType::U => libc::S_IFCHR,
            LinuxDeviceType::B => libc::S_IFBLK,
            LinuxDeviceType::P => libc::S_IFIFO,
            LinuxDeviceType::A => {
                return Err(invalid(
                    format!("{field}.type"),
                    kind.as_str(),
                    "not a device node type (expected c, u, b or p)",
                ));
            }
        };
        let major =
            u32::try_from(major).map_err(|_| invalid(format!("{field}.major"), major.to_string(), "out of range"))?;
        let minor =
            u32::try_from(minor).map_err(|_| invalid(format!("{field}.minor"), minor.to_string(), "out of range"))?;
        let perm = file_mode.unwrap_or(0o666);
        if perm & !0o7777 != 0 && perm & libc::S_IFMT != file_type {
            return Err(invalid(
                format!("{field}.fileMode"),
                format!("{perm:#o}"),
                "file type bits do not match the device type",
            ));
        }
        let perm = perm & 0o7777;
        let dev = if file_type == libc::S_IFIFO {
            0
        } else {
            libc::makedev(major, minor)
        };
        let place = self.where_(&parts);
        let parent = runtime_dir(field, parent_parts)?;
        let parent_step = self.resolve_step(parent_parts, Some(Leaf::Dir), true);
        let check_step = self.runtime_dir_check_step(parent_parts);
        // A device node cannot be made in a new user namespace: the host's is bound instead. A
        // fifo can, and is always made: a host's fifo is nothing to share with a container.
        let mknod = if self.cfg.new_user_namespace && file_type != libc::S_IFIFO {
            None
        } else {
            let mknod_step = step!(
                self,
                "mknod {place} (type {}, {major}:{minor}, mode {perm:#o})",
                kind.as_str()
            );
            let (uid, gid) = (uid.unwrap_or(0), gid.unwrap_or(0));
            let chown_step = step!(self, "chown {place} to {uid}:{gid}");
            let chmod_step = step!(self, "chmod {place} to {perm:#o}");
            Some(Mknod {
                mode: file_type | perm,
                dev,
                uid,
                gid,
                mknod_step,
                chown_step,
                chmod_step,
            })
        };
        let open_step = step!(
            self,
            "create (when missing) and open {place}, not following a symlink, to bind the host's device onto"
        );
        let host = absolute_from(&parts);
        let bind_step = step!(
            self,
            "bind mount host device {} on {place}",
            String::from_utf8_lossy(&host)
        );
        self.ops.push(Op::Device(DeviceOp {
            parent,
            parent_step,
            check_step,
            name: cstring(field, name)?,
            mknod,
            open_step,
            host: cstring(field, &host)?,
            bind_step,
        }));
        Ok(())
    }

    /// Adds the devices of the spec plus runc's defaults, then the default symlinks and ptmx.
    fn push_devices(&mut self, devpts_at_dev_pts: bool) -> Result<(), RootfsError> {
        let cfg = self.cfg;
        let mut named: Vec<Vec<Vec<u8>>> = Vec::new();
        for (i, d) in cfg.devices.iter().enumerate() {
            let field = format!("devices[{i}]");
            named.push(container_components(&format!("{field}.path"), d.path())?);
            self.push_device(
                &field,
                d.path(),
                d.typ(),
                d.major(),
                d.minor(),
                d.file_mode(),
                d.uid(),
                d.gid(),
            )?;
        }
        for (path, major, minor) in DEFAULT_DEVICES {
            let p = Path::new(path);
            let parts = container_components("devices", p)?;
            if named.contains(&parts) {
                continue;
            }
            self.push_device(
                &format!("default device {path}"),
                p,
                LinuxDeviceType::C,
                i64::from(major),
                i64::from(minor),
                Some(0o666),
                Some(0),
                Some(0),
            )?;
        }
        // runc's setupPtmx: /dev/ptmx -> pts/ptmx, replacing what is there.
        if devpts_at_dev_pts {
            self.push_symlink("/dev/ptmx", &[b"dev".to_vec(), b"ptmx".to_vec()], b"pts/ptmx", true)?;
        }
        // runc's setupDevSymlinks.
        let mut links: Vec<(&[u8], &[u8])> = vec![
            (b"fd", b"/proc/self/fd"),
            (b"stdin", b"/proc/self/fd/0"),
            (b"stdout", b"/proc/self/fd/1"),
            (b"stderr", b"/proc/self/fd/2"),
        ];
        if Path::new("/proc/kcore").exists() {
            links.push((b"core", b"/proc/kcore"));
        }
        for (name, link) in links {
            let parts = [b"dev".to_vec(), name.to_vec()];
            self.push_symlink("default symlinks", &parts, link, false)?;
        }
        Ok(())
    }
}

/// What kind of mount [`Builder::push_mount`] makes.
enum MountKind {
    /// A bind mount of a host path.
    Bind {
        /// The host path.
        source: PathBuf,
        /// `rbind`.
        recursive: bool,
        /// Id-mapped: every mount of the tree (`ridmap`) or its own only, and the fd of the
        /// user namespace the ids map through.
        idmap: Option<(bool, std::os::fd::RawFd)>,
    },
    /// A new filesystem instance.
    Fs {
        /// Source argument.
        source: String,
        /// Filesystem type.
        fstype: String,
        /// `MS_*` flags.
        flags: c_ulong,
        /// Data string.
        data: String,
    },
}

/// The most hierarchies a cgroup v1 op can bind late ([`crate::LateCgroups`] holds their mount points).
pub(crate) const MAX_LATE_HIERARCHIES: usize = 16;

/// Keeps a cgroup v1 op's binds late only when it is the plan's one such op and no op after it
/// acts at, below or (making a mount) above its destination; otherwise they go back in place,
/// and the plan needs the cgroup directories when it runs.
fn settle_late_cgroup_binds(ops: &mut [Op], needs_cgroup_dirs: &mut bool) {
    let late: Vec<usize> = ops
        .iter()
        .enumerate()
        .filter_map(|(i, op)| matches!(op, Op::CgroupV1(c) if c.late).then_some(i))
        .collect();
    for &i in &late {
        let keep = late.len() == 1
            && match &ops[i] {
                Op::CgroupV1(c) => {
                    let dest = target_components(&c.tmpfs.target);
                    ops[i + 1..].iter().all(|op| !touches(op, &dest))
                }
                _ => false,
            };
        if !keep && let Some(Op::CgroupV1(c)) = ops.get_mut(i) {
            c.late = false;
            *needs_cgroup_dirs = true;
        }
    }
}

/// The components of a target inside the rootfs.
fn target_components(t: &Target) -> Vec<&[u8]> {
    let base = Some(t.base.name()).filter(|n| !n.is_empty());
    base.into_iter().chain(t.names.iter().map(|n| n.to_bytes())).collect()
}

/// Whether `op` acts at or below the container path `dest`, or makes a mount above it (which
/// would cover it, or carry it along in a recursive bind), or changes propagation.
fn touches(op: &Op, dest: &[&[u8]]) -> bool {
    let (path, makes_mount) = match op {
        Op::Mount(m) => (target_components(&m.target), true),
        Op::CgroupV1(c) => (target_components(&c.tmpfs.target), true),
        Op::Device(d) => {
            let mut p = target_components(&d.parent);
            p.push(d.name.to_bytes());
            (p, true)
        }
        Op::Symlink(l) => {
            let mut p = target_components(&l.parent);
            p.push(l.name.to_bytes());
            (p, false)
        }
        Op::ReadonlyPath(ReadonlyOp {
            path: ListedPath { target, .. },
            ..
        })
        | Op::MaskPath(MaskOp {
            path: ListedPath { target, .. },
            ..
        }) => (target_components(target), true),
        Op::RemountPath { target, .. } => (target_components(target), false),
        // Creates /dev/console when missing.
        Op::Console(_) => (vec![&b"dev"[..], &b"console"[..]], false),
        Op::Propagate { .. } => return true,
        Op::ParentPrivate { .. }
        | Op::BindRootfs { .. }
        | Op::OpenRoot { .. }
        | Op::HostRoot { .. }
        | Op::Pivot { .. }
        | Op::Chroot { .. }
        | Op::MoveRoot { .. } => {
            return false;
        }
    };
    path.starts_with(dest) || (makes_mount && dest.starts_with(&path))
}

/// What [`build`] makes of a configuration.
struct Built {
    ops: Vec<Op>,
    /// Empty unless built with descriptions.
    steps: Vec<String>,
    step_count: u32,
    needs_cgroup_dirs: bool,
}

impl MountPlan {
    /// Compiles the configuration in the parent: all parsing, validation and allocation.
    /// The plan keeps the configuration, to describe its steps if one fails.
    ///
    /// Fails with an error naming the field for anything unsupported: relative or `..`
    /// destinations, an unknown propagation, a device of type `a`, `idmap` on a non-bind
    /// mount, `tmpcopyup` on a non-tmpfs mount, ...
    pub fn compile(cfg: RootfsConfig) -> Result<MountPlan, RootfsError> {
        // With --no-pivot the host's mounts outside the rootfs are detached in the child; the
        // list comes from this process's mount table, read here. The child's mount namespace
        // is a copy of this one made at clone time; the child's `run_move_root` says why a
        // mount the host adds after this read does not stay reachable.
        let host = if cfg.no_pivot && cfg.host_root.is_none() {
            Some(crate::hostmounts::read(&cfg.rootfs)?)
        } else {
            None
        };
        let built = build(&cfg, host.as_ref(), false)?;
        Ok(MountPlan {
            ops: built.ops,
            step_count: built.step_count,
            needs_cgroup_dirs: built.needs_cgroup_dirs,
            cfg,
            host,
        })
    }

    /// The description of every step, from compiling the configuration again with them;
    /// `None` if that no longer gives the same steps (the rootfs changed in between).
    fn descriptions(&self) -> Option<Vec<String>> {
        let built = build(&self.cfg, self.host.as_ref(), true).ok()?;
        (built.step_count == self.step_count).then_some(built.steps)
    }

    /// Turns a failure reported by the child into a rich error naming the operation and paths.
    pub fn explain(&self, failure: StepFailure) -> RootfsError {
        let source = std::io::Error::from_raw_os_error(failure.errno);
        let index = usize::try_from(failure.step).ok();
        let described = self
            .descriptions()
            .and_then(|mut steps| index.filter(|&i| i < steps.len()).map(|i| steps.swap_remove(i)));
        match described {
            Some(operation) => RootfsError::Step {
                step: failure.step,
                operation,
                source,
            },
            None => RootfsError::UnknownStep {
                step: failure.step,
                steps: self.step_count(),
                source,
            },
        }
    }

    /// The number of steps, for diagnostics.
    pub fn step_count(&self) -> usize {
        self.step_count as usize
    }

    /// A human-readable listing of the plan's steps, one per line, for debugging.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        match self.descriptions() {
            Some(steps) => {
                for (i, s) in steps.iter().enumerate() {
                    let _ = writeln!(out, "{i:3}: {s}");
                }
            }
            None => {
                let _ = writeln!(
                    out,
                    "the rootfs no longer compiles to this plan's {} steps",
                    self.step_count
                );
            }
        }
        out
    }
}

/// The steps that open and check the procfs at /proc and the sysfs at /sys for the masks and
/// read-only paths under them, when the plan mounts them.
struct Bases {
    /// Step for /proc, when the plan mounts something there (only a procfs may go there).
    proc: Option<u32>,
    /// Step for /sys, when the plan mounts a sysfs there.
    sys: Option<u32>,
}

impl Bases {
    /// The target of a listed path (`maskedPaths[i]`) with components `parts`, relative to
    /// the procfs or sysfs the plan mounts when it is under one, with the step that opens it.
    fn target(&self, field: &str, parts: &[Vec<u8>]) -> Result<(Target, u32), RootfsError> {
        let base = match (parts.first().map(Vec::as_slice), parts.len() > 1) {
            (Some(b"proc"), true) => self.proc.map(|step| (Base::Proc, step)),
            (Some(b"sys"), true) => self.sys.map(|step| (Base::Sys, step)),
            _ => None,
        };
        Ok(match base {
            Some((base, step)) => {
                let mut t = target_from(field, &parts[1..])?;
                t.base = base;
                (t, step)
            }
            None => (target_from(field, parts)?, 0),
        })
    }

    /// `list[i]`, a read-only or masked path (`what`), compiled with its steps; and the path
    /// as errors show it.
    fn listed(
        &self,
        b: &mut Builder<'_>,
        list: &str,
        what: &str,
        i: usize,
        p: &str,
    ) -> Result<(ListedPath, String), RootfsError> {
        let (parts, shown) = b.listed_path(list, i, p)?;
        let (target, base_step) = self.target(list, &parts)?;
        let resolve_step = b.resolve_step(&parts, None, false);
        let not_root_step = b.not_root_step(what, &shown);
        let path = ListedPath {
            target,
            base_step,
            resolve_step,
            not_root_step,
        };
        Ok((path, shown))
    }
}

/// Compiles `cfg` into operations, with step descriptions if `describe`.
fn build(cfg: &RootfsConfig, host: Option<&HostMounts>, describe: bool) -> Result<Built, RootfsError> {
    let rootfs_shown = cfg.rootfs.display().to_string();
    if !cfg.rootfs.is_absolute() {
        return Err(invalid("rootfs", rootfs_shown, "must be an absolute path"));
    }
    let meta = std::fs::metadata(&cfg.rootfs).map_err(|e| RootfsError::Inspect {
        field: "rootfs".to_owned(),
        path: cfg.rootfs.clone(),
        source: e,
    })?;
    if !meta.is_dir() {
        return Err(invalid("rootfs", rootfs_shown, "is not a directory"));
    }
    let rootfs = cstring("rootfs", cfg.rootfs.as_os_str().as_bytes())?;
    let configured = match cfg.propagation.as_deref() {
        None | Some("") => None,
        Some(p) => Some(parse_root_propagation(p).ok_or_else(|| {
            invalid(
                "rootfsPropagation",
                p,
                "unknown propagation (expected [r]shared, [r]slave, [r]private or [r]unbindable)",
            )
        })?),
    };
    let root_flags = configured.unwrap_or(libc::MS_SLAVE | libc::MS_REC);
    if let Some(label) = &cfg.mount_label
        && (label.contains('"') || label.contains('\0'))
    {
        return Err(invalid("mountLabel", label.clone(), "contains a quote or a NUL byte"));
    }

    if cfg.host_root.is_some() {
        // runc's rule: masks and read-only paths need a mount namespace of the container's own.
        let refused = [
            ("maskedPaths", &cfg.masked_paths),
            ("readonlyPaths", &cfg.readonly_paths),
        ];
        if let Some((field, p)) = refused.iter().find_map(|(f, l)| l.first().map(|p| (*f, p))) {
            return Err(invalid(
                field,
                p.clone(),
                "unable to restrict sys entries without a private mount namespace",
            ));
        }
    }

    let mut b = Builder {
        cfg,
        describe,
        ops: Vec::new(),
        steps: Vec::new(),
        step_count: 0,
        needs_cgroup_dirs: false,
        cgroup_mount: false,
        dev_mounted: false,
    };

    // 1. Propagation, rootfs parent private, rootfs bind; in the runtime's mount namespace,
    // the caller's bind, and nothing of the host's changes.
    if let Some(fd) = cfg.host_root {
        let step = step!(
            b,
            "take the rootfs bind of {rootfs_shown} in the runtime's mount namespace"
        );
        b.ops.push(Op::HostRoot { fd, step });
    } else {
        let step = step!(
            b,
            "make / {} before setting up the rootfs",
            propagation_name(root_flags)
        );
        b.ops.push(Op::Propagate {
            path: c"/".to_owned(),
            flags: root_flags,
            step,
        });
        if root_flags != libc::MS_SLAVE | libc::MS_REC && root_flags != libc::MS_PRIVATE | libc::MS_REC {
            // Mounts may still be shared: pivot_root and the rootfs bind need a private parent.
            let mut candidates = Vec::new();
            let mut p: Option<&Path> = Some(&cfg.rootfs);
            while let Some(dir) = p {
                candidates.push(cstring("rootfs", dir.as_os_str().as_bytes())?);
                p = dir.parent();
            }
            let step = step!(b, "make the mount containing {rootfs_shown} private");
            b.ops.push(Op::ParentPrivate { candidates, step });
        }
        let step = step!(b, "bind mount the rootfs {rootfs_shown} onto itself");
        b.ops.push(Op::BindRootfs {
            rootfs: rootfs.clone(),
            step,
        });
        // --no-pivot: the mounts the rootfs hangs below stop receiving the host's new mounts now
        // that the rootfs bind (which keeps the configured propagation) is made.
        for path in host.map(|h| h.ancestors.as_slice()).unwrap_or_default() {
            let shown = path.to_string_lossy();
            let step = step!(
                b,
                "make the host's mount at {shown} private, so that nothing the host mounts later reaches the \
                 container's mount namespace through it (--no-pivot)"
            );
            b.ops.push(Op::Propagate {
                path: path.clone(),
                flags: libc::MS_PRIVATE,
                step,
            });
        }
        let step = step!(b, "open the rootfs {rootfs_shown}");
        b.ops.push(Op::OpenRoot {
            rootfs: rootfs.clone(),
            step,
        });
    }

    // 2. Mounts.
    let mut setup_dev = true;
    let mut devpts_at_dev_pts = false;
    let mut dev_ro = false;
    let mut dev_fs = false;
    let (mut proc_mounted, mut sys_mounted) = (false, false);
    for (i, m) in cfg.mounts.iter().enumerate() {
        b.push_spec_mount(i, m)?;
        let parts = container_components("mounts", m.destination())?;
        let typ = m.typ().as_deref().unwrap_or("");
        // push_spec_mount parsed them already: they parse.
        let opts = parse_mount_options(m.options().as_deref().unwrap_or(&[]))?;
        // Whatever goes on /proc is a procfs (check_proc_mount).
        proc_mounted |= parts == [b"proc".to_vec()];
        sys_mounted |= parts == [b"sys".to_vec()] && typ == "sysfs" && !is_bind_mount(typ, &opts);
        let is_dev = parts.len() == 1 && parts[0] == b"dev";
        // The same predicate that made it a bind above: a /dev that is bound from the host
        // gets none of the runtime's entries (runc's needsSetupDev).
        if is_dev && is_bind_mount(typ, &opts) {
            setup_dev = false;
        }
        if is_dev {
            // The last "ro"/"rw" wins (parse_mount_options).
            dev_ro = opts.flags & libc::MS_RDONLY != 0;
            dev_fs = !is_bind_mount(typ, &opts);
        }
        if typ == "devpts" && parts.len() == 2 && parts[0] == b"dev" && parts[1] == b"pts" {
            devpts_at_dev_pts = true;
        }
    }

    // 3. Devices and default symlinks (skipped when /dev is a bind mount, as runc).
    if setup_dev {
        b.push_devices(devpts_at_dev_pts)?;
    }

    // The console goes in the /dev the runtime made its entries in (a /dev that is not the
    // runtime's gets nothing new): found now, by the same fd, for the bind after the switch.
    if cfg.console {
        let dev = [b"dev".to_vec()];
        let place = b.where_(&dev);
        let dev_step = step!(
            b,
            "open the container's /dev for the console: the /dev the plan mounted, or {place} without \
             following symlinks"
        );
        let check_step = step!(
            b,
            "check that {place} is on neither procfs nor sysfs before making /dev/console in it"
        );
        let open_step = step!(
            b,
            "open {} for the console (created when missing in the runtime's own /dev) without following \
             a symlink: it must be a regular file or a character device on neither procfs nor sysfs",
            b.where_(&[b"dev".to_vec(), b"console".to_vec()])
        );
        b.ops.push(Op::Console(ConsoleOp {
            dev_step,
            check_step,
            open_step,
        }));
    }

    // 4. Read-only paths, masks and read-only remounts: after the createContainer hooks
    // (which run where the root switch begins), but still before the switch, on targets
    // resolved inside the rootfs from its fd and mounted through the host's /proc/self/fd,
    // like every mount above. After the switch a path would go through the container's /dev
    // and /proc, which the image and the spec shape (CVE-2025-31133).
    // Those under /proc (/sys) go where the plan's procfs (sysfs) is: relative to `proc`
    // (`sys`) of the rootfs, opened without following symlinks and checked to be a procfs
    // (sysfs) once for all of them, so that a missing path they skip is missing from that
    // filesystem, never from a place an image symlink moved the mount to.
    let bases = Bases {
        proc: proc_mounted.then(|| {
            step!(
                b,
                "open {} without following symlinks and check that it is the procfs mounted there,                  for the masks and read-only paths under /proc",
                b.where_(&[b"proc".to_vec()])
            )
        }),
        sys: sys_mounted.then(|| {
            step!(
                b,
                "open {} without following symlinks and check that it is the sysfs mounted there,                  for the masks and read-only paths under /sys",
                b.where_(&[b"sys".to_vec()])
            )
        }),
    };
    for (i, p) in cfg.readonly_paths.iter().enumerate() {
        let (path, shown) = bases.listed(&mut b, "readonlyPaths", "read-only path", i, p)?;
        let bind_step = step!(b, "clone the mounts at read-only path {shown} (a detached rbind)");
        let remount = b.remount(&shown, libc::MS_RDONLY, 0);
        let attach_step = step!(b, "attach the read-only bind of {shown} onto it");
        b.ops.push(Op::ReadonlyPath(ReadonlyOp {
            path,
            bind_step,
            attach_step,
            remount,
        }));
    }
    if !cfg.masked_paths.is_empty() {
        let null = NullSteps {
            open_step: step!(b, "open the host's /dev/null, the null device masks are bound from"),
            check_step: step!(
                b,
                "check that the host's /dev/null is the null device (character device 1:3)"
            ),
        };
        let data = b.label_data("", "tmpfs");
        let data = if data.is_empty() {
            None
        } else {
            Some(cstring("mountLabel", data.as_bytes())?)
        };
        for (i, p) in cfg.masked_paths.iter().enumerate() {
            let (path, shown) = bases.listed(&mut b, "maskedPaths", "masked path", i, p)?;
            let bind_step = step!(b, "mask {shown} with a bind mount of the null device");
            let tmpfs_step = step!(b, "mask directory {shown} with a read-only tmpfs");
            b.ops.push(Op::MaskPath(MaskOp {
                path,
                data: data.clone(),
                null,
                bind_step,
                tmpfs_step,
            }));
        }
    }
    // A new filesystem on /dev stays writable until the devices are made (a bind has its
    // flags from its own remount).
    if dev_ro && dev_fs {
        b.push_remount_path(&[b"dev".to_vec()])?;
    }
    if cfg.readonly {
        b.push_remount_path(&[])?;
    }

    // 5. Switch root.
    if cfg.host_root.is_some() {
        // runc chroots when there is no mount namespace to pivot in: pivot_root would change
        // the root of every process of the host's namespace, and a move or detach its mounts.
        let steps = [
            step!(b, "change directory to the rootfs bind of {rootfs_shown}"),
            step!(b, "chroot into the rootfs bind of {rootfs_shown}"),
            step!(b, "change directory to / after chroot"),
        ];
        b.ops.push(Op::Chroot { steps });
    } else if cfg.no_pivot {
        let mut detach = Vec::new();
        for d in host.map(|h| h.detach.as_slice()).unwrap_or_default() {
            let shown = d.path.to_string_lossy();
            detach.push(DetachOp {
                path: d.path.clone(),
                pseudo: d.pseudo,
                slave_step: step!(
                    b,
                    "make the host's mount at {shown} rslave before detaching it (--no-pivot)"
                ),
                umount_step: step!(b, "detach the host's mount at {shown} (--no-pivot)"),
                cover_step: step!(
                    b,
                    "cover the host's {} at {shown}, which cannot be detached, with a tmpfs (--no-pivot)",
                    if d.pseudo { "procfs or sysfs" } else { "mount" }
                ),
            });
        }
        let steps = [
            step!(b, "change directory to the rootfs {rootfs_shown}"),
            step!(b, "move the mount of the rootfs {rootfs_shown} (its fd) onto /"),
            step!(b, "chroot into {rootfs_shown}"),
            step!(b, "change directory to / after chroot"),
        ];
        b.ops.push(Op::MoveRoot { detach, steps });
    } else {
        let steps = [
            step!(b, "open the old root /"),
            step!(b, "change directory to the rootfs {rootfs_shown}"),
            step!(b, "pivot_root into {rootfs_shown}"),
            step!(b, "change directory to the old root"),
            step!(b, "make the old root rslave"),
            step!(b, "detach the old root"),
            step!(b, "change directory to / after pivot_root"),
        ];
        b.ops.push(Op::Pivot { steps });
    }

    // 6. After the switch.
    if let Some(flags) = configured {
        let step = step!(b, "make / {} in the container", propagation_name(flags));
        b.ops.push(Op::Propagate {
            path: c"/".to_owned(),
            flags,
            step,
        });
    }
    let mut needs_cgroup_dirs = b.needs_cgroup_dirs;
    settle_late_cgroup_binds(&mut b.ops, &mut needs_cgroup_dirs);
    Ok(Built {
        ops: b.ops,
        steps: b.steps,
        step_count: b.step_count,
        needs_cgroup_dirs,
    })
}

#[cfg(test)]
mod tests {
    use oci_spec::runtime::{LinuxDeviceBuilder, MountBuilder};

    use super::*;
    use crate::CgroupMount;

    /// A config whose rootfs is `/` (compile only inspects it).
    fn cfg() -> RootfsConfig {
        RootfsConfig {
            rootfs: PathBuf::from("/"),
            ..RootfsConfig::default()
        }
    }

    /// A mount entry.
    fn mount(dest: &str, typ: Option<&str>, source: Option<&str>, options: &[&str]) -> Mount {
        let mut b = MountBuilder::default().destination(dest);
        if let Some(t) = typ {
            b = b.typ(t);
        }
        if let Some(s) = source {
            b = b.source(s);
        }
        b.options(options.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
            .build()
            .unwrap()
    }

    /// Compiles a config with one mount and returns the error message.
    fn mount_error(m: Mount) -> String {
        let mut c = cfg();
        c.mounts = vec![m];
        MountPlan::compile(c.clone()).unwrap_err().to_string()
    }

    #[test]
    fn only_procfs_goes_on_proc_and_only_lxcfs_files_under_it() {
        let compiles = |m: Mount| {
            let mut c = cfg();
            c.mounts = vec![m];
            MountPlan::compile(c).map(drop)
        };
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("meminfo");
        std::fs::write(&file, "MemTotal: 1 kB\n").unwrap();
        let (dir, file) = (dir.path().to_str().unwrap(), file.to_str().unwrap());
        // Allowed: a proc mount, a bind of the root of a procfs, lxcfs files, proc elsewhere.
        for ok in [
            mount("/proc", Some("proc"), Some("proc"), &[]),
            mount("/proc", Some("bind"), Some("/proc"), &["rbind"]),
            mount("/proc/meminfo", Some("bind"), Some(file), &["bind"]),
            mount("/proc/sys/kernel/ns_last_pid", Some("bind"), Some(file), &["bind"]),
            mount("/host-proc", Some("proc"), Some("proc"), &[]),
            mount("/procfs", Some("bind"), Some(dir), &["rbind"]),
        ] {
            let dest = ok.destination().display().to_string();
            compiles(ok).unwrap_or_else(|e| panic!("{dest}: {e}"));
        }
        // Refused, naming the mount: anything else on or under /proc.
        for (bad, why) in [
            (mount("/proc", Some("bind"), Some(dir), &["rbind"]), "root of a procfs"),
            (
                mount("/proc", Some("bind"), Some("/proc/self"), &["rbind"]),
                "root of a procfs",
            ),
            (mount("/proc", Some("tmpfs"), Some("tmpfs"), &[]), "only a proc mount"),
            (mount("/proc/", Some("sysfs"), Some("sysfs"), &[]), "only a proc mount"),
            (mount("/proc/sys", Some("proc"), Some("proc"), &[]), "lxcfs"),
            (
                mount("/proc/sys/kernel/core_pattern", Some("bind"), Some(file), &["bind"]),
                "lxcfs",
            ),
            (mount("/proc/./meminfo/x", Some("bind"), Some(file), &["bind"]), "lxcfs"),
            (mount("/proc/1/attr", Some("tmpfs"), Some("tmpfs"), &[]), "lxcfs"),
            (mount("/proc/kcore", Some("cgroup"), Some("cgroup"), &[]), "lxcfs"),
        ] {
            let dest = bad.destination().display().to_string();
            let e = compiles(bad).unwrap_err().to_string();
            assert!(e.starts_with("mounts[0].destination = \"/proc"), "{dest}: {e}");
            assert!(e.contains(why), "{dest}: {e}");
        }
    }

    #[test]
    fn mounts_say_where_their_target_may_land() {
        let mut c = cfg();
        c.mounts = vec![
            mount("/proc", Some("proc"), Some("proc"), &[]),
            mount("/sys", Some("sysfs"), Some("sysfs"), &[]),
            mount("/sys/fs/cgroup", Some("tmpfs"), Some("tmpfs"), &[]),
            mount("/proc/meminfo", Some("bind"), Some("/"), &["bind"]),
            mount("/myproc", Some("bind"), Some("/"), &["rbind"]),
            mount("/elsewhere", Some("proc"), Some("proc"), &[]),
            mount("/dev/shm", Some("tmpfs"), Some("shm"), &[]),
            mount("/sys", Some("bind"), Some("/"), &["rbind"]),
            mount("/cg", Some("cgroup2"), Some("cgroup2"), &[]),
        ];
        let plan = MountPlan::compile(c).unwrap();
        let placements: Vec<(bool, bool, bool)> = plan
            .ops
            .iter()
            .filter_map(|op| match op {
                Op::Mount(m) => Some((m.placement.on_proc, m.placement.on_sys, m.target.no_symlinks)),
                _ => None,
            })
            .collect();
        assert_eq!(
            placements,
            [
                // proc, sysfs and cgroup mounts, and anything at /sys, go on an ordinary
                // directory, reached without a symlink (as runc).
                (true, false, true),
                (false, true, true),
                (false, true, false),
                (true, false, true),
                (false, false, false),
                (true, false, true),
                (false, false, true),
                (false, true, true),
                (false, false, true),
            ]
        );
        // The runtime's /dev entries and their directories follow no symlink either.
        for op in &plan.ops {
            match op {
                Op::Device(d) => assert!(d.parent.no_symlinks),
                Op::Symlink(l) => assert!(l.parent.no_symlinks),
                _ => {}
            }
        }
    }

    #[test]
    fn a_plain_config_compiles_with_described_steps() {
        let mut c = cfg();
        c.mounts = vec![
            mount("/proc", Some("proc"), Some("proc"), &[]),
            mount("/dev", Some("tmpfs"), Some("tmpfs"), &["nosuid", "mode=755"]),
            mount("/data", Some("bind"), Some("/"), &["rbind", "ro"]),
        ];
        c.readonly = true;
        c.masked_paths = vec!["/proc/kcore".into()];
        c.readonly_paths = vec!["/proc/sys".into()];
        let plan = MountPlan::compile(c.clone()).unwrap();
        let text = plan.describe();
        assert!(text.contains("mount proc on /proc (/proc)"), "{text}");
        assert!(text.contains("rbind mount / on /data (/data)"), "{text}");
        assert!(text.contains("mknod /dev/null (/dev/null)"), "{text}");
        assert!(text.contains("pivot_root into /"), "{text}");
        assert!(text.contains("mask /proc/kcore"), "{text}");
        assert!(text.contains("remount / with flags ro"), "{text}");
        assert_eq!(plan.step_count(), text.lines().count());
    }

    #[test]
    fn a_plan_in_the_runtimes_mount_namespace_changes_no_host_propagation_and_chroots() {
        let mut c = cfg();
        c.mounts = vec![mount("/proc", Some("proc"), Some("proc"), &[])];
        c.readonly = true;
        c.no_pivot = true;
        c.propagation = Some("rshared".into());
        c.host_root = Some(1000);
        let plan = MountPlan::compile(c.clone()).unwrap();
        // Nothing but the container's own root is made rshared, after the chroot; no bind of
        // its own, no pivot, no move, nothing of the host's detached.
        let before_switch = plan.ops.iter().take_while(|op| !matches!(op, Op::Chroot { .. }));
        assert!(
            !before_switch.into_iter().any(|op| matches!(
                op,
                Op::Propagate { .. } | Op::ParentPrivate { .. } | Op::BindRootfs { .. } | Op::OpenRoot { .. }
            )),
            "{plan:?}"
        );
        assert!(matches!(plan.ops.first(), Some(Op::HostRoot { fd: 1000, .. })));
        assert!(
            !plan
                .ops
                .iter()
                .any(|op| matches!(op, Op::Pivot { .. } | Op::MoveRoot { .. })),
            "{plan:?}"
        );
        assert!(matches!(plan.ops.last(), Some(Op::Propagate { path, .. }) if path.as_c_str() == c"/"));
        assert_eq!(plan.source_fds().collect::<Vec<_>>(), [1000]);
        let text = plan.describe();
        assert!(text.contains("chroot into the rootfs bind of /"), "{text}");
        assert!(text.contains("remount / with flags ro"), "{text}");
        // As runc: masks and read-only paths need a mount namespace of the container's own.
        for (field, masked, readonly) in [
            ("maskedPaths", vec!["/proc/kcore".to_owned()], vec![]),
            ("readonlyPaths", vec![], vec!["/proc/sys".to_owned()]),
        ] {
            let mut c = c.clone();
            c.masked_paths = masked;
            c.readonly_paths = readonly;
            let err = MountPlan::compile(c).unwrap_err().to_string();
            assert!(
                err.contains(field) && err.contains("without a private mount namespace"),
                "{err}"
            );
        }
    }

    #[test]
    fn destination_must_be_absolute_and_without_dotdot() {
        let e = mount_error(mount("proc", Some("proc"), None, &[]));
        assert!(
            e.starts_with("mounts[0].destination = \"proc\": must be an absolute path"),
            "{e}"
        );
        let e = mount_error(mount("/a/../../etc", Some("tmpfs"), None, &[]));
        assert!(e.starts_with("mounts[0].destination"), "{e}");
        assert!(e.contains(".."), "{e}");
        let e = mount_error(mount("/", Some("tmpfs"), None, &[]));
        assert!(e.contains("root"), "{e}");
    }

    #[test]
    fn rejected_options_name_the_field_and_option() {
        let e = mount_error(mount("/x", Some("bind"), Some("/"), &["tmpcopyup"]));
        assert_eq!(
            e,
            "mounts[0].options = \"tmpcopyup\": tmpcopyup is only valid on tmpfs mounts"
        );
        let mut c = cfg();
        c.mounts = vec![mount("/x", Some("tmpfs"), None, &["tmpcopyup", "ro"])];
        let text = MountPlan::compile(c.clone()).unwrap().describe();
        assert!(
            text.contains("copy the old contents of /x (/x) into the new tmpfs"),
            "{text}"
        );
        assert!(text.contains("mount tmpfs on /x (/x) with flags none"), "{text}");
        assert!(text.contains("remount /x (/x) with flags ro"), "{text}");
    }

    #[test]
    fn id_mapped_mounts_need_a_bind_and_their_user_namespace() {
        let e = mount_error(mount("/x", Some("tmpfs"), None, &["idmap"]));
        assert!(
            e.starts_with("mounts[0].options") && e.contains("only supported for bind mounts"),
            "{e}"
        );
        let e = mount_error(mount("/x", Some("bind"), Some("/"), &["ridmap"]));
        assert!(
            e.starts_with("mounts[0].options") && e.contains("RootfsConfig::mount_user_namespaces"),
            "{e}"
        );
        let mut m = mount("/x", Some("bind"), Some("/"), &["bind"]);
        m.set_uid_mappings(Some(vec![]));
        let e = mount_error(m);
        assert!(e.starts_with("mounts[0].uidMappings"), "{e}");
    }

    #[test]
    fn id_mapping_through_the_initial_user_namespace_is_refused_naming_the_mount() {
        let dir = tempfile::tempdir().unwrap();
        let own = std::fs::File::open("/proc/self/ns/user").unwrap();
        let mut c = cfg();
        c.mounts = vec![mount(
            "/x",
            Some("bind"),
            Some(dir.path().to_str().unwrap()),
            &["bind", "idmap"],
        )];
        c.mount_user_namespaces = vec![(0, std::os::fd::AsRawFd::as_raw_fd(&own))];
        let e = MountPlan::compile(c).unwrap_err();
        // The kernel does not id-map through the initial user namespace (EPERM), nor, without
        // CAP_SYS_ADMIN, at all.
        let text = format!(
            "{e}: {}",
            std::error::Error::source(&e)
                .map(ToString::to_string)
                .unwrap_or_default()
        );
        assert!(
            text.starts_with(&format!("mounts[0]: id-map the bind of {}", dir.path().display())),
            "{text}"
        );
    }

    #[test]
    fn bind_needs_an_existing_source_and_fs_needs_a_type() {
        let e = mount_error(mount("/x", Some("bind"), None, &[]));
        assert!(e.starts_with("mounts[0].source"), "{e}");
        let e = mount_error(mount("/x", None, Some("/does/not/exist/ocirun"), &["rbind"]));
        assert!(e.starts_with("mounts[0].source: inspect /does/not/exist/ocirun"), "{e}");
        let e = mount_error(mount("/x", None, Some("foo"), &["ro"]));
        assert!(e.starts_with("mounts[0].type"), "{e}");
    }

    #[test]
    fn type_none_and_bind_options_are_binds() {
        let mut c = cfg();
        c.mounts = vec![
            mount("/a", Some("none"), Some("/"), &["ro"]),
            mount("/b", Some("ext4"), Some("/"), &["rbind"]),
        ];
        let text = MountPlan::compile(c.clone()).unwrap().describe();
        assert!(text.contains("bind mount / on /a"), "{text}");
        assert!(text.contains("rbind mount / on /b"), "{text}");
    }

    #[test]
    fn masks_and_read_only_paths_under_the_plans_procfs_and_sysfs_resolve_there() {
        let bases = |mounts: Vec<Mount>| {
            let mut c = cfg();
            c.mounts = mounts;
            c.masked_paths = vec![
                "/proc/kcore".into(),
                "/sys/firmware".into(),
                "/proc".into(),
                "/x".into(),
            ];
            c.readonly_paths = vec!["/proc/sys".into()];
            let plan = MountPlan::compile(c).unwrap();
            plan.ops
                .iter()
                .filter_map(|op| match op {
                    Op::MaskPath(MaskOp {
                        path: ListedPath { target, .. },
                        ..
                    })
                    | Op::ReadonlyPath(ReadonlyOp {
                        path: ListedPath { target, .. },
                        ..
                    }) => Some((target.base, target_components(target).concat())),
                    _ => None,
                })
                .collect::<Vec<_>>()
        };
        let with = bases(vec![
            mount("/proc", Some("proc"), Some("proc"), &[]),
            mount("/sys", Some("sysfs"), Some("sysfs"), &[]),
        ]);
        assert_eq!(
            with,
            [
                (Base::Proc, b"procsys".to_vec()),
                (Base::Proc, b"prockcore".to_vec()),
                (Base::Sys, b"sysfirmware".to_vec()),
                (Base::Root, b"proc".to_vec()),
                (Base::Root, b"x".to_vec()),
            ]
        );
        let without = bases(vec![mount("/sys", Some("bind"), Some("/"), &["rbind"])]);
        assert!(without.iter().all(|(b, _)| *b == Base::Root), "{without:?}");
    }

    #[test]
    fn proc_mounts_and_only_they_show_the_pid_namespace_through_fsconfig() {
        let mut c = cfg();
        c.proc_pid_namespace = Some(42);
        c.mounts = vec![
            mount("/proc", Some("proc"), Some("proc"), &[]),
            mount("/dev", Some("tmpfs"), Some("tmpfs"), &[]),
        ];
        let plan = MountPlan::compile(c.clone()).unwrap();
        let shown: Vec<(bool, Option<i32>)> = plan
            .ops
            .iter()
            .filter_map(|op| match op {
                Op::Mount(m) => match &m.action {
                    Action::Fs { context, .. } => {
                        Some((m.needs_handle(), context.as_ref().and_then(|c| c.pid_namespace)))
                    }
                    Action::Bind { .. } => None,
                },
                _ => None,
            })
            .collect();
        // The proc mount is made with fsopen(2) to take the fd; /dev is held for other reasons.
        assert_eq!(shown, [(true, Some(42)), (true, None)]);
        assert!(
            plan.describe()
                .contains("showing the pid namespace the container joins (pidns)")
        );
        c.proc_pid_namespace = None;
        let plan = MountPlan::compile(c).unwrap();
        let Some(Op::Mount(m)) = plan.ops.iter().find(|op| matches!(op, Op::Mount(_))) else {
            panic!("no mount op");
        };
        assert!(!m.needs_handle(), "a plain proc mount is one mount(2)");
    }

    #[test]
    fn fs_context_is_what_mount_makes_of_the_same_flags_and_data() {
        assert_eq!(split_mount_data("mode=755,,size=64k"), ["mode=755", "size=64k"]);
        assert_eq!(
            split_mount_data("mode=755,context=\"system_u:object_r:t:s0:c1,c2\""),
            ["mode=755", "context=\"system_u:object_r:t:s0:c1,c2\""]
        );
        let c = fs_context(
            "mounts[1]",
            "tmpfs",
            libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_STRICTATIME | libc::MS_SILENT,
            "mode=755,newinstance,context=\"u:r:t:s0:c1,c2\"",
        )
        .unwrap();
        let params: Vec<(&str, Option<&str>)> = c
            .params
            .iter()
            .map(|(k, v)| (k.to_str().unwrap(), v.as_deref().map(|v| v.to_str().unwrap())))
            .collect();
        assert_eq!(
            params,
            [
                ("source", Some("tmpfs")),
                ("ro", None),
                ("mode", Some("755")),
                ("newinstance", None),
                ("context", Some("u:r:t:s0:c1,c2")),
            ]
        );
        assert_eq!(
            c.attr,
            MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_STRICTATIME
        );
        let e = fs_context("mounts[1]", "tmpfs", libc::MS_I_VERSION, "")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("mounts[1].options = \"iversion\""), "{e}");
    }

    #[test]
    fn remount_attrs_do_what_a_bind_remount_does() {
        let a = remount_attr(libc::MS_RDONLY, 0);
        assert_eq!(a.attr_set, MOUNT_ATTR_RDONLY | MOUNT_ATTR_RELATIME);
        assert_eq!(a.attr_clr, MOUNT_ATTR_NODIRATIME | MOUNT_ATTR_ATIME_MASK);
        let a = remount_attr(
            libc::MS_NOSUID | libc::MS_NOATIME | libc::MS_NODIRATIME,
            libc::MS_RDONLY,
        );
        assert_eq!(
            a.attr_set,
            MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOATIME | MOUNT_ATTR_NODIRATIME
        );
        assert_eq!(a.attr_clr, MOUNT_ATTR_RDONLY | MOUNT_ATTR_ATIME_MASK);
    }

    #[test]
    fn remount_is_refused_on_new_filesystems_naming_the_mount() {
        for m in [
            mount("/vol", Some("tmpfs"), Some("tmpfs"), &["remount", "ro"]),
            mount("/sys/fs/cgroup", Some("cgroup"), Some("cgroup"), &["ro", "remount"]),
        ] {
            let e = mount_error(m);
            assert!(e.starts_with("mounts[0].options = \"remount (on /"), "{e}");
        }
        // A bind takes it (and ignores it: no MS_REMOUNT reaches mount(2)).
        let mut c = cfg();
        c.mounts = vec![mount("/vol", Some("bind"), Some("/"), &["rbind", "remount", "ro"])];
        MountPlan::compile(c).unwrap();
    }

    #[test]
    fn a_dev_bound_by_type_none_or_options_gets_no_device_nodes() {
        for m in [
            mount("/dev", Some("none"), Some("/"), &[]),
            mount("/dev", Some("bind"), Some("/"), &[]),
            mount("/dev", Some("tmpfs"), Some("/"), &["rbind"]),
        ] {
            let mut c = cfg();
            c.mounts = vec![m.clone()];
            let plan = MountPlan::compile(c).unwrap();
            assert!(
                !plan.ops.iter().any(|op| matches!(op, Op::Device(_) | Op::Symlink(_))),
                "{m:?} gets device nodes"
            );
        }
    }

    #[test]
    fn unknown_root_propagation_is_rejected() {
        let mut c = cfg();
        c.propagation = Some("sideways".into());
        let e = MountPlan::compile(c.clone()).unwrap_err().to_string();
        assert!(e.starts_with("rootfsPropagation = \"sideways\""), "{e}");
        for ok in [
            "",
            "shared",
            "rshared",
            "slave",
            "rslave",
            "private",
            "rprivate",
            "unbindable",
            "runbindable",
        ] {
            c.propagation = Some(ok.into());
            MountPlan::compile(c.clone()).unwrap();
        }
    }

    #[test]
    fn rootfs_must_be_an_absolute_directory() {
        let mut c = cfg();
        c.rootfs = PathBuf::from("relative/rootfs");
        let e = MountPlan::compile(c.clone()).unwrap_err().to_string();
        assert!(e.starts_with("rootfs = \"relative/rootfs\""), "{e}");
        c.rootfs = PathBuf::from("/does/not/exist/ocirun");
        let e = MountPlan::compile(c.clone()).unwrap_err().to_string();
        assert!(e.starts_with("rootfs: inspect"), "{e}");
    }

    #[test]
    fn device_type_a_and_bad_numbers_are_rejected() {
        let dev = |typ, major| {
            LinuxDeviceBuilder::default()
                .path("/dev/x")
                .typ(typ)
                .major(major)
                .minor(1)
                .build()
                .unwrap()
        };
        let mut c = cfg();
        c.devices = vec![dev(LinuxDeviceType::A, 1)];
        let e = MountPlan::compile(c.clone()).unwrap_err().to_string();
        assert!(e.starts_with("devices[0].type = \"a\""), "{e}");
        c.devices = vec![dev(LinuxDeviceType::C, -1)];
        let e = MountPlan::compile(c.clone()).unwrap_err().to_string();
        assert!(e.starts_with("devices[0].major = \"-1\""), "{e}");
        c.devices = vec![dev(LinuxDeviceType::C, 1)];
        c.devices[0].set_path(PathBuf::from("dev/x"));
        let e = MountPlan::compile(c.clone()).unwrap_err().to_string();
        assert!(e.starts_with("devices[0].path"), "{e}");
    }

    #[test]
    fn a_fifo_is_made_even_in_a_new_user_namespace() {
        let mut c = cfg();
        c.new_user_namespace = true;
        c.devices = vec![
            LinuxDeviceBuilder::default()
                .path("/dev/fifo")
                .typ(LinuxDeviceType::P)
                .major(0)
                .minor(0)
                .build()
                .unwrap(),
        ];
        let text = MountPlan::compile(c).unwrap().describe();
        assert!(text.contains("mknod /dev/fifo (/dev/fifo) (type p"), "{text}");
        // The default devices are bound from the host: they cannot be made there.
        assert!(!text.contains("mknod /dev/null"), "{text}");
        assert!(text.contains("bind mount host device /dev/null"), "{text}");
    }

    #[test]
    fn spec_devices_replace_defaults() {
        let mut c = cfg();
        c.devices = vec![
            LinuxDeviceBuilder::default()
                .path("/dev/null")
                .typ(LinuxDeviceType::C)
                .major(1)
                .minor(3)
                .file_mode(0o600u32)
                .build()
                .unwrap(),
        ];
        let text = MountPlan::compile(c.clone()).unwrap().describe();
        assert_eq!(text.matches("mknod /dev/null").count(), 1, "{text}");
        assert!(text.contains("mode 0o600"), "{text}");
    }

    #[test]
    fn masked_and_readonly_paths_are_validated() {
        let mut c = cfg();
        c.masked_paths = vec!["proc/kcore".into()];
        let e = MountPlan::compile(c.clone()).unwrap_err().to_string();
        assert!(e.starts_with("maskedPaths[0]"), "{e}");
        c.masked_paths.clear();
        c.readonly_paths = vec!["/proc/../etc".into()];
        let e = MountPlan::compile(c.clone()).unwrap_err().to_string();
        assert!(e.starts_with("readonlyPaths[0]"), "{e}");
    }

    #[test]
    fn cgroup_mount_needs_hierarchies() {
        let e = mount_error(mount("/sys/fs/cgroup", Some("cgroup"), Some("cgroup"), &["ro"]));
        assert!(e.starts_with("mounts[0].type = \"cgroup\""), "{e}");
        let mut c = cfg();
        c.mounts = vec![mount("/sys/fs/cgroup", Some("cgroup"), Some("cgroup"), &["ro"])];
        c.cgroup_mounts = vec![
            CgroupMount {
                name: String::new(),
                unified: true,
                host_path: "/".into(),
                ..CgroupMount::default()
            },
            CgroupMount {
                name: "cpu".into(),
                host_path: "/".into(),
                ..CgroupMount::default()
            },
        ];
        let e = MountPlan::compile(c.clone()).unwrap_err().to_string();
        assert!(e.starts_with("cgroup_mounts"), "{e}");
        c.cgroup_mounts = vec![CgroupMount {
            name: "a/b".into(),
            host_path: "/".into(),
            ..CgroupMount::default()
        }];
        let e = MountPlan::compile(c.clone()).unwrap_err().to_string();
        assert!(e.starts_with("cgroup_mounts[0].name"), "{e}");
    }

    /// A config with a cgroup mount with `options` over two v1 hierarchies (binds of `/`).
    fn cgroup_cfg(options: &[&str], cgroupns: bool) -> RootfsConfig {
        let mut c = cfg();
        c.mounts = vec![mount("/sys/fs/cgroup", Some("cgroup"), Some("cgroup"), options)];
        c.new_cgroup_namespace = cgroupns;
        c.cgroup_mounts = ["cpu,cpuacct", "memory"]
            .into_iter()
            .map(|name| CgroupMount {
                name: name.to_owned(),
                controllers: name.to_owned(),
                host_path: "/".into(),
                ..CgroupMount::default()
            })
            .collect();
        c
    }

    #[test]
    fn cgroup_v1_read_only_is_one_recursive_mount_setattr_when_one_set_fits() {
        let default = ["nosuid", "noexec", "nodev", "relatime", "ro"];
        // Binds get the spec's flags; the hierarchies of a cgroup namespace are mounted with
        // the tmpfs's already.
        for (cgroupns, flags) in [
            (false, "ro,nosuid,nodev,noexec,relatime"),
            (true, "ro,nosuid,nodev,noexec"),
        ] {
            let text = MountPlan::compile(cgroup_cfg(&default, cgroupns)).unwrap().describe();
            let seal = format!(
                "set mount attributes {flags} on /sys/fs/cgroup (/sys/fs/cgroup) and the hierarchies below it (recursive mount_setattr)"
            );
            assert!(text.contains(&seal), "{text}");
            assert!(
                text.contains(
                    "create directory /sys/fs/cgroup/cpu,cpuacct (/sys/fs/cgroup/cpu,cpuacct) in the new cgroup tmpfs"
                ),
                "{text}"
            );
            assert!(
                text.contains("create symlink /sys/fs/cgroup/cpuacct (/sys/fs/cgroup/cpuacct) -> cpu,cpuacct"),
                "{text}"
            );
            // The remounts stay for kernels without mount_setattr.
            assert!(
                text.contains("remount /sys/fs/cgroup (/sys/fs/cgroup) with flags ro"),
                "{text}"
            );
        }
        // strictatime and exec cannot go on the tmpfs: each hierarchy is remounted instead.
        let text = MountPlan::compile(cgroup_cfg(&["nosuid", "exec", "strictatime", "ro"], false))
            .unwrap()
            .describe();
        assert!(!text.contains("mount_setattr"), "{text}");
        assert!(
            text.contains("remount /sys/fs/cgroup/memory (/sys/fs/cgroup/memory) with flags ro,nosuid,strictatime"),
            "{text}"
        );
    }

    #[test]
    fn cgroup_v1_binds_of_directories_made_later_go_last_unless_something_after_needs_them() {
        if !crate::sys::has_mount_setattr() {
            eprintln!("SKIP: no mount_setattr on this kernel, so no late binds");
            return;
        }
        let default = ["nosuid", "noexec", "nodev", "relatime", "ro"];
        let later = |cgroupns: bool, ready: bool| {
            let mut c = cgroup_cfg(&default, cgroupns);
            for cm in &mut c.cgroup_mounts {
                cm.ready_at_start = ready;
            }
            c
        };
        let late = |c: &RootfsConfig| {
            let plan = MountPlan::compile(c.clone()).unwrap();
            let late = plan.ops.iter().any(|op| matches!(op, Op::CgroupV1(c) if c.late));
            (late, plan.needs_cgroup_dirs())
        };
        // Nothing after the cgroup mount: the binds go last, the plan needs no directory.
        assert_eq!(late(&later(false, false)), (true, false));
        let text = MountPlan::compile(later(false, false)).unwrap().describe();
        assert!(
            text.contains("attach the bind of the container's cgroup / at memory in the cgroup tmpfs"),
            "{text}"
        );
        // Directories ready at the start are bound in place; a cgroup namespace binds nothing.
        assert_eq!(late(&later(false, true)), (false, false));
        assert_eq!(late(&later(true, false)), (false, false));
        // What comes after and does not touch /sys/fs/cgroup keeps the binds late.
        let mut c = later(false, false);
        c.mounts.push(mount("/tmp", Some("tmpfs"), Some("tmpfs"), &[]));
        c.masked_paths = vec!["/proc/kcore".into(), "/sys/fs/cgroupx".into()];
        c.readonly_paths = vec!["/proc/sys".into()];
        c.readonly = true;
        assert_eq!(late(&c), (true, false));
        // A mount below or above it, a masked or read-only path in or over it: in place, and
        // the plan needs the directories when it runs.
        let below = mount("/sys/fs/cgroup/cpu/x", Some("tmpfs"), Some("tmpfs"), &[]);
        let above = mount("/sys/fs", Some("tmpfs"), Some("tmpfs"), &[]);
        for m in [below, above] {
            let mut c = later(false, false);
            c.mounts.push(m);
            assert_eq!(late(&c), (false, true));
        }
        for (masked, readonly) in [("/sys/fs/cgroup/memory", ""), ("", "/sys")] {
            let mut c = later(false, false);
            c.masked_paths = [masked]
                .into_iter()
                .filter(|p| !p.is_empty())
                .map(String::from)
                .collect();
            c.readonly_paths = [readonly]
                .into_iter()
                .filter(|p| !p.is_empty())
                .map(String::from)
                .collect();
            assert_eq!(late(&c), (false, true), "masked {masked:?}, read-only {readonly:?}");
        }
        // Two cgroup mounts: both in place.
        let mut c = later(false, false);
        c.mounts.push(mount("/cg2", Some("cgroup"), Some("cgroup"), &default));
        assert_eq!(late(&c), (false, true));
    }

    #[test]
    fn cgroup_tree_attrs_match_the_remounts() {
        let flags = libc::MS_RDONLY | CGROUP_TMPFS_FLAGS;
        assert_eq!(
            cgroup_tree_attrs(flags | libc::MS_RELATIME, 0),
            Some(MountAttr {
                attr_set: MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
                attr_clr: MOUNT_ATTR_ATIME_MASK | MOUNT_ATTR_NODIRATIME,
                ..MountAttr::default()
            })
        );
        // No atime flag: the remount keeps each mount's atime, and so do the attributes.
        assert_eq!(
            cgroup_tree_attrs(libc::MS_NOSUID, libc::MS_RDONLY),
            Some(MountAttr {
                attr_set: MOUNT_ATTR_NOSUID,
                attr_clr: MOUNT_ATTR_RDONLY,
                ..MountAttr::default()
            })
        );
        assert_eq!(cgroup_tree_attrs(flags | libc::MS_NOATIME, 0), None);
        assert_eq!(cgroup_tree_attrs(flags | libc::MS_NOSYMFOLLOW, 0), None);
        assert_eq!(cgroup_tree_attrs(libc::MS_RDONLY, libc::MS_NOEXEC), None);
    }

    #[test]
    fn mount_label_goes_to_non_bind_data_except_proc_sysfs_mqueue() {
        let mut c = cfg();
        c.mount_label = Some("system_u:object_r:container_file_t:s0".into());
        c.mounts = vec![
            mount("/proc", Some("proc"), Some("proc"), &[]),
            mount("/dev", Some("tmpfs"), Some("tmpfs"), &["mode=755"]),
        ];
        let text = MountPlan::compile(c.clone()).unwrap().describe();
        assert!(
            text.contains("mount tmpfs on /dev (/dev) with flags none and data \"mode=755,context=\\\"system_u:object_r:container_file_t:s0\\\"\""),
            "{text}"
        );
        assert!(text.contains("mount proc on /proc (/proc) with flags none\n"), "{text}");
        c.mount_label = Some("bad\"label".into());
        assert!(MountPlan::compile(c.clone()).is_err());
    }

    #[test]
    fn explain_maps_steps_and_never_panics() {
        let plan = MountPlan::compile(cfg()).unwrap();
        let e = plan.explain(StepFailure {
            step: 0,
            errno: libc::EPERM,
        });
        assert_eq!(e.to_string(), "make / rslave before setting up the rootfs");
        let src = std::error::Error::source(&e).unwrap().to_string();
        assert!(src.contains("Operation not permitted"), "{src}");
        let e = plan.explain(StepFailure { step: 99_999, errno: 0 });
        assert!(matches!(e, RootfsError::UnknownStep { step: 99_999, .. }));
    }

    #[test]
    fn describing_changes_no_op_and_no_step_number() {
        let mut rich = cgroup_cfg(&["nosuid", "noexec", "nodev", "relatime", "ro"], false);
        rich.mounts.extend([
            mount("/proc", Some("proc"), Some("proc"), &[]),
            mount("/dev", Some("tmpfs"), Some("tmpfs"), &["nosuid", "mode=755"]),
            mount("/dev/pts", Some("devpts"), Some("devpts"), &["newinstance"]),
            mount("/data", Some("bind"), Some("/"), &["rbind", "ro", "rprivate"]),
            mount("/tmp", Some("tmpfs"), Some("tmpfs"), &["tmpcopyup"]),
        ]);
        rich.readonly = true;
        rich.masked_paths = vec!["/proc/kcore".into()];
        rich.readonly_paths = vec!["/proc/sys".into()];
        rich.mount_label = Some("system_u:object_r:container_file_t:s0".into());
        let dir = tempfile::tempdir().unwrap();
        let mut no_pivot = cfg();
        no_pivot.rootfs = dir.path().to_path_buf();
        no_pivot.no_pivot = true;
        no_pivot.propagation = Some("shared".into());
        let text = MountPlan::compile(no_pivot.clone()).unwrap().describe();
        assert!(text.contains("detach the host's mount at /proc (--no-pivot)"), "{text}");
        assert!(text.contains("make the host's mount at / private"), "{text}");
        for c in [rich, no_pivot, cgroup_cfg(&[], true)] {
            let host = c.no_pivot.then(|| crate::hostmounts::read(&c.rootfs).unwrap());
            let (quiet, described) = (
                build(&c, host.as_ref(), false).unwrap(),
                build(&c, host.as_ref(), true).unwrap(),
            );
            assert!(quiet.steps.is_empty());
            assert_eq!(quiet.step_count, described.step_count);
            assert_eq!(described.steps.len(), described.step_count as usize);
            assert!(described.steps.iter().all(|d| !d.is_empty()));
            assert_eq!(format!("{:?}", quiet.ops), format!("{:?}", described.ops));
            assert_eq!(quiet.needs_cgroup_dirs, described.needs_cgroup_dirs);
        }
    }

    #[test]
    fn a_rootfs_that_no_longer_compiles_leaves_steps_undescribed() {
        let dir = tempfile::tempdir().unwrap();
        let plan = MountPlan::compile(RootfsConfig {
            rootfs: dir.path().to_path_buf(),
            ..RootfsConfig::default()
        })
        .unwrap();
        drop(dir);
        let e = plan.explain(StepFailure {
            step: 0,
            errno: libc::EPERM,
        });
        assert!(matches!(e, RootfsError::UnknownStep { step: 0, .. }), "{e}");
        assert!(plan.describe().contains("no longer compiles"));
    }

    #[test]
    fn flag_names_render() {
        assert_eq!(flag_names(libc::MS_RDONLY | libc::MS_NOSUID), "ro,nosuid");
        assert_eq!(flag_names(0), "none");
        assert_eq!(propagation_name(libc::MS_SLAVE | libc::MS_REC), "rslave");
    }
}
