use oci_spec::runtime::LinuxNamespaceType;

/// One of the eight Linux namespace kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NamespaceKind {
    /// Users and groups (CLONE_NEWUSER); created or joined first.
    User,
    /// Mount table (CLONE_NEWNS).
    Mount,
    /// Hostname and domain name (CLONE_NEWUTS).
    Uts,
    /// System V IPC and POSIX message queues (CLONE_NEWIPC).
    Ipc,
    /// Process ids (CLONE_NEWPID).
    Pid,
    /// Network stack (CLONE_NEWNET).
    Network,
    /// Cgroup root (CLONE_NEWCGROUP).
    Cgroup,
    /// Monotonic and boot-time clock offsets (CLONE_NEWTIME).
    Time,
}

impl NamespaceKind {
    /// Every kind, in the order they are joined: the user namespace first so the
    /// others are joined with its privileges, and mount last but one before pid.
    pub const ALL: [NamespaceKind; 8] = [
        NamespaceKind::User,
        NamespaceKind::Ipc,
        NamespaceKind::Uts,
        NamespaceKind::Network,
        NamespaceKind::Pid,
        NamespaceKind::Cgroup,
        NamespaceKind::Time,
        NamespaceKind::Mount,
    ];

    /// The `CLONE_NEW*` flag that creates this kind.
    pub const fn clone_flag(self) -> u64 {
        (match self {
            NamespaceKind::User => libc::CLONE_NEWUSER,
            NamespaceKind::Mount => libc::CLONE_NEWNS,
            NamespaceKind::Uts => libc::CLONE_NEWUTS,
            NamespaceKind::Ipc => libc::CLONE_NEWIPC,
            NamespaceKind::Pid => libc::CLONE_NEWPID,
            NamespaceKind::Network => libc::CLONE_NEWNET,
            NamespaceKind::Cgroup => libc::CLONE_NEWCGROUP,
            NamespaceKind::Time => libc::CLONE_NEWTIME,
        }) as u32 as u64
    }

    /// The name of this kind under `/proc/<pid>/ns/`.
    pub const fn proc_name(self) -> &'static str {
        match self {
            NamespaceKind::User => "user",
            NamespaceKind::Mount => "mnt",
            NamespaceKind::Uts => "uts",
            NamespaceKind::Ipc => "ipc",
            NamespaceKind::Pid => "pid",
            NamespaceKind::Network => "net",
            NamespaceKind::Cgroup => "cgroup",
            NamespaceKind::Time => "time",
        }
    }

    /// The `NS_GET_NSTYPE` answer for a namespace file of this kind.
    const fn ns_type(self) -> libc::c_int {
        self.clone_flag() as libc::c_int
    }
}

/// The namespaces of process `pid` that differ from this process's own (compared by device and
/// inode), in [`NamespaceKind::ALL`] order, as `/proc/<pid>/ns/<kind>` paths: what a process
/// must join to enter `pid`'s container. Kinds this kernel lacks are skipped.
pub fn differing_namespaces(pid: i32) -> Result<Vec<(NamespaceKind, std::path::PathBuf)>, crate::NamespaceError> {
    differing(pid, "pid")
}

/// [`differing_namespaces`], with the pid namespace `pid` makes its children in
/// (`pid_for_children`) for its pid namespace: for a process that joined a pid namespace with
/// setns(2) and has not made the process that lives there yet, as a container's init made
/// outside the pid namespace it joins is while the createContainer hooks run. For any other
/// process it is its own pid namespace.
pub fn differing_namespaces_for_children(
    pid: i32,
) -> Result<Vec<(NamespaceKind, std::path::PathBuf)>, crate::NamespaceError> {
    differing(pid, "pid_for_children")
}

/// [`differing_namespaces`], the pid namespace compared through the file `pid_name` of `ns/`.
fn differing(
    pid: i32,
    pid_name: &'static str,
) -> Result<Vec<(NamespaceKind, std::path::PathBuf)>, crate::NamespaceError> {
    use std::os::unix::fs::MetadataExt;
    let mut out = Vec::new();
    for kind in NamespaceKind::ALL {
        let name = if kind == NamespaceKind::Pid {
            pid_name
        } else {
            kind.proc_name()
        };
        let theirs = std::path::PathBuf::from(format!("/proc/{pid}/ns/{name}"));
        let ours = std::path::PathBuf::from(format!("/proc/self/ns/{name}"));
        let open_error = |path: std::path::PathBuf, source| crate::NamespaceError::Open {
            kind: name,
            path,
            source,
        };
        let (a, b) = match (std::fs::metadata(&theirs), std::fs::metadata(&ours)) {
            (Ok(a), Ok(b)) => (a, b),
            // A kernel without this namespace kind.
            (Err(e), _) | (_, Err(e)) if e.kind() == std::io::ErrorKind::NotFound => continue,
            (Err(e), _) => return Err(open_error(theirs, e)),
            (_, Err(e)) => return Err(open_error(ours, e)),
        };
        if (a.dev(), a.ino()) != (b.dev(), b.ino()) {
            out.push((kind, theirs));
        }
    }
    Ok(out)
}

impl From<LinuxNamespaceType> for NamespaceKind {
    fn from(t: LinuxNamespaceType) -> Self {
        match t {
            LinuxNamespaceType::Mount => NamespaceKind::Mount,
            LinuxNamespaceType::Cgroup => NamespaceKind::Cgroup,
            LinuxNamespaceType::Uts => NamespaceKind::Uts,
            LinuxNamespaceType::Ipc => NamespaceKind::Ipc,
            LinuxNamespaceType::User => NamespaceKind::User,
            LinuxNamespaceType::Pid => NamespaceKind::Pid,
            LinuxNamespaceType::Network => NamespaceKind::Network,
            LinuxNamespaceType::Time => NamespaceKind::Time,
        }
    }
}

impl From<NamespaceKind> for LinuxNamespaceType {
    fn from(k: NamespaceKind) -> Self {
        match k {
            NamespaceKind::Mount => LinuxNamespaceType::Mount,
            NamespaceKind::Cgroup => LinuxNamespaceType::Cgroup,
            NamespaceKind::Uts => LinuxNamespaceType::Uts,
            NamespaceKind::Ipc => LinuxNamespaceType::Ipc,
            NamespaceKind::User => LinuxNamespaceType::User,
            NamespaceKind::Pid => LinuxNamespaceType::Pid,
            NamespaceKind::Network => LinuxNamespaceType::Network,
            NamespaceKind::Time => LinuxNamespaceType::Time,
        }
    }
}

/// A set of namespace kinds, kept as the union of their clone flags.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NamespaceSet(u64);

impl NamespaceSet {
    /// The empty set.
    pub const fn empty() -> Self {
        NamespaceSet(0)
    }
    /// Adds a kind.
    pub fn insert(&mut self, kind: NamespaceKind) {
        self.0 |= kind.clone_flag();
    }
    /// Removes a kind.
    pub fn remove(&mut self, kind: NamespaceKind) {
        self.0 &= !kind.clone_flag();
    }
    /// Whether the set holds this kind.
    pub const fn contains(self, kind: NamespaceKind) -> bool {
        self.0 & kind.clone_flag() != 0
    }
    /// The union of the clone flags, as clone3 and unshare take them.
    pub const fn bits(self) -> u64 {
        self.0
    }
    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

pub(crate) fn expected_ns_type(kind: NamespaceKind) -> libc::c_int {
    kind.ns_type()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_a_distinct_flag_and_name() {
        let mut set = NamespaceSet::empty();
        for kind in NamespaceKind::ALL {
            assert!(!set.contains(kind), "{kind:?} shares a flag");
            set.insert(kind);
            assert!(std::path::Path::new("/proc/self/ns").join(kind.proc_name()).exists());
        }
        set.remove(NamespaceKind::Pid);
        assert!(!set.contains(NamespaceKind::Pid));
        assert!(set.contains(NamespaceKind::Mount));
    }

    #[test]
    fn oci_types_map_to_kinds() {
        assert_eq!(NamespaceKind::from(LinuxNamespaceType::Network).proc_name(), "net");
        assert_eq!(NamespaceKind::from(LinuxNamespaceType::Mount).proc_name(), "mnt");
        assert_eq!(
            NamespaceKind::from(LinuxNamespaceType::Time).clone_flag(),
            libc::CLONE_NEWTIME as u64
        );
    }
}
