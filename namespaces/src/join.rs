//! Joining an existing namespace: its file opened and checked in the parent, setns in the child.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use crate::kind::expected_ns_type;
use crate::{NamespaceError, NamespaceKind};

/// Joins the namespace behind `fd`, which must be of `kind`. Runs in the child: no allocation,
/// no locks.
pub fn setns(fd: BorrowedFd<'_>, kind: NamespaceKind) -> Result<(), i32> {
    ocirun_sys::ns::setns(fd, expected_ns_type(kind))
}

/// Opens a namespace file given in the spec, and checks that it is of `kind`.
///
/// Runs in the parent; the fd is later passed to [`setns`] in the child.
pub fn open_namespace(kind: NamespaceKind, path: &Path) -> Result<OwnedFd, NamespaceError> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
        .map_err(|source| NamespaceError::Open {
            kind: kind.proc_name(),
            path: path.to_owned(),
            source,
        })?;
    if ocirun_sys::ns::ns_type(file.as_fd()) != Ok(expected_ns_type(kind)) {
        return Err(NamespaceError::WrongKind {
            kind: kind.proc_name(),
            path: path.to_owned(),
        });
    }
    Ok(OwnedFd::from(file))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_namespace_checks_the_kind() {
        let fd = open_namespace(NamespaceKind::Network, Path::new("/proc/self/ns/net"));
        assert!(fd.is_ok());
        let err = open_namespace(NamespaceKind::Pid, Path::new("/proc/self/ns/net")).unwrap_err();
        assert!(err.to_string().contains("is not a pid namespace"), "{err}");
        let err = open_namespace(NamespaceKind::Pid, Path::new("/nonexistent/ns")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/ns"), "{err}");
    }
}
