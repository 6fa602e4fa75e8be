//! The host's mounts a `--no-pivot` container must not keep (runs in the parent).
//!
//! With pivot_root the old root and every mount below it are detached in one go. `--no-pivot`
//! moves the rootfs onto `/` and chroots into it instead: every other mount of the host stays
//! in the container's mount namespace, below the chroot. None is reachable by path, but the
//! kernel looks at all of them when a process in a new user namespace mounts procfs or sysfs
//! (`mount_too_revealing`): a fully visible host procfs there lets it mount a fresh, unmasked
//! one, with a writable /proc/sysrq-trigger. So the plan detaches them, as runc's msMoveRoot
//! does for procfs and sysfs, and here for everything: the list is read from
//! `/proc/self/mountinfo` in the parent, the child only walks it.

use std::ffi::CString;
use std::path::Path;

use ocirun_sys::mountinfo::MountLine;

use crate::RootfsError;

/// What [`read`] finds in the host's mount table, for a rootfs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct HostMounts {
    /// Mount points on the way from `/` to the rootfs (`/`, maybe `/tmp`), shallowest first.
    /// They cannot be detached (the rootfs hangs below them until it moves); the plan makes
    /// each private once the rootfs is bound, so that nothing the host mounts afterwards
    /// propagates into the container's mount namespace through them.
    pub(crate) ancestors: Vec<CString>,
    /// Mount points outside the rootfs to detach, shallowest first: every mount whose parent
    /// is an ancestor (a lazy unmount takes the mounts below it along), and every full procfs
    /// or sysfs mount, which the child covers with a tmpfs when it cannot detach it (a mount
    /// locked in a user namespace), as runc.
    pub(crate) detach: Vec<Detach>,
}

/// One mount point for the child to detach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Detach {
    /// The absolute host path.
    pub(crate) path: CString,
    /// A full (root of the filesystem) procfs or sysfs mount: covered when not detachable.
    pub(crate) pseudo: bool,
}

/// Reads `/proc/self/mountinfo` and sorts its mounts for `rootfs`, made canonical first: a
/// symlink in its path would hide a mount above it, which would then be detached with the
/// rootfs below it.
pub(crate) fn read(rootfs: &Path) -> Result<HostMounts, RootfsError> {
    const MOUNTINFO: &str = "/proc/self/mountinfo";
    let inspect = |path: &Path, e| RootfsError::Inspect {
        field: "no_pivot".to_owned(),
        path: path.to_path_buf(),
        source: e,
    };
    let rootfs = ocirun_sys::fs::canonicalize(rootfs).map_err(|e| inspect(rootfs, e))?;
    let text = std::fs::read(MOUNTINFO).map_err(|e| inspect(Path::new(MOUNTINFO), e))?;
    Ok(sort(&text, std::os::unix::ffi::OsStrExt::as_bytes(rootfs.as_os_str())))
}

/// One line of mountinfo, the fields we use.
struct Line {
    /// Mount id.
    id: u64,
    /// Parent mount id.
    parent: u64,
    /// Mount point, unescaped.
    point: Vec<u8>,
    /// The root of the mount within its filesystem is the filesystem's root, and the type is
    /// proc or sysfs.
    pseudo: bool,
}

/// The fields of one mountinfo line this module uses; `None` for a line that does not have them.
fn parse_line(line: &[u8]) -> Option<Line> {
    let m = MountLine::parse(line)?;
    Some(Line {
        id: m.id,
        parent: m.parent,
        point: m.mount_point(),
        pseudo: m.root == b"/" && (m.fstype == b"proc" || m.fstype == b"sysfs"),
    })
}

/// Whether `dir` is `path` or one of its ancestors (component-wise).
fn is_at_or_above(dir: &[u8], path: &[u8]) -> bool {
    dir == b"/" || path == dir || (path.starts_with(dir) && path.get(dir.len()) == Some(&b'/'))
}

/// Sorts the mounts of `mountinfo` for `rootfs` (see [`HostMounts`]).
fn sort(mountinfo: &[u8], rootfs: &[u8]) -> HostMounts {
    let lines: Vec<Line> = mountinfo.split(|b| *b == b'\n').filter_map(parse_line).collect();
    // Inside the rootfs (the container's own mounts, an image's overlay at the rootfs
    // itself): kept. Above it: ancestors. Everything else is outside.
    let outside: Vec<&Line> = lines
        .iter()
        .filter(|l| !is_at_or_above(rootfs, &l.point) && !is_at_or_above(&l.point, rootfs))
        .collect();
    let mut ancestors: Vec<&[u8]> = lines
        .iter()
        .filter(|l| is_at_or_above(&l.point, rootfs) && l.point != rootfs)
        .map(|l| l.point.as_slice())
        .collect();
    let depth = |p: &[u8]| p.iter().filter(|b| **b == b'/').count() - usize::from(p == b"/");
    ancestors.sort_by_key(|p| depth(p));
    ancestors.dedup();
    let mut detach: Vec<Detach> = Vec::new();
    for l in &outside {
        let top = !outside.iter().any(|o| o.id == l.parent);
        if !top && !l.pseudo {
            continue;
        }
        // Stacked mounts at one point are one entry: the child detaches until none is left.
        let Ok(path) = CString::new(l.point.clone()) else {
            continue;
        };
        match detach.iter_mut().find(|d| d.path == path) {
            Some(d) => d.pseudo |= l.pseudo,
            None => detach.push(Detach { path, pseudo: l.pseudo }),
        }
    }
    detach.sort_by_key(|d| depth(d.path.as_bytes()));
    HostMounts {
        ancestors: ancestors.into_iter().filter_map(|p| CString::new(p).ok()).collect(),
        detach,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The mount table of a host whose rootfs lives on a tmpfs at /run/b, with a
    /// pre-mounted overlay at the rootfs and a mount in it.
    const MOUNTINFO: &str = "\
22 27 0:21 / /proc rw,relatime shared:5 - proc proc rw
23 27 0:22 / /sys rw,relatime - sysfs sysfs rw
24 27 0:6 / /dev rw,relatime - devtmpfs devtmpfs rw
26 24 0:24 / /dev/pts rw,relatime - devpts devpts rw
29 26 0:26 / /dev/pts rw,relatime - devpts devpts rw
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
40 27 0:40 / /run rw - tmpfs tmpfs rw
41 40 0:41 / /run/b rw - tmpfs tmpfs rw
42 41 0:42 / /run/b/rootfs rw - overlay overlay rw
43 42 0:43 / /run/b/rootfs/proc rw - proc proc rw
44 41 0:44 / /run/b/other rw - tmpfs tmpfs rw
45 40 0:21 / /run/netns/proc\\040copy rw - proc proc rw
46 27 0:21 /sys /mnt/procsys rw - proc proc rw
47 27 0:45 / /run/bx rw - tmpfs tmpfs rw
48 44 0:22 / /run/b/other/sys rw - sysfs sysfs rw
";

    #[test]
    fn mounts_sort_into_ancestors_and_what_to_detach() {
        let m = sort(MOUNTINFO.as_bytes(), b"/run/b/rootfs");
        let ancestors: Vec<&[u8]> = m.ancestors.iter().map(|p| p.to_bytes()).collect();
        assert_eq!(ancestors, [b"/".as_slice(), b"/run", b"/run/b"]);
        let detach: Vec<(&str, bool)> = m.detach.iter().map(|d| (d.path.to_str().unwrap(), d.pseudo)).collect();
        assert_eq!(
            detach,
            [
                ("/proc", true),
                ("/sys", true),
                ("/dev", false),
                ("/mnt/procsys", false),
                ("/run/bx", false),
                ("/run/b/other", false),
                ("/run/netns/proc copy", true),
                ("/run/b/other/sys", true),
            ]
        );
    }

    #[test]
    fn escapes_and_odd_lines() {
        assert_eq!(
            parse_line(b"1 0 0:1 / /a\\040b\\134c\\12 rw - tmpfs t rw")
                .unwrap()
                .point,
            b"/a b\\c\\12"
        );
        assert!(parse_line(b"garbage").is_none());
        assert!(parse_line(b"").is_none());
        assert!(is_at_or_above(b"/", b"/x"));
        assert!(is_at_or_above(b"/run", b"/run/b"));
        assert!(!is_at_or_above(b"/run/b", b"/run/bx"));
    }
}
