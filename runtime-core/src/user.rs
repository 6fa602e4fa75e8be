//! User and group names (`exec --user name[:group]`), looked up in the container's own
//! /etc/passwd and /etc/group.
//!
//! The files are opened from the init's root directory with `RESOLVE_IN_ROOT`, so a symlink
//! in the image (`etc/passwd -> /etc/shadow`) resolves inside the container, never on the
//! host; they are opened `O_PATH` first and read only if they are regular files, so a fifo or
//! a device at that path neither blocks the runtime nor gets opened by it; and at most
//! [`MAX_FILE`] bytes are read.

use std::ffi::CStr;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::time::Duration;

use namespaces::pidfd;
use oci_spec::runtime::User;
use ocirun_sys::fs;

use crate::state::Status;
use crate::{Container, Error, Result};

/// The most bytes of /etc/passwd or /etc/group read; a larger file is an error.
const MAX_FILE: u64 = 16 << 20;

const FIELD: &str = "--user";

impl Container {
    /// The user for `spec`, runc's `exec --user` form `uid[:gid]` where each part is a number or
    /// a name: names are looked up in the container's /etc/passwd and /etc/group, resolved
    /// inside the container's root (an image's symlinks cannot point them at host files).
    /// Without a group, the gid is the user's from /etc/passwd, else `default_gid`.
    pub fn resolve_user(&self, spec: &str, default_gid: u32) -> Result<User> {
        let (user, group) = match spec.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (spec, None),
        };
        let root = self.root_dir("exec --user")?;
        let numeric = user.parse::<u32>();
        // A uid with a group needs nothing from /etc/passwd.
        let passwd = match (&numeric, group) {
            (Ok(_), Some(_)) => String::new(),
            _ => read_etc(&root, c"etc/passwd", "/etc/passwd")?,
        };
        let (uid, mut gid) = match numeric {
            Ok(uid) => (
                uid,
                entry(&passwd, |f| f.get(2) == Some(&user)).and_then(|f| f.get(3)?.parse().ok()),
            ),
            Err(_) => {
                let fields = entry(&passwd, |f| f.first() == Some(&user)).ok_or_else(|| {
                    Error::spec(FIELD, format!("{user:?}: no such user in the container's /etc/passwd"))
                })?;
                let uid = fields.get(2).and_then(|s| s.parse().ok()).ok_or_else(|| {
                    Error::spec(
                        FIELD,
                        format!("{user:?}: malformed entry in the container's /etc/passwd"),
                    )
                })?;
                (uid, fields.get(3).and_then(|s| s.parse().ok()))
            }
        };
        if let Some(g) = group {
            gid = Some(match g.parse::<u32>() {
                Ok(gid) => gid,
                Err(_) => {
                    let groups = read_etc(&root, c"etc/group", "/etc/group")?;
                    entry(&groups, |f| f.first() == Some(&g))
                        .and_then(|f| f.get(2)?.parse().ok())
                        .ok_or_else(|| {
                            Error::spec(
                                FIELD,
                                format!("{spec:?}: no such group {g:?} in the container's /etc/group"),
                            )
                        })?
                }
            });
        }
        let mut u = User::default();
        u.set_uid(uid).set_gid(gid.unwrap_or(default_gid));
        Ok(u)
    }

    /// The init's root directory, `O_PATH`: the container's `/` as its processes see it;
    /// `op` names the operation in errors.
    pub(crate) fn root_dir(&self, op: &'static str) -> Result<OwnedFd> {
        let init = self.init_pidfd(op)?;
        let path = format!("/proc/{}/root", self.pid());
        let root = fs::open_dir_path(std::path::Path::new(&path))
            .map_err(|e| Error::io("open the container's root", &path, e))?;
        // Opened after the pidfd: if the init still runs now, the directory is its root.
        if pidfd::wait_exited(init.as_fd(), Some(Duration::ZERO)).unwrap_or(true) {
            return Err(Error::BadStatus {
                op,
                id: self.id().to_string(),
                status: Status::Stopped,
            });
        }
        Ok(root)
    }
}

/// The text of `name` below the container's root (empty when it does not exist); `shown` names
/// it in errors.
fn read_etc(root: &OwnedFd, name: &CStr, shown: &str) -> Result<String> {
    let resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;
    let fd = match fs::openat2(root.as_fd(), name, libc::O_PATH | libc::O_CLOEXEC, resolve) {
        Ok(fd) => fd,
        Err(libc::ENOENT) => return Ok(String::new()),
        Err(errno) => {
            return Err(Error::io(
                "open the container's file",
                shown,
                std::io::Error::from_raw_os_error(errno),
            ));
        }
    };
    let file = std::fs::File::from(fd);
    let regular = file
        .metadata()
        .map_err(|e| Error::io("stat the container's file", shown, e))?
        .file_type()
        .is_file();
    if !regular {
        return Err(Error::spec(
            FIELD,
            format!("the container's {shown} is not a regular file"),
        ));
    }
    // Reopened through the O_PATH fd: the very file checked above, now for reading.
    let reopen = format!("/proc/self/fd/{}", file.as_raw_fd());
    let opened = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK)
        .open(&reopen)
        .map_err(|e| Error::io("open the container's file", shown, e))?;
    let mut bytes = Vec::new();
    opened
        .take(MAX_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io("read the container's file", shown, e))?;
    if bytes.len() as u64 > MAX_FILE {
        return Err(Error::spec(
            FIELD,
            format!("the container's {shown} is larger than {} MiB", MAX_FILE >> 20),
        ));
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The colon-separated fields of the first line of `file` that `matches`.
fn entry<'a>(file: &'a str, matches: impl Fn(&[&'a str]) -> bool) -> Option<Vec<&'a str>> {
    file.lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| matches(f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_match_by_name_or_uid() {
        let passwd = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/sh\n";
        assert_eq!(
            entry(passwd, |f| f.first() == Some(&"nobody")).and_then(|f| f.get(2).copied()),
            Some("65534")
        );
        assert_eq!(
            entry(passwd, |f| f.get(2) == Some(&"0")).and_then(|f| f.first().copied()),
            Some("root")
        );
        assert!(entry(passwd, |f| f.first() == Some(&"nosuch")).is_none());
    }
}
