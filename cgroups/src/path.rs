//! Resolving linux.cgroupsPath to a cgroup path ("/ocirun/abc"), for the cgroupfs and systemd drivers.

use std::path::Path;

use crate::error::{CgroupError, Result};

/// The parent of containers whose spec has no cgroupsPath.
pub const DEFAULT_PARENT: &str = "/ocirun";

/// Resolves a cgroupfs-driver cgroupsPath.
///
/// `None` gives `/ocirun/<id>`. An absolute path is used as is; a relative path is taken under the
/// hierarchy root. (runc's cgroupfs driver joins a relative path onto the runtime's own cgroup, for
/// docker-in-docker without a cgroup namespace; we follow the ocirun design, which puts it under the
/// root, so the cgroup does not depend on where the runtime happens to run.) Empty and "." components
/// are dropped; ".." is refused (runc silently cleans it away, which hides a spec error).
pub fn resolve(cgroups_path: Option<&str>, id: &str) -> Result<String> {
    let Some(raw) = cgroups_path.filter(|p| !p.is_empty()) else {
        check_id(id)?;
        return Ok(format!("{DEFAULT_PARENT}/{id}"));
    };
    let invalid = |reason| CgroupError::InvalidPath {
        path: raw.to_owned(),
        reason,
    };
    if raw.contains('\0') {
        return Err(invalid("contains a NUL byte"));
    }
    if raw.contains('\n') {
        return Err(invalid("contains a newline"));
    }
    let mut out = String::with_capacity(raw.len() + 1);
    for comp in raw.split('/') {
        match comp {
            "" | "." => {}
            ".." => return Err(invalid("contains a \"..\" component")),
            c => {
                out.push('/');
                out.push_str(c);
            }
        }
    }
    if out.is_empty() {
        return Err(invalid("names the root cgroup"));
    }
    Ok(out)
}

/// Checks a sub-cgroup path of a container's cgroup (`exec --cgroup`) and returns it relative
/// ("a/b"; "" for the container's own cgroup).
///
/// Only a cgroup at or below the container's is accepted: no "..", "." or empty component
/// (runc cleans them and refuses what lands outside; a path that needs cleaning is refused
/// here, so no spelling can name another cgroup). Leading and trailing slashes are dropped:
/// "/" is the container's own cgroup, as in runc.
pub(crate) fn sub(raw: &str) -> Result<String> {
    let invalid = |reason| CgroupError::InvalidSubPath {
        path: raw.to_owned(),
        reason,
    };
    if raw.contains(['\0', '\n']) {
        return Err(invalid("contains a NUL byte or a newline"));
    }
    let rel = raw.trim_matches('/');
    if rel.is_empty() {
        return Ok(String::new());
    }
    for comp in rel.split('/') {
        match comp {
            "" => return Err(invalid("has an empty component")),
            "." | ".." => {
                return Err(invalid(
                    "has a \".\" or \"..\" component: only sub-cgroups of the container's cgroup are allowed",
                ));
            }
            _ => {}
        }
    }
    Ok(rel.to_owned())
}

fn check_id(id: &str) -> Result<()> {
    let bad = |reason| CgroupError::InvalidPath {
        path: id.to_owned(),
        reason,
    };
    if id.is_empty() || id == "." || id == ".." {
        return Err(bad("container id is empty, \".\" or \"..\""));
    }
    if id.contains(['/', '\0', '\n']) {
        return Err(bad("container id contains '/', NUL or a newline"));
    }
    Ok(())
}

/// A systemd cgroupsPath, "slice:prefix:name", split and expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemdPath {
    /// The slice unit ("system.slice"), runc's default when the first part is empty.
    pub slice: String,
    /// The unit systemd would create: "prefix-name.scope", or "name" when it ends in ".slice".
    pub unit: String,
    /// The cgroup path systemd would create ("/system.slice/docker-abc.scope").
    pub path: String,
}

/// Parses runc's systemd form "slice:prefix:name" (`None` means `system.slice:ocirun:<id>`, as runc
/// uses `system.slice:runc:<id>`) into the cgroup path systemd would create, without asking systemd.
pub fn parse_systemd(cgroups_path: Option<&str>, id: &str) -> Result<SystemdPath> {
    parse_systemd_in(cgroups_path, id, "system.slice")
}

/// [`parse_systemd`] with `default_slice` for an empty or missing slice part ("user.slice"
/// for the user's own systemd, as runc's rootless driver).
pub(crate) fn parse_systemd_in(cgroups_path: Option<&str>, id: &str, default_slice: &str) -> Result<SystemdPath> {
    let owned;
    let raw = match cgroups_path.filter(|p| !p.is_empty()) {
        Some(p) => p,
        None => {
            check_id(id)?;
            owned = format!("{default_slice}:ocirun:{id}");
            owned.as_str()
        }
    };
    let invalid = |reason| CgroupError::InvalidPath {
        path: raw.to_owned(),
        reason,
    };
    let parts: Vec<&str> = raw.split(':').collect();
    let [slice, prefix, name] = parts.as_slice() else {
        return Err(invalid("expected \"slice:prefix:name\" for the systemd cgroup driver"));
    };
    if name.is_empty() {
        return Err(invalid("the unit name part is empty"));
    }
    if [prefix, name].iter().any(|p| p.contains(['/', '\0', '\n'])) || *name == ".." {
        return Err(invalid("prefix and name must not contain '/', NUL or newlines"));
    }
    let slice = if slice.is_empty() { default_slice } else { slice };
    let unit = if name.ends_with(".slice") {
        (*name).to_owned()
    } else if prefix.is_empty() {
        format!("{name}.scope")
    } else {
        format!("{prefix}-{name}.scope")
    };
    let mut path = expand_slice(slice).ok_or_else(|| invalid("invalid slice name"))?;
    if unit.ends_with(".slice") {
        // A slice unit nests under its parent slices by name, as systemd does.
        path = expand_slice(&unit).ok_or_else(|| invalid("invalid slice name in the name part"))?;
    } else {
        if path != "/" {
            path.push('/');
        }
        path.push_str(&unit);
    }
    Ok(SystemdPath {
        slice: slice.to_owned(),
        unit,
        path,
    })
}

/// Expands a slice name to its cgroup path like systemd ("a-b.slice" -> "/a.slice/a-b.slice", "-.slice" -> "/"); `None` if invalid.
pub fn expand_slice(slice: &str) -> Option<String> {
    let base = slice.strip_suffix(".slice")?;
    if base.is_empty() || slice.contains('/') {
        return None;
    }
    if base == "-" {
        return Some("/".to_owned());
    }
    let mut path = String::new();
    let mut prefix = String::new();
    for comp in base.split('-') {
        if comp.is_empty() {
            return None;
        }
        path.push('/');
        path.push_str(&prefix);
        path.push_str(comp);
        path.push_str(".slice");
        prefix.push_str(comp);
        prefix.push('-');
    }
    Some(path)
}

/// Checks that systemd can be reached: the system bus's socket exists (`DBUS_SYSTEM_BUS_ADDRESS`
/// or the usual path), or with `user` the user bus's, so the driver can ask it for a scope.
pub(crate) fn require_systemd(raw: &str, user: bool) -> Result<()> {
    let (path, reason) = if user {
        (
            crate::dbus::user_bus_path(),
            "the user's systemd cannot be reached (no user D-Bus socket: DBUS_SESSION_BUS_ADDRESS, \
             or $XDG_RUNTIME_DIR/bus of a running user manager)",
        )
    } else {
        (
            Some(crate::dbus::system_bus_path()),
            "systemd is not running (the system D-Bus socket does not exist)",
        )
    };
    if path.is_some_and(|p| Path::new(&p).exists()) {
        return Ok(());
    }
    Err(CgroupError::Systemd {
        path: raw.to_owned(),
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_path_uses_the_id() {
        assert_eq!(resolve(None, "abc").expect("ok"), "/ocirun/abc");
        assert_eq!(resolve(Some(""), "abc").expect("ok"), "/ocirun/abc");
    }

    #[test]
    fn absolute_and_relative_paths() {
        assert_eq!(resolve(Some("/a/b"), "x").expect("ok"), "/a/b");
        assert_eq!(resolve(Some("a//b/./c/"), "x").expect("ok"), "/a/b/c");
    }

    #[test]
    fn dotdot_is_refused() {
        for p in ["/a/../b", "..", "a/..", "../../etc"] {
            assert!(
                matches!(resolve(Some(p), "x"), Err(CgroupError::InvalidPath { .. })),
                "{p}"
            );
        }
        assert!(resolve(Some("/"), "x").is_err());
        assert!(resolve(None, "..").is_err());
        assert!(resolve(None, "a/b").is_err());
    }

    #[test]
    fn sub_cgroups_stay_below_the_container() {
        assert_eq!(sub("/").expect("ok"), "");
        assert_eq!(sub("").expect("ok"), "");
        assert_eq!(sub("a").expect("ok"), "a");
        assert_eq!(sub("/a/b/").expect("ok"), "a/b");
        for p in [
            "..",
            "../..",
            "a/../../x",
            "/..",
            "./..",
            "a/..",
            ".",
            "a//b",
            "a/.",
            "a\nb",
            "a\0",
        ] {
            assert!(
                matches!(sub(p), Err(CgroupError::InvalidSubPath { .. })),
                "{p:?} was accepted"
            );
        }
    }

    #[test]
    fn user_manager_default_slice_is_user_slice() {
        let p = parse_systemd_in(None, "c1", "user.slice").expect("ok");
        assert_eq!(
            (p.slice.as_str(), p.path.as_str()),
            ("user.slice", "/user.slice/ocirun-c1.scope")
        );
        let p = parse_systemd_in(Some(":runc:c1"), "x", "user.slice").expect("ok");
        assert_eq!(p.path, "/user.slice/runc-c1.scope");
        let p = parse_systemd_in(Some("app.slice:runc:c1"), "x", "user.slice").expect("ok");
        assert_eq!(p.path, "/app.slice/runc-c1.scope");
    }

    #[test]
    fn systemd_scope_path() {
        let p = parse_systemd(Some("system.slice:docker:abc"), "x").expect("ok");
        assert_eq!(p.path, "/system.slice/docker-abc.scope");
        assert_eq!(p.unit, "docker-abc.scope");
        let p = parse_systemd(Some("user-1000.slice:ocirun:c1"), "x").expect("ok");
        assert_eq!(p.path, "/user.slice/user-1000.slice/ocirun-c1.scope");
        let p = parse_systemd(Some(":runc:c1"), "x").expect("ok");
        assert_eq!(p.path, "/system.slice/runc-c1.scope");
        let p = parse_systemd(Some("-.slice::c1"), "x").expect("ok");
        assert_eq!(p.path, "/c1.scope");
        let p = parse_systemd(Some("system.slice:x:a-b.slice"), "x").expect("ok");
        assert_eq!(p.path, "/a.slice/a-b.slice");
        let p = parse_systemd(None, "c2").expect("ok");
        assert_eq!(p.path, "/system.slice/ocirun-c2.scope");
    }

    #[test]
    fn systemd_bad_forms() {
        for p in [
            "/abs/path",
            "a:b",
            "a:b:c:d",
            "nodot:p:n",
            "a--b.slice:p:n",
            "system.slice:p:",
            "system.slice:p/x:n",
            "x/y.slice:p:n",
        ] {
            assert!(parse_systemd(Some(p), "x").is_err(), "{p}");
        }
    }

    #[test]
    fn expand_slice_like_systemd() {
        assert_eq!(expand_slice("-.slice"), Some("/".to_owned()));
        assert_eq!(
            expand_slice("a-b-c.slice"),
            Some("/a.slice/a-b.slice/a-b-c.slice".to_owned())
        );
        assert!(expand_slice(".slice").is_none());
        assert!(expand_slice("-a.slice").is_none());
    }
}
