//! The rootfs itself: its checks, the propagation and bind before the mounts, the root switch
//! (pivot_root, the `--no-pivot` move, or the chroot in the runtime's mount namespace) and
//! the configured propagation after it.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::builder::Builder;
use super::ops::{DetachOp, Op};
use super::path::{cstring, invalid};
use crate::hostmounts::HostMounts;
use crate::{Propagation, RootfsConfig, RootfsError};

/// The rootfs as the plan's root steps use it, checked.
pub(super) struct Root {
    /// `root.path`, absolute.
    path: CString,
    /// The path for messages.
    shown: String,
    /// `linux.rootfsPropagation`, when the spec names one.
    configured: Option<Propagation>,
}

impl Root {
    /// Checks the rootfs (an absolute path to a directory) and `linux.rootfsPropagation`.
    pub(super) fn check(cfg: &RootfsConfig) -> Result<Root, RootfsError> {
        let shown = cfg.rootfs.display().to_string();
        if !cfg.rootfs.is_absolute() {
            return Err(invalid("rootfs", shown, "must be an absolute path"));
        }
        let meta = std::fs::metadata(&cfg.rootfs).map_err(|e| RootfsError::Inspect {
            field: "rootfs".to_owned(),
            path: cfg.rootfs.clone(),
            source: e,
        })?;
        if !meta.is_dir() {
            return Err(invalid("rootfs", shown, "is not a directory"));
        }
        let path = cstring("rootfs", cfg.rootfs.as_os_str().as_bytes())?;
        let configured = match cfg.propagation.as_deref() {
            None | Some("") => None,
            Some(p) => Some(Propagation::from_name(p).ok_or_else(|| {
                invalid(
                    "rootfsPropagation",
                    p,
                    "unknown propagation (expected [r]shared, [r]slave, [r]private or [r]unbindable)",
                )
            })?),
        };
        Ok(Root {
            path,
            shown,
            configured,
        })
    }
}

impl Builder<'_> {
    /// Adds what comes before the mounts: the propagation of `/`, the rootfs's parent made
    /// private, the rootfs bound onto itself and opened; in the runtime's mount namespace, the
    /// caller's bind of the rootfs only, and nothing of the host's changes.
    pub(super) fn push_root_setup(&mut self, root: &Root, host: Option<&HostMounts>) -> Result<(), RootfsError> {
        let rootfs_shown = &root.shown;
        if let Some(fd) = self.cfg.host_root {
            let step = step!(
                self,
                "take the rootfs bind of {rootfs_shown} in the runtime's mount namespace"
            );
            self.ops.push(Op::HostRoot { fd, step });
            return Ok(());
        }
        let propagation = root.configured.unwrap_or(Propagation::RSLAVE);
        let step = step!(self, "make / {} before setting up the rootfs", propagation.name());
        self.ops.push(Op::Propagate {
            path: c"/".to_owned(),
            propagation,
            step,
        });
        if propagation != Propagation::RSLAVE && propagation != Propagation::RPRIVATE {
            // Mounts may still be shared: pivot_root and the rootfs bind need a private parent.
            let mut candidates = Vec::new();
            let mut p: Option<&Path> = Some(&self.cfg.rootfs);
            while let Some(dir) = p {
                candidates.push(cstring("rootfs", dir.as_os_str().as_bytes())?);
                p = dir.parent();
            }
            let step = step!(self, "make the mount containing {rootfs_shown} private");
            self.ops.push(Op::ParentPrivate { candidates, step });
        }
        let step = step!(self, "bind mount the rootfs {rootfs_shown} onto itself");
        self.ops.push(Op::BindRootfs {
            rootfs: root.path.clone(),
            step,
        });
        // --no-pivot: the mounts the rootfs hangs below stop receiving the host's new mounts now
        // that the rootfs bind (which keeps the configured propagation) is made.
        for path in host.map(|h| h.ancestors.as_slice()).unwrap_or_default() {
            let shown = path.to_string_lossy();
            let step = step!(
                self,
                "make the host's mount at {shown} private, so that nothing the host mounts later reaches the \
                 container's mount namespace through it (--no-pivot)"
            );
            self.ops.push(Op::Propagate {
                path: path.clone(),
                propagation: Propagation::PRIVATE,
                step,
            });
        }
        let step = step!(self, "open the rootfs {rootfs_shown}");
        self.ops.push(Op::OpenRoot {
            rootfs: root.path.clone(),
            step,
        });
        Ok(())
    }

    /// Adds the root switch: a chroot into the caller's bind in the runtime's mount namespace,
    /// the move of the rootfs onto `/` with `--no-pivot` (after detaching the host's mounts),
    /// else pivot_root.
    pub(super) fn push_root_switch(&mut self, root: &Root, host: Option<&HostMounts>) {
        let rootfs_shown = &root.shown;
        if self.cfg.host_root.is_some() {
            // runc chroots when there is no mount namespace to pivot in: pivot_root would change
            // the root of every process of the host's namespace, and a move or detach its mounts.
            let steps = [
                step!(self, "change directory to the rootfs bind of {rootfs_shown}"),
                step!(self, "chroot into the rootfs bind of {rootfs_shown}"),
                step!(self, "change directory to / after chroot"),
            ];
            self.ops.push(Op::Chroot { steps });
        } else if self.cfg.no_pivot {
            let mut detach = Vec::new();
            for d in host.map(|h| h.detach.as_slice()).unwrap_or_default() {
                let shown = d.path.to_string_lossy();
                detach.push(DetachOp {
                    path: d.path.clone(),
                    pseudo: d.pseudo,
                    slave_step: step!(
                        self,
                        "make the host's mount at {shown} rslave before detaching it (--no-pivot)"
                    ),
                    umount_step: step!(self, "detach the host's mount at {shown} (--no-pivot)"),
                    cover_step: step!(
                        self,
                        "cover the host's {} at {shown}, which cannot be detached, with a tmpfs (--no-pivot)",
                        if d.pseudo { "procfs or sysfs" } else { "mount" }
                    ),
                });
            }
            let steps = [
                step!(self, "change directory to the rootfs {rootfs_shown}"),
                step!(self, "move the mount of the rootfs {rootfs_shown} (its fd) onto /"),
                step!(self, "chroot into {rootfs_shown}"),
                step!(self, "change directory to / after chroot"),
            ];
            self.ops.push(Op::MoveRoot { detach, steps });
        } else {
            let open_old = step!(self, "open the old root /");
            let chdir_new = step!(self, "change directory to the rootfs {rootfs_shown}");
            let pivot = step!(self, "pivot_root into {rootfs_shown}");
            let chdir_old = step!(self, "change directory to the old root");
            // The detach must not propagate anywhere. When `/` was made rslave or rprivate
            // before the rootfs was set up, no mount of the old root is shared (what the host
            // mounts meanwhile arrives as a slave copy) and a second recursive walk of the
            // host's whole table would change nothing; a hook may have changed that.
            let walked = matches!(
                root.configured.unwrap_or(Propagation::RSLAVE),
                Propagation::RSLAVE | Propagation::RPRIVATE
            );
            let slave_old = (!walked || self.cfg.create_hooks).then(|| step!(self, "make the old root rslave"));
            let detach = step!(self, "detach the old root");
            let chdir_root = step!(self, "change directory to / after pivot_root");
            self.ops.push(Op::Pivot {
                steps: [open_old, chdir_new, pivot, chdir_old, detach, chdir_root],
                slave_old,
            });
        }
    }

    /// Adds, after the switch, the propagation `linux.rootfsPropagation` names for the
    /// container's `/`.
    pub(super) fn push_root_propagation(&mut self, root: &Root) {
        if let Some(propagation) = root.configured {
            let step = step!(self, "make / {} in the container", propagation.name());
            self.ops.push(Op::Propagate {
                path: c"/".to_owned(),
                propagation,
                step,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use crate::MountPlan;
    use crate::plan::ops::Op;
    use crate::plan::testing::{cfg, mount};

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
    fn old_root_is_walked_again_only_when_its_mounts_may_be_shared() {
        let walks_old_root = |propagation: Option<&str>, create_hooks: bool| {
            let mut c = cfg();
            c.propagation = propagation.map(str::to_owned);
            c.create_hooks = create_hooks;
            let plan = MountPlan::compile(c).unwrap();
            let slave_old = plan.ops.iter().find_map(|op| match op {
                Op::Pivot { slave_old, .. } => Some(slave_old.is_some()),
                _ => None,
            });
            let described = plan.describe().contains("make the old root rslave");
            assert_eq!(slave_old, Some(described), "{}", plan.describe());
            described
        };
        for p in [None, Some(""), Some("rslave"), Some("rprivate")] {
            assert!(!walks_old_root(p, false), "{p:?}");
            assert!(walks_old_root(p, true), "{p:?} with hooks");
        }
        for p in ["slave", "private", "shared", "rshared", "unbindable", "runbindable"] {
            assert!(walks_old_root(Some(p), false), "{p}");
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
}
