//! The container's cgroup as create and the lifecycle operations see it: resolved from
//! linux.cgroupsPath, made (rootless or with systemd), with runc's default device rules.

use std::borrow::Cow;
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
pub(crate) fn rootless_cgroup(cgroup: Cgroup, linux: &oci_spec::runtime::Linux) -> Result<Option<Cgroup>> {
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
pub(crate) fn resources_for(linux: &oci_spec::runtime::Linux, no_devices: bool) -> oci_spec::runtime::LinuxResources {
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
pub(crate) fn finish_systemd_cgroup(
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
