//! Container paths, from the spec's strings to the [`Target`]s the child resolves in the
//! rootfs; and the errors that name the field a value came from.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path};

use super::ops::{Base, Target};
use crate::RootfsError;

/// A `RootfsError::InvalidField`.
pub(super) fn invalid(field: impl Into<String>, value: impl Into<String>, reason: &'static str) -> RootfsError {
    RootfsError::InvalidField {
        field: field.into(),
        value: value.into(),
        reason,
    }
}

/// A C string from bytes, or an error naming the field when they hold a NUL.
pub(super) fn cstring(field: &str, bytes: &[u8]) -> Result<CString, RootfsError> {
    CString::new(bytes).map_err(|_| {
        invalid(
            field,
            String::from_utf8_lossy(bytes).into_owned(),
            "contains a NUL byte",
        )
    })
}

/// A container path split into its normal components; rejects relative paths and "..".
pub(super) fn container_components(field: &str, path: &Path) -> Result<Vec<Vec<u8>>, RootfsError> {
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
pub(super) fn absolute_from(parts: &[Vec<u8>]) -> Vec<u8> {
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
pub(super) fn target_from(field: &str, parts: &[Vec<u8>]) -> Result<Target, RootfsError> {
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

/// A [`Target`] from components relative to `base` (for `/dev/pts`, `pts` in [`Base::Dev`]).
pub(super) fn target_in(field: &str, parts: &[Vec<u8>], base: Base) -> Result<Target, RootfsError> {
    let mut t = target_from(field, parts)?;
    t.base = base;
    Ok(t)
}

/// A directory the runtime makes device nodes or symlinks in (`/dev`): resolved without
/// following any symlink, not even one that stays in the rootfs, so that an image cannot
/// send the runtime's entries into a bind mount of a host directory or onto procfs
/// (CVE-2025-52565, runc CVE-2026-41579, crun CVE-2026-47766); at or under /dev, relative to
/// the container's /dev ([`Base::Dev`]), so that a volume an image symlink stacks over /dev
/// does not get them either.
pub(super) fn runtime_dir(field: &str, parts: &[Vec<u8>]) -> Result<Target, RootfsError> {
    let mut t = match parts.split_first() {
        Some((first, rest)) if first == b"dev" => target_in(field, rest, Base::Dev)?,
        _ => target_from(field, parts)?,
    };
    t.no_symlinks = true;
    Ok(t)
}

/// The components of a target inside the rootfs.
pub(super) fn target_components(t: &Target) -> Vec<&[u8]> {
    let base = Some(t.base.name()).filter(|n| !n.is_empty());
    base.into_iter().chain(t.names.iter().map(|n| n.to_bytes())).collect()
}
