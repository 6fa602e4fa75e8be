//! A user namespace with given uid and gid maps, held by an fd: what an id-mapped mount maps
//! its ids through (`MOUNT_ATTR_IDMAP` takes a user namespace fd, not maps).

use std::cell::Cell;
use std::os::fd::{AsFd, OwnedFd};

use crate::{CloneArgs, IdMap, NamespaceError, NamespaceKind, NamespaceSet, pidfd, spawn, write_id_maps};

/// A pipe whose ends are close-on-exec: (read, write).
fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    ocirun_sys::io::pipe().map_err(std::io::Error::from_raw_os_error)
}

/// Makes a user namespace whose uid_map and gid_map are `uid_maps` and `gid_maps` (ids of
/// this process's user namespace, as a container's `linux.uidMappings` are), and returns an
/// fd of it; nothing lives in it. Runs in the parent: a helper process is cloned into the new
/// namespace, its maps are written, the namespace is opened through `/proc/<pid>/ns/user`,
/// and the helper is ended and reaped; it also ends when this process dies (it waits for the
/// end of a pipe only this process holds). Writing maps of more than one id needs
/// CAP_SETUID and CAP_SETGID in this user namespace.
pub fn user_namespace(uid_maps: &[IdMap], gid_maps: &[IdMap]) -> Result<OwnedFd, NamespaceError> {
    let helper_error = |source| NamespaceError::UserNamespace { source };
    let (wait_end, hold_end) = pipe().map_err(helper_error)?;
    let mut namespaces = NamespaceSet::empty();
    namespaces.insert(NamespaceKind::User);
    let args = CloneArgs {
        namespaces,
        cgroup_fd: None,
        pid_namespace: None,
    };
    // The helper closes its copy of the write end (taken out of the cell in its own copy of
    // this address space); this process keeps its own until the maps are written.
    let hold_end = Cell::new(Some(hold_end));
    // SAFETY: the child only closes an fd and reads from another: no allocation, no lock, no
    // unwinding; it returns (and exits) once the pipe's last write end is closed.
    let helper = unsafe {
        spawn(&args, || {
            drop(hold_end.take());
            let mut byte = [0u8; 1];
            let _ = ocirun_sys::fs::read(wait_end.as_fd(), &mut byte);
            0
        })
    }?;
    drop(wait_end);
    let opened = write_id_maps(helper.pid, uid_maps, gid_maps, false).and_then(|()| {
        std::fs::File::open(format!("/proc/{}/ns/user", helper.pid))
            .map(OwnedFd::from)
            .map_err(helper_error)
    });
    // The helper returns once the write end is gone; reap it either way.
    drop(hold_end);
    pidfd::reap(&helper.pidfd, true).map_err(helper_error)?;
    opened
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_namespace_has_the_given_maps() {
        if ocirun_sys::process::unprivileged() {
            eprintln!("skipped: writing a map of more than one id needs root");
            return;
        }
        let uid = [IdMap {
            container_id: 0,
            host_id: 100000,
            size: 65536,
        }];
        let gid = [IdMap {
            container_id: 5,
            host_id: 200000,
            size: 10,
        }];
        let ns = user_namespace(&uid, &gid).unwrap();
        let own = std::fs::metadata("/proc/self/ns/user").unwrap();
        let made = std::fs::metadata(format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&ns))).unwrap();
        use std::os::unix::fs::MetadataExt;
        assert_ne!(own.ino(), made.ino(), "the fd is this process's own user namespace");
        // The maps, as a process set into the namespace reads them.
        let args = CloneArgs::default();
        let (r, w) = pipe().unwrap();
        // SAFETY: the child only makes setns and open/read/write system calls on stack buffers.
        let child = unsafe {
            spawn(&args, || {
                if ocirun_sys::ns::setns(ns.as_fd(), libc::CLONE_NEWUSER).is_err() {
                    return 1;
                }
                let mut buf = [0u8; 256];
                for path in [c"/proc/self/uid_map", c"/proc/self/gid_map"] {
                    let Ok(fd) = ocirun_sys::fs::open(path, libc::O_RDONLY | libc::O_CLOEXEC) else {
                        return 2;
                    };
                    match ocirun_sys::fs::read(fd.as_fd(), &mut buf) {
                        Ok(n) if n > 0 && ocirun_sys::fs::write(w.as_fd(), &buf[..n]) == Ok(n) => {}
                        _ => return 2,
                    }
                }
                0
            })
        }
        .unwrap();
        drop(w);
        let mut out = String::new();
        std::io::Read::read_to_string(&mut std::fs::File::from(r), &mut out).unwrap();
        let status = pidfd::reap(&child.pidfd, true).unwrap();
        assert_eq!(status.map(|s| s.code()), Some(0), "{out}");
        let fields: Vec<&str> = out.split_whitespace().collect();
        assert_eq!(fields, ["0", "100000", "65536", "5", "200000", "10"]);
    }
}
