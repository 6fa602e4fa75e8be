//! ocirun rootfs: the container's filesystem, from the OCI spec to `pivot_root`.
//!
//! The parent compiles the spec's filesystem part into a [`MountPlan`] (all parsing,
//! validation and allocation happen there); the container's init child, already in its new
//! mount namespace, runs [`MountPlan::execute`] with raw syscalls only and reports a `Copy`
//! [`StepFailure`], which the parent turns into a rich [`RootfsError`] with
//! [`MountPlan::explain`].
//!
//! Every path of the spec is resolved inside the rootfs with `openat2(RESOLVE_IN_ROOT)` and
//! mounted onto the opened fd (through `/proc/self/fd/<n>`), so a symlink planted in the image
//! cannot redirect a mount onto the host. That includes `readonlyPaths` and `maskedPaths`,
//! which are done before the root switch, while `/proc/self/fd` is still the host's; masks of
//! files bind the host's null device, opened and checked (character device 1:3) on the fd
//! that is bound, never a `/dev/null` the container could replace.
//!
//! Nothing is looked up twice: a mount the runtime acts on after making it (flags,
//! propagation, tmpcopyup, the /dev it fills, the cgroup tmpfs) is made detached
//! (`open_tree`, `fsopen`/`fsmount`), given its flags with `mount_setattr` on its fd and
//! attached onto the resolved target by fd; the runtime's device nodes go in its own /dev by
//! that fd; the masks and read-only paths under /proc and /sys go in the procfs and sysfs
//! found at `proc` and `sys` without following a symlink (proc, sysfs and cgroup mounts go on
//! ordinary directories, as runc requires); nothing is mounted over the rootfs's root, and
//! `--no-pivot` moves the rootfs by its fd. After the root switch, every step acts on fds.
//!
//! Where things are: `plan/` compiles (in the parent) and `child/` executes (in the child),
//! each split by the same domains: `root` (propagation, the rootfs bind, the root switch),
//! `mount` (the spec's mounts; `plan/proc` says what may go on /proc), `cgroup` (mounts of
//! type "cgroup"), `device` (device nodes, symlinks, the console) and `listed` (masked and
//! read-only paths); `plan/ops` is the op model between them. `options` parses mount
//! options, [`Propagation`] is the one propagation table, `idmap` the id-mapped mounts,
//! `hostmounts`/`hostroot` the host's mount table and the rootfs bind without a mount
//! namespace, `copyup` tmpcopyup, and `sys` the syscall wrappers.

use std::path::PathBuf;

mod child;
mod console;
mod copyup;
mod error;
mod hostmounts;
mod hostroot;
mod idmap;
mod options;
mod plan;
mod propagation;
mod sys;

pub use child::{Console, Finished, LateCgroups, Stop};
pub use error::RootfsError;
pub use hostroot::{HostRootBind, Released, release as release_host_root};
pub use idmap::{ContainerUserNamespace, IdMappedMount, MountUserNamespace, id_mapped_mounts};
pub use options::{MountOptions, RECOGNIZED_MOUNT_OPTIONS, parse_mount_options};
pub use plan::MountPlan;
pub use propagation::Propagation;

/// Everything the rootfs needs from the spec, owned; built by runtime-core.
#[derive(Debug, Clone, Default)]
pub struct RootfsConfig {
    /// Absolute, canonical host path of `root.path`.
    pub rootfs: PathBuf,
    /// `root.readonly`: remount `/` read-only at the end.
    pub readonly: bool,
    /// `linux.rootfsPropagation` (`shared`, `slave`, `private`, `unbindable`, `r*`); `None` = rslave.
    pub propagation: Option<String>,
    /// `mounts`, in order.
    pub mounts: Vec<oci_spec::runtime::Mount>,
    /// `linux.devices`; runc's default devices are added unless a path is named here.
    pub devices: Vec<oci_spec::runtime::LinuxDevice>,
    /// `linux.maskedPaths`.
    pub masked_paths: Vec<String>,
    /// `linux.readonlyPaths`.
    pub readonly_paths: Vec<String>,
    /// `--no-pivot`: `MS_MOVE` the rootfs onto `/` and chroot instead of `pivot_root`, after
    /// detaching every other mount of the host from the container's mount namespace.
    pub no_pivot: bool,
    /// The container has its own user namespace: devices are bind mounts of host nodes (fifos
    /// are made, as anywhere).
    pub new_user_namespace: bool,
    /// The container has its own cgroup namespace: "cgroup" mounts are real cgroup mounts.
    pub new_cgroup_namespace: bool,
    /// SELinux `context=` for non-bind mounts (not proc, sysfs, mqueue, cgroup), as runc.
    pub mount_label: Option<String>,
    /// What a mount of type "cgroup" shows.
    pub cgroup_mounts: Vec<CgroupMount>,
    /// An fd of the pid namespace that proc mounts show instead of the one of the process that
    /// runs the plan (procfs's `pidns=`, given with `FSCONFIG_SET_FD`), open in that process:
    /// for an init made outside the pid namespace the container joins, which makes the process
    /// that lives there only after its root switch. Check the kernel with
    /// [`proc_takes_pid_namespace`] first.
    pub proc_pid_namespace: Option<std::os::fd::RawFd>,
    /// `process.terminal` of a container's init: the plan opens the container's /dev and its
    /// `console` for the pty to be bound onto after the root switch ([`Finished::console`]);
    /// with a read-only `/dev`, the file it binds onto is made before `/dev` goes read-only, as
    /// runc's order leaves it.
    pub console: bool,
    /// The container shares the runtime's mount namespace (no `mount` entry in
    /// `linux.namespaces`): the root of the rootfs bind the caller made with [`HostRootBind`],
    /// open in the process that runs the plan. The plan changes no propagation of the host's
    /// and makes no bind of its own, mounts below this one, and switches root with a chroot
    /// into it (`no_pivot` changes nothing then); masks and read-only paths are refused, as
    /// runc refuses them without a mount namespace.
    pub host_root: Option<std::os::fd::RawFd>,
    /// The user namespace of each id-mapped mount (`idmap`, `ridmap`, `uidMappings`), by the
    /// mount's index in `mounts`: an fd open in the process that compiles the plan, as
    /// [`id_mapped_mounts`] says which and with what maps. Needed only while compiling: the
    /// parent makes the mount's detached bind and id-maps it then (the kernel id-maps a mount
    /// only for a caller privileged over the filesystem, and only before it is attached).
    pub mount_user_namespaces: Vec<(usize, std::os::fd::RawFd)>,
    /// Prestart, createRuntime or createContainer hooks run before the root switch: any of
    /// them can change the propagation of the container's mounts (the last runs in its mount
    /// namespace, the others can enter it), so the old root is made rslave again before its
    /// detach. Without them that second walk of the whole mount table is skipped when `/` was
    /// made rslave or rprivate at the start.
    pub create_hooks: bool,
}

/// Whether this kernel's procfs takes the pid namespace `ns` as `pidns=` (Linux 6.18), for
/// [`RootfsConfig::proc_pid_namespace`]: a filesystem context is opened and the option set,
/// nothing is mounted. Runs in the parent.
pub fn proc_takes_pid_namespace(ns: std::os::fd::BorrowedFd<'_>) -> bool {
    use std::os::fd::{AsFd, AsRawFd};
    sys::fsopen(c"proc").is_ok_and(|fs| sys::fsconfig_set_fd(fs.as_fd(), c"pidns", ns.as_raw_fd()).is_ok())
}

/// One cgroup hierarchy as the container should see it under its "cgroup" mount.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CgroupMount {
    /// Directory name under the cgroup mount (`cpu`, `systemd`, `unified`); "" = v2 mounted directly.
    pub name: String,
    /// v1 mount data (`cpu`, `memory`, `none,name=systemd`); empty for cgroup2.
    pub controllers: String,
    /// This hierarchy is cgroup2.
    pub unified: bool,
    /// The container's cgroup directory on the host in this hierarchy.
    pub host_path: PathBuf,
    /// `host_path` exists when the plan starts. Otherwise the runtime makes it while the plan
    /// runs: the plan binds it last where it can (see [`MountPlan::bind_late_cgroups`]), and
    /// [`MountPlan::needs_cgroup_dirs`] says when it cannot.
    pub ready_at_start: bool,
}

/// A detached recursive bind of the host directory `source` (open_tree's clone), rslave: a
/// mount not attached anywhere yet, which a process in another mount namespace can attach, as
/// [`MountPlan::bind_late_cgroups`] does, and which propagates nothing back to the host's
/// mounts. Runs in the parent.
pub fn detached_bind(source: &std::path::Path) -> Result<std::os::fd::OwnedFd, RootfsError> {
    let path = std::ffi::CString::new(std::os::unix::ffi::OsStrExt::as_bytes(source.as_os_str())).map_err(|_| {
        RootfsError::InvalidField {
            field: "cgroup_mounts.host_path".to_owned(),
            value: source.display().to_string(),
            reason: "contains a NUL byte",
        }
    })?;
    propagation::clone_from_host(&path, true).map_err(|errno| RootfsError::DetachedBind {
        path: source.to_path_buf(),
        source: std::io::Error::from_raw_os_error(errno),
    })
}

/// Which step of a [`MountPlan`] failed in the child, and the errno; `Copy` so the child can send it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepFailure {
    /// Index of the failed step; [`MountPlan::explain`] names it.
    pub step: u32,
    /// The errno the kernel returned.
    pub errno: i32,
}
