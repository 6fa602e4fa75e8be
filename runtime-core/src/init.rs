//! The container's init: the plan the parent compiles, and the code that
//! executes it in the child between clone and exec.

use std::ffi::{CString, c_char};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;

use namespaces::{IdMap, NamespaceKind, NamespaceSet};
use oci_spec::runtime::{PosixRlimitType, Spec};
use rootfs::MountPlan;

use crate::hooks::HookKind;
use crate::sync::{FdKind, Msg, Tag};
use crate::sys::{self, SchedAttr};
use crate::{Error, Result, caps, lsm, mempolicy, sched, sysctl};

/// The PATH used to find process.args[0] when process.env has none (runc's default).
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Declares the child's steps once: the enum, and its decoding from the wire.
macro_rules! steps {
    ($($name:ident),* $(,)?) => {
        /// The steps of the child, reported to the parent when one fails.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[repr(u32)]
        pub(crate) enum Step {
            $($name),*
        }

        impl Step {
            /// The step a message names, if any.
            pub(crate) fn from_u32(n: u32) -> Option<Step> {
                [$(Step::$name),*].into_iter().find(|s| *s as u32 == n)
            }
        }
    };
}

steps!(
    Signals,
    Prctl,
    WaitMaps,
    BecomeRoot,
    Setns,
    TimeNamespace,
    SessionKeyring,
    TimeOffsets,
    CgroupNamespace,
    Loopback,
    Hostname,
    Domainname,
    ProcFs,
    Rootfs,
    Hooks,
    Console,
    Sysctl,
    OomScoreAdj,
    Rlimit,
    Chdir,
    BoundingSet,
    SetGroups,
    SetGid,
    SetUid,
    Capabilities,
    Ambient,
    Lookup,
    WaitStart,
    NoNewPrivileges,
    Seccomp,
    Fds,
    IoPriority,
    Scheduler,
    CpuAffinity,
    ExecLabel,
    Personality,
    MemoryPolicy,
    JoinCgroup,
    JoinPidNamespace,
    CloneProcess,
    EnterRoot,
);

/// The parts of [`Step::Console`], sent as its index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
enum ConsoleStep {
    OpenDev,
    OpenPts,
    CheckDevpts,
    OpenPtmx,
    Unlock,
    Size,
    Peer,
    MountConsole,
    SendMaster,
    Setsid,
    ControllingTty,
    Chown,
}

impl ConsoleStep {
    const ALL: [ConsoleStep; 12] = [
        ConsoleStep::OpenDev,
        ConsoleStep::OpenPts,
        ConsoleStep::CheckDevpts,
        ConsoleStep::OpenPtmx,
        ConsoleStep::Unlock,
        ConsoleStep::Size,
        ConsoleStep::Peer,
        ConsoleStep::MountConsole,
        ConsoleStep::SendMaster,
        ConsoleStep::Setsid,
        ConsoleStep::ControllingTty,
        ConsoleStep::Chown,
    ];

    /// A failure of this part: the index and errno the child reports. Runs in the child: no allocation.
    fn failed(self) -> impl Fn(i32) -> (u32, i32) {
        move |errno| (self as u32, errno)
    }

    /// What it was doing, for the parent's error.
    fn describe(index: u32, uid: libc::uid_t) -> String {
        let what = match ConsoleStep::ALL.into_iter().find(|s| *s as u32 == index) {
            Some(ConsoleStep::OpenDev) => "open /dev (no symlink may lead there)",
            Some(ConsoleStep::OpenPts) => "open /dev/pts (no symlink may lead there)",
            Some(ConsoleStep::CheckDevpts) => "check that /dev/pts is a devpts mount (process.terminal needs one)",
            Some(ConsoleStep::OpenPtmx) => "open /dev/pts/ptmx",
            Some(ConsoleStep::Unlock) => "unlock the pty",
            Some(ConsoleStep::Size) => "set process.consoleSize",
            Some(ConsoleStep::Peer) => "open the pty peer",
            Some(ConsoleStep::MountConsole) => "bind-mount the pty onto /dev/console",
            Some(ConsoleStep::SendMaster) => "send the pty master to the runtime",
            Some(ConsoleStep::Setsid) => "start a new session",
            Some(ConsoleStep::ControllingTty) => "make the pty the controlling terminal",
            Some(ConsoleStep::Chown) => return format!("console: give the pty to uid {uid} (process.user.uid)"),
            None => "set up the pty",
        };
        format!("console: {what}")
    }
}

/// The pty the init makes when process.terminal is true.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Terminal {
    /// process.consoleSize as (rows, columns), when both are set.
    size: Option<(u16, u16)>,
    /// Bind the pty onto /dev/console: for the init, not for an exec'd process,
    /// which shares the container's mounts.
    mount_console: bool,
}

/// Capability sets as bit masks.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CapSets {
    bounding: u64,
    effective: u64,
    permitted: u64,
    inheritable: u64,
    ambient: u64,
}

/// Everything the child needs, compiled in the parent: no parsing or allocation is left for the child.
pub(crate) struct InitPlan {
    pub new_namespaces: NamespaceSet,
    pub pid_namespace: Option<OwnedFd>,
    /// The path `pid_namespace` was opened from, for errors.
    pid_namespace_path: String,
    /// The pid namespace is joined by this child, which is made outside it, and the process
    /// that lives there is made only once this child is in every other namespace and, for an
    /// init, its root switch is done (see [`InitPlan::run`]): an exec into a pid namespace, or
    /// an init joining one by path whose procfs can show it (`pidns=`).
    pub clone_in_pid_namespace: bool,
    /// An init made in the pid namespace it joined: not known to the runtime at Go, it keeps
    /// its parent-death signal until [`Tag::Recorded`] says the state names it.
    awaits_recorded: bool,
    join: Vec<(NamespaceKind, OwnedFd, String)>,
    pub new_user: bool,
    /// Rootless: the runtime writes the maps as the unprivileged caller, which can open the
    /// child's /proc files only while the child is dumpable (it is made non-dumpable once
    /// the maps are written, as runc's nsexec does).
    dumpable_until_maps: bool,
    /// `setgroups` is `deny` in the user namespace (rootless, a single-id gid map): the
    /// process keeps the caller's supplementary groups, as with runc.
    skip_setgroups: bool,
    pub uid_maps: Vec<IdMap>,
    pub gid_maps: Vec<IdMap>,
    new_time: bool,
    new_cgroup: bool,
    /// What the init writes to its `timens_offsets`.
    time_offsets: Option<Vec<u8>>,
    hostname: Option<CString>,
    domainname: Option<CString>,
    /// The session keyring to join instead of the caller's, which may hold the host's keys.
    session_keyring: Option<CString>,
    /// The filesystem setup; `None` for exec, which joins the container's.
    pub mounts: Option<MountPlan>,
    /// A container that shares the runtime's mount namespace ([`PlanOptions::host_root`]):
    /// for create, the rootfs bind `mounts` sets up below; for exec, the init's root, which
    /// the process chroots into once it has joined the namespaces (joining a mount namespace
    /// gives the namespace's root, not the container's).
    host_root: Option<OwnedFd>,
    /// Stop before the root switch for the parent to run the create hooks.
    create_hooks: bool,
    terminal: Option<Terminal>,
    /// Each sysctl: its file relative to the procfs root, the value, the key.
    sysctl: Vec<(CString, Vec<u8>, String)>,
    /// What the init writes to its `oom_score_adj`.
    oom_score_adj: Option<Vec<u8>>,
    rlimits: Vec<(libc::c_int, u64, u64, String)>,
    cwd: CString,
    uid: libc::uid_t,
    gid: libc::gid_t,
    groups: Vec<libc::gid_t>,
    umask: Option<libc::mode_t>,
    caps: Option<CapSets>,
    last_cap: u32,
    no_new_privileges: bool,
    seccomp: Option<seccomp::SeccompProgram>,
    /// Load the filter before the user switch: without no_new_privs, loading it
    /// needs CAP_SYS_ADMIN, which the process does not keep (runc's order).
    seccomp_early: bool,
    /// Where the notify listener fd goes, and the profile's listenerMetadata.
    pub seccomp_listener: Option<(std::path::PathBuf, Option<String>)>,
    io_priority: Option<libc::c_int>,
    scheduler: Option<SchedAttr>,
    /// `process.execCPUAffinity.initial`, which the parent applies to the init before its cgroup join.
    affinity_initial: Option<libc::cpu_set_t>,
    affinity_final: libc::cpu_set_t,
    personality: Option<libc::c_ulong>,
    /// `linux.memoryPolicy`, with the spec's mode and nodes for errors.
    memory_policy: Option<(mempolicy::MemPolicy, String)>,
    exec_labels: Vec<lsm::ExecLabel>,
    _argv: Vec<CString>,
    argv_ptrs: Vec<*const c_char>,
    _envp: Vec<CString>,
    envp_ptrs: Vec<*const c_char>,
    exe_candidates: Vec<CString>,
    pub arg0: String,
    preserve_fds: u32,
    /// The exec fifo's read end, which `start` writes a byte to: the init waits for it after
    /// Ready. `None`: the init execs right after Ready (run, exec).
    fifo_fd: Option<OwnedFd>,
    stdio: [Option<OwnedFd>; 3],
    /// The placeholders of the passed fds that were not open: closed first thing in the init.
    closed_fds: Vec<OwnedFd>,
    sync: Option<OwnedFd>,
    keep_fds: Vec<libc::c_uint>,
    /// Each v1 hierarchy's `tasks` file, for errors: the parent's Go brings them open, in
    /// this order, and the init writes "0" to each.
    cgroup_names: Vec<String>,
    /// How many detached cgroup binds follow the `tasks` files in Go, for the binds the
    /// mount plan leaves for later (0 when it leaves none).
    late_cgroup_binds: usize,
    /// Wait for Go (the cgroup made) before any other work: a cgroup namespace is rooted
    /// where the init is, the create hooks expect it in its cgroup, or the mount plan binds
    /// the cgroup directories in place.
    cgroup_first: bool,
}

fn cstring(field: &str, s: impl Into<Vec<u8>>) -> Result<CString> {
    CString::new(s).map_err(|_| Error::spec(field, "contains a NUL byte"))
}

fn rlimit_resource(t: PosixRlimitType) -> libc::c_int {
    (match t {
        PosixRlimitType::RlimitCpu => libc::RLIMIT_CPU,
        PosixRlimitType::RlimitFsize => libc::RLIMIT_FSIZE,
        PosixRlimitType::RlimitData => libc::RLIMIT_DATA,
        PosixRlimitType::RlimitStack => libc::RLIMIT_STACK,
        PosixRlimitType::RlimitCore => libc::RLIMIT_CORE,
        PosixRlimitType::RlimitRss => libc::RLIMIT_RSS,
        PosixRlimitType::RlimitNproc => libc::RLIMIT_NPROC,
        PosixRlimitType::RlimitNofile => libc::RLIMIT_NOFILE,
        PosixRlimitType::RlimitMemlock => libc::RLIMIT_MEMLOCK,
        PosixRlimitType::RlimitAs => libc::RLIMIT_AS,
        PosixRlimitType::RlimitLocks => libc::RLIMIT_LOCKS,
        PosixRlimitType::RlimitSigpending => libc::RLIMIT_SIGPENDING,
        PosixRlimitType::RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        PosixRlimitType::RlimitNice => libc::RLIMIT_NICE,
        PosixRlimitType::RlimitRtprio => libc::RLIMIT_RTPRIO,
        PosixRlimitType::RlimitRttime => libc::RLIMIT_RTTIME,
    }) as libc::c_int
}

/// The user namespace of each id-mapped mount of `mounts`, by mount index, as
/// [`rootfs::id_mapped_mounts`] says: a new one for each distinct set of maps (the mount's own,
/// or those of the user namespace the container makes), or a copy of `joined`, the fd of the
/// user namespace the container joins. Runs in the parent; empty (and no work) without
/// id-mapped mounts.
fn mount_user_namespaces(
    mounts: &[oci_spec::runtime::Mount],
    container: rootfs::ContainerUserNamespace<'_>,
    joined: Option<std::os::fd::BorrowedFd<'_>>,
) -> Result<Vec<(usize, OwnedFd)>> {
    let id_mapped = rootfs::id_mapped_mounts(mounts, container).map_err(Error::Rootfs)?;
    let Some(first) = id_mapped.first() else {
        return Ok(Vec::new());
    };
    // SAFETY: geteuid only reads the caller's effective uid.
    if unsafe { libc::geteuid() } != 0 {
        return Err(Error::spec(
            format!("mounts[{}]", first.index),
            "id-mapped mounts need the runtime to run as root (CAP_SYS_ADMIN over the source's filesystem), as runc's",
        ));
    }
    let mut made: Vec<(&rootfs::MountUserNamespace, usize)> = Vec::new();
    let mut out: Vec<(usize, OwnedFd)> = Vec::with_capacity(id_mapped.len());
    for m in &id_mapped {
        let fd = match (&m.user_namespace, made.iter().find(|(ns, _)| **ns == m.user_namespace)) {
            (_, Some(&(_, at))) => out[at].1.try_clone(),
            (rootfs::MountUserNamespace::Container, None) => match joined {
                Some(fd) => fd.try_clone_to_owned(),
                None => return Err(Error::spec(format!("mounts[{}]", m.index), "no user namespace to join")),
            },
            (
                rootfs::MountUserNamespace::Maps {
                    uid_mappings,
                    gid_mappings,
                },
                None,
            ) => {
                let uid: Vec<IdMap> = uid_mappings.iter().map(IdMap::from).collect();
                let gid: Vec<IdMap> = gid_mappings.iter().map(IdMap::from).collect();
                let fd = namespaces::user_namespace(&uid, &gid).map_err(|e| {
                    let mut reason = String::from("make the user namespace its ids map through");
                    let mut source: Option<&dyn std::error::Error> = Some(&e);
                    while let Some(err) = source {
                        reason.push_str(&format!(": {err}"));
                        source = err.source();
                    }
                    let own = mounts.get(m.index).is_some_and(|s| s.uid_mappings().is_some());
                    let field = if own { "uidMappings" } else { "options" };
                    Error::spec(format!("mounts[{}].{field}", m.index), reason)
                })?;
                made.push((&m.user_namespace, out.len()));
                Ok(fd)
            }
        }
        .map_err(|source| Error::Sys {
            op: "duplicate a user namespace fd for an id-mapped mount",
            source,
        })?;
        out.push((m.index, fd));
    }
    Ok(out)
}

/// Moves `fd` to a number at or above `min`, so it cannot collide with preserved fds.
fn raise_fd(fd: OwnedFd, min: i32) -> Result<OwnedFd> {
    if fd.as_raw_fd() >= min {
        return Ok(fd);
    }
    // SAFETY: F_DUPFD_CLOEXEC duplicates an fd we own into a new one.
    let new = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, min) };
    if new < 0 {
        return Err(Error::sys("duplicate a runtime fd above the preserved fds"));
    }
    // SAFETY: new is a fresh fd that nothing else owns.
    Ok(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(new) })
}

/// What the builder passes down besides the spec.
pub(crate) struct PlanOptions<'a> {
    pub rootfs: &'a Path,
    pub no_pivot: bool,
    pub preserve_fds: u32,
    pub fifo: Option<OwnedFd>,
    pub cgroup_mounts: Vec<rootfs::CgroupMount>,
    pub stdio: [Option<OwnedFd>; 3],
    /// The placeholders of the passed fds that are not open, which the init closes.
    pub closed_fds: Vec<OwnedFd>,
    pub sync: OwnedFd,
    /// An exec'd process: it joins every namespace and sets up no filesystem.
    pub exec: bool,
    /// A container that shares the runtime's mount namespace: for create, the root of the
    /// rootfs bind made in it ([`rootfs::HostRootBind`]); for exec, the init's root
    /// (`/proc/<pid>/root`), which the process chroots into.
    pub host_root: Option<OwnedFd>,
    /// The first this many preserved fds are systemd socket-activation fds: the
    /// process gets `LISTEN_FDS` and `LISTEN_PID=1`.
    pub listen_fds: u32,
    /// Each v1 hierarchy's `tasks` file, for errors: the parent's Go brings them open, in
    /// this order, and the init writes "0" to each.
    pub cgroup_tasks: Vec<String>,
    /// The name of the new session keyring the process joins, as runc names it
    /// (`_ses.<id>`); `None` keeps the caller's (`--no-new-keyring`).
    pub session_keyring: Option<String>,
    /// The runtime is not root (euid != 0): it writes the id maps as an unprivileged user.
    pub unprivileged: bool,
    /// `setgroups` is (or will be) `deny` in the container's user namespace.
    pub setgroups_denied: bool,
}

impl InitPlan {
    /// Executes `path`, an absolute path in the container, instead of `args[0]` looked up in
    /// `PATH` (a hook's `path`, whose `args[0]` may be any name).
    pub(crate) fn set_executable(&mut self, path: &str) -> Result<()> {
        if !path.starts_with('/') {
            return Err(Error::spec("path", format!("{path:?} is not absolute")));
        }
        self.exe_candidates = vec![cstring("path", path)?];
        self.arg0 = path.to_string();
        Ok(())
    }

    /// Compiles the spec into a plan. All parsing, validation and allocation happen here.
    pub(crate) fn compile(spec: &Spec, opts: PlanOptions<'_>) -> Result<InitPlan> {
        let process = spec
            .process()
            .as_ref()
            .ok_or_else(|| Error::spec("process", "missing"))?;
        let linux = spec.linux().as_ref().ok_or_else(|| Error::spec("linux", "missing"))?;
        let min_fd = 3 + opts.preserve_fds as i32;

        let mut new_namespaces = NamespaceSet::empty();
        let mut join = Vec::new();
        let mut new_time = false;
        let mut new_cgroup = false;
        for ns in linux.namespaces().iter().flatten() {
            let kind = NamespaceKind::from(ns.typ());
            match ns.path() {
                Some(path) => {
                    let fd = namespaces::sys::open_namespace(kind, path).map_err(Error::Namespace)?;
                    join.push((kind, raise_fd(fd, min_fd)?, path.display().to_string()));
                }
                // A new time namespace is made by unshare in the child, so the
                // offsets can be written before exec enters it.
                None if kind == NamespaceKind::Time => new_time = true,
                // The cgroup namespace is made by unshare once the init is in its
                // cgroup, so that cgroup becomes the namespace's root.
                None if kind == NamespaceKind::Cgroup => new_cgroup = true,
                None => new_namespaces.insert(kind),
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
                (Some(fd), path)
            }
            None => (None, String::new()),
        };
        if join.iter().any(|(k, _, _)| *k == NamespaceKind::User) && !new_namespaces.is_empty() {
            return Err(Error::spec(
                "linux.namespaces",
                "joining a user namespace by path while creating other namespaces is not supported by this build",
            ));
        }
        let new_user = new_namespaces.contains(NamespaceKind::User);
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
        let uid_maps = linux.uid_mappings().iter().flatten().map(IdMap::from).collect();
        let gid_maps = linux.gid_mappings().iter().flatten().map(IdMap::from).collect();

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

        let hostname = spec
            .hostname()
            .as_ref()
            .filter(|h| !h.is_empty())
            .map(|h| cstring("hostname", h.as_str()));
        let domainname = spec
            .domainname()
            .as_ref()
            .filter(|h| !h.is_empty())
            .map(|h| cstring("domainname", h.as_str()));

        let mount_label = lsm::mount_label(linux)?;
        let create_hooks = crate::hooks::any(
            spec.hooks().as_ref(),
            &[HookKind::Prestart, HookKind::CreateRuntime, HookKind::CreateContainer],
        );
        let mut cgroup_mounts = opts.cgroup_mounts;
        if create_hooks || new_cgroup {
            // The init waits for its cgroup before anything else: every directory is there.
            cgroup_mounts.iter_mut().for_each(|m| m.ready_at_start = true);
        }
        let hierarchies = cgroup_mounts.len();
        let terminal = match process.terminal() {
            Some(true) => Some(Terminal {
                size: console_size(process)?,
                mount_console: !opts.exec,
            }),
            _ => None,
        };
        let host_root = opts.host_root.map(|fd| raise_fd(fd, min_fd)).transpose()?;
        let opts_exec = opts.exec;
        let spec_mounts = spec.mounts().as_deref().unwrap_or_default();
        // Needed only while the plan compiles: the id-mapped binds keep their mapping.
        let mount_user_namespaces = if opts.exec {
            Vec::new()
        } else {
            let joined_user = join.iter().find(|(k, _, _)| *k == NamespaceKind::User);
            let container = match joined_user {
                Some(_) => rootfs::ContainerUserNamespace::Joined,
                None if new_user => rootfs::ContainerUserNamespace::New {
                    uid_mappings: linux.uid_mappings().as_deref().unwrap_or_default(),
                    gid_mappings: linux.gid_mappings().as_deref().unwrap_or_default(),
                },
                None => rootfs::ContainerUserNamespace::None,
            };
            mount_user_namespaces(spec_mounts, container, joined_user.map(|(_, fd, _)| fd.as_fd()))?
        };
        // An unprivileged runtime on a pure v2 host: a new cgroup2 mount of the host's rw
        // superblock with the spec's "ro" is refused in a user namespace (EBUSY), so, as runc
        // falls back to, the container's cgroup directory is bound instead (the caller's, for a
        // rootless container without a cgroup of its own).
        let binds_cgroup2 = opts.unprivileged && matches!(cgroup_mounts.as_slice(), [m] if m.name.is_empty());
        let mounts = (!opts.exec)
            .then(|| {
                MountPlan::compile(rootfs::RootfsConfig {
                    rootfs: opts.rootfs.to_path_buf(),
                    readonly: spec.root().as_ref().is_some_and(|r| r.readonly().unwrap_or(false)),
                    propagation: linux.rootfs_propagation().clone(),
                    mounts: spec_mounts.to_vec(),
                    devices: linux.devices().clone().unwrap_or_default(),
                    masked_paths: linux.masked_paths().clone().unwrap_or_default(),
                    readonly_paths: linux.readonly_paths().clone().unwrap_or_default(),
                    no_pivot: opts.no_pivot,
                    new_user_namespace: new_user,
                    new_cgroup_namespace: new_cgroup && !binds_cgroup2,
                    mount_label,
                    cgroup_mounts,
                    proc_pid_namespace: pid_namespace
                        .as_ref()
                        .filter(|_| clone_in_pid_namespace)
                        .map(AsRawFd::as_raw_fd),
                    console: terminal.is_some(),
                    host_root: host_root.as_ref().map(AsRawFd::as_raw_fd),
                    mount_user_namespaces: mount_user_namespaces
                        .iter()
                        .map(|(i, fd)| (*i, fd.as_raw_fd()))
                        .collect(),
                })
            })
            .transpose()
            .map_err(Error::Rootfs)?;
        drop(mount_user_namespaces);

        let mut sysctl = Vec::new();
        for (key, value) in linux.sysctl().iter().flatten() {
            sysctl::check(linux, key)?;
            let path = sysctl::proc_path(key);
            sysctl.push((cstring("linux.sysctl", path)?, value.clone().into_bytes(), key.clone()));
        }

        let oom_score_adj = match process.oom_score_adj() {
            Some(v) if !(-1000..=1000).contains(&v) => {
                return Err(Error::spec(
                    "process.oomScoreAdj",
                    format!("{v} is outside -1000..1000"),
                ));
            }
            Some(v) => Some(v.to_string().into_bytes()),
            None => None,
        };

        let mut rlimits: Vec<(libc::c_int, u64, u64, String)> = Vec::new();
        for r in process.rlimits().iter().flatten() {
            let name = serde_json::to_value(r.typ())
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default();
            if rlimits.iter().any(|(res, ..)| *res == rlimit_resource(r.typ())) {
                return Err(Error::spec("process.rlimits", format!("{name} appears twice")));
            }
            if r.soft() > r.hard() {
                return Err(Error::spec(
                    "process.rlimits",
                    format!("{name}: soft limit {} is above hard limit {}", r.soft(), r.hard()),
                ));
            }
            rlimits.push((rlimit_resource(r.typ()), r.soft(), r.hard(), name));
        }

        let user = process.user();
        let groups = user.additional_gids().clone().unwrap_or_default();
        if opts.setgroups_denied && !groups.is_empty() {
            return Err(Error::spec(
                "process.user.additionalGids",
                "setgroups is denied in the rootless container's user namespace (its gid map is the \
                 caller's gid alone); map a range of gids (newgidmap, /etc/subgid) to set groups",
            ));
        }
        let caps = match process.capabilities() {
            Some(c) => {
                let set = |field: &str, s: &Option<oci_spec::runtime::Capabilities>| {
                    caps::mask(field, s.iter().flatten().map(|c| c.to_string()))
                };
                Some(CapSets {
                    bounding: set("process.capabilities.bounding", c.bounding())?,
                    effective: set("process.capabilities.effective", c.effective())?,
                    permitted: set("process.capabilities.permitted", c.permitted())?,
                    inheritable: set("process.capabilities.inheritable", c.inheritable())?,
                    ambient: set("process.capabilities.ambient", c.ambient())?,
                })
            }
            None => None,
        };

        let no_new_privileges = process.no_new_privileges().unwrap_or(false);
        let (seccomp, seccomp_early, seccomp_listener) = match linux.seccomp() {
            Some(profile) => {
                let program = seccomp::SeccompProgram::compile(profile).map_err(Error::Seccomp)?;
                // Loading last needs no_new_privs or CAP_SYS_ADMIN in the final effective set.
                let keeps_sys_admin = match &caps {
                    Some(c) => caps::number("CAP_SYS_ADMIN").is_some_and(|n| c.effective & (1 << n) != 0),
                    // Without a capabilities object only root keeps its capabilities.
                    None => user.uid() == 0,
                };
                let listener = match profile.listener_path() {
                    Some(path) if program.needs_listener() => Some((path.clone(), profile.listener_metadata().clone())),
                    _ => None,
                };
                (Some(program), !no_new_privileges && !keeps_sys_admin, listener)
            }
            None => (None, false, None),
        };

        let args = process
            .args()
            .as_ref()
            .ok_or_else(|| Error::spec("process.args", "missing"))?;
        let argv: Vec<CString> = args
            .iter()
            .map(|a| cstring("process.args", a.as_str()))
            .collect::<Result<_>>()?;
        let mut env: Vec<String> = process.env().clone().unwrap_or_default();
        if opts.listen_fds > 0 {
            // systemd socket activation, as runc passes it on: the fds are 3.., and the
            // container process is pid 1 of its namespace.
            env.retain(|e| !e.starts_with("LISTEN_FDS=") && !e.starts_with("LISTEN_PID="));
            env.push(format!("LISTEN_FDS={}", opts.listen_fds));
            env.push("LISTEN_PID=1".into());
        }
        if !env.iter().any(|e| e.starts_with("HOME=")) {
            env.push(format!("HOME={}", if user.uid() == 0 { "/root" } else { "/" }));
        }
        let envp: Vec<CString> = env
            .iter()
            .map(|e| cstring("process.env", e.as_str()))
            .collect::<Result<_>>()?;
        let arg0 = args[0].clone();
        let exe_candidates = if arg0.contains('/') {
            vec![cstring("process.args", arg0.as_str())?]
        } else {
            let path = env.iter().find_map(|e| e.strip_prefix("PATH=")).unwrap_or(DEFAULT_PATH);
            path.split(':')
                .map(|dir| if dir.is_empty() { "." } else { dir })
                .map(|dir| cstring("process.env", format!("{dir}/{arg0}")))
                .collect::<Result<_>>()?
        };
        let argv_ptrs = argv.iter().map(|a| a.as_ptr()).chain([std::ptr::null()]).collect();
        let envp_ptrs = envp.iter().map(|e| e.as_ptr()).chain([std::ptr::null()]).collect();

        let io_priority = process.io_priority().as_ref().map(sched::io_priority).transpose()?;
        let scheduler = process.scheduler().as_ref().map(sched::scheduler).transpose()?;
        let (affinity_initial, affinity_final) = sched::cpu_affinity(process.exec_cpu_affinity().as_ref())?;
        let personality = linux.personality().as_ref().map(sched::personality).transpose()?;
        let memory_policy = match linux.memory_policy() {
            Some(p) => Some((
                mempolicy::compile(p)?,
                format!(
                    "mode {} nodes {:?}",
                    mempolicy::mode_name(p.mode()),
                    p.nodes().as_deref().unwrap_or("")
                ),
            )),
            None => None,
        };
        let exec_labels = lsm::exec_labels(process)?;

        let fifo_fd = opts.fifo.map(|fd| raise_fd(fd, min_fd)).transpose()?;
        let [i, o, e] = opts.stdio;
        let stdio = [
            i.map(|fd| raise_fd(fd, min_fd)).transpose()?,
            o.map(|fd| raise_fd(fd, min_fd)).transpose()?,
            e.map(|fd| raise_fd(fd, min_fd)).transpose()?,
        ];

        let sync = raise_fd(opts.sync, min_fd)?;
        let late_cgroup_binds = if mounts.as_ref().is_some_and(MountPlan::has_late_cgroup_binds) {
            hierarchies
        } else {
            0
        };
        if opts.cgroup_tasks.len() + late_cgroup_binds > sys::MAX_MSG_FDS {
            return Err(Error::spec(
                "linux.cgroupsPath",
                format!(
                    "this host has {hierarchies} cgroup hierarchies: more than ocirun hands to the init ({} fds at most)",
                    sys::MAX_MSG_FDS
                ),
            ));
        }
        let cgroup_first = new_cgroup || create_hooks || mounts.as_ref().is_some_and(MountPlan::needs_cgroup_dirs);
        let sync_raw = sync.as_raw_fd();
        let mut keep_fds: Vec<libc::c_uint> = join
            .iter()
            .map(|(_, fd, _)| fd.as_raw_fd())
            .chain(
                pid_namespace
                    .as_ref()
                    .filter(|_| clone_in_pid_namespace)
                    .map(|f| f.as_raw_fd()),
            )
            .chain(fifo_fd.as_ref().map(|f| f.as_raw_fd()))
            .chain(host_root.as_ref().filter(|_| opts_exec).map(|f| f.as_raw_fd()))
            .chain(mounts.iter().flat_map(MountPlan::source_fds))
            .chain(stdio.iter().flatten().map(|f| f.as_raw_fd()))
            .chain([sync_raw])
            .map(|fd| fd as libc::c_uint)
            .collect();
        keep_fds.sort_unstable();
        Ok(InitPlan {
            new_namespaces,
            pid_namespace,
            pid_namespace_path,
            clone_in_pid_namespace,
            awaits_recorded: clone_in_pid_namespace && !opts_exec,
            join,
            new_user,
            dumpable_until_maps: opts.unprivileged && new_user,
            skip_setgroups: opts.setgroups_denied,
            uid_maps,
            gid_maps,
            new_time,
            new_cgroup,
            time_offsets,
            hostname: hostname.transpose()?,
            session_keyring: opts
                .session_keyring
                .map(|name| cstring("session keyring", name))
                .transpose()?,
            domainname: domainname.transpose()?,
            mounts,
            host_root,
            create_hooks,
            terminal,
            sysctl,
            oom_score_adj,
            rlimits,
            cwd: cstring("process.cwd", process.cwd().as_os_str().as_encoded_bytes())?,
            uid: user.uid(),
            gid: user.gid(),
            groups,
            umask: user.umask(),
            caps,
            last_cap: caps::last_cap(),
            no_new_privileges,
            seccomp,
            seccomp_early,
            seccomp_listener,
            io_priority,
            scheduler,
            affinity_initial,
            affinity_final,
            personality,
            memory_policy,
            exec_labels,
            _argv: argv,
            argv_ptrs,
            _envp: envp,
            envp_ptrs,
            exe_candidates,
            arg0,
            preserve_fds: opts.preserve_fds,
            fifo_fd,
            stdio,
            closed_fds: opts.closed_fds,
            sync: Some(sync),
            keep_fds,
            cgroup_names: opts.cgroup_tasks,
            late_cgroup_binds,
            cgroup_first,
        })
    }

    /// Whether the init writes to procfs (and opens the runtime's /proc for it).
    fn writes_procfs(&self) -> bool {
        self.time_offsets.is_some()
            || !self.sysctl.is_empty()
            || self.oom_score_adj.is_some()
            || !self.exec_labels.is_empty()
    }

    /// Whether the init, made in the pid namespace it joined, waits for [`Tag::Recorded`].
    pub(crate) fn awaits_recorded(&self) -> bool {
        self.awaits_recorded
    }

    /// Whether Go must bring detached binds of the cgroup directories, one per hierarchy in
    /// the order of the plan's cgroup mounts ([`rootfs::detached_bind`]), after the `tasks`
    /// files.
    pub(crate) fn late_cgroup_binds(&self) -> bool {
        self.late_cgroup_binds > 0
    }

    /// Closes the parent's copies of the fds that now belong to the child, so
    /// the parent sees EOF on the sync socket and on stdio pipes when the child goes.
    pub(crate) fn close_child_fds(&mut self) {
        self.sync = None;
        self.stdio = [None, None, None];
        self.fifo_fd = None;
        self.closed_fds.clear();
        self.host_root = None;
    }

    /// Sets the CPUs the child runs on until it is in its cgroup (which resets them):
    /// `process.execCPUAffinity.initial`. Runs in the parent, right after the clone.
    pub(crate) fn apply_initial_affinity(&self, pid: i32) -> Result<()> {
        match &self.affinity_initial {
            Some(set) => sys::sched_setaffinity(pid, set).map_err(|e| Error::Init {
                step: "set process.execCPUAffinity.initial".into(),
                source: std::io::Error::from_raw_os_error(e),
            }),
            None => Ok(()),
        }
    }

    /// A human description of a failed step, for the parent's error.
    pub(crate) fn describe(&self, step: Step, index: u32) -> String {
        let i = index as usize;
        match step {
            Step::Signals => "reset the signal mask and dispositions".into(),
            Step::Prctl => "prctl".into(),
            Step::WaitMaps => "wait for the id maps".into(),
            Step::BecomeRoot => "become root of the new user namespace".into(),
            Step::Setns => match self.join.get(i) {
                Some((kind, _, path)) => format!("join {} namespace {path}", kind.proc_name()),
                None => "join namespace".into(),
            },
            Step::TimeNamespace => "create the time namespace".into(),
            Step::SessionKeyring => format!(
                "join a new session keyring {:?} (--no-new-keyring keeps the caller's)",
                self.session_keyring.as_deref().unwrap_or_default()
            ),
            Step::TimeOffsets => "set linux.timeOffsets (write /proc/self/timens_offsets)".into(),
            Step::CgroupNamespace => "create the cgroup namespace".into(),
            Step::Loopback => "bring up the loopback interface of the new network namespace".into(),
            Step::Hostname => format!("set hostname {:?}", self.hostname.as_deref().unwrap_or_default()),
            Step::Domainname => format!("set domain name {:?}", self.domainname.as_deref().unwrap_or_default()),
            Step::ProcFs => match index {
                i if i == sys::ProcFsStep::Verify as u32 => {
                    "check that the runtime's /proc is the root of a procfs (it is written through)".into()
                }
                i if i == sys::ProcFsStep::ReadSelf as u32 => "read the runtime's /proc/self".into(),
                _ => "open the runtime's /proc (it is written through)".into(),
            },
            Step::Rootfs => "rootfs".into(),
            Step::EnterRoot => {
                "enter the container's root (chroot into the init's root: the container shares the runtime's mount namespace)"
                    .into()
            }
            Step::Hooks => "wait for the create hooks".into(),
            Step::Console => ConsoleStep::describe(index, self.uid),
            Step::Sysctl => match self.sysctl.get(i) {
                Some((_, value, key)) => {
                    format!("set linux.sysctl {key}={}", String::from_utf8_lossy(value))
                }
                None => "set sysctl".into(),
            },
            Step::OomScoreAdj => match &self.oom_score_adj {
                Some(v) => format!(
                    "set process.oomScoreAdj {} (write /proc/self/oom_score_adj)",
                    String::from_utf8_lossy(v)
                ),
                None => "write /proc/self/oom_score_adj".into(),
            },
            Step::Rlimit => match self.rlimits.get(i) {
                Some((_, soft, hard, name)) => format!("set process.rlimits {name} soft {soft} hard {hard}"),
                None => "set rlimit".into(),
            },
            Step::Chdir if index == CWD_OUTSIDE_ROOT => format!(
                "process.cwd {:?} is outside the container's root: possible container breakout",
                self.cwd
            ),
            Step::Chdir => format!("chdir to process.cwd {:?}", self.cwd),
            Step::BoundingSet => format!(
                "drop capability {} from the bounding set",
                caps::name(index).unwrap_or("?")
            ),
            Step::SetGroups => format!("setgroups {:?}", self.groups),
            Step::SetGid => format!("setgid {}", self.gid),
            Step::SetUid => format!("setuid {}", self.uid),
            Step::Capabilities => "set capabilities".into(),
            Step::Ambient => format!("raise ambient capability {}", caps::name(index).unwrap_or("?")),
            Step::Lookup => format!(
                "exec {:?}: executable file not found in $PATH or not executable",
                self.arg0
            ),
            Step::WaitStart => "wait for the runtime".into(),
            Step::NoNewPrivileges => "set no_new_privs".into(),
            Step::Seccomp => "load the seccomp filter".into(),
            Step::Fds => "prepare file descriptors".into(),
            Step::IoPriority => format!("set process.ioPriority (ioprio {:#x})", self.io_priority.unwrap_or(0)),
            Step::Scheduler => match &self.scheduler {
                Some(s) => format!(
                    "set process.scheduler (policy {} nice {} priority {})",
                    sched::policy_name(s.policy),
                    s.nice,
                    s.priority
                ),
                None => "set process.scheduler".into(),
            },
            Step::CpuAffinity => "set the CPU affinity (process.execCPUAffinity.final)".into(),
            Step::ExecLabel => match self.exec_labels.get(i) {
                Some(l) => format!(
                    "set {} {:?} (write /proc/self/{})",
                    l.field,
                    String::from_utf8_lossy(&l.content),
                    l.name.to_string_lossy()
                ),
                None => "set the exec label".into(),
            },
            Step::Personality => format!("set linux.personality {:#x}", self.personality.unwrap_or(0)),
            Step::MemoryPolicy => format!(
                "set linux.memoryPolicy ({}; a node must exist and be in the container's cpuset)",
                self.memory_policy.as_ref().map_or("", |(_, d)| d.as_str())
            ),
            Step::JoinCgroup => match self.cgroup_names.get(i) {
                Some(path) => format!("join cgroup: write 0 to {path}"),
                None => "join cgroup".into(),
            },
            Step::JoinPidNamespace => format!("join pid namespace {}", self.pid_namespace_path),
            Step::CloneProcess => match index {
                CLONE_HANDOVER => "hand the process made in the container's pid namespace to the runtime".into(),
                _ => "create the process in the container's pid namespace".into(),
            },
        }
    }

    /// Runs the plan in the child and execs the user process; returns only the exit code of a failure.
    ///
    /// Runs in the child: no allocation, no locks.
    pub(crate) fn run(&self) -> i32 {
        let sync = self.sync.as_ref().map_or(-1, |f| f.as_raw_fd());
        // Fds that other threads of the embedding program opened came along with
        // the clone: close them now rather than hold them until exec.
        if sys::close_all_but(3 + self.preserve_fds, &self.keep_fds).is_err() {
            return 1;
        }
        // The passed fds that were not open are not open in the container either.
        for fd in &self.closed_fds {
            sys::close(fd.as_raw_fd());
        }
        let fail = |step: Step, index: u32, errno: i32| -> i32 {
            let _ = sys::send(sync, &Msg::new(Tag::Error, step as u32, index, errno).encode());
            1
        };
        macro_rules! step {
            ($e:expr, $step:expr) => {
                step!($e, $step, 0)
            };
            ($e:expr, $step:expr, $index:expr) => {
                match $e {
                    Ok(v) => v,
                    Err(errno) => return fail($step, $index as u32, errno),
                }
            };
        }
        step!(sys::reset_signals(), Step::Signals);
        step!(
            sys::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong),
            Step::Prctl
        );
        // Nothing in the container may open this process through /proc until exec. Rootless,
        // not before the maps are written: until then no container process exists, and only
        // the caller's own user could open it.
        if self.dumpable_until_maps {
            // Born non-dumpable (namespaces::spawn); the maps are written by this user.
            step!(sys::prctl(libc::PR_SET_DUMPABLE, 1), Step::Prctl);
            step!(
                sys::send(sync, &Msg::new(Tag::MapsWanted, 0, 0, 0).encode()),
                Step::WaitMaps
            );
        } else {
            step!(sys::prctl(libc::PR_SET_DUMPABLE, 0), Step::Prctl);
        }
        // Every procfs write goes through the runtime's own /proc, verified here, before any
        // container mount exists; it is closed before the container's filesystem is set up.
        let procfs = if self.writes_procfs() {
            match sys::ProcFs::open() {
                Ok(p) => Some(p),
                Err((part, errno)) => return fail(Step::ProcFs, part as u32, errno),
            }
        } else {
            None
        };
        if self.new_time {
            step!(
                namespaces::sys::unshare(NamespaceKind::Time.clone_flag()),
                Step::TimeNamespace
            );
            if let (Some(content), Some(procfs)) = (&self.time_offsets, &procfs) {
                // Before the switch to root of a new user namespace: /proc/self files of a
                // non-dumpable process belong to the host's root, which this process still
                // is. It never becomes dumpable: in a pid namespace it shares, a neighbour
                // with every capability over its user namespace could open its /proc/<pid>.
                step!(procfs.write_self(c"timens_offsets", content), Step::TimeOffsets);
            }
        }
        if self.new_user {
            let mut buf = [0u8; Msg::SIZE];
            match sys::recv(sync, &mut buf) {
                Ok(n) if n == Msg::SIZE && Msg::decode(&buf).is_some_and(|m| m.tag == Tag::MapsWritten) => {}
                Ok(_) => return fail(Step::WaitMaps, 0, libc::EPIPE),
                Err(e) => return fail(Step::WaitMaps, 0, e),
            }
            step!(sys::setresgid(0), Step::BecomeRoot);
            step!(sys::setresuid(0), Step::BecomeRoot);
            // The change of user set dumpable to fs.suid_dumpable.
            step!(sys::prctl(libc::PR_SET_DUMPABLE, 0), Step::Prctl);
        }
        for (i, (kind, fd, _)) in self.join.iter().enumerate() {
            step!(namespaces::sys::setns(fd.as_fd(), *kind), Step::Setns, i);
        }
        // The namespace files are the host's: closed as soon as they are joined (the plan is
        // never dropped in the child, which execs or exits).
        for (_, fd, _) in &self.join {
            sys::close(fd.as_raw_fd());
        }
        if self.join.iter().any(|(kind, _, _)| *kind == NamespaceKind::User) {
            // Joining a user namespace may have set dumpable to fs.suid_dumpable.
            step!(sys::prctl(libc::PR_SET_DUMPABLE, 0), Step::Prctl);
        }
        // The pid namespace the process made below lives in (see [`InitPlan::clone_in_pid_namespace`]):
        // for this process's children only, so /proc/<pid>/ns/pid_for_children shows it to the
        // createContainer hooks. Its fd stays open until then: the init's procfs shows it.
        let pid_namespace = self.pid_namespace.as_ref().filter(|_| self.clone_in_pid_namespace);
        if let Some(pid_ns) = pid_namespace {
            step!(
                namespaces::sys::setns(pid_ns.as_fd(), NamespaceKind::Pid),
                Step::JoinPidNamespace
            );
        }
        // A session keyring of its own, as runc: the caller's may hold the host's keys. Made
        // once the process is who it is in its user namespace, so that it owns the keyring.
        if let Some(name) = &self.session_keyring {
            match sys::join_session_keyring(name) {
                // A kernel without keyrings has nothing to share.
                Ok(()) | Err(libc::ENOSYS) => {}
                Err(e) => return fail(Step::SessionKeyring, 0, e),
            }
        }
        // Go brings the fds for the cgroup: each v1 `tasks` file, then the late binds.
        let mut go_fds: [Option<OwnedFd>; sys::MAX_MSG_FDS] = [const { None }; sys::MAX_MSG_FDS];
        let tasks = self.cgroup_names.len();
        // Whether the parent's Go (the cgroup is made) has come, and the init is in it.
        let mut in_cgroup = false;
        // Waits for Go once and enters the cgroup: "0" written to each v1 `tasks` file moves
        // this process's one thread, skipping the global lock (and its RCU wait) that a pid in
        // cgroup.procs takes. Then, in the cgroup, sets the CPU affinity: `final`, or every CPU
        // of the cgroup's cpuset, whatever affinity the runtime or `initial` gave.
        macro_rules! enter_cgroup {
            () => {
                if !in_cgroup {
                    step!(self.wait_go(sync, &mut go_fds), Step::WaitStart);
                    let joined = cgroups::join_self(go_fds.iter().take(tasks).flatten().map(|f| f.as_fd()));
                    if let Err((i, errno)) = joined {
                        return fail(Step::JoinCgroup, i as u32, errno);
                    }
                    // The host's cgroup files are no business of the container's: closed at once.
                    sys::close_fds(go_fds.get_mut(..tasks).unwrap_or_default());
                    in_cgroup = true;
                    step!(sys::sched_setaffinity(0, &self.affinity_final), Step::CpuAffinity);
                }
            };
        }
        if self.cgroup_first {
            enter_cgroup!();
        }
        if self.new_cgroup {
            // The new cgroup namespace is rooted where the init is now.
            step!(
                namespaces::sys::unshare(NamespaceKind::Cgroup.clone_flag()),
                Step::CgroupNamespace
            );
        }
        if self.new_namespaces.contains(NamespaceKind::Network) {
            // As runc (its "loopback" network) and crun: a network namespace the runtime made
            // has its loopback up; one joined by path is left as its owner set it.
            step!(namespaces::sys::loopback_up(), Step::Loopback);
        }
        if let Some(h) = &self.hostname {
            step!(namespaces::sys::sethostname(h), Step::Hostname);
        }
        if let Some(d) = &self.domainname {
            step!(namespaces::sys::setdomainname(d), Step::Domainname);
        }
        if let Some(procfs) = procfs {
            // Through the runtime's /proc, in the container's namespaces (a sysctl file is the
            // one of the namespace of the process that opens it): the rootfs may make the
            // container's /proc/sys read-only, and its mounts could redirect the writes.
            for (i, (path, value, _)) in self.sysctl.iter().enumerate() {
                step!(procfs.write(path, value), Step::Sysctl, i);
            }
            if let Some(value) = &self.oom_score_adj {
                step!(procfs.write_self(c"oom_score_adj", value), Step::OomScoreAdj);
            }
            // The labels the exec takes (and only the exec: they change nothing before it);
            // before no_new_privs, as runc applies AppArmor's.
            for (i, label) in self.exec_labels.iter().enumerate() {
                step!(procfs.write_self(&label.name, &label.content), Step::ExecLabel, i);
            }
            // No fd of the host's procfs is left once the container's filesystem is in place.
            drop(procfs);
        }
        // With create hooks the mounts are all in place before the root switch, where the hooks
        // run; otherwise binds of cgroup directories the parent is still making are left for
        // later, so the init sets up its rootfs while the parent makes its cgroup.
        let finished = match &self.mounts {
            Some(mounts) if self.create_hooks => mounts.execute_with(|| hooks_pause(sync)),
            Some(mounts) => mounts.execute_leaving_cgroups().map_err(rootfs::Stop::Step),
            None => {
                if let Some(root) = &self.host_root {
                    step!(sys::fchdir(root.as_fd()), Step::EnterRoot);
                    step!(sys::chroot(c"."), Step::EnterRoot, 1);
                    // The container's root, closed once entered, like every fd of the runtime's.
                    sys::close(root.as_raw_fd());
                }
                Ok(rootfs::Finished::default())
            }
        };
        let rootfs::Finished { late, console } = match finished {
            Ok(finished) => finished,
            Err(rootfs::Stop::Step(f)) => return fail(Step::Rootfs, f.step, f.errno),
            Err(rootfs::Stop::Caller(errno)) => return fail(Step::Hooks, 0, errno),
        };
        // The bind sources the parent opened are attached: closed now (the plan is never
        // dropped in the child, which execs or exits).
        for fd in self.mounts.iter().flat_map(MountPlan::source_fds) {
            sys::close(fd);
        }
        if let Some(pid_ns) = pid_namespace {
            // This process is in every namespace of the container but its pid namespace, where
            // the container cannot see it, and, for an init, in its new root. Had it been made
            // in that pid namespace, a process there with CAP_SYS_PTRACE could have opened the
            // host's root and cwd through /proc/<pid>/root and /proc/<pid>/cwd until the mount
            // namespace was joined or the root switched (runc's stage-1/stage-2). The process
            // that lives there is made now, from this one: it starts with the container's root
            // and cwd, in the cgroup (every hierarchy: Go has come), non-dumpable, with the
            // procfs writes done (oom_score_adj and the exec labels are inherited), and no fd
            // of the host's but stdio, preserved fds, the exec fifo and the sync socket.
            enter_cgroup!();
            sys::close(pid_ns.as_raw_fd());
            // The new process waits until this one has handed it to the runtime, so that the
            // runtime hears of it before it hears from it.
            let (gate_read, gate_write) = step!(sys::pipe(), Step::CloneProcess);
            match sys::clone_sibling() {
                Ok(Some((pid, pidfd))) => {
                    // The new process is the runtime's child (CLONE_PARENT): it gets its pid and
                    // a pidfd, and this one exits, to be reaped by it.
                    let msg = Msg::new(Tag::Fd, FdKind::Process as u32, pid as u32, 0).encode();
                    let sent = sys::send_with_fds(sync, &msg, &[pidfd.as_raw_fd()]);
                    drop(pidfd);
                    if let Err(e) = sent {
                        // The new process sees the gate close without a byte and exits.
                        return fail(Step::CloneProcess, CLONE_HANDOVER, e);
                    }
                    return match sys::write(gate_write, b"g") {
                        Ok(()) => 0,
                        Err(e) => fail(Step::CloneProcess, CLONE_HANDOVER, e),
                    };
                }
                Ok(None) => {
                    sys::close(gate_write);
                    let mut byte = [0u8; 1];
                    let opened = loop {
                        match sys::read(gate_read, &mut byte) {
                            Err(libc::EINTR) => continue,
                            r => break r,
                        }
                    };
                    sys::close(gate_read);
                    if opened != Ok(1) {
                        return 1;
                    }
                    // A fork clears the parent-death signal; the parent is the runtime's thread.
                    step!(
                        sys::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong),
                        Step::Prctl
                    );
                }
                Err(e) => return fail(Step::CloneProcess, 0, e),
            }
        }
        // The pty comes from the container's own devpts, now that the root is the container's.
        let pty = match &self.terminal {
            Some(t) => match open_console(sync, t, console.as_ref()) {
                Ok(slave) => slave,
                Err((index, errno)) => return fail(Step::Console, index, errno),
            },
            None => {
                // A session of its own, as runc's init makes it with or without a terminal:
                // nothing outside the container leads its session (CRIU refuses to dump a
                // tree whose session leader is outside its pid namespace).
                step!(sys::setsid(), Step::Console, ConsoleStep::Setsid as u32);
                -1
            }
        };
        // The container's /dev and console are of no more use.
        drop(console);
        // I/O priority while the init still has every capability (an RT class needs
        // CAP_SYS_ADMIN).
        if let Some(prio) = self.io_priority {
            step!(sys::ioprio_set(prio), Step::IoPriority);
        }
        if let Some(caps) = &self.caps {
            for cap in 0..=self.last_cap {
                if caps.bounding & (1 << cap) == 0 {
                    step!(
                        sys::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong),
                        Step::BoundingSet,
                        cap
                    );
                }
            }
            step!(sys::prctl(libc::PR_SET_KEEPCAPS, 1), Step::Prctl);
        }

        // Into the cgroup, which the parent made while the init set itself up; the late binds
        // go in while the init can still mount (the bounding set limits only what exec gives).
        // Before the rlimits: a low RLIMIT_NOFILE could refuse Go's fds.
        enter_cgroup!();
        debug_assert!(in_cgroup);
        if let (Some(late), Some(mounts)) = (late, &self.mounts) {
            let binds = go_fds.iter().skip(tasks).flatten().map(|f| f.as_fd());
            if let Err(f) = mounts.bind_late_cgroups(late, binds) {
                return fail(Step::Rootfs, f.step, f.errno);
            }
        }
        sys::close_fds(&mut go_fds);
        for (i, (res, soft, hard, _)) in self.rlimits.iter().enumerate() {
            step!(sys::setrlimit(*res, *soft, *hard), Step::Rlimit, i);
        }
        // Every fd of the host's is closed by now (the exec fifo, a fifo, is no directory to
        // resolve through): the cwd resolves in the container, and must stay in its root.
        step!(sys::chdir(&self.cwd), Step::Chdir);
        step!(sys::verify_cwd(), Step::Chdir, CWD_OUTSIDE_ROOT);
        // The scheduler while the init still has every capability (an RT policy and a negative
        // nice need CAP_SYS_NICE), in its cgroup: a v1 cpu cgroup without RT runtime refuses an
        // RT task.
        if let Some(attr) = &self.scheduler {
            step!(sys::sched_setattr(attr), Step::Scheduler);
        }
        // In its cgroup, whose cpuset limits the nodes; inherited across exec.
        if let Some((policy, _)) = &self.memory_policy {
            step!(
                sys::set_mempolicy(policy.mode, &policy.nodes, mempolicy::MemPolicy::MAX_NODE),
                Step::MemoryPolicy
            );
        }
        if pty >= 0 {
            // The process's user must be able to use its console (runc's fixStdioPermissions):
            // the uid changes, the group stays what devpts gave it.
            match sys::fchown(pty, self.uid, libc::gid_t::MAX) {
                Ok(()) | Err(libc::EINVAL | libc::EPERM | libc::EROFS) => {}
                Err(e) => return fail(Step::Console, ConsoleStep::Chown as u32, e),
            }
        }
        if pty >= 0 {
            // With a terminal, the pty is the process's stdin, stdout and stderr.
            for target in 0..3 {
                if pty == target {
                    step!(sys::clear_cloexec(target), Step::Fds, target);
                } else {
                    step!(sys::dup2(pty, target), Step::Fds, target);
                }
            }
        } else {
            for (target, fd) in self.stdio.iter().enumerate() {
                if let Some(fd) = fd {
                    step!(sys::dup2(fd.as_raw_fd(), target as libc::c_int), Step::Fds, target);
                }
            }
            // Stdio on the host's null device goes to the container's own (runc's
            // reOpenDevNull): the process holds no file of the host's mounts, and CRIU, which
            // must find every open file inside the container, can dump it.
            step!(reopen_dev_null(), Step::Fds);
        }
        // Only stdio and the preserved fds may reach the container process. Before an early
        // seccomp filter, which may refuse close_range (runtime-tools' default profile does).
        let keep = 3 + self.preserve_fds;
        step!(sys::cloexec_from(keep), Step::Fds);
        for fd in 3..keep {
            if !self.closed_fds.iter().any(|c| c.as_raw_fd() as libc::c_uint == fd) {
                step!(sys::clear_cloexec(fd as libc::c_int), Step::Fds, fd);
            }
        }
        if self.seccomp_early {
            step!(self.load_seccomp(sync), Step::Seccomp);
        }
        if !self.skip_setgroups {
            step!(sys::setgroups(&self.groups), Step::SetGroups);
        }
        step!(sys::setresgid(self.gid), Step::SetGid);
        step!(sys::setresuid(self.uid), Step::SetUid);
        // A change of user sets dumpable to fs.suid_dumpable, which a host may have at 1.
        step!(sys::prctl(libc::PR_SET_DUMPABLE, 0), Step::Prctl);
        if let Some(mask) = self.umask {
            sys::umask(mask);
        }
        if let Some(caps) = &self.caps {
            step!(sys::prctl(libc::PR_SET_KEEPCAPS, 0), Step::Prctl);
            step!(
                sys::capset(caps.effective, caps.permitted, caps.inheritable),
                Step::Capabilities
            );
            for cap in 0..=self.last_cap {
                if caps.ambient & (1 << cap) == 0 {
                    continue;
                }
                match sys::ambient_raise(cap) {
                    Ok(()) => {}
                    // The runtime spec: a capability that cannot be granted is logged as a
                    // warning, and the runtime carries on (runc spec 1.1 writes ambient
                    // capabilities that are not inheritable).
                    Err(errno @ (libc::EPERM | libc::EINVAL)) => step!(
                        sys::send(sync, &Msg::new(Tag::Warning, Step::Ambient as u32, cap, errno).encode()),
                        Step::Ambient,
                        cap
                    ),
                    Err(errno) => return fail(Step::Ambient, cap, errno),
                }
            }
        }
        let mut exe = None;
        for candidate in &self.exe_candidates {
            if sys::is_executable(candidate).is_ok() {
                exe = Some(candidate);
                break;
            }
        }
        let Some(exe) = exe else {
            return fail(Step::Lookup, 0, libc::ENOENT);
        };

        if self.no_new_privileges {
            step!(sys::prctl(libc::PR_SET_NO_NEW_PRIVS, 1), Step::NoNewPrivileges);
        }
        if let Some(persona) = self.personality {
            step!(sys::personality(persona), Step::Personality);
        }
        if self.awaits_recorded {
            // An init made in the pid namespace it joined was not known at Go: it outlives the
            // runtime only once the state names it, which Recorded says.
            step!(wait_recorded(sync), Step::WaitStart);
        }
        step!(sys::prctl(libc::PR_SET_PDEATHSIG, 0), Step::Prctl);
        // As late as possible, so the profile governs the fewest of the runtime's own syscalls.
        if !self.seccomp_early {
            step!(self.load_seccomp(sync), Step::Seccomp);
        }
        step!(
            sys::send(sync, &Msg::new(Tag::Ready, 0, 0, 0).encode()),
            Step::WaitStart
        );

        if let Some(fifo) = &self.fifo_fd {
            // Blocks until `start` writes its byte; a writer that leaves without one is no start.
            if wait_start(fifo.as_raw_fd()).is_err() {
                let _ = sys::write(2, b"ocirun: the exec fifo closed without a start\n");
                return 1;
            }
        }
        let errno = sys::execve(exe, &self.argv_ptrs, &self.envp_ptrs);
        let _ = sys::write(2, b"ocirun: exec of the container process failed\n");
        if errno == libc::ENOENT { 127 } else { 126 }
    }
}

impl InitPlan {
    /// Waits for the parent's Go (the cgroup is made) and the fds it brings into `fds`: each v1
    /// `tasks` file, then the detached binds for the late cgroup binds.
    ///
    /// Runs in the child: no allocation, no locks.
    fn wait_go(&self, sync: libc::c_int, fds: &mut [Option<OwnedFd>]) -> Result<(), i32> {
        let mut buf = [0u8; Msg::SIZE];
        match sys::recv_with_fds(sync, &mut buf, fds)? {
            (n, count) if n == Msg::SIZE && Msg::decode(&buf).is_some_and(|m| m.tag == Tag::Go) => {
                if count == self.cgroup_names.len() + self.late_cgroup_binds {
                    Ok(())
                } else {
                    Err(libc::EPROTO)
                }
            }
            _ => Err(libc::EPIPE),
        }
    }

    /// Loads the seccomp filter, if any, and hands its notify listener to the parent.
    ///
    /// Runs in the child: no allocation, no locks.
    fn load_seccomp(&self, sync: libc::c_int) -> Result<(), i32> {
        let Some(program) = &self.seccomp else {
            return Ok(());
        };
        if let Some(listener) = program.load()? {
            let msg = Msg::new(Tag::Fd, FdKind::SeccompListener as u32, 0, 0).encode();
            let sent = sys::send_with_fds(sync, &msg, &[listener]);
            // The container process must never hold the listener.
            sys::close(listener);
            sent?;
        }
        Ok(())
    }
}

/// Asks the parent to run the create hooks and waits until it has.
/// Runs in the child: no allocation, no locks.
fn hooks_pause(sync: libc::c_int) -> Result<(), i32> {
    sys::send(sync, &Msg::new(Tag::Hooks, 0, 0, 0).encode())?;
    let mut buf = [0u8; Msg::SIZE];
    match sys::recv(sync, &mut buf)? {
        n if n == Msg::SIZE => match Msg::decode(&buf).map(|m| m.tag) {
            Some(Tag::HooksDone) => Ok(()),
            _ => Err(libc::EPROTO),
        },
        _ => Err(libc::EPIPE),
    }
}

/// Waits for the parent's [`Tag::Recorded`].
///
/// Runs in the child: no allocation, no locks.
fn wait_recorded(sync: libc::c_int) -> Result<(), i32> {
    let mut buf = [0u8; Msg::SIZE];
    match sys::recv(sync, &mut buf)? {
        n if n == Msg::SIZE => match Msg::decode(&buf).map(|m| m.tag) {
            Some(Tag::Recorded) => Ok(()),
            _ => Err(libc::EPROTO),
        },
        _ => Err(libc::EPIPE),
    }
}

/// The index of [`Step::Chdir`] that says the cwd is outside the container's root.
const CWD_OUTSIDE_ROOT: u32 = 1;

/// The index of [`Step::CloneProcess`] that says the new process did not reach the runtime.
const CLONE_HANDOVER: u32 = 1;

/// Waits for `start`'s byte on the exec fifo's read end.
///
/// Runs in the child: no allocation, no locks.
fn wait_start(fifo: libc::c_int) -> Result<(), i32> {
    let mut byte = [0u8; 1];
    loop {
        sys::poll_in(fifo)?;
        match sys::read(fifo, &mut byte) {
            Ok(1) => return Ok(()),
            // Only a writer that closed with nothing written makes the fifo readable and empty.
            Ok(_) => return Err(libc::EPIPE),
            Err(libc::EAGAIN | libc::EINTR) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// process.consoleSize as (rows, columns) when both are non-zero, as runc applies it.
fn console_size(process: &oci_spec::runtime::Process) -> Result<Option<(u16, u16)>> {
    let Some(size) = process.console_size() else {
        return Ok(None);
    };
    let fit =
        |field: &str, v: u64| u16::try_from(v).map_err(|_| Error::spec(field, format!("{v} is above {}", u16::MAX)));
    let rows = fit("process.consoleSize.height", size.height())?;
    let cols = fit("process.consoleSize.width", size.width())?;
    Ok((rows != 0 && cols != 0).then_some((rows, cols)))
}

/// Makes the container's pty from its own devpts: sends the master to the runtime, makes the
/// peer the controlling terminal of a new session, and returns the peer's fd. A failure
/// returns the [`ConsoleStep`] and the errno. `console` is the init's /dev and console as its
/// mount plan found them before the root switch; an exec'd process, which binds no console,
/// looks /dev up in the container's root.
///
/// Runs in the child: no allocation, no locks.
fn open_console(
    sync: libc::c_int,
    terminal: &Terminal,
    console: Option<&rootfs::Console>,
) -> Result<libc::c_int, (u32, i32)> {
    if let Some(c) = console {
        return open_pty(
            sync,
            c.dev.as_raw_fd(),
            c.target.as_ref().map(AsRawFd::as_raw_fd),
            terminal,
        );
    }
    // The container's /dev, reached through no symlink the image could have planted: the pty
    // is looked up beneath it.
    let dev = sys::openat2(
        libc::AT_FDCWD,
        c"/dev",
        libc::O_PATH | libc::O_DIRECTORY,
        libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS,
    )
    .map_err(ConsoleStep::OpenDev.failed())?;
    let slave = open_pty(sync, dev, None, terminal);
    sys::close(dev);
    slave
}

/// [`open_console`] with the container's /dev open as `dev`, and the console the pty is bound
/// onto, if any, as `target`.
///
/// Runs in the child: no allocation, no locks.
fn open_pty(
    sync: libc::c_int,
    dev: libc::c_int,
    target: Option<libc::c_int>,
    terminal: &Terminal,
) -> Result<libc::c_int, (u32, i32)> {
    let pts = sys::openat2(
        dev,
        c"pts",
        libc::O_PATH | libc::O_DIRECTORY,
        libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS,
    )
    .map_err(ConsoleStep::OpenPts.failed())?;
    // Only a devpts mount's own ptmx is opened: not a device node an image planted there.
    let devpts = match sys::is_devpts(pts) {
        Ok(true) => Ok(()),
        Ok(false) => Err(libc::ENOTTY),
        Err(e) => Err(e),
    };
    if let Err(e) = devpts {
        sys::close(pts);
        return Err((ConsoleStep::CheckDevpts as u32, e));
    }
    let master = sys::openat2(
        pts,
        c"ptmx",
        libc::O_RDWR | libc::O_NOCTTY,
        libc::RESOLVE_BENEATH | libc::RESOLVE_NO_XDEV | libc::RESOLVE_NO_SYMLINKS,
    );
    sys::close(pts);
    let master = master.map_err(ConsoleStep::OpenPtmx.failed())?;
    let slave = pty_pair(master, target.filter(|_| terminal.mount_console), terminal);
    let sent = slave.and_then(|_| {
        sys::send_with_fds(
            sync,
            &Msg::new(Tag::Fd, FdKind::PtyMaster as u32, 0, 0).encode(),
            &[master],
        )
        .map_err(ConsoleStep::SendMaster.failed())
    });
    sys::close(master);
    let slave = slave?;
    let finish = sent
        .and_then(|()| sys::setsid().map_err(ConsoleStep::Setsid.failed()))
        .and_then(|()| sys::set_controlling_tty(slave).map_err(ConsoleStep::ControllingTty.failed()));
    match finish {
        Ok(()) => Ok(slave),
        Err(e) => {
            sys::close(slave);
            Err(e)
        }
    }
}

/// Points each of fds 0-2 that is a null device at the container's own `/dev/null`, opened
/// without following a symlink and checked to be the null device (char 1:3) itself; leaves
/// them as they are when the container has none.
///
/// Runs in the child: no allocation, no locks.
fn reopen_dev_null() -> Result<(), i32> {
    let is_null = |st: &libc::stat| st.st_mode & libc::S_IFMT == libc::S_IFCHR && st.st_rdev == libc::makedev(1, 3);
    let mut null = -1;
    let mut result = Ok(());
    for target in 0..3 {
        if !sys::fstat(target).is_ok_and(|st| is_null(&st)) {
            continue;
        }
        if null < 0 {
            let Ok(fd) = sys::openat2(
                libc::AT_FDCWD,
                c"/dev/null",
                libc::O_RDWR | libc::O_NOCTTY,
                libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS,
            ) else {
                return Ok(());
            };
            if !sys::fstat(fd).is_ok_and(|st| is_null(&st)) {
                sys::close(fd);
                return Ok(());
            }
            null = fd;
        }
        result = sys::dup2(null, target);
        if result.is_err() {
            break;
        }
    }
    if null >= 0 {
        sys::close(null);
    }
    result
}

/// Unlocks and sizes the pty of `master`, opens its peer and binds the peer onto `console`,
/// when there is one to bind onto.
///
/// Runs in the child: no allocation, no locks.
fn pty_pair(master: libc::c_int, console: Option<libc::c_int>, terminal: &Terminal) -> Result<libc::c_int, (u32, i32)> {
    sys::unlock_pty(master).map_err(ConsoleStep::Unlock.failed())?;
    if let Some((rows, cols)) = terminal.size {
        sys::set_winsize(master, rows, cols).map_err(ConsoleStep::Size.failed())?;
    }
    let slave = sys::pty_peer(master, libc::O_RDWR).map_err(ConsoleStep::Peer.failed())?;
    // runc's mountConsole: programs that write to /dev/console reach the container's pty. The
    // mount plan found the console in the /dev it made its entries in, reached through no
    // symlink and checked (CVE-2025-52565): the bind goes onto that fd.
    if let Some(console) = console
        && let Err(e) = sys::bind_fd_onto_fd(slave, console)
    {
        sys::close(slave);
        return Err((ConsoleStep::MountConsole as u32, e));
    }
    Ok(slave)
}
