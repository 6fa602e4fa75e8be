//! The init's namespaces: those the clone makes, those joined by path, the user namespace and
//! its id maps, the time and cgroup namespaces it unshares itself, the UTS names and the
//! session keyring.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use namespaces::{IdMap, NamespaceKind, NamespaceSet};
use oci_spec::runtime::{Linux, Spec};
use ocirun_sys::process;

use super::procfs::ProcFs;
use super::step::{At, Failed, InitStep};
use super::{PlanOptions, cstring, raise_fd};
use crate::sync::{Tag, wait_for};
use crate::{Error, Result};

/// The namespaces of the init, compiled in the parent.
pub(crate) struct NamespacePlan {
    /// The namespaces the clone makes.
    pub new: NamespaceSet,
    /// The pid namespace joined by path, apart from the others.
    pub pid_namespace: Option<OwnedFd>,
    /// The path `pid_namespace` was opened from, for errors.
    pid_namespace_path: String,
    /// The pid namespace is joined by this child, which is made outside it, and the process
    /// that lives there is made only once this child is in every other namespace and, for an
    /// init, its root switch is done (see [`super::InitPlan::run`]): an exec into a pid
    /// namespace, or an init joining one by path whose procfs can show it (`pidns=`).
    pub clone_in_pid_namespace: bool,
    /// An init made in the pid namespace it joined: not known to the runtime at Go, it keeps
    /// its parent-death signal until [`Tag::Recorded`] says the state names it.
    pub awaits_recorded: bool,
    /// The namespaces joined by path, in the kernel's safe order: kind, fd, path. The child
    /// takes each fd out once it has joined them all.
    join: Vec<(NamespaceKind, Option<OwnedFd>, String)>,
    /// The clone makes a user namespace, whose maps the parent writes.
    pub new_user: bool,
    /// Rootless: the runtime writes the maps as the unprivileged caller, which can open the
    /// child's /proc files only while the child is dumpable (it is made non-dumpable once
    /// the maps are written, as runc's nsexec does).
    pub dumpable_until_maps: bool,
    pub uid_maps: Vec<IdMap>,
    pub gid_maps: Vec<IdMap>,
    new_time: bool,
    pub new_cgroup: bool,
    /// What the init writes to its `timens_offsets`.
    pub time_offsets: Option<Vec<u8>>,
    hostname: Option<CString>,
    domainname: Option<CString>,
    /// The session keyring to join instead of the caller's, which may hold the host's keys.
    session_keyring: Option<CString>,
}

impl NamespacePlan {
    /// The namespaces of `linux`, and the names and keyring of `spec` and `opts`.
    pub(crate) fn compile(spec: &Spec, linux: &Linux, opts: &PlanOptions<'_>, passed: u32) -> Result<NamespacePlan> {
        let mut new = NamespaceSet::empty();
        let mut join = Vec::new();
        let mut new_time = false;
        let mut new_cgroup = false;
        for ns in linux.namespaces().iter().flatten() {
            let kind = NamespaceKind::from(ns.typ());
            match ns.path() {
                Some(path) => {
                    let fd = namespaces::open_namespace(kind, path).map_err(Error::Namespace)?;
                    join.push((kind, Some(raise_fd(fd, passed)?), path.display().to_string()));
                }
                // A new time namespace is made by unshare in the child, so the
                // offsets can be written before exec enters it.
                None if kind == NamespaceKind::Time => new_time = true,
                // The cgroup namespace is made by unshare once the init is in its
                // cgroup, so that cgroup becomes the namespace's root.
                None if kind == NamespaceKind::Cgroup => new_cgroup = true,
                None => new.insert(kind),
            }
        }
        // Join in the kernel's safe order: the user namespace first.
        join.sort_by_key(|(kind, _, _)| NamespaceKind::ALL.iter().position(|k| k == kind));
        // A pid namespace joined by path is joined apart from the others: by this child, which
        // is made outside it and makes the process that lives there once it is in every other
        // namespace and, for an init, in its new root (a process of the pid namespace with
        // CAP_SYS_PTRACE could otherwise reach the host's root through /proc/<pid>/root of it
        // until then). An init does so only where its procfs can show the pid namespace it
        // joins without being in it (`pidns=`, Linux 6.18) and it makes no user namespace (its
        // new root could not join a pid namespace of the host's user namespace); else it is
        // created in the pid namespace by the clone, as runc's.
        let (pid_namespace, pid_namespace_path) = match join.iter().position(|(k, _, _)| *k == NamespaceKind::Pid) {
            Some(i) => {
                let (_, fd, path) = join.remove(i);
                (fd, path)
            }
            None => (None, String::new()),
        };
        if join.iter().any(|(k, _, _)| *k == NamespaceKind::User) && !new.is_empty() {
            return Err(Error::spec(
                "linux.namespaces",
                "joining a user namespace by path while creating other namespaces is not supported by this build",
            ));
        }
        let new_user = new.contains(NamespaceKind::User);
        // runc's rootless check: without root's privileges nothing else could be set up.
        if opts.unprivileged && !opts.exec && !new_user && !join.iter().any(|(k, _, _)| *k == NamespaceKind::User) {
            return Err(Error::spec(
                "linux.namespaces",
                "a rootless container (the runtime is not root) needs a user namespace: `ocirun spec --rootless` makes one",
            ));
        }
        let clone_in_pid_namespace = match &pid_namespace {
            Some(_) if opts.exec => true,
            Some(fd) => !new_user && rootfs::proc_takes_pid_namespace(fd.as_fd()),
            None => false,
        };
        let time_offsets = match linux.time_offsets() {
            Some(offsets) if !offsets.is_empty() => {
                let mut text = String::new();
                for (clock, off) in offsets {
                    text.push_str(&format!(
                        "{clock} {} {}\n",
                        off.secs().unwrap_or(0),
                        off.nanosecs().unwrap_or(0)
                    ));
                }
                Some(text.into_bytes())
            }
            _ => None,
        };
        let name = |field: &str, value: &Option<String>| {
            value
                .as_ref()
                .filter(|h| !h.is_empty())
                .map(|h| cstring(field, h.as_str()))
                .transpose()
        };
        Ok(NamespacePlan {
            new,
            pid_namespace,
            pid_namespace_path,
            clone_in_pid_namespace,
            awaits_recorded: clone_in_pid_namespace && !opts.exec,
            join,
            new_user,
            dumpable_until_maps: opts.unprivileged && new_user,
            uid_maps: linux.uid_mappings().iter().flatten().map(IdMap::from).collect(),
            gid_maps: linux.gid_mappings().iter().flatten().map(IdMap::from).collect(),
            new_time,
            new_cgroup,
            time_offsets,
            hostname: name("hostname", spec.hostname())?,
            domainname: name("domainname", spec.domainname())?,
            session_keyring: opts
                .session_keyring
                .as_ref()
                .map(|name| cstring("session keyring", name.as_str()))
                .transpose()?,
        })
    }

    /// Whether `setgroups` is `deny` in the user namespace the init makes: an unprivileged
    /// runtime sets that before it writes a gid map of its own gid alone.
    pub(crate) fn denies_setgroups(&self, unprivileged: bool) -> bool {
        unprivileged
            && self.new_user
            && !self.gid_maps.is_empty()
            && !namespaces::maps_need_tool(&self.gid_maps, process::getegid())
    }

    /// The user namespace joined by path, if any.
    pub(crate) fn joined_user(&self) -> Option<BorrowedFd<'_>> {
        self.join
            .iter()
            .find(|(k, _, _)| *k == NamespaceKind::User)
            .and_then(|(_, fd, _)| fd.as_ref())
            .map(AsFd::as_fd)
    }

    /// The pid namespace this child joins itself ([`NamespacePlan::clone_in_pid_namespace`]).
    pub(crate) fn pid_namespace_to_join(&self) -> Option<&OwnedFd> {
        self.pid_namespace.as_ref().filter(|_| self.clone_in_pid_namespace)
    }

    /// The fds the child keeps open past its first step.
    pub(crate) fn fds(&self) -> impl Iterator<Item = libc::c_int> + '_ {
        self.join
            .iter()
            .filter_map(|(_, fd, _)| fd.as_ref().map(AsRawFd::as_raw_fd))
            .chain(self.pid_namespace_to_join().map(|f| f.as_raw_fd()))
    }

    /// What a failed step of this plan was doing, for the parent's error.
    pub(crate) fn describe(&self, step: InitStep, index: u32) -> Option<String> {
        Some(match step {
            InitStep::WaitMaps => "wait for the id maps".into(),
            InitStep::BecomeRoot => "become root of the new user namespace".into(),
            InitStep::Setns => match self.join.get(index as usize) {
                Some((kind, _, path)) => format!("join {} namespace {path}", kind.proc_name()),
                None => "join namespace".into(),
            },
            InitStep::TimeNamespace => "create the time namespace".into(),
            InitStep::SessionKeyring => format!(
                "join a new session keyring {:?} (--no-new-keyring keeps the caller's)",
                self.session_keyring.as_deref().unwrap_or_default()
            ),
            InitStep::TimeOffsets => "set linux.timeOffsets (write /proc/self/timens_offsets)".into(),
            InitStep::CgroupNamespace => "create the cgroup namespace".into(),
            InitStep::Loopback => "bring up the loopback interface of the new network namespace".into(),
            InitStep::Hostname => format!("set hostname {:?}", self.hostname.as_deref().unwrap_or_default()),
            InitStep::Domainname => format!("set domain name {:?}", self.domainname.as_deref().unwrap_or_default()),
            InitStep::JoinPidNamespace => format!("join pid namespace {}", self.pid_namespace_path),
            _ => return None,
        })
    }

    /// Makes the new time namespace and writes its offsets through `procfs`.
    ///
    /// Runs in the child: no allocation, no locks.
    pub(crate) fn enter_time_namespace(&self, procfs: Option<&ProcFs>) -> Result<(), Failed> {
        if !self.new_time {
            return Ok(());
        }
        ocirun_sys::ns::unshare(NamespaceKind::Time.clone_flag()).at(InitStep::TimeNamespace)?;
        if let (Some(content), Some(procfs)) = (&self.time_offsets, procfs) {
            // Before the switch to root of a new user namespace: /proc/self files of a
            // non-dumpable process belong to the host's root, which this process still
            // is. It never becomes dumpable: in a pid namespace it shares, a neighbour
            // with every capability over its user namespace could open its /proc/<pid>.
            procfs
                .write_self(c"timens_offsets", content)
                .at(InitStep::TimeOffsets)?;
        }
        Ok(())
    }

    /// In a new user namespace: waits for the parent's id maps and becomes its root.
    ///
    /// Runs in the child: no allocation, no locks.
    pub(crate) fn become_root(&self, sync: BorrowedFd<'_>) -> Result<(), Failed> {
        if !self.new_user {
            return Ok(());
        }
        wait_for(sync, Tag::MapsWritten, &mut []).at(InitStep::WaitMaps)?;
        process::setresgid(0).at(InitStep::BecomeRoot)?;
        process::setresuid(0).at(InitStep::BecomeRoot)?;
        // The change of user set dumpable to fs.suid_dumpable.
        process::prctl(libc::PR_SET_DUMPABLE, 0).at(InitStep::Prctl)
    }

    /// Joins the namespaces given by path and closes their fds.
    ///
    /// Runs in the child: no allocation, no locks.
    pub(crate) fn join(&mut self) -> Result<(), Failed> {
        let joined_user = self.joined_user().is_some();
        for (i, (kind, fd, _)) in self.join.iter().enumerate() {
            if let Some(fd) = fd {
                ocirun_sys::ns::setns(fd.as_fd(), ns_type(*kind)).at_index(InitStep::Setns, i as u32)?;
            }
        }
        // The namespace files are the host's: closed as soon as they are joined.
        for (_, fd, _) in &mut self.join {
            drop(fd.take());
        }
        if joined_user {
            // Joining a user namespace may have set dumpable to fs.suid_dumpable.
            process::prctl(libc::PR_SET_DUMPABLE, 0).at(InitStep::Prctl)?;
        }
        Ok(())
    }

    /// Joins the pid namespace the process made below lives in (see
    /// [`NamespacePlan::clone_in_pid_namespace`]): for this process's children only, so
    /// /proc/<pid>/ns/pid_for_children shows it to the createContainer hooks. Its fd stays
    /// open until then: the init's procfs shows it.
    ///
    /// Runs in the child: no allocation, no locks.
    pub(crate) fn join_pid_namespace_for_children(&self) -> Result<(), Failed> {
        match self.pid_namespace_to_join() {
            Some(pid_ns) => {
                ocirun_sys::ns::setns(pid_ns.as_fd(), ns_type(NamespaceKind::Pid)).at(InitStep::JoinPidNamespace)
            }
            None => Ok(()),
        }
    }

    /// A session keyring of its own, as runc: the caller's may hold the host's keys. Made
    /// once the process is who it is in its user namespace, so that it owns the keyring.
    ///
    /// Runs in the child: no allocation, no locks.
    pub(crate) fn join_session_keyring(&self) -> Result<(), Failed> {
        match &self.session_keyring {
            Some(name) => match process::join_session_keyring(name).map(drop) {
                // A kernel without keyrings has nothing to share.
                Ok(()) | Err(libc::ENOSYS) => Ok(()),
                Err(e) => Err(e).at(InitStep::SessionKeyring),
            },
            None => Ok(()),
        }
    }

    /// Makes the new cgroup namespace, rooted where the init is now.
    ///
    /// Runs in the child: no allocation, no locks.
    pub(crate) fn unshare_cgroup(&self) -> Result<(), Failed> {
        if self.new_cgroup {
            ocirun_sys::ns::unshare(NamespaceKind::Cgroup.clone_flag()).at(InitStep::CgroupNamespace)?;
        }
        Ok(())
    }

    /// Brings up the loopback of a new network namespace and sets the UTS names.
    ///
    /// Runs in the child: no allocation, no locks.
    pub(crate) fn set_up_network_and_names(&self) -> Result<(), Failed> {
        if self.new.contains(NamespaceKind::Network) {
            // As runc (its "loopback" network) and crun: a network namespace the runtime made
            // has its loopback up; one joined by path is left as its owner set it.
            ocirun_sys::net::loopback_up().at(InitStep::Loopback)?;
        }
        if let Some(h) = &self.hostname {
            ocirun_sys::ns::sethostname(h).at(InitStep::Hostname)?;
        }
        if let Some(d) = &self.domainname {
            ocirun_sys::ns::setdomainname(d).at(InitStep::Domainname)?;
        }
        Ok(())
    }
}

/// The `nstype` setns(2) checks a namespace fd of `kind` against: its `CLONE_NEW*` flag (each
/// is a single bit below bit 31, as the namespaces crate checks a namespace file's kind). Runs
/// in the child: no allocation.
fn ns_type(kind: NamespaceKind) -> libc::c_int {
    kind.clone_flag() as libc::c_int
}
