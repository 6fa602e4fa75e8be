//! The spec's mounts: binds (id-mapped or not) and new filesystems, each with what follows
//! it on the new mount (remount, propagation, recursive attributes, tmpcopyup).

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use libc::c_ulong;
use oci_spec::runtime::Mount;

use super::builder::Builder;
use super::flags::{PER_MOUNT_FLAGS, SUPERBLOCK_FLAGS, atime_attr, flag_names, mount_attrs};
use super::ops::{Action, Base, CopyUp, FsContext, Leaf, MountOp, Op, Placement};
use super::path::{container_components, cstring, invalid, target_from, target_in};
use super::proc::check_proc_mount;
use crate::options::{MountOptions, parse_mount_options};
use crate::sys::MountAttr;
use crate::{RootfsConfig, RootfsError};

/// What kind of mount `Builder::push_mount` makes.
pub(super) enum MountKind {
    /// A bind mount of a host path.
    Bind {
        /// The host path.
        source: PathBuf,
        /// `rbind`.
        recursive: bool,
        /// Id-mapped: every mount of the tree (`ridmap`) or its own only, and the fd of the
        /// user namespace the ids map through.
        idmap: Option<(bool, std::os::fd::RawFd)>,
        /// The source is a directory the runtime makes only while the plan runs (a container's
        /// cgroup): no clone of it can be made when the plan compiles, and the child binds it.
        made_later: bool,
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

impl MountKind {
    /// A new filesystem of type `fstype` whose source is its type too (`tmpfs`, `cgroup2`).
    pub(super) fn fs(fstype: &str, flags: c_ulong, data: String) -> MountKind {
        MountKind::Fs {
            source: fstype.to_owned(),
            fstype: fstype.to_owned(),
            flags,
            data,
        }
    }
}

/// Whether a spec mount is a bind mount: type `bind` or `none`, or a `bind`/`rbind` option.
/// The one predicate for everything that depends on it (how the mount is made, whether /dev
/// gets the runtime's device nodes, what may go on /proc).
pub(crate) fn is_bind_mount(typ: &str, opts: &MountOptions) -> bool {
    typ == "bind" || typ == "none" || opts.is_bind()
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
    let tree = crate::propagation::clone_from_host(source_c, recursive).map_err(|errno| RootfsError::BindSource {
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
    for ms in SUPERBLOCK_FLAGS {
        if flags & ms != 0 {
            params.push((opt(&flag_names(ms))?, None));
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
    Ok(FsContext {
        params,
        attr: atime_attr(flags) | mount_attrs(flags),
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

impl Builder<'_> {
    /// Adds entry `index` of `mounts`.
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
            let inspect = |path: &Path, source| RootfsError::Inspect {
                field: format!("{field}.source"),
                path: path.to_path_buf(),
                source,
            };
            let source = std::path::absolute(source).map_err(|e| inspect(source, e))?;
            let meta = std::fs::metadata(&source).map_err(|e| inspect(&source, e))?;
            let leaf = if meta.is_dir() { Leaf::Dir } else { Leaf::File };
            let set = opts.flags & PER_MOUNT_FLAGS;
            let remount =
                (set != 0 || opts.cleared & PER_MOUNT_FLAGS != 0).then_some((set, opts.cleared & PER_MOUNT_FLAGS));
            let recursive = opts.flags & libc::MS_REC != 0;
            let kind = MountKind::Bind {
                source,
                recursive,
                idmap,
                made_later: false,
            };
            let op = self.mount_op(&field, &parts, leaf, kind, &opts, remount)?;
            return self.push_mount(&field, &parts, op);
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
        let kind = MountKind::Fs {
            source: String::from_utf8_lossy(&source).into_owned(),
            fstype: typ.to_owned(),
            flags,
            data: self.label_data(&opts.data_string(), typ),
        };
        let op = self.mount_op(&field, &parts, Leaf::Dir, kind, &opts, remount)?;
        self.push_mount(&field, &parts, op)
    }

    /// Adds the op of one mount at `parts` ([`Builder::mount_op`]); the container's /dev
    /// when it is a new filesystem there.
    pub(super) fn push_mount(&mut self, field: &str, parts: &[Vec<u8>], mut op: MountOp) -> Result<(), RootfsError> {
        // The spec's /dev, a new filesystem: the runtime's device nodes go in it, by its fd.
        let at_dev = parts == [b"dev".to_vec()];
        let dev = !self.cgroup_mount && at_dev && matches!(op.action, Action::Fs { .. });
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

    /// One mount of a new filesystem or a bind, with its follow-up operations.
    pub(super) fn mount_op(
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
            target_in(field, &parts[1..], Base::Dev)?
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
                let step = step!(self, "make {place} {}", p.name());
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

    /// The mount(2) call for `kind` onto `place`, with its step.
    pub(super) fn action(&mut self, field: &str, place: &str, kind: MountKind) -> Result<Action, RootfsError> {
        Ok(match kind {
            MountKind::Bind {
                source,
                recursive,
                idmap,
                made_later,
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
                } else if self.cfg.new_user_namespace && !made_later {
                    match crate::propagation::clone_from_host(&source_c, recursive) {
                        Ok(fd) => Some(std::sync::Arc::new(fd)),
                        // Kernels before 5.2 (open_tree) or 5.12 (mount_setattr), or a runtime
                        // without CAP_SYS_ADMIN (rootless): the child binds the path, as its own
                        // user can.
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

    /// The label data for a mount of `fstype`, as runc's `label.FormatMountLabel`.
    pub(super) fn label_data(&self, data: &str, fstype: &str) -> String {
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
}

impl MountOp {
    /// The op with the child keeping the new mount's fd ([`MountOp::hold`]).
    pub(super) fn held(mut self, field: &str) -> Result<MountOp, RootfsError> {
        self.hold = true;
        self.with_context(field)
    }

    /// The op with the fsopen(2) form of its new filesystem's mount when the child needs the
    /// mount's fd ([`FsContext`]).
    pub(super) fn with_context(mut self, field: &str) -> Result<MountOp, RootfsError> {
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
}

/// What the spec's mounts leave for the steps after them.
#[derive(Debug, Clone, Copy)]
pub(super) struct Mounted {
    /// The runtime makes its device nodes and symlinks: no bind mount at /dev (runc's
    /// needsSetupDev).
    pub(super) setup_dev: bool,
    /// A devpts is mounted at /dev/pts: `/dev/ptmx` links to its `ptmx`.
    pub(super) devpts_at_dev_pts: bool,
    /// A new filesystem at /dev asked read-only: remounted read-only once the devices are made.
    pub(super) dev_read_only: bool,
    /// Something is mounted at /proc (only a procfs may be: `check_proc_mount`).
    pub(super) proc: bool,
    /// A sysfs is mounted at /sys.
    pub(super) sys: bool,
}

/// Refuses a mount label that cannot go in a mount's data (`context="..."`).
pub(super) fn check_mount_label(cfg: &RootfsConfig) -> Result<(), RootfsError> {
    match &cfg.mount_label {
        Some(label) if label.contains('"') || label.contains('\0') => {
            Err(invalid("mountLabel", label.clone(), "contains a quote or a NUL byte"))
        }
        _ => Ok(()),
    }
}

impl Builder<'_> {
    /// Adds every entry of `mounts`, in order; returns what they leave for the steps after.
    pub(super) fn push_spec_mounts(&mut self) -> Result<Mounted, RootfsError> {
        let cfg = self.cfg;
        let mut mounted = Mounted {
            setup_dev: true,
            devpts_at_dev_pts: false,
            dev_read_only: false,
            proc: false,
            sys: false,
        };
        let (mut dev_ro, mut dev_fs) = (false, false);
        for (i, m) in cfg.mounts.iter().enumerate() {
            self.push_spec_mount(i, m)?;
            let parts = container_components("mounts", m.destination())?;
            let typ = m.typ().as_deref().unwrap_or("");
            // push_spec_mount parsed them already: they parse.
            let opts = parse_mount_options(m.options().as_deref().unwrap_or(&[]))?;
            // Whatever goes on /proc is a procfs (check_proc_mount).
            mounted.proc |= parts == [b"proc".to_vec()];
            mounted.sys |= parts == [b"sys".to_vec()] && typ == "sysfs" && !is_bind_mount(typ, &opts);
            let is_dev = parts.len() == 1 && parts[0] == b"dev";
            // The same predicate that made it a bind above: a /dev that is bound from the host
            // gets none of the runtime's entries (runc's needsSetupDev).
            if is_dev && is_bind_mount(typ, &opts) {
                mounted.setup_dev = false;
            }
            if is_dev {
                // The last "ro"/"rw" wins (parse_mount_options).
                dev_ro = opts.flags & libc::MS_RDONLY != 0;
                dev_fs = !is_bind_mount(typ, &opts);
            }
            if typ == "devpts" && parts.len() == 2 && parts[0] == b"dev" && parts[1] == b"pts" {
                mounted.devpts_at_dev_pts = true;
            }
        }
        mounted.dev_read_only = dev_ro && dev_fs;
        Ok(mounted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MountPlan;
    use crate::plan::testing::{cfg, mount, mount_error};
    use crate::sys::{MOUNT_ATTR_NODEV, MOUNT_ATTR_NOSUID, MOUNT_ATTR_RDONLY, MOUNT_ATTR_STRICTATIME};

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
        let c = fs_context(
            "mounts[1]",
            "tmpfs",
            libc::MS_MANDLOCK | libc::MS_LAZYTIME | libc::MS_DIRSYNC | libc::MS_SYNCHRONOUS,
            "",
        )
        .unwrap();
        let keys: Vec<&str> = c.params.iter().map(|(k, _)| k.to_str().unwrap()).collect();
        assert_eq!(keys, ["source", "sync", "dirsync", "lazytime", "mand"]);
        let e = fs_context("mounts[1]", "tmpfs", libc::MS_I_VERSION, "")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("mounts[1].options = \"iversion\""), "{e}");
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
}
