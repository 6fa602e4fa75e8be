//! Mounts of type "cgroup", as runc makes them: cgroup2 bound or mounted at the destination,
//! or (cgroup v1, hybrid) a tmpfs with a directory per hierarchy, whose binds may go last.

use libc::c_ulong;

use super::builder::Builder;
use super::flags::{PER_MOUNT_FLAGS, flag_names, mount_attrs};
use super::mount::MountKind;
use super::ops::{CgroupHierarchy, CgroupV1Op, Leaf, MaskOp, Op, ReadonlyOp};
use super::path::{cstring, invalid, target_components};
use crate::RootfsError;
use crate::options::MountOptions;
use crate::sys::{MOUNT_ATTR_ATIME_MASK, MOUNT_ATTR_NODIRATIME, MountAttr};

/// Flags of the tmpfs runc puts under a cgroup v1 mount.
const CGROUP_TMPFS_FLAGS: c_ulong = libc::MS_NOEXEC | libc::MS_NOSUID | libc::MS_NODEV;

/// The most hierarchies a cgroup v1 op can bind late ([`crate::LateCgroups`] holds their mount points).
const MAX_LATE_HIERARCHIES: usize = 16;

/// The attributes with which one recursive mount_setattr(2) on the fresh cgroup tmpfs does
/// what the remounts would: the tmpfs (mounted with `CGROUP_TMPFS_FLAGS`, relatime) ends
/// with `CGROUP_TMPFS_FLAGS` plus `set`'s `ro`, and each mount below it gains `set` and loses
/// `cleared`, keeping the rest (a `Remount`). `None` when no single set of attributes gives
/// both: `set` holds a flag or an atime mode the tmpfs must not get, or `cleared` one it keeps.
fn cgroup_tree_attrs(set: c_ulong, cleared: c_ulong) -> Option<MountAttr> {
    if set & !(CGROUP_TMPFS_FLAGS | libc::MS_RDONLY | libc::MS_RELATIME) != 0
        || cleared & (CGROUP_TMPFS_FLAGS | libc::MS_NOSYMFOLLOW) != 0
    {
        return None;
    }
    // `set` holds no flag but these four and relatime, `cleared` of the four only `ro`.
    let mut attr = MountAttr {
        attr_set: mount_attrs(set),
        attr_clr: mount_attrs(cleared & libc::MS_RDONLY),
        ..MountAttr::default()
    };
    if set & libc::MS_RELATIME != 0 {
        // A remount that names an atime flag replaces the whole atime setting, nodiratime too.
        // (MOUNT_ATTR_RELATIME is the atime value 0: nothing to add to `attr_set`.)
        attr.attr_clr |= MOUNT_ATTR_ATIME_MASK | MOUNT_ATTR_NODIRATIME;
    }
    Some(attr)
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
        Op::ReadonlyPath(ReadonlyOp { path, .. }) | Op::MaskPath(MaskOp { path, .. }) => {
            (target_components(&path.target), true)
        }
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

impl Builder<'_> {
    /// Keeps a cgroup v1 op's binds late only when it is the plan's one such op and no op after it
    /// acts at, below or (making a mount) above its destination; otherwise they go back in place,
    /// and the plan needs the cgroup directories when it runs.
    pub(super) fn settle_late_cgroup_binds(&mut self) {
        let ops = &mut self.ops;
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
                self.needs_cgroup_dirs = true;
            }
        }
    }

    /// Adds a mount of type "cgroup", from [`crate::RootfsConfig::cgroup_mounts`], as runc.
    pub(super) fn push_cgroup_mount(
        &mut self,
        field: &str,
        parts: &[Vec<u8>],
        opts: &MountOptions,
    ) -> Result<(), RootfsError> {
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
                let kind = MountKind::fs("cgroup2", opts.flags & !libc::MS_BIND, opts.data_string());
                let op = self.mount_op(field, parts, Leaf::Dir, kind, opts, None)?;
                return self.push_mount(field, parts, op);
            }
            let kind = MountKind::Bind {
                source: cm.host_path.clone(),
                recursive: true,
                idmap: None,
                made_later: !cm.ready_at_start,
            };
            let op = self.mount_op(field, parts, Leaf::Dir, kind, opts, bind_remount)?;
            self.push_mount(field, parts, op)?;
            self.needs_cgroup_dirs |= !cm.ready_at_start;
            return Ok(());
        }
        // cgroup v1 (or hybrid): a tmpfs with one directory per hierarchy.
        let data = self.label_data("mode=755", "tmpfs");
        let tmpfs = self
            .mount_op(
                field,
                parts,
                Leaf::Dir,
                MountKind::fs("tmpfs", CGROUP_TMPFS_FLAGS, data),
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
                (true, true) => MountKind::fs("cgroup2", CGROUP_TMPFS_FLAGS | ro, String::new()),
                (false, true) => MountKind::fs("cgroup", CGROUP_TMPFS_FLAGS | ro, cm.controllers.clone()),
                (_, false) => MountKind::Bind {
                    source: cm.host_path.clone(),
                    recursive: true,
                    idmap: None,
                    made_later: !cm.ready_at_start,
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
        // them all with one mount_setattr; `settle_late_cgroup_binds` keeps them there only
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::testing::{cfg, cgroup_cfg, mount, mount_error};
    use crate::sys::{MOUNT_ATTR_NODEV, MOUNT_ATTR_NOEXEC, MOUNT_ATTR_NOSUID, MOUNT_ATTR_RDONLY};
    use crate::{CgroupMount, MountPlan, RootfsConfig};

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
}
