//! The container's cgroup as create and the lifecycle operations see it: resolved from
//! linux.cgroupsPath, made (rootless or with systemd), with runc's default device rules.

use std::borrow::Cow;
use std::os::fd::OwnedFd;
use std::path::PathBuf;

use cgroups::{Cgroup, Hierarchies};

use crate::container::Container;
use crate::{Error, Result, hooks, spec};

/// Resolves the container's cgroup from linux.cgroupsPath without touching the filesystem.
/// With the systemd driver the cgroup comes with the scope unit, which needs the init's pid
/// ([`finish_systemd_cgroup`]).
pub(crate) fn resolve_cgroup(linux: &oci_spec::runtime::Linux, id: &str, systemd: bool) -> Result<Cgroup> {
    let hierarchies = Hierarchies::detect().map_err(Error::Cgroup)?;
    let cgroups_path = linux.cgroups_path().as_ref().and_then(|p| p.to_str());
    if systemd {
        Cgroup::new_systemd(&hierarchies, cgroups_path, id).map_err(Error::Cgroup)
    } else {
        Cgroup::new(&hierarchies, cgroups_path, id).map_err(Error::Cgroup)
    }
}

/// The rootless container's cgroup (cgroupfs driver), made in every hierarchy before the
/// clone, or `None` when the caller may not make it and the spec needs none (no
/// linux.cgroupsPath, no limit): then, as runc with `--rootless`, a warning and no cgroup.
fn rootless_cgroup(cgroup: Cgroup, linux: &oci_spec::runtime::Linux) -> Result<Option<Cgroup>> {
    match cgroup.create(None) {
        Ok(()) => Ok(Some(cgroup)),
        Err(e) if e.permission_denied() => {
            let e = match std::error::Error::source(&e) {
                Some(cause) => format!("{e}: {cause}"),
                None => e.to_string(),
            };
            if linux.cgroups_path().is_some() || spec::needs_cgroup_limits(linux.resources().as_ref()) {
                return Err(Error::spec(
                    "linux.cgroupsPath",
                    format!(
                        "rootless: the cgroup cannot be made ({e}); without a cgroup delegated to this user, \
                         a rootless container takes neither linux.cgroupsPath nor limits in linux.resources"
                    ),
                ));
            }
            hooks::warn(&format!("rootless: running without a cgroup of its own: {e}"));
            Ok(None)
        }
        Err(e) => Err(Error::Cgroup(e)),
    }
}

/// The resources create writes: the spec's, with runc's default device rules unless
/// `no_devices` (rootless without root: a device cgroup rule needs privilege; device nodes
/// are bound, never made).
fn resources_for(linux: &oci_spec::runtime::Linux, no_devices: bool) -> oci_spec::runtime::LinuxResources {
    if no_devices {
        let mut r = linux.resources().clone().unwrap_or_default();
        r.set_devices(None);
        r
    } else {
        resources_with_default_devices(linux)
    }
}

/// With the systemd driver: the scope unit with the init in it, then the spec's resources
/// written into its cgroup and the init put in every hierarchy, as runc's driver does;
/// `no_devices` as for [`resources_for`] (rootless: the user's own systemd's scope).
fn finish_systemd_cgroup(
    cgroup: &Cgroup,
    linux: &oci_spec::runtime::Linux,
    id: &str,
    pid: i32,
    no_devices: bool,
) -> Result<()> {
    let resources = resources_for(linux, no_devices);
    cgroup
        .start_systemd_scope(pid, &format!("ocirun container {id}"), Some(&resources))
        .map_err(Error::Cgroup)?;
    cgroup.create(Some(&resources)).map_err(Error::Cgroup)?;
    cgroup.add_process(pid).map_err(Error::Cgroup)
}

/// The spec's resources with runc's always-allowed device rules added after the spec's own,
/// as runc's spec conversion does (`CreateCgroupConfig` appends its `AllowedDevices`).
///
/// Devices listed in `linux.devices` get a node but no rule here: access to them follows
/// `linux.resources.devices` only, as in runc (Docker writes an allow rule there for
/// `--device`). An allow rule per listed device used to be added, which re-opened a device
/// the spec denied (issue 14, class 11).
///
/// Unlike runc, a spec rule that denies a device by its numbers, or every minor of a major,
/// keeps its word: the access it denies is taken out of the always-allowed rules it covers,
/// so a spec can deny `/dev/null` (runc's later allow rule would silently re-open it). A deny
/// that names no major (runc's default deny-all) is the baseline the list is added to, as in
/// runc. A deny of one minor inside a wildcard of the list (`c 136:*`, mknod of any device)
/// cannot take it away: the v1 controller has no way to punch a hole in a wildcard.
pub(crate) fn resources_with_default_devices(linux: &oci_spec::runtime::Linux) -> oci_spec::runtime::LinuxResources {
    use oci_spec::runtime::LinuxDeviceType;
    let mut resources = linux.resources().clone().unwrap_or_default();
    let mut rules = resources.devices().clone().unwrap_or_default();
    // -1, like no number, is the wildcard.
    let number = |n: Option<i64>| n.filter(|n| *n != -1);
    let denials: Vec<(Option<LinuxDeviceType>, i64, Option<i64>, String)> = rules
        .iter()
        .filter(|r| !r.allow())
        .filter_map(|r| {
            Some((
                r.typ(),
                number(r.major())?,
                number(r.minor()),
                r.access().clone().unwrap_or_else(|| "rwm".into()),
            ))
        })
        .collect();
    for mut rule in cgroups::default_device_rules() {
        let mut access = rule.access().clone().unwrap_or_else(|| "rwm".into());
        for (typ, major, minor, denied) in &denials {
            let same_type = matches!(typ, None | Some(LinuxDeviceType::A)) || *typ == rule.typ();
            let same_minor = minor.is_none() || rule.minor() == *minor;
            if same_type && rule.major() == Some(*major) && same_minor {
                access.retain(|c| !denied.contains(c));
            }
        }
        if !access.is_empty() {
            rule.set_access(Some(access));
            rules.push(rule);
        }
    }
    resources.set_devices(Some(rules));
    resources
}

impl Container {
    /// The container's cgroup (as create resolved it, when this process created it).
    pub(crate) fn cgroup(&self) -> Result<Cow<'_, Cgroup>> {
        match &self.cgroup {
            Some(cg) => Ok(Cow::Borrowed(cg)),
            None => self.cgroup_of(None).map(Cow::Owned),
        }
    }

    /// Whether the container has a cgroup of its own (a rootless one may run without).
    pub(crate) fn has_cgroup(&self) -> bool {
        !self.record.cgroup_path.is_empty()
    }

    /// The container's cgroup, or an existing sub-cgroup of it (`exec --cgroup`): only a
    /// cgroup at or below the container's is accepted ([`Cgroup::nested`]).
    pub(crate) fn cgroup_of(&self, sub: Option<&str>) -> Result<Cgroup> {
        if !self.has_cgroup() {
            return Err(Error::spec(
                "linux.cgroupsPath",
                "the rootless container runs without a cgroup of its own (none was delegated to its user)",
            ));
        }
        let h = Hierarchies::detect().map_err(Error::Cgroup)?;
        let path = &self.record.cgroup_path;
        let cgroup = if self.record.systemd_cgroup {
            Cgroup::systemd_at(&h, path)
        } else {
            Cgroup::new(&h, Some(path), self.id()).map_err(Error::Cgroup)?
        };
        let Some(sub) = sub else {
            return Ok(cgroup);
        };
        let nested = cgroup.nested(sub).map_err(|e| Error::spec("--cgroup", e.to_string()))?;
        if !nested.exists() {
            return Err(Error::spec(
                "--cgroup",
                format!("{} does not exist in the container's cgroup", nested.path()),
            ));
        }
        Ok(nested)
    }

    /// The cgroup the init is in now, at or below the container's (v2: its own manager, e.g.
    /// systemd, may have moved it into a child cgroup); an error if it is anywhere else.
    pub(crate) fn init_cgroup(&self) -> Result<Cgroup> {
        let file = PathBuf::from(format!("/proc/{}/cgroup", self.pid()));
        let text = std::fs::read_to_string(&file).map_err(|e| Error::io("read", &file, e))?;
        let own = text.lines().find_map(|l| l.strip_prefix("0::")).unwrap_or_default();
        let base = self.record.cgroup_path.trim_end_matches('/');
        match own.strip_prefix(base) {
            Some(sub) if sub.is_empty() || sub.starts_with('/') => self.cgroup_of(Some(sub.trim_start_matches('/'))),
            _ => Err(Error::spec(
                "linux.cgroupsPath",
                format!("the init is in cgroup {own:?}, outside the container's {base:?}"),
            )),
        }
    }
}

/// The container's cgroup as create makes it: before the clone (the v2 directory, for
/// CLONE_INTO_CGROUP; every directory, rootless) and after it ([`ContainerCgroup::finish`]).
pub(crate) struct ContainerCgroup {
    /// Its own cgroup; `None` for a rootless container without one.
    pub cgroup: Option<Cgroup>,
    /// The cgroup its cgroup mounts show: its own, or the caller's without one.
    shown: Cgroup,
    /// The path the record names ("" without a cgroup of its own).
    pub path: String,
    /// Rootless, as decided (auto becomes rootless for root in a user namespace that may
    /// not make the cgroup).
    pub rootless: bool,
    /// Device cgroup rules are left out: they cannot be written in a user namespace (runc
    /// skips them there); root on the host with --rootless=true keeps them.
    no_devices: bool,
    /// The systemd driver: systemd makes the cgroup (a scope) and puts the init in it.
    systemd: bool,
}

impl ContainerCgroup {
    /// Makes what the clone needs of `cgroup` (resolved, its intent recorded); whatever is
    /// made goes into `undo` at once, for a failed create to remove.
    pub(crate) fn make(
        cgroup: Cgroup,
        linux: &oci_spec::runtime::Linux,
        rootless_setting: Option<bool>,
        systemd: bool,
        undo: &mut Option<Cgroup>,
    ) -> Result<ContainerCgroup> {
        let mut rootless = rootless_setting.unwrap_or_else(ocirun_sys::process::unprivileged);
        let in_user_namespace_or_unprivileged = ocirun_sys::process::unprivileged() || rootless_setting.is_none();
        let cgroup = if rootless && !systemd {
            let made = rootless_cgroup(cgroup, linux)?;
            undo.clone_from(&made);
            made
        } else if systemd {
            *undo = Some(cgroup.clone());
            Some(cgroup)
        } else {
            match cgroup.create_unified() {
                Ok(()) => {
                    *undo = Some(cgroup.clone());
                    Some(cgroup)
                }
                // Auto, root in a user namespace (runc: its cgroup errors are then tolerated).
                Err(e)
                    if rootless_setting.is_none()
                        && e.permission_denied()
                        && namespaces::running_in_user_namespace() =>
                {
                    rootless = true;
                    let made = rootless_cgroup(cgroup, linux)?;
                    undo.clone_from(&made);
                    made
                }
                Err(e) => return Err(Error::Cgroup(e)),
            }
        };
        // Without a cgroup of its own (rootless), a cgroup mount shows the caller's cgroups.
        let (path, shown) = match &cgroup {
            Some(cg) => (cg.path().to_string(), cg.clone()),
            None => {
                let h = Hierarchies::detect().map_err(Error::Cgroup)?;
                (
                    String::new(),
                    Cgroup::of_process(&h, std::process::id() as i32).map_err(Error::Cgroup)?,
                )
            }
        };
        Ok(ContainerCgroup {
            cgroup,
            shown,
            path,
            rootless,
            no_devices: rootless && in_user_namespace_or_unprivileged,
            systemd,
        })
    }

    /// The cgroup mounts the init's mount plan makes.
    pub(crate) fn mounts(&self) -> Vec<rootfs::CgroupMount> {
        self.shown
            .mounts()
            .into_iter()
            .map(|m| rootfs::CgroupMount {
                ready_at_start: (m.unified && !self.systemd) || self.cgroup.is_none(),
                name: m.name,
                controllers: m.mount_data,
                unified: m.unified,
                host_path: m.dir,
            })
            .collect()
    }

    /// The v2 directory the clone puts the init in, and each v1 hierarchy's `tasks` file the
    /// init joins (cgroupfs driver; systemd puts the init in its scope itself).
    pub(crate) fn clone_target(&self) -> Result<(Option<OwnedFd>, Vec<String>)> {
        match self.cgroup.as_ref().filter(|_| !self.systemd) {
            Some(cgroup) => {
                let tasks = cgroup
                    .v1_tasks_paths()
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect();
                Ok((cgroup.clone_into_fd().map_err(Error::Cgroup)?, tasks))
            }
            None => Ok((None, Vec::new())),
        }
    }

    /// The rest of the cgroup once the init `pid` exists, while it sets up its rootfs: the
    /// systemd scope, or the v1 directories and every limit (and the v2 join, when the clone
    /// could not put it there: `join_v2`). Returns the fds Go brings: the v1 `tasks` files,
    /// which the init writes "0" to, then, with `late_binds`, the binds its mount plan left
    /// for later.
    pub(crate) fn finish(
        &self,
        linux: &oci_spec::runtime::Linux,
        id: &str,
        pid: i32,
        join_v2: bool,
        late_binds: bool,
    ) -> Result<Vec<OwnedFd>> {
        let mut go_fds = Vec::new();
        if let Some(cgroup) = self.cgroup.as_ref().filter(|_| self.systemd) {
            finish_systemd_cgroup(cgroup, linux, id, pid, self.no_devices)?;
        } else if let Some(cgroup) = &self.cgroup {
            cgroup
                .create_rest(Some(&resources_for(linux, self.no_devices)))
                .map_err(Error::Cgroup)?;
            go_fds.extend(cgroup.v1_tasks().map_err(Error::Cgroup)?.into_iter().map(|(fd, _)| fd));
            if join_v2 {
                // clone without CLONE_INTO_CGROUP (before Linux 5.7): the v2 cgroup is ours to join.
                cgroup.add_process_v2(pid).map_err(Error::Cgroup)?;
            }
        }
        if late_binds {
            for m in self.shown.mounts() {
                go_fds.push(rootfs::detached_bind(&m.dir).map_err(Error::Rootfs)?);
            }
        }
        Ok(go_fds)
    }
}
