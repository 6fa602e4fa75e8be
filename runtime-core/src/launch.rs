//! What create and exec share once their process is planned: the fds it is passed, the clone,
//! and the tail that waits for its Ready and hands out what it sent (the seccomp listener,
//! the pty master) and its pid.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

use namespaces::pidfd;
use namespaces::{CloneArgs, NamespaceError, Spawned};
use ocirun_sys::{fd, process};

use crate::init::InitPlan;
use crate::sync::{Tag, send_tag, wait_ready};
use crate::{Error, Result, console};

/// Clones the process `plan` describes, born in the v2 cgroup `cgroup_fd` names where the
/// kernel can; once it exists, the parent's copies of the fds that are the child's now (the
/// sync socket, stdio, the namespace fds) are closed. A failed clone leaves the plan whole,
/// for a second try.
pub(crate) fn clone(
    plan: &mut InitPlan,
    cgroup_fd: Option<BorrowedFd<'_>>,
) -> std::result::Result<Spawned, NamespaceError> {
    let args = CloneArgs {
        namespaces: plan.namespaces.new,
        cgroup_fd: cgroup_fd.map(|f| f.as_raw_fd()),
        // A pid namespace the child joins itself is not the clone's (InitPlan::run).
        pid_namespace: plan
            .namespaces
            .pid_namespace
            .as_ref()
            .filter(|_| !plan.namespaces.clone_in_pid_namespace)
            .map(|f| f.as_raw_fd()),
    };
    let child_plan: &mut InitPlan = plan;
    // SAFETY: InitPlan::run only makes raw system calls on data compiled before the clone:
    // it does not allocate, free, lock or unwind (what it changes of the plan, it changes in
    // the child's copy).
    let spawned = unsafe { namespaces::spawn(&args, || child_plan.run()) }?;
    plan.close_child_fds();
    Ok(spawned)
}

/// What the launch tail needs besides the process: the sync socket and plan, the OCI state the
/// seccomp agent receives, and where the pty master, pid and pidfd go.
pub(crate) struct Tail<'a> {
    /// The runtime's end of the sync socket.
    pub sock: &'a OwnedFd,
    /// The plan the process runs.
    pub plan: &'a InitPlan,
    /// The container's state, for the seccomp agent (its pid is the process's own).
    pub state: &'a oci_spec::runtime::State,
    /// Where the pty master goes.
    pub console: console::Destination,
    /// `--pid-file`.
    pub pid_file: Option<&'a Path>,
    /// `--pidfd-socket`, connected.
    pub pidfd_socket: Option<console::FdSocket>,
}

/// The process a launch brought up: it runs the user program once the init's wait ends.
pub(crate) struct Launched {
    /// Its pid in the runtime's pid namespace.
    pub pid: i32,
    /// The master of its pty, when kept ([`console::Destination`]).
    pub pty_master: Option<OwnedFd>,
}

/// The launch tail of create and exec, once the process `pid` is cloned and has what it waits
/// for: waits for its Ready (running `on_hooks` with its pidfd when it stops for the create
/// hooks); when its first child hands over the process it made in the container's pid
/// namespace, reaps that child, puts the new process in `child`, calls `on_process` with its
/// pid (create records it: an init awaiting [`Tag::Recorded`] gets it then) and waits for its
/// Ready. The seccomp listener goes to the agent as it comes ([`deliver_listener`]); after
/// Ready the pty master goes to its destination, and the pid file and the pidfd are written.
/// `child` holds the pidfd of the process that runs, for the caller to kill should this fail.
pub(crate) fn finish(
    tail: Tail<'_>,
    child: &mut Option<OwnedFd>,
    pid: i32,
    on_hooks: &mut dyn FnMut(BorrowedFd<'_>) -> Result<()>,
    on_process: &mut dyn FnMut(i32) -> Result<()>,
) -> Result<Launched> {
    let Tail {
        sock,
        plan,
        state,
        console,
        pid_file,
        pidfd_socket,
    } = tail;
    let first = child.as_ref().expect("the launched process is held");
    let mut fds = wait_ready(sock, first, plan, &mut || on_hooks(first.as_fd()), &mut |fd| {
        deliver_listener(plan, state, pid, fd)
    })?;
    let mut pid = pid;
    match fds.process.take() {
        Some((process_pid, process)) => {
            // The first child handed over the process it made in the pid namespace, and exits.
            let first = child.replace(process).expect("held above");
            let _ = pidfd::reap(&first, true);
            pid = process_pid;
            on_process(pid)?;
            if plan.awaits_recorded() {
                // The state names it now: it may outlive this process.
                send_tag(sock, Tag::Recorded)?;
            }
            let process = child.as_ref().expect("set just above");
            let mut no_hooks = || {
                Err(Error::InitDied(
                    "it asked for the create hooks after its root switch".into(),
                ))
            };
            let later = wait_ready(sock, process, plan, &mut no_hooks, &mut |fd| {
                deliver_listener(plan, state, pid, fd)
            })?;
            if later.process.is_some() {
                return Err(Error::InitDied("it handed over a second process".into()));
            }
            fds.absorb(later);
        }
        None if plan.namespaces.clone_in_pid_namespace => return Err(Error::InitDied("it sent no process".into())),
        None => {}
    }
    let pty_master = console.deliver(fds.pty_master)?;
    if let Some(path) = pid_file {
        write_pid_file(path, pid)?;
    }
    if let Some(socket) = pidfd_socket {
        socket.send_pidfd(child.as_ref().expect("held above").as_fd())?;
    }
    Ok(Launched { pid, pty_master })
}

/// Hands the seccomp notify listener the process `pid` sent to the agent at the profile's
/// listenerPath, with `state`, as runc does as soon as its init has loaded the filter.
fn deliver_listener(plan: &InitPlan, state: &oci_spec::runtime::State, pid: i32, fd: &OwnedFd) -> Result<()> {
    match &plan.seccomp.listener {
        Some((path, metadata)) => {
            let json = seccomp::container_process_state(state, pid, metadata.as_deref());
            seccomp::send_to_listener(path, fd.as_fd(), &json).map_err(Error::Seccomp)
        }
        None => Ok(()),
    }
}

/// Checks that fds 3 .. 3+n (listen and preserved fds) fit under this process's fd limit, and
/// holds each of them that is not open with a placeholder (a duplicate of /dev/null), which
/// the init closes: the container gets the passed fds that are open, as with runc, and no fd
/// the runtime opens before the clone can take a free number among them and reach the
/// container. Returns the placeholders, for the init plan.
pub(crate) fn reserve_passed_fds(n: u32) -> Result<Vec<OwnedFd>> {
    let (limit, _) =
        process::getrlimit(libc::RLIMIT_NOFILE as libc::c_int).map_err(|e| Error::sys("read RLIMIT_NOFILE", e))?;
    if 3 + u64::from(n) > limit {
        return Err(Error::io(
            "pass fd to the container",
            format!("/proc/self/fd/{}", 2 + u64::from(n)),
            std::io::Error::other(format!(
                "{n} listen and preserved fds from 3 on exceed this process's fd limit {limit}"
            )),
        ));
    }
    let passed = 3..3 + n as i32;
    let mut placeholders = Vec::new();
    let mut null: Option<OwnedFd> = None;
    for fd in passed.clone() {
        if fd::is_open(fd) {
            continue;
        }
        let null = match &mut null {
            Some(null) => null,
            slot => slot.insert(
                std::fs::File::open("/dev/null")
                    .map_err(|e| Error::io("hold a closed passed fd", "/dev/null", e))?
                    .into(),
            ),
        };
        if null.as_raw_fd() == fd {
            // /dev/null took the lowest free number: this one.
            continue;
        }
        let held = fd::dup_cloexec(null.as_fd(), fd).map_err(|e| Error::sys("hold a closed passed fd", e))?;
        if held.as_raw_fd() != fd {
            return Err(Error::io(
                "hold a closed passed fd",
                format!("/proc/self/fd/{fd}"),
                std::io::Error::other("another thread opened it meanwhile"),
            ));
        }
        placeholders.push(held);
    }
    if let Some(null) = null
        && passed.contains(&null.as_raw_fd())
    {
        placeholders.push(null);
    }
    Ok(placeholders)
}

/// Kills (SIGKILL) and reaps the process of `pidfd`, if there is one: the undo of a half-made
/// init or exec process.
pub(crate) fn kill_and_reap(pidfd: Option<OwnedFd>) {
    if let Some(fd) = pidfd {
        let _ = pidfd::send_signal(fd.as_fd(), libc::SIGKILL);
        let _ = pidfd::reap(&fd, true);
    }
}

/// Moves `fd` to a number above the fds 3 .. 3+`passed` a container is given (listen and
/// preserved fds), for a file a caller opens before it creates or execs (a log file) and for
/// the runtime's own fds the init holds: in a free number among them it would reach the
/// container.
pub fn keep_clear_of_passed_fds(fd: OwnedFd, passed: u32) -> std::io::Result<OwnedFd> {
    let min = 3 + passed as i32;
    if fd.as_raw_fd() >= min {
        return Ok(fd);
    }
    fd::dup_cloexec(fd.as_fd(), min).map_err(std::io::Error::from_raw_os_error)
}

/// Writes `pid` to `path` atomically: a new temp file beside it, then a rename. The temp file
/// is created exclusively and never through a symlink, under a name nobody can predict: the
/// directory may be one a container can write to (an engine keeps it in the bundle).
pub(crate) fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut tmp = None;
    for attempt in 0..16u32 {
        let nonce = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos())
            ^ (std::process::id() << 8)
            ^ attempt;
        let candidate = path.with_extension(format!("ocirun-tmp-{nonce:08x}"));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .mode(0o644)
            .open(&candidate)
        {
            Ok(f) => {
                tmp = Some((candidate, f));
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(Error::io("write pid file", path, e)),
        }
    }
    let Some((tmp, mut file)) = tmp else {
        return Err(Error::io(
            "write pid file",
            path,
            std::io::Error::from_raw_os_error(libc::EEXIST),
        ));
    };
    let written = file
        .write_all(pid.to_string().as_bytes())
        .and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.map_err(|e| Error::io("write pid file", path, e))
}
