//! What may be mounted on and under /proc (CVE-2019-16884): only procfs on /proc, and under
//! it only the files lxcfs emulates, as runc's checkProcMount.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::path::{absolute_from, invalid};
use crate::RootfsError;

/// The files under /proc a mount may cover, as runc's checkProcMount allows: those lxcfs
/// emulates, so that `top` and `free` in a container see the container's numbers. Not
/// `/proc/net/dev`, which runc 1.3.1 dropped: `/proc/net` is a symlink into `/proc/self`.
const PROC_FILES_MOUNTABLE: [&str; 10] = [
    "/proc/cpuinfo",
    "/proc/diskstats",
    "/proc/meminfo",
    "/proc/stat",
    "/proc/swaps",
    "/proc/uptime",
    "/proc/loadavg",
    "/proc/slabinfo",
    "/proc/sys/kernel/ns_last_pid",
    "/proc/sys/crypto/fips_enabled",
];

/// Refuses, naming the mount, anything on /proc that is not procfs and anything under /proc
/// but runc's lxcfs files (CVE-2019-16884): the masks, the read-only paths and every procfs
/// path the container's processes trust live there. On /proc itself only a proc mount, or a
/// bind of the root of a procfs. Runs in the parent on the spec's path; the child checks
/// where the target resolves (`Placement`), for symlinks in the image.
pub(super) fn check_proc_mount(
    field: &str,
    parts: &[Vec<u8>],
    typ: &str,
    is_bind: bool,
    source: Option<&Path>,
) -> Result<(), RootfsError> {
    if parts.first().is_none_or(|p| p != b"proc") {
        return Ok(());
    }
    let dest = String::from_utf8_lossy(&absolute_from(parts)).into_owned();
    let field = format!("{field}.destination");
    if parts.len() > 1 {
        if PROC_FILES_MOUNTABLE.contains(&dest.as_str()) {
            return Ok(());
        }
        return Err(invalid(
            field,
            dest,
            "nothing may be mounted under /proc but the files lxcfs emulates (/proc/cpuinfo, /proc/diskstats, \
             /proc/meminfo, /proc/stat, /proc/swaps, /proc/uptime, /proc/loadavg, /proc/slabinfo, \
             /proc/sys/kernel/ns_last_pid, /proc/sys/crypto/fips_enabled), as runc",
        ));
    }
    if !is_bind {
        if typ == "proc" {
            return Ok(());
        }
        return Err(invalid(
            field,
            dest,
            "only a proc mount or a bind of the root of a procfs may be mounted on /proc",
        ));
    }
    if source.is_some_and(is_procfs_root) {
        return Ok(());
    }
    Err(invalid(
        field,
        dest,
        "a bind mount on /proc must have the root of a procfs as its source",
    ))
}

/// Whether the host path `source` is the root of a procfs.
fn is_procfs_root(source: &Path) -> bool {
    let Ok(path) = CString::new(source.as_os_str().as_bytes()) else {
        return false;
    };
    let Ok(fd) = crate::sys::open(&path, libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC) else {
        return false;
    };
    crate::sys::is_procfs_root(std::os::fd::AsFd::as_fd(&fd)).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use oci_spec::runtime::Mount;

    use crate::MountPlan;
    use crate::plan::testing::{cfg, mount};

    #[test]
    fn only_procfs_goes_on_proc_and_only_lxcfs_files_under_it() {
        let compiles = |m: Mount| {
            let mut c = cfg();
            c.mounts = vec![m];
            MountPlan::compile(c).map(drop)
        };
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("meminfo");
        std::fs::write(&file, "MemTotal: 1 kB\n").unwrap();
        let (dir, file) = (dir.path().to_str().unwrap(), file.to_str().unwrap());
        // Allowed: a proc mount, a bind of the root of a procfs, lxcfs files, proc elsewhere.
        for ok in [
            mount("/proc", Some("proc"), Some("proc"), &[]),
            mount("/proc", Some("bind"), Some("/proc"), &["rbind"]),
            mount("/proc/meminfo", Some("bind"), Some(file), &["bind"]),
            mount("/proc/sys/kernel/ns_last_pid", Some("bind"), Some(file), &["bind"]),
            mount("/host-proc", Some("proc"), Some("proc"), &[]),
            mount("/procfs", Some("bind"), Some(dir), &["rbind"]),
        ] {
            let dest = ok.destination().display().to_string();
            compiles(ok).unwrap_or_else(|e| panic!("{dest}: {e}"));
        }
        // Refused, naming the mount: anything else on or under /proc.
        for (bad, why) in [
            (mount("/proc", Some("bind"), Some(dir), &["rbind"]), "root of a procfs"),
            (
                mount("/proc", Some("bind"), Some("/proc/self"), &["rbind"]),
                "root of a procfs",
            ),
            (mount("/proc", Some("tmpfs"), Some("tmpfs"), &[]), "only a proc mount"),
            (mount("/proc/", Some("sysfs"), Some("sysfs"), &[]), "only a proc mount"),
            (mount("/proc/sys", Some("proc"), Some("proc"), &[]), "lxcfs"),
            (
                mount("/proc/sys/kernel/core_pattern", Some("bind"), Some(file), &["bind"]),
                "lxcfs",
            ),
            (mount("/proc/./meminfo/x", Some("bind"), Some(file), &["bind"]), "lxcfs"),
            (mount("/proc/1/attr", Some("tmpfs"), Some("tmpfs"), &[]), "lxcfs"),
            (mount("/proc/kcore", Some("cgroup"), Some("cgroup"), &[]), "lxcfs"),
        ] {
            let dest = bad.destination().display().to_string();
            let e = compiles(bad).unwrap_err().to_string();
            assert!(e.starts_with("mounts[0].destination = \"/proc"), "{dest}: {e}");
            assert!(e.contains(why), "{dest}: {e}");
        }
    }
}
