//! Finding the cgroup hierarchies: v1, v2 or hybrid, and which controllers each one has.

use std::os::unix::ffi::OsStringExt as _;
use std::path::{Path, PathBuf};

use ocirun_sys::mountinfo::{self, MountLine};

use crate::error::{CgroupError, Result};
use crate::fsio;

/// `statfs`'s type of a cgroup v1 and a cgroup v2 filesystem.
const CGROUP_SUPER_MAGIC: u64 = 0x0027_e0eb;
const CGROUP2_SUPER_MAGIC: u64 = 0x6367_7270;

/// The v1 controllers this crate knows; anything else in a v1 mount's options is not a controller.
const V1_CONTROLLERS: &[&str] = &[
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "net_cls",
    "net_prio",
    "blkio",
    "perf_event",
    "hugetlb",
    "pids",
    "rdma",
    "misc",
];

/// How cgroups are mounted on a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Only cgroup v1 hierarchies.
    V1,
    /// Only the cgroup v2 unified hierarchy.
    V2,
    /// cgroup v1 hierarchies plus a cgroup v2 mount (usually /sys/fs/cgroup/unified).
    Hybrid,
}

/// One mounted cgroup hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hierarchy {
    /// Where it is mounted (/sys/fs/cgroup/cpu).
    pub(crate) mountpoint: PathBuf,
    /// The cgroup path of the mount's root ("/" unless mounted from inside a cgroup namespace).
    pub(crate) root: String,
    /// True for cgroup2.
    pub(crate) v2: bool,
    /// The controllers it has (for v2, those listed in the root's cgroup.controllers).
    pub(crate) controllers: Vec<String>,
    /// A v1 named hierarchy ("systemd" for name=systemd).
    pub(crate) name: Option<String>,
}

impl Hierarchy {
    /// The directory name under /sys/fs/cgroup ("cpu", "unified", "systemd").
    pub(crate) fn dir_name(&self) -> String {
        self.mountpoint
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// The v1 mount data that recreates this hierarchy ("cpu,cpuacct", "none,name=systemd"), "" for v2.
    pub(crate) fn mount_data(&self) -> String {
        if self.v2 {
            return String::new();
        }
        let mut parts: Vec<String> = self.controllers.clone();
        if let Some(name) = &self.name {
            if parts.is_empty() {
                parts.push("none".to_owned());
            }
            parts.push(format!("name={name}"));
        }
        parts.join(",")
    }

    /// The host directory of cgroup `path` ("/ocirun/abc") in this hierarchy.
    pub(crate) fn dir_of(&self, path: &str) -> PathBuf {
        let rel = if self.root != "/" {
            path.strip_prefix(self.root.as_str())
                .filter(|r| r.is_empty() || r.starts_with('/'))
                .unwrap_or(path)
        } else {
            path
        };
        fsio::join_cgroup(&self.mountpoint, rel)
    }

    /// Whether this hierarchy has `controller`.
    pub(crate) fn has(&self, controller: &str) -> bool {
        self.controllers.iter().any(|c| c == controller)
    }
}

/// The cgroup hierarchies mounted on this host (parsed from /proc/self/mountinfo, or a fake root for tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchies {
    layout: Layout,
    pub(crate) list: Vec<Hierarchy>,
}

impl Hierarchies {
    /// Finds the hierarchies this process is in and where they are mounted, and the v2 root's
    /// cgroup.controllers: from /proc/self/cgroup and one statmount(2) per hierarchy when every
    /// hierarchy is at its usual place under /sys/fs/cgroup (a cost flat in the host's
    /// mounts), else from /proc/self/mountinfo ([`Hierarchies::from_proc_mountinfo`]).
    pub fn detect() -> Result<Hierarchies> {
        if let Some(h) = Self::from_proc_cgroup() {
            return Ok(h);
        }
        Self::from_proc_mountinfo()
    }

    /// Reads /proc/self/mountinfo and the v2 root's cgroup.controllers. Its cost grows with
    /// the host's mounts (a Kubernetes node has thousands): about 2 ms per 1,000 mounts on a
    /// 2-vCPU AMD EPYC VM (2026-12-07), so [`Hierarchies::detect`] reads it only as a fallback.
    pub fn from_proc_mountinfo() -> Result<Hierarchies> {
        let path = Path::new("/proc/self/mountinfo");
        let text = fsio::read_path(path).map_err(|source| CgroupError::Mounts {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_mountinfo(&text)
    }

    /// The hierarchies /proc/self/cgroup lists, each looked up at its usual mount point
    /// (/sys/fs/cgroup/<controllers>, /sys/fs/cgroup/<name>, /sys/fs/cgroup or
    /// /sys/fs/cgroup/unified for v2) with one statx and one statmount(2): a cost that does
    /// not grow with the host's mounts. `None` (so the caller reads mountinfo) when the kernel
    /// lacks statmount (before 6.8) or its options (6.10), or a hierarchy the process is in is
    /// not mounted right there with the controllers /proc/self/cgroup names (v2 unmounted
    /// on a v1-only host included: only mountinfo can tell that from v2 mounted elsewhere).
    fn from_proc_cgroup() -> Option<Hierarchies> {
        const BASE: &str = "/sys/fs/cgroup";
        let text = fsio::read_path(Path::new("/proc/self/cgroup")).ok()?;
        let mut list: Vec<Hierarchy> = Vec::new();
        for line in text.lines() {
            // "hierarchy-id:controller-list:cgroup-path"; v2 is "0::path".
            let mut fields = line.splitn(3, ':');
            let (id, names) = (fields.next()?, fields.next()?);
            if id == "0" && names.is_empty() {
                let h = [BASE, "/sys/fs/cgroup/unified"].into_iter().find_map(|at| {
                    let m = ocirun_sys::mount::statmount(Path::new(at))?;
                    (m.magic == CGROUP2_SUPER_MAGIC && m.point == at).then_some((at, m))
                });
                let Some((at, m)) = h else {
                    // Unmounted v2 on a pure v1 host is normal, but only mountinfo can tell.
                    return None;
                };
                list.push(Hierarchy {
                    mountpoint: PathBuf::from(at),
                    root: m.root,
                    v2: true,
                    controllers: Vec::new(),
                    name: None,
                });
                continue;
            }
            let mut controllers: Vec<String> = Vec::new();
            let mut name = None;
            for n in names.split(',').filter(|n| !n.is_empty()) {
                match n.strip_prefix("name=") {
                    Some(named) => name = Some(named.to_owned()),
                    None if V1_CONTROLLERS.contains(&n) => controllers.push(n.to_owned()),
                    // A controller this crate does not know: mountinfo's parse skips it too,
                    // but the mount point's name would not match; let mountinfo decide.
                    None => return None,
                }
            }
            let dir = match (&name, controllers.is_empty()) {
                (Some(n), true) => n.clone(),
                (None, false) => names.to_owned(),
                _ => return None,
            };
            let at = format!("{BASE}/{dir}");
            let m = ocirun_sys::mount::statmount(Path::new(&at))?;
            let opts: Vec<&str> = m.options.split(',').collect();
            let same = controllers.iter().all(|c| opts.contains(&c.as_str()))
                && name
                    .as_ref()
                    .is_none_or(|n| opts.contains(&format!("name={n}").as_str()));
            if m.magic != CGROUP_SUPER_MAGIC || m.point != at || !same {
                return None;
            }
            list.push(Hierarchy {
                mountpoint: PathBuf::from(at),
                root: m.root,
                v2: false,
                controllers,
                name,
            });
        }
        // mountinfo lists hierarchies in mount order, v1 first on the usual hybrid host;
        // /proc/self/cgroup lists them by id, v2 last. Keep mountinfo's order: v2 after v1.
        list.sort_by_key(|h| h.v2);
        for h in list.iter_mut().filter(|h| h.v2) {
            h.controllers = read_v2_controllers(&h.mountpoint).ok()?;
        }
        Self::from_list(list).ok()
    }

    /// Builds the hierarchy list from the text of a mountinfo file.
    pub fn from_mountinfo(text: &str) -> Result<Hierarchies> {
        let mut list: Vec<Hierarchy> = Vec::new();
        for h in mountinfo::lines(text.as_bytes()).filter_map(|m| hierarchy_of(&m)) {
            // Bind mounts of a hierarchy appear more than once: keep the first.
            let dup = list
                .iter()
                .any(|o| o.v2 == h.v2 && (h.v2 || (o.controllers == h.controllers && o.name == h.name)));
            if !dup {
                list.push(h);
            }
        }
        for h in list.iter_mut().filter(|h| h.v2) {
            h.controllers = read_v2_controllers(&h.mountpoint)?;
        }
        Self::from_list(list)
    }

    /// Describes a fake cgroupfs tree under `root`, for tests and for callers that mount cgroupfs elsewhere.
    ///
    /// `V2`: `root` is the unified hierarchy (controllers from `root/cgroup.controllers`).
    /// `V1`: every subdirectory of `root` is a hierarchy whose name lists its controllers
    /// ("cpu,cpuacct"), "systemd" being the named `name=systemd` hierarchy.
    /// `Hybrid`: as `V1`, with `root/unified` as the v2 hierarchy.
    pub fn from_root(root: &Path, layout: Layout) -> Result<Hierarchies> {
        let mounts_err = |source| CgroupError::Mounts {
            path: root.to_path_buf(),
            source,
        };
        let mut list = Vec::new();
        if layout == Layout::V2 {
            list.push(Hierarchy {
                mountpoint: root.to_path_buf(),
                root: "/".to_owned(),
                v2: true,
                controllers: read_v2_controllers(root)?,
                name: None,
            });
            return Self::from_list(list);
        }
        let mut names: Vec<String> = Vec::new();
        for entry in std::fs::read_dir(root).map_err(mounts_err)? {
            let entry = entry.map_err(mounts_err)?;
            if entry.file_type().map_err(mounts_err)?.is_dir() {
                names.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        names.sort();
        for name in names {
            let mountpoint = root.join(&name);
            if name == "unified" {
                if layout == Layout::Hybrid {
                    list.push(Hierarchy {
                        controllers: read_v2_controllers(&mountpoint)?,
                        mountpoint,
                        root: "/".to_owned(),
                        v2: true,
                        name: None,
                    });
                }
                continue;
            }
            let (controllers, named) = if name == "systemd" {
                (Vec::new(), Some("systemd".to_owned()))
            } else {
                (name.split(',').map(str::to_owned).collect(), None)
            };
            list.push(Hierarchy {
                mountpoint,
                root: "/".to_owned(),
                v2: false,
                controllers,
                name: named,
            });
        }
        Self::from_list(list)
    }

    fn from_list(list: Vec<Hierarchy>) -> Result<Hierarchies> {
        let v1 = list.iter().any(|h| !h.v2);
        let v2 = list.iter().any(|h| h.v2);
        let layout = match (v1, v2) {
            (true, true) => Layout::Hybrid,
            (true, false) => Layout::V1,
            (false, true) => Layout::V2,
            (false, false) => return Err(CgroupError::NoCgroupMounts),
        };
        Ok(Hierarchies { layout, list })
    }

    /// The layout: v1, v2 or hybrid.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Every controller available on this host, v1 and v2, sorted.
    pub fn controllers(&self) -> Vec<String> {
        let mut all: Vec<String> = self.list.iter().flat_map(|h| h.controllers.iter().cloned()).collect();
        all.sort();
        all.dedup();
        all
    }

    /// The mountpoint of the cgroup v2 hierarchy, if there is one.
    pub fn unified_mountpoint(&self) -> Option<&Path> {
        self.list.iter().find(|h| h.v2).map(|h| h.mountpoint.as_path())
    }
}

fn read_v2_controllers(dir: &Path) -> Result<Vec<String>> {
    Ok(fsio::read_opt(dir, "cgroup.controllers")?
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect())
}

/// The hierarchy a mountinfo line describes, `None` when it is not a cgroup mount. The type
/// is checked before anything is copied, as most lines are not cgroup mounts.
fn hierarchy_of(m: &MountLine<'_>) -> Option<Hierarchy> {
    let v2 = match m.fstype {
        b"cgroup2" => true,
        b"cgroup" => false,
        _ => return None,
    };
    let root = String::from_utf8_lossy(&m.mount_root()).into_owned();
    let mountpoint = PathBuf::from(std::ffi::OsString::from_vec(m.mount_point()));
    let mut controllers = Vec::new();
    let mut name = None;
    if !v2 {
        for opt in std::str::from_utf8(m.super_options).ok()?.split(',') {
            if let Some(n) = opt.strip_prefix("name=") {
                name = Some(n.to_owned());
            } else if V1_CONTROLLERS.contains(&opt) {
                controllers.push(opt.to_owned());
            }
        }
    }
    Some(Hierarchy {
        mountpoint,
        root,
        v2,
        controllers,
        name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses one mountinfo line into a hierarchy, `None` when it is not a cgroup mount.
    fn parse_mountinfo_line(line: &str) -> Option<Hierarchy> {
        MountLine::parse(line.as_bytes()).and_then(|m| hierarchy_of(&m))
    }

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
99 31 0:32 /sub /mnt/mem\\040x rw,relatime - cgroup cgroup rw,memory
";

    #[test]
    fn mountinfo_hybrid_is_parsed() {
        let h = Hierarchies::from_mountinfo(HYBRID).expect("parse");
        assert_eq!(h.layout(), Layout::Hybrid);
        assert_eq!(h.list.len(), 4, "the memory bind mount is a duplicate");
        assert_eq!(h.list[0].controllers, vec!["cpu", "cpuacct"]);
        assert_eq!(h.list[0].mount_data(), "cpu,cpuacct");
        assert_eq!(h.list[0].dir_name(), "cpu,cpuacct");
        assert_eq!(h.list[2].mount_data(), "none,name=systemd");
        assert!(h.list[3].v2);
        assert_eq!(h.list[3].mount_data(), "");
    }

    #[test]
    fn mountinfo_escapes_and_roots() {
        let line = "99 31 0:32 /sub /mnt/mem\\040x rw,relatime - cgroup cgroup rw,memory";
        let h = parse_mountinfo_line(line).expect("a cgroup line");
        assert_eq!(h.mountpoint, PathBuf::from("/mnt/mem x"));
        assert_eq!(h.root, "/sub");
        assert_eq!(h.dir_of("/sub/a"), PathBuf::from("/mnt/mem x/a"));
        assert_eq!(h.dir_of("/other"), PathBuf::from("/mnt/mem x/other"));
        // Optional fields before the separator; a v2 line's options are not controllers.
        let line = "30 23 0:26 / /sys/fs/cgroup rw,nosuid shared:4 master:1 - cgroup2 cgroup2 rw,nsdelegate";
        let h = parse_mountinfo_line(line).expect("a cgroup2 line");
        assert!(h.v2 && h.controllers.is_empty() && h.name.is_none());
        assert_eq!(
            (h.root.as_str(), h.mountpoint.as_path()),
            ("/", Path::new("/sys/fs/cgroup"))
        );
        let line = "41 31 0:38 / /sys/fs/cgroup/systemd rw shared:9 - cgroup cgroup rw,xattr,name=systemd";
        let h = parse_mountinfo_line(line).expect("a named v1 line");
        assert_eq!((h.name.as_deref(), h.controllers.len()), (Some("systemd"), 0));
        // Other types, and lines without a separator, are not hierarchies.
        assert!(parse_mountinfo_line("22 1 0:5 / /dev rw - devtmpfs udev rw").is_none());
        assert!(parse_mountinfo_line("22 1 0:5 / /mnt/cgroup rw").is_none());
    }

    #[test]
    fn no_cgroup_mounts_is_an_error() {
        let err = Hierarchies::from_mountinfo("1 0 0:1 / / rw - ext4 /dev/sda rw\n");
        assert!(matches!(err, Err(CgroupError::NoCgroupMounts)));
    }

    #[test]
    fn this_host_is_detected() {
        let h = Hierarchies::detect().expect("detect");
        // The build machine is hybrid; any layout is fine elsewhere, but it must have a hierarchy.
        assert!(!h.list.is_empty());
    }

    /// The flat lookup finds what mountinfo finds, where it answers at all (kernel 6.10 and
    /// later, hierarchies at their usual places); on this project's hosts it must answer.
    #[test]
    fn proc_cgroup_lookup_matches_mountinfo() {
        let by_mountinfo = Hierarchies::from_proc_mountinfo().expect("mountinfo");
        let Some(flat) = Hierarchies::from_proc_cgroup() else {
            let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
            let (major, minor) = release
                .split_once('.')
                .map(|(a, b)| {
                    (
                        a.parse().unwrap_or(0),
                        b.split('.').next().and_then(|m| m.parse().ok()).unwrap_or(0),
                    )
                })
                .unwrap_or((0u32, 0u32));
            assert!((major, minor) < (6, 10), "no flat lookup on kernel {release}");
            return;
        };
        let sorted = |h: &Hierarchies| {
            let mut l = h.list.clone();
            l.sort_by(|a, b| a.mountpoint.cmp(&b.mountpoint));
            l
        };
        assert_eq!(flat.layout(), by_mountinfo.layout());
        assert_eq!(sorted(&flat), sorted(&by_mountinfo));
    }
}
