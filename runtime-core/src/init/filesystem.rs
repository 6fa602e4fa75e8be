//! The container's filesystem as the init sets it up: the rootfs mount plan (with the create
//! hooks' pause before the root switch), or, for an exec into a container that shares the
//! runtime's mount namespace, the init's root to enter.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use ocirun_sys::{fd, fs, socket};

use namespaces::IdMap;
use oci_spec::runtime::{Linux, Spec};
use rootfs::MountPlan;

use super::namespace::NamespacePlan;
use super::raise_fd;
use super::step::{At, Failed, InitStep};
use crate::hooks::HookKind;
use crate::sync::{Msg, Tag, wait_for};
use crate::{Error, Result, lsm};

/// The filesystem of the init, compiled in the parent.
pub(crate) struct FsPlan {
    /// The mount plan; `None` for exec, which joins the container's.
    pub mounts: Option<MountPlan>,
    /// A container that shares the runtime's mount namespace ([`super::PlanOptions::host_root`]):
    /// for create, the rootfs bind `mounts` sets up below; for exec, the init's root, which
    /// the process chroots into once it has joined the namespaces (joining a mount namespace
    /// gives the namespace's root, not the container's).
    pub host_root: Option<OwnedFd>,
    /// An exec'd process (it enters `host_root` itself).
    exec: bool,
    /// Stop before the root switch for the parent to run the create hooks.
    pub create_hooks: bool,
}

/// What the filesystem plan needs besides the spec.
pub(crate) struct FsOptions<'a> {
    pub rootfs: &'a std::path::Path,
    pub no_pivot: bool,
    pub exec: bool,
    pub unprivileged: bool,
    pub host_root: Option<OwnedFd>,
    pub cgroup_mounts: Vec<rootfs::CgroupMount>,
    /// process.terminal: the plan finds the console to bind the pty onto.
    pub console: bool,
}

impl FsPlan {
    /// The mount plan of `spec` in the namespaces of `ns`.
    pub(crate) fn compile(
        spec: &Spec,
        linux: &Linux,
        ns: &NamespacePlan,
        opts: FsOptions<'_>,
        passed: u32,
    ) -> Result<FsPlan> {
        let mount_label = lsm::mount_label(linux)?;
        let create_hooks = crate::hooks::any(
            spec.hooks().as_ref(),
            &[HookKind::Prestart, HookKind::CreateRuntime, HookKind::CreateContainer],
        );
        let mut cgroup_mounts = opts.cgroup_mounts;
        if create_hooks || ns.new_cgroup {
            // The init waits for its cgroup before anything else: every directory is there.
            cgroup_mounts.iter_mut().for_each(|m| m.ready_at_start = true);
        }
        let host_root = opts.host_root.map(|fd| raise_fd(fd, passed)).transpose()?;
        let spec_mounts = spec.mounts().as_deref().unwrap_or_default();
        // Needed only while the plan compiles: the id-mapped binds keep their mapping.
        let mount_user_namespaces = if opts.exec {
            Vec::new()
        } else {
            let container = match ns.joined_user() {
                Some(_) => rootfs::ContainerUserNamespace::Joined,
                None if ns.new_user => rootfs::ContainerUserNamespace::New {
                    uid_mappings: linux.uid_mappings().as_deref().unwrap_or_default(),
                    gid_mappings: linux.gid_mappings().as_deref().unwrap_or_default(),
                },
                None => rootfs::ContainerUserNamespace::None,
            };
            mount_user_namespaces(spec_mounts, container, ns.joined_user())?
        };
        // An unprivileged runtime on a pure v2 host: a new cgroup2 mount of the host's rw
        // superblock with the spec's "ro" is refused in a user namespace (EBUSY), so, as runc
        // falls back to, the container's cgroup directory is bound instead (the caller's, for a
        // rootless container without a cgroup of its own).
        let binds_cgroup2 = opts.unprivileged && matches!(cgroup_mounts.as_slice(), [m] if m.name.is_empty());
        let mounts = (!opts.exec)
            .then(|| {
                MountPlan::compile(rootfs::RootfsConfig {
                    rootfs: opts.rootfs.to_path_buf(),
                    readonly: spec.root().as_ref().is_some_and(|r| r.readonly().unwrap_or(false)),
                    propagation: linux.rootfs_propagation().clone(),
                    mounts: spec_mounts.to_vec(),
                    devices: linux.devices().clone().unwrap_or_default(),
                    masked_paths: linux.masked_paths().clone().unwrap_or_default(),
                    readonly_paths: linux.readonly_paths().clone().unwrap_or_default(),
                    no_pivot: opts.no_pivot,
                    new_user_namespace: ns.new_user,
                    new_cgroup_namespace: ns.new_cgroup && !binds_cgroup2,
                    mount_label,
                    cgroup_mounts,
                    proc_pid_namespace: ns.pid_namespace_to_join().map(AsRawFd::as_raw_fd),
                    console: opts.console,
                    host_root: host_root.as_ref().map(AsRawFd::as_raw_fd),
                    mount_user_namespaces: mount_user_namespaces
                        .iter()
                        .map(|(i, fd)| (*i, fd.as_raw_fd()))
                        .collect(),
                    create_hooks,
                })
            })
            .transpose()
            .map_err(Error::Rootfs)?;
        drop(mount_user_namespaces);
        Ok(FsPlan {
            mounts,
            host_root,
            exec: opts.exec,
            create_hooks,
        })
    }

    /// Closes the parent's copy of the root fd, which is the child's now.
    pub(crate) fn close_child_fds(&mut self) {
        self.host_root = None;
    }

    /// Whether the mount plan binds the cgroup directories in place: the init must be in its
    /// cgroup first.
    pub(crate) fn needs_cgroup_dirs(&self) -> bool {
        self.mounts.as_ref().is_some_and(MountPlan::needs_cgroup_dirs)
    }

    /// Whether the mount plan leaves cgroup binds for after Go.
    pub(crate) fn has_late_cgroup_binds(&self) -> bool {
        self.mounts.as_ref().is_some_and(MountPlan::has_late_cgroup_binds)
    }

    /// The fds the child keeps open past its first step.
    pub(crate) fn fds(&self) -> impl Iterator<Item = libc::c_int> + '_ {
        self.host_root
            .iter()
            .filter(|_| self.exec)
            .map(AsRawFd::as_raw_fd)
            .chain(self.mounts.iter().flat_map(MountPlan::source_fds))
    }

    /// What a failed step of this plan was doing, for the parent's error.
    pub(crate) fn describe(&self, step: InitStep) -> Option<String> {
        Some(match step {
            InitStep::Rootfs => "rootfs".into(),
            InitStep::EnterRoot => {
                "enter the container's root (chroot into the init's root: the container shares the runtime's mount namespace)"
                    .into()
            }
            InitStep::Hooks => "wait for the create hooks".into(),
            _ => return None,
        })
    }

    /// Sets up the container's filesystem and switches into its root. With create hooks the
    /// mounts are all in place before the root switch, where the hooks run; otherwise binds of
    /// cgroup directories the parent is still making are left for later, so the init sets up
    /// its rootfs while the parent makes its cgroup. The bind sources the parent opened are
    /// closed once attached.
    ///
    /// Runs in the child: no allocation, no locks.
    pub(crate) fn set_up(&mut self, sync: BorrowedFd<'_>) -> Result<rootfs::Finished, Failed> {
        let finished = match &self.mounts {
            Some(mounts) if self.create_hooks => mounts.execute_with(|| hooks_pause(sync)),
            Some(mounts) => mounts.execute_leaving_cgroups().map_err(rootfs::Stop::Step),
            None => {
                if let Some(root) = self.host_root.take() {
                    fs::fchdir(root.as_fd()).at(InitStep::EnterRoot)?;
                    fs::chroot(c".").at_index(InitStep::EnterRoot, 1)?;
                    // The container's root, closed once entered, like every fd of the runtime's.
                    drop(root);
                }
                Ok(rootfs::Finished::default())
            }
        };
        let finished = match finished {
            Ok(finished) => finished,
            Err(rootfs::Stop::Step(f)) => {
                return Err(Failed {
                    step: InitStep::Rootfs,
                    index: f.step,
                    errno: f.errno,
                });
            }
            Err(rootfs::Stop::Caller(errno)) => return Err(errno).at(InitStep::Hooks),
        };
        // The bind sources the parent opened are attached: closed now. The rootfs bind's root
        // is this plan's own; the detached binds are the mount plan's, which hands them out by
        // number only.
        let host_root = self.host_root.take();
        let own = host_root.as_ref().map(AsRawFd::as_raw_fd);
        for raw in self
            .mounts
            .iter()
            .flat_map(MountPlan::source_fds)
            .filter(|raw| Some(*raw) != own)
        {
            // SAFETY: `raw` is an open fd the mount plan owns and no longer needs once it has
            // run (MountPlan::source_fds); the plan is never dropped in the child, which execs
            // or exits, nor does it use the fd again: this is its one close.
            let _ = fd::close(unsafe { OwnedFd::from_raw_fd(raw) });
        }
        drop(host_root);
        Ok(finished)
    }

    /// Binds the cgroup directories the plan left for later, from the detached binds Go
    /// brought, while the init can still mount.
    ///
    /// Runs in the child: no allocation, no locks.
    pub(crate) fn bind_late_cgroups<'a>(
        &self,
        late: Option<rootfs::LateCgroups>,
        binds: impl Iterator<Item = BorrowedFd<'a>>,
    ) -> Result<(), Failed> {
        if let (Some(late), Some(mounts)) = (late, &self.mounts) {
            mounts.bind_late_cgroups(late, binds).map_err(|f| Failed {
                step: InitStep::Rootfs,
                index: f.step,
                errno: f.errno,
            })?;
        }
        Ok(())
    }
}

/// Asks the parent to run the create hooks and waits until it has.
///
/// Runs in the child: no allocation, no locks.
fn hooks_pause(sync: BorrowedFd<'_>) -> Result<(), i32> {
    socket::send_whole(sync, &Msg::new(Tag::Hooks, 0, 0, 0).encode())?;
    wait_for(sync, Tag::HooksDone, &mut []).map(drop)
}

/// The user namespace of each id-mapped mount of `mounts`, by mount index, as
/// [`rootfs::id_mapped_mounts`] says: a new one for each distinct set of maps (the mount's own,
/// or those of the user namespace the container makes), or a copy of `joined`, the fd of the
/// user namespace the container joins. Runs in the parent; empty (and no work) without
/// id-mapped mounts.
fn mount_user_namespaces(
    mounts: &[oci_spec::runtime::Mount],
    container: rootfs::ContainerUserNamespace<'_>,
    joined: Option<BorrowedFd<'_>>,
) -> Result<Vec<(usize, OwnedFd)>> {
    let id_mapped = rootfs::id_mapped_mounts(mounts, container).map_err(Error::Rootfs)?;
    let Some(first) = id_mapped.first() else {
        return Ok(Vec::new());
    };
    if ocirun_sys::process::geteuid() != 0 {
        return Err(Error::spec(
            format!("mounts[{}]", first.index),
            "id-mapped mounts need the runtime to run as root (CAP_SYS_ADMIN over the source's filesystem), as runc's",
        ));
    }
    let mut made: Vec<(&rootfs::MountUserNamespace, usize)> = Vec::new();
    let mut out: Vec<(usize, OwnedFd)> = Vec::with_capacity(id_mapped.len());
    for m in &id_mapped {
        let fd = match (&m.user_namespace, made.iter().find(|(ns, _)| **ns == m.user_namespace)) {
            (_, Some(&(_, at))) => out[at].1.try_clone(),
            (rootfs::MountUserNamespace::Container, None) => match joined {
                Some(fd) => fd.try_clone_to_owned(),
                None => return Err(Error::spec(format!("mounts[{}]", m.index), "no user namespace to join")),
            },
            (
                rootfs::MountUserNamespace::Maps {
                    uid_mappings,
                    gid_mappings,
                },
                None,
            ) => {
                let uid: Vec<IdMap> = uid_mappings.iter().map(IdMap::from).collect();
                let gid: Vec<IdMap> = gid_mappings.iter().map(IdMap::from).collect();
                let fd = namespaces::user_namespace(&uid, &gid).map_err(|e| {
                    let mut reason = String::from("make the user namespace its ids map through");
                    let mut source: Option<&dyn std::error::Error> = Some(&e);
                    while let Some(err) = source {
                        reason.push_str(&format!(": {err}"));
                        source = err.source();
                    }
                    let own = mounts.get(m.index).is_some_and(|s| s.uid_mappings().is_some());
                    let field = if own { "uidMappings" } else { "options" };
                    Error::spec(format!("mounts[{}].{field}", m.index), reason)
                })?;
                made.push((&m.user_namespace, out.len()));
                Ok(fd)
            }
        }
        .map_err(|source| Error::Sys {
            op: "duplicate a user namespace fd for an id-mapped mount",
            source,
        })?;
        out.push((m.index, fd));
    }
    Ok(out)
}
