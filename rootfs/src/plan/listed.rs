//! `linux.readonlyPaths` and `linux.maskedPaths`, and the read-only remounts of `/dev` and
//! `/`: after the createContainer hooks (which run where the root switch begins), but still
//! before the switch, on targets resolved inside the rootfs from its fd and mounted through
//! the host's /proc/self/fd, like every mount before them. After the switch a path would go
//! through the container's /dev and /proc, which the image and the spec shape
//! (CVE-2025-31133).

use std::path::Path;

use super::builder::Builder;
use super::mount::Mounted;
use super::ops::{Base, ListedPath, MaskOp, NullSteps, Op, ReadonlyOp, Target};
use super::path::{absolute_from, container_components, cstring, invalid, runtime_dir, target_from, target_in};
use crate::{RootfsConfig, RootfsError};

/// Refuses masks and read-only paths for a container in the runtime's mount namespace, as
/// runc: they need a mount namespace of the container's own.
pub(super) fn check_allowed(cfg: &RootfsConfig) -> Result<(), RootfsError> {
    if cfg.host_root.is_none() {
        return Ok(());
    }
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
    Ok(())
}

/// The steps that open and check the procfs at /proc and the sysfs at /sys for the masks and
/// read-only paths under them, when the plan mounts them.
pub(super) struct Bases {
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
            Some((base, step)) => (target_in(field, &parts[1..], base)?, step),
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

impl Builder<'_> {
    /// Adds the steps that open and check the procfs at /proc and the sysfs at /sys, which the
    /// masks and read-only paths under them are resolved in, when the spec's mounts put them
    /// there ([`Mounted`]).
    ///
    /// Those under /proc (/sys) go where the plan's procfs (sysfs) is: relative to `proc`
    /// (`sys`) of the rootfs, opened without following symlinks and checked to be a procfs
    /// (sysfs) once for all of them, so that a missing path they skip is missing from that
    /// filesystem, never from a place an image symlink moved the mount to.
    pub(super) fn pseudo_bases(&mut self, mounted: &Mounted) -> Bases {
        Bases {
            proc: mounted.proc.then(|| {
                step!(
                    self,
                    "open {} without following symlinks and check that it is the procfs mounted there,                  for the masks and read-only paths under /proc",
                    self.where_(&[b"proc".to_vec()])
                )
            }),
            sys: mounted.sys.then(|| {
                step!(
                    self,
                    "open {} without following symlinks and check that it is the sysfs mounted there,                  for the masks and read-only paths under /sys",
                    self.where_(&[b"sys".to_vec()])
                )
            }),
        }
    }

    /// Adds `linux.readonlyPaths`: each bound onto itself and made read-only.
    pub(super) fn push_readonly_paths(&mut self, bases: &Bases) -> Result<(), RootfsError> {
        let cfg = self.cfg;
        for (i, p) in cfg.readonly_paths.iter().enumerate() {
            let (path, shown) = bases.listed(self, "readonlyPaths", "read-only path", i, p)?;
            let bind_step = step!(self, "clone the mounts at read-only path {shown} (a detached rbind)");
            let remount = self.remount(&shown, libc::MS_RDONLY, 0);
            let attach_step = step!(self, "attach the read-only bind of {shown} onto it");
            self.ops.push(Op::ReadonlyPath(ReadonlyOp {
                path,
                bind_step,
                attach_step,
                remount,
            }));
        }
        Ok(())
    }

    /// Adds `linux.maskedPaths`: the host's null device, checked, over files; a read-only
    /// tmpfs over directories.
    pub(super) fn push_masked_paths(&mut self, bases: &Bases) -> Result<(), RootfsError> {
        let cfg = self.cfg;
        if cfg.masked_paths.is_empty() {
            return Ok(());
        }
        let null = NullSteps {
            open_step: step!(self, "open the host's /dev/null, the null device masks are bound from"),
            check_step: step!(
                self,
                "check that the host's /dev/null is the null device (character device 1:3)"
            ),
        };
        let data = self.label_data("", "tmpfs");
        let data = if data.is_empty() {
            None
        } else {
            Some(cstring("mountLabel", data.as_bytes())?)
        };
        for (i, p) in cfg.masked_paths.iter().enumerate() {
            let (path, shown) = bases.listed(self, "maskedPaths", "masked path", i, p)?;
            let bind_step = step!(self, "mask {shown} with a bind mount of the null device");
            let tmpfs_step = step!(self, "mask directory {shown} with a read-only tmpfs");
            self.ops.push(Op::MaskPath(MaskOp {
                path,
                data: data.clone(),
                null,
                bind_step,
                tmpfs_step,
            }));
        }
        Ok(())
    }

    /// Adds the read-only remounts: of a new filesystem on /dev asked read-only, which stays
    /// writable until the devices are made (a bind has its flags from its own remount), and of
    /// `/` for `root.readonly`.
    pub(super) fn push_readonly_remounts(&mut self, mounted: &Mounted) -> Result<(), RootfsError> {
        if mounted.dev_read_only {
            self.push_remount_path(&[b"dev".to_vec()])?;
        }
        if self.cfg.readonly {
            self.push_remount_path(&[])?;
        }
        Ok(())
    }

    /// Entry `i` of the path list `list` (`readonlyPaths`, `maskedPaths`): its components in
    /// the container, and its absolute path for messages (`Builder::shown`).
    fn listed_path(&self, list: &str, i: usize, p: &str) -> Result<(Vec<Vec<u8>>, String), RootfsError> {
        let field = format!("{list}[{i}]");
        let parts = container_components(&field, Path::new(p))?;
        // The path must be representable as a C string; resolving it needs its prefixes.
        cstring(&field, &absolute_from(&parts))?;
        let shown = self.shown(&absolute_from(&parts));
        Ok((parts, shown))
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
}

#[cfg(test)]
mod tests {
    use oci_spec::runtime::Mount;

    use super::*;
    use crate::MountPlan;
    use crate::plan::path::target_components;
    use crate::plan::testing::{cfg, mount};

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
                .filter_map(Op::listed)
                .map(|path| (path.target.base, target_components(&path.target).concat()))
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
}
