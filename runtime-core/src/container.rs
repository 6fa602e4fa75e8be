//! `Container::builder()` and every lifecycle operation.

use std::borrow::Cow;
use std::collections::HashMap;
use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cgroups::{Cgroup, Hierarchies};
use namespaces::pidfd::{self, ExitStatus};
use namespaces::{CloneArgs, NamespaceKind};
use oci_spec::runtime::{ContainerState, Spec};
use serde::Serialize;

use crate::hooks::{self, HookKind};
use crate::init::{InitPlan, PlanOptions, Step};
use crate::state::{self, ContainerDir, Record, Status, Store};
use crate::sync::{FdKind, Msg, Tag};
use crate::{Error, Result, console, spec};

/// Configures and creates a container; every setting defaults to what runc would use.
#[derive(Debug)]
pub struct ContainerBuilder {
    id: String,
    root: PathBuf,
    bundle: Option<PathBuf>,
    spec: Option<Spec>,
    no_pivot: bool,
    no_new_keyring: bool,
    listen_fds: u32,
    systemd_cgroup: bool,
    /// Rootless mode; `None` is runc's auto ([`ContainerBuilder::rootless_auto`]).
    rootless: Option<bool>,
    io: ProcessIo,
}

/// What create and exec share about their process: its stdio, extra fds, pty and pid.
#[derive(Debug, Default)]
pub(crate) struct ProcessIo {
    pub stdio: [Option<OwnedFd>; 3],
    pub preserve_fds: u32,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub pidfd_socket: Option<PathBuf>,
    pub keep_pty_master: bool,
}

impl ProcessIo {
    /// Where the pty master goes, checked against `process.terminal`; a console socket is
    /// connected now, so that one nobody listens on fails before anything is created.
    pub(crate) fn console(&self, terminal: bool) -> Result<console::Destination> {
        console::Destination::prepare(
            terminal,
            self.console_socket.as_deref(),
            self.keep_pty_master,
            self.stdio.iter().any(Option::is_some),
        )
    }

    /// The pidfd socket, connected now for the same reason.
    pub(crate) fn pidfd_socket(&self) -> Result<Option<console::FdSocket>> {
        self.pidfd_socket
            .as_deref()
            .map(|path| console::FdSocket::connect(console::SocketKind::Pidfd, path))
            .transpose()
    }
}

/// The builder methods of [`ProcessIo`], for a builder with an `io` field; `$who` names its process.
macro_rules! process_io_setters {
    ($who:literal) => {
        #[doc = concat!("The ", $who, "'s stdin (default: the caller's).")]
        pub fn stdin(mut self, fd: impl Into<std::os::fd::OwnedFd>) -> Self {
            self.io.stdio[0] = Some(fd.into());
            self
        }

        #[doc = concat!("The ", $who, "'s stdout (default: the caller's).")]
        pub fn stdout(mut self, fd: impl Into<std::os::fd::OwnedFd>) -> Self {
            self.io.stdio[1] = Some(fd.into());
            self
        }

        #[doc = concat!("The ", $who, "'s stderr (default: the caller's).")]
        pub fn stderr(mut self, fd: impl Into<std::os::fd::OwnedFd>) -> Self {
            self.io.stdio[2] = Some(fd.into());
            self
        }

        #[doc = concat!("Pass fds 3 .. 3+n to the ", $who, " (`--preserve-fds`).")]
        pub fn preserve_fds(mut self, n: u32) -> Self {
            self.io.preserve_fds = n;
            self
        }

        #[doc = concat!("Write the ", $who, "'s pid to this file once it exists (`--pid-file`).")]
        pub fn pid_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
            self.io.pid_file = Some(path.into());
            self
        }

        #[doc = concat!(
            "Send the master of the ", $who, "'s pty to this unix socket (`--console-socket`), as runc ",
            "does: one message whose data is the ptmx path, with the fd as SCM_RIGHTS. Needs `process.terminal`."
        )]
        pub fn console_socket(mut self, path: impl Into<std::path::PathBuf>) -> Self {
            self.io.console_socket = Some(path.into());
            self
        }

        #[doc = concat!("Send a pidfd of the ", $who, " to this unix socket once it exists (`--pidfd-socket`).")]
        pub fn pidfd_socket(mut self, path: impl Into<std::path::PathBuf>) -> Self {
            self.io.pidfd_socket = Some(path.into());
            self
        }

        #[doc = concat!(
            "Keep the master of the ", $who, "'s pty for `take_pty_master`, instead of sending it to ",
            "a console socket. Needs `process.terminal`."
        )]
        pub fn keep_pty_master(mut self, yes: bool) -> Self {
            self.io.keep_pty_master = yes;
            self
        }
    };
}
pub(crate) use process_io_setters;

/// A container in the state store, and, when this process created it, its init's pidfd.
#[derive(Debug)]
pub struct Container {
    pub(crate) store: Store,
    pub(crate) record: Record,
    pidfd: Option<OwnedFd>,
    is_parent: bool,
    pty_master: Option<OwnedFd>,
    /// The cgroup as create resolved it, so delete need not find the hierarchies again.
    cgroup: Option<Cgroup>,
}

/// The OCI state of a container, as `ocirun state` prints it (runc's fields).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    /// The spec version of its config.
    pub oci_version: String,
    /// The container id.
    pub id: String,
    /// Its status now.
    pub status: Status,
    /// The init's pid (0 once stopped).
    pub pid: i32,
    /// The bundle directory.
    pub bundle: PathBuf,
    /// The root filesystem on the host.
    pub rootfs: PathBuf,
    /// When it was created.
    pub created: String,
    /// The owner (runc prints an empty string when not rootless).
    pub owner: String,
    /// The annotations of its config.
    pub annotations: HashMap<String, String>,
}

impl ContainerBuilder {
    /// A builder for a container named `id`, stored under [`state::DEFAULT_ROOT`].
    pub fn new(id: impl Into<String>) -> Self {
        ContainerBuilder {
            id: id.into(),
            root: PathBuf::from(state::DEFAULT_ROOT),
            bundle: None,
            spec: None,
            no_pivot: false,
            no_new_keyring: false,
            listen_fds: 0,
            systemd_cgroup: false,
            rootless: Some(false),
            io: ProcessIo::default(),
        }
    }

    process_io_setters!("container process");

    /// The state root (runc's `--root`).
    pub fn root(mut self, root: impl Into<PathBuf>) -> Self {
        self.root = root.into();
        self
    }

    /// The bundle directory; its config.json is read unless [`spec`](Self::spec) is given.
    pub fn bundle(mut self, bundle: impl Into<PathBuf>) -> Self {
        self.bundle = Some(bundle.into());
        self
    }

    /// An in-memory spec, used instead of the bundle's config.json.
    pub fn spec(mut self, spec: Spec) -> Self {
        self.spec = Some(spec);
        self
    }

    /// Use MS_MOVE and chroot instead of pivot_root (`--no-pivot`).
    pub fn no_pivot(mut self, yes: bool) -> Self {
        self.no_pivot = yes;
        self
    }

    /// Keep the caller's session keyring instead of giving the container a new one
    /// (`--no-new-keyring`); its `exec`s keep theirs too.
    pub fn no_new_keyring(mut self, yes: bool) -> Self {
        self.no_new_keyring = yes;
        self
    }

    /// Pass `n` systemd socket-activation fds (3 .. 3+n) to the container process, with
    /// `LISTEN_FDS=n` and `LISTEN_PID=1` in its environment; the `preserve_fds` come after them.
    pub fn listen_fds(mut self, n: u32) -> Self {
        self.listen_fds = n;
        self
    }

    /// Rootless mode (runc's `--rootless`, which decides how cgroups are handled): a cgroup
    /// the caller may not create is skipped with a warning when the spec neither names one
    /// (linux.cgroupsPath) nor sets a limit, as runc does. Whatever this says, a caller that
    /// is not root (euid != 0) writes id maps other than its own id alone with
    /// `newuidmap`/`newgidmap`.
    pub fn rootless(mut self, yes: bool) -> Self {
        self.rootless = Some(yes);
        self
    }

    /// Rootless mode as runc's `--rootless auto`: rootless when the caller is not root; for
    /// root, when it is in a user namespace other than the initial one, which is looked at
    /// only once the cgroup cannot be made for want of permission (nothing is added to the
    /// common path of root on the host).
    pub fn rootless_auto(mut self) -> Self {
        self.rootless = None;
        self
    }

    /// Read linux.cgroupsPath as systemd's `slice:prefix:name` and let systemd manage the
    /// cgroup (`--systemd-cgroup`).
    pub fn systemd_cgroup(mut self, yes: bool) -> Self {
        self.systemd_cgroup = yes;
        self
    }

    /// The bundle, the validated spec and the rootfs this builder names.
    fn resolve(&mut self) -> Result<(PathBuf, Spec, PathBuf)> {
        let bundle = match &self.bundle {
            Some(b) => std::fs::canonicalize(b).map_err(|e| Error::io("open bundle", b, e))?,
            None => std::env::current_dir().map_err(|e| Error::io("find bundle", ".", e))?,
        };
        let spec = match self.spec.take() {
            Some(s) => s,
            None => spec::load_bundle(&bundle)?,
        };
        spec::validate(&spec)?;
        spec::warn_ignored_resources(spec.linux().as_ref().and_then(|l| l.resources().as_ref()));
        let rootfs = spec::rootfs_path(&spec, &bundle)?;
        Ok((bundle, spec, rootfs))
    }

    /// Makes a container whose init `spawn` brings up some other way (CRIU's restore), with
    /// the state directory, cgroup and record create would make; `spawn` gets the spec, the
    /// rootfs and the cgroup path and returns the init's pid.
    pub(crate) fn create_with(mut self, spawn: impl FnOnce(&Spec, &Path, &str) -> Result<i32>) -> Result<Container> {
        let (bundle, spec, rootfs) = self.resolve()?;
        let store = Store::new(&self.root);
        let mut undo = Undo {
            dir: Some(store.create(&self.id)?),
            cgroup: None,
            child: None,
            poststop: None,
        };
        let linux = spec.linux().as_ref().ok_or_else(|| Error::spec("linux", "missing"))?;
        if self.systemd_cgroup {
            return Err(Error::spec(
                "--systemd-cgroup",
                "restoring into a systemd scope is not supported: use the cgroupfs driver",
            ));
        }
        if self.rootless.unwrap_or_else(crate::sys::unprivileged) {
            return Err(Error::spec(
                "--rootless",
                "restoring a rootless container is not supported",
            ));
        }
        if linux.net_devices().as_ref().is_some_and(|d| !d.is_empty()) {
            return Err(Error::spec(
                "linux.netDevices",
                "restoring a container with network devices is not supported",
            ));
        }
        if spec::shares_mount_namespace(&spec) {
            return Err(Error::spec(
                "linux.namespaces",
                "restoring a container without a mount namespace of its own is not supported",
            ));
        }
        crate::criu::refuse_id_mapped_mounts("restore", &spec)?;
        let cgroup = resolve_cgroup(linux, &self.id, false)?;
        save_intent(
            undo.dir.as_ref().expect("set above"),
            &spec,
            &bundle,
            &rootfs,
            &cgroup,
            false,
        )?;
        let cgroup_path = cgroup.path().to_string();
        // Owned by the undo first: a create that fails half-way removes what it made.
        let cgroup = undo.cgroup.insert(cgroup);
        cgroup
            .create(Some(&resources_with_default_devices(linux)))
            .map_err(Error::Cgroup)?;
        let pid = spawn(&spec, &rootfs, &cgroup_path)?;
        undo.child = Some(pidfd::open(pid).map_err(|source| Error::Sys {
            op: "open a pidfd for the restored init",
            source,
        })?);
        let (_, start) = state::proc_stat(pid).ok_or_else(|| Error::InitDied("its /proc entry vanished".into()))?;
        let record = new_record(
            &spec,
            &self.id,
            (pid, start),
            &bundle,
            &rootfs,
            cgroup_path,
            self.systemd_cgroup,
        );
        if let Some(path) = &self.io.pid_file {
            write_pid_file(path, pid)?;
        }
        let dir = undo.dir.as_ref().expect("set above");
        dir.save_spec(&spec)?;
        dir.save(&record)?;
        let pidfd = undo.child.take().expect("set above");
        undo.disarm();
        Ok(Container {
            store,
            record,
            pidfd: Some(pidfd),
            is_parent: false,
            pty_master: None,
            cgroup: None,
        })
    }

    /// Creates the container: its init waits for [`Container::start`].
    pub fn create(self) -> Result<Container> {
        self.create_keeping(false).map(|(c, _)| c)
    }

    /// Creates the container, handing back what create allocated, for the caller to free once
    /// the init has exec'd (see [`Leftovers`]). With `starting` (run), when no startContainer
    /// hook has to run between Ready and the exec, the init gets no exec fifo: it execs right
    /// after Ready, without waiting for this process to wake up and write to it (the container
    /// is never seen `created`: this process holds its directory's lock until it is started).
    fn create_keeping(mut self, starting: bool) -> Result<(Container, Leftovers)> {
        let (bundle, spec, rootfs) = self.resolve()?;
        let closed_fds = reserve_passed_fds(self.listen_fds.saturating_add(self.io.preserve_fds))?;
        let terminal = spec.process().as_ref().and_then(|p| p.terminal()).unwrap_or(false);
        let console = self.io.console(terminal)?;
        let pidfd_socket = self.io.pidfd_socket()?;
        let store = Store::new(&self.root);
        let dir = store.create(&self.id)?;
        let mut undo = Undo {
            dir: Some(dir),
            cgroup: None,
            child: None,
            poststop: None,
        };
        let opts = CreateOptions {
            exec_fifo: !starting || hooks::any(spec.hooks().as_ref(), &[HookKind::StartContainer]),
            no_pivot: self.no_pivot,
            no_new_keyring: self.no_new_keyring,
            systemd_cgroup: self.systemd_cgroup,
            rootless: self.rootless,
            preserve_fds: self.listen_fds.saturating_add(self.io.preserve_fds),
            listen_fds: self.listen_fds,
            stdio: self.io.stdio,
            closed_fds,
            console,
        };
        let Created {
            record,
            pidfd,
            pty_master,
            plan,
            exec_fifo,
        } = create_in(&spec, &bundle, &rootfs, &mut undo, opts)?;
        // Until the end, a failure still kills the init: it goes back into the undo.
        undo.child = Some(pidfd);
        if let Some(path) = &self.io.pid_file {
            write_pid_file(path, record.pid)?;
        }
        if let Some(socket) = pidfd_socket {
            socket.send_pidfd(undo.child.as_ref().expect("set just above").as_fd())?;
        }
        let pidfd = undo.child.take().expect("set just above");
        let cgroup = undo.cgroup.take();
        let dir = undo.dir.take().expect("create_in keeps the state directory");
        undo.disarm();
        let c = Container {
            store,
            record,
            pidfd: Some(pidfd),
            is_parent: true,
            pty_master,
            cgroup,
        };
        Ok((
            c,
            Leftovers {
                dir,
                exec_fifo,
                _plan: plan,
                _spec: spec,
            },
        ))
    }

    /// Creates and starts the container (runc's `run`, without the wait).
    pub fn run(self) -> Result<Container> {
        let (mut c, leftovers) = self.create_keeping(true)?;
        // Still under create's lock on the directory: nobody can have started or deleted it.
        let started = c.start_in(&leftovers.dir, leftovers.exec_fifo);
        // Freed once start has let the init exec, off the path to it; the lock goes too.
        drop(leftovers);
        if let Err(e) = started {
            let _ = c.delete_inner(true);
            return Err(e);
        }
        c.run_poststart();
        Ok(c)
    }
}

/// What create leaves for `run`, freed after start: the state directory with its lock, the
/// init plan and the spec. Until the init execs it is a fork living on the runtime's pages:
/// freeing these many small allocations writes to those pages, each write a copy-on-write
/// fault (~0.2 ms in all, measured between the init's Ready and start), while the init waits
/// on the exec fifo.
struct Leftovers {
    dir: ContainerDir,
    /// Whether the init waits on the exec fifo (see [`ContainerBuilder::create_keeping`]).
    exec_fifo: bool,
    _plan: InitPlan,
    _spec: Spec,
}

/// Undoes a half-made container when create fails: kills the init, removes the cgroup and state.
struct Undo {
    dir: Option<ContainerDir>,
    cgroup: Option<Cgroup>,
    child: Option<OwnedFd>,
    /// The hooks to run once the container is destroyed, with its state.
    poststop: Option<(oci_spec::runtime::Hooks, oci_spec::runtime::State)>,
}

impl Undo {
    fn disarm(&mut self) {
        self.dir = None;
        self.cgroup = None;
        self.child = None;
        self.poststop = None;
    }
}

impl Drop for Undo {
    fn drop(&mut self) {
        if let Some(fd) = self.child.take() {
            let _ = pidfd::send_signal(fd.as_fd(), libc::SIGKILL);
            let _ = pidfd::reap(&fd, true);
        }
        if let Some(cg) = self.cgroup.take() {
            let _ = cg.remove();
        }
        if let Some(dir) = self.dir.take() {
            let _ = dir.remove();
        }
        if let Some((hooks, mut state)) = self.poststop.take() {
            state.set_status(ContainerState::Stopped);
            hooks::run_warn(HookKind::Poststop, Some(&hooks), &state);
        }
    }
}

/// Checks that fds 3 .. 3+n (listen and preserved fds) fit under this process's fd limit, and
/// holds each of them that is not open with a placeholder (a duplicate of /dev/null), which
/// the init closes: the container gets the passed fds that are open, as with runc, and no fd
/// the runtime opens before the clone can take a free number among them and reach the
/// container. Returns the placeholders, for the init plan.
pub(crate) fn reserve_passed_fds(n: u32) -> Result<Vec<OwnedFd>> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: lim is a writable rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } < 0 {
        return Err(Error::sys("read RLIMIT_NOFILE"));
    }
    if 3 + u64::from(n) > lim.rlim_cur {
        return Err(Error::io(
            "pass fd to the container",
            format!("/proc/self/fd/{}", 2 + u64::from(n)),
            std::io::Error::other(format!(
                "{n} listen and preserved fds from 3 on exceed this process's fd limit {}",
                lim.rlim_cur
            )),
        ));
    }
    let passed = 3..3 + n as i32;
    let mut placeholders = Vec::new();
    let mut null: Option<OwnedFd> = None;
    for fd in passed.clone() {
        if crate::sys::is_open(fd) {
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
        let held = crate::sys::dup_from(null.as_fd(), fd).map_err(|e| Error::Sys {
            op: "hold a closed passed fd",
            source: std::io::Error::from_raw_os_error(e),
        })?;
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

/// Moves `fd` to a number above the fds 3 .. 3+`passed` a container is given (listen and
/// preserved fds), for a file a caller opens before it creates or execs (a log file): in a
/// free number among them it would reach the container.
pub fn keep_clear_of_passed_fds(fd: OwnedFd, passed: u32) -> std::io::Result<OwnedFd> {
    let min = 3 + passed as i32;
    if fd.as_raw_fd() >= min {
        return Ok(fd);
    }
    crate::sys::dup_from(fd.as_fd(), min).map_err(std::io::Error::from_raw_os_error)
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

pub(crate) fn socketpair() -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: fds is a writable array of two ints.
    if unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    } < 0
    {
        return Err(Error::sys("create the sync socketpair"));
    }
    // SAFETY: both fds are new and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

pub(crate) fn send_msg(sock: &OwnedFd, tag: Tag) -> Result<()> {
    crate::sys::send(sock.as_raw_fd(), &Msg::new(tag, 0, 0, 0).encode()).map_err(|e| Error::Sys {
        op: "send to the container init",
        source: std::io::Error::from_raw_os_error(e),
    })
}

/// Sends `tag` to the init; whether it reached it, as [`delivered`] says.
pub(crate) fn send_tag(sock: &OwnedFd, tag: Tag) -> Result<bool> {
    delivered(crate::sys::send(sock.as_raw_fd(), &Msg::new(tag, 0, 0, 0).encode()))
}

/// Whether a message the init waits for reached it: `Ok(false)` when the init is gone (its
/// error or exit is read next), an error when the send failed otherwise, since the init, alive,
/// would wait for it for ever.
pub(crate) fn delivered(sent: std::result::Result<(), i32>) -> Result<bool> {
    match sent {
        Ok(()) => Ok(true),
        Err(libc::EPIPE | libc::ECONNRESET | libc::ECONNREFUSED) => Ok(false),
        Err(e) => Err(Error::Sys {
            op: "send to the container init",
            source: std::io::Error::from_raw_os_error(e),
        }),
    }
}

/// Blocks until `fd` or the init's pidfd has an event; returns both `revents`.
pub(crate) fn poll_with_init(fd: &impl AsRawFd, init: &OwnedFd, op: &'static str) -> Result<(i16, i16)> {
    let mut fds = [
        libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: init.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    loop {
        // SAFETY: fds is an array of two valid pollfds.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if n >= 0 {
            return Ok((fds[0].revents, fds[1].revents));
        }
        if std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            return Err(Error::sys(op));
        }
    }
}

/// The fds the init sent the runtime before Ready.
#[derive(Debug, Default)]
pub(crate) struct InitFds {
    /// The seccomp notify listener, when the profile has SCMP_ACT_NOTIFY.
    pub seccomp_listener: Option<OwnedFd>,
    /// The master side of the container's pty, when process.terminal is set.
    pub pty_master: Option<OwnedFd>,
    /// The process a child made outside the container's pid namespace made there, its pid and
    /// a pidfd ([`InitPlan::clone_in_pid_namespace`]): [`wait_ready`] returns as it comes, and
    /// is called again to wait for that process's Ready.
    pub process: Option<(i32, OwnedFd)>,
}

impl InitFds {
    /// Takes in the fds of a later [`wait_ready`] (after the hand-over of the process).
    pub(crate) fn absorb(&mut self, later: InitFds) {
        self.seccomp_listener = self.seccomp_listener.take().or(later.seccomp_listener);
        self.pty_master = self.pty_master.take().or(later.pty_master);
        self.process = later.process;
    }
}

/// Waits for the init's Ready or Error, or its death, keeping the fds it sends on the way;
/// returns early with [`InitFds::process`] when the child hands over the process it made in
/// the container's pid namespace, which `child` no longer is then.
/// `on_hooks` runs when the init stops before its root switch for the create hooks.
pub(crate) fn wait_ready(
    sock: &OwnedFd,
    child: &OwnedFd,
    plan: &InitPlan,
    on_hooks: &mut dyn FnMut() -> Result<()>,
) -> Result<InitFds> {
    let mut fds = InitFds::default();
    loop {
        let (sock_events, child_events) = poll_with_init(sock, child, "wait for the container init")?;
        if sock_events & libc::POLLIN != 0 {
            let mut buf = [0u8; Msg::SIZE];
            let mut received: [Option<OwnedFd>; 1] = [None];
            let (n, _) = crate::sys::recv_with_fds(sock.as_raw_fd(), &mut buf, &mut received).unwrap_or((0, 0));
            let [fd] = received;
            match Msg::decode(&buf) {
                Some(m) if n == Msg::SIZE && m.tag == Tag::Fd => {
                    let slot = match FdKind::from_u32(m.step) {
                        Some(FdKind::SeccompListener) => &mut fds.seccomp_listener,
                        Some(FdKind::PtyMaster) => &mut fds.pty_master,
                        Some(FdKind::Process) if plan.clone_in_pid_namespace => {
                            let fd =
                                fd.ok_or_else(|| Error::InitDied("its process message carried no pidfd".into()))?;
                            fds.process = Some((m.index as i32, fd));
                            return Ok(fds);
                        }
                        Some(FdKind::Process) | None => {
                            return Err(Error::InitDied(format!("it sent an fd of unknown kind {}", m.step)));
                        }
                    };
                    *slot = Some(fd.ok_or_else(|| Error::InitDied("its fd message carried no fd".into()))?);
                    continue;
                }
                Some(m) if n == Msg::SIZE && m.tag == Tag::Hooks => {
                    on_hooks()?;
                    send_msg(sock, Tag::HooksDone)?;
                    continue;
                }
                Some(m) if n == Msg::SIZE && m.tag == Tag::Warning => {
                    hooks::warn(&init_warning(plan, m));
                    continue;
                }
                Some(m) if n == Msg::SIZE && m.tag == Tag::Ready => return Ok(fds),
                Some(m) if n == Msg::SIZE && m.tag == Tag::Error => return Err(init_error(plan, m)),
                _ => return Err(Error::InitDied("it closed the sync socket".into())),
            };
        }
        if child_events != 0 || sock_events != 0 {
            let status = pidfd::reap(child, false).ok().flatten();
            return Err(Error::InitDied(match status {
                Some(ExitStatus::Exited(c)) => format!("exit code {c}"),
                Some(ExitStatus::Signaled(s)) => format!("killed by signal {s}"),
                None => "it closed the sync socket".into(),
            }));
        }
    }
}

/// The text of a [`Tag::Warning`] from the init: the step it could not do, and why.
fn init_warning(plan: &InitPlan, m: Msg) -> String {
    let what = match Step::from_u32(m.step) {
        Some(step) => plan.describe(step, m.index),
        None => format!("unknown step {}", m.step),
    };
    format!(
        "container init: {what}: {}; the container process runs without it",
        std::io::Error::from_raw_os_error(m.errno)
    )
}

pub(crate) fn init_error(plan: &InitPlan, m: Msg) -> Error {
    let source = std::io::Error::from_raw_os_error(m.errno);
    match Step::from_u32(m.step) {
        Some(Step::Rootfs) if plan.mounts.is_some() => {
            Error::Rootfs(plan.mounts.as_ref().expect("checked").explain(rootfs::StepFailure {
                step: m.index,
                errno: m.errno,
            }))
        }
        Some(step) => Error::Init {
            step: plan.describe(step, m.index),
            source,
        },
        None => Error::Init {
            step: format!("unknown step {}", m.step),
            source,
        },
    }
}

/// The builder settings that reach the init plan.
struct CreateOptions {
    /// Make the exec fifo the init waits on after Ready for `start`; without it the init execs
    /// right after Ready.
    exec_fifo: bool,
    no_pivot: bool,
    no_new_keyring: bool,
    systemd_cgroup: bool,
    rootless: Option<bool>,
    preserve_fds: u32,
    listen_fds: u32,
    stdio: [Option<OwnedFd>; 3],
    /// The placeholders of the passed fds that are not open ([`reserve_passed_fds`]).
    closed_fds: Vec<OwnedFd>,
    console: console::Destination,
}

/// The body of create once the state directory exists; `undo` cleans up on error.
fn create_in(spec: &Spec, bundle: &Path, rootfs: &Path, undo: &mut Undo, opts: CreateOptions) -> Result<Created> {
    let dir = undo.dir.as_ref().expect("create_in runs with the state directory made");
    let id = dir.id().to_string();
    let linux = spec.linux().as_ref().ok_or_else(|| Error::spec("linux", "missing"))?;
    // The cgroupfs driver makes the v2 directory now, for CLONE_INTO_CGROUP; the v1 ones and
    // every limit come after the clone, while the init sets up its rootfs (it waits for them
    // only when it needs them). systemd makes them all once it has the init's pid.
    let cgroup = resolve_cgroup(linux, &id, opts.systemd_cgroup)?;
    // Before the undo owns it: a cgroup that was there already is left as it was.
    if cgroup.frozen_already().map_err(Error::Cgroup)? {
        return Err(Error::spec(
            "linux.cgroupsPath",
            format!("{}: container's cgroup unexpectedly frozen", cgroup.path()),
        ));
    }
    // What follows makes things outside this process: written down first. A rootless
    // container that ends up without a cgroup of its own names one that is never made.
    save_intent(dir, spec, bundle, rootfs, &cgroup, opts.systemd_cgroup)?;
    let mut rootless = opts.rootless.unwrap_or_else(crate::sys::unprivileged);
    // Device cgroup rules cannot be written there (runc skips them in a user namespace); root
    // on the host with --rootless=true keeps them.
    let in_user_namespace_or_unprivileged = crate::sys::unprivileged() || opts.rootless.is_none();
    let cgroup = if rootless && !opts.systemd_cgroup {
        let made = rootless_cgroup(cgroup, linux)?;
        undo.cgroup.clone_from(&made);
        made
    } else if opts.systemd_cgroup {
        undo.cgroup = Some(cgroup.clone());
        Some(cgroup)
    } else {
        match cgroup.create_unified() {
            Ok(()) => {
                undo.cgroup = Some(cgroup.clone());
                Some(cgroup)
            }
            // Auto, root in a user namespace (runc: its cgroup errors are then tolerated).
            Err(e) if opts.rootless.is_none() && e.permission_denied() && namespaces::running_in_user_namespace() => {
                rootless = true;
                let made = rootless_cgroup(cgroup, linux)?;
                undo.cgroup.clone_from(&made);
                made
            }
            Err(e) => return Err(Error::Cgroup(e)),
        }
    };
    // Without a cgroup of its own (rootless), a cgroup mount shows the caller's cgroups.
    let (cgroup_path, shown) = match &cgroup {
        Some(cg) => (cg.path().to_string(), cg.clone()),
        None => {
            let h = Hierarchies::detect().map_err(Error::Cgroup)?;
            (
                String::new(),
                Cgroup::of_process(&h, std::process::id() as i32).map_err(Error::Cgroup)?,
            )
        }
    };
    let cgroup_mounts = shown
        .mounts()
        .into_iter()
        .map(|m| rootfs::CgroupMount {
            ready_at_start: (m.unified && !opts.systemd_cgroup) || cgroup.is_none(),
            name: m.name,
            controllers: m.mount_data,
            unified: m.unified,
            host_path: m.dir,
        })
        .collect();
    let (cgroup_fd, cgroup_tasks) = if let Some(cgroup) = cgroup.as_ref().filter(|_| !opts.systemd_cgroup) {
        let tasks = cgroup
            .v1_tasks_paths()
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        (cgroup.clone_into_fd().map_err(Error::Cgroup)?, tasks)
    } else {
        (None, Vec::new())
    };

    // The exec fifo: the init waits on its read end, opened here before the clone (it never
    // opens a path of the host's itself), until `start` writes a byte (crun's direction).
    let fifo = if opts.exec_fifo {
        let fifo_path = dir.fifo_path();
        let c_fifo = CString::new(fifo_path.as_os_str().as_encoded_bytes())
            .map_err(|_| Error::spec("--root", "contains a NUL byte"))?;
        // SAFETY: c_fifo is a valid path; mkfifo only creates a node.
        if unsafe { libc::mkfifo(c_fifo.as_ptr(), 0o600) } < 0 {
            return Err(Error::io(
                "create exec fifo",
                fifo_path,
                std::io::Error::last_os_error(),
            ));
        }
        // Without a writer yet, a non-blocking open for reading returns at once.
        let fifo = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(&fifo_path)
            .map_err(|e| Error::io("open exec fifo", &fifo_path, e))?;
        Some(OwnedFd::from(fifo))
    } else {
        None
    };
    // A container without a mount namespace of its own sets up its rootfs in the runtime's,
    // below a bind of the rootfs that is recorded before it is attached: removing the state
    // directory (delete, a failed create, delete --force after a killed create) detaches it.
    let host_root = if spec::shares_mount_namespace(spec) {
        let bind = rootfs::HostRootBind::new(rootfs).map_err(Error::Rootfs)?;
        dir.save_root_bind(rootfs, bind.mount_id())?;
        bind.attach().map_err(Error::Rootfs)?;
        Some(bind)
    } else {
        None
    };
    let (parent_sock, child_sock) = socketpair()?;
    // Without a cgroup of its own the cgroup mounts bind the caller's cgroups: read-only,
    // whatever the spec says (runc's fix of CVE-2023-25809).
    let readonly_cgroups;
    let plan_spec = if cgroup.is_none() {
        readonly_cgroups = with_readonly_cgroup_mounts(spec);
        &readonly_cgroups
    } else {
        spec
    };
    let plan = InitPlan::compile(
        plan_spec,
        PlanOptions {
            rootfs,
            host_root: host_root
                .as_ref()
                .map(|b| b.fd().try_clone_to_owned())
                .transpose()
                .map_err(|e| Error::io("duplicate the rootfs bind", rootfs, e))?,
            no_pivot: opts.no_pivot,
            preserve_fds: opts.preserve_fds,
            fifo,
            cgroup_mounts,
            stdio: opts.stdio,
            closed_fds: opts.closed_fds,
            sync: child_sock,
            exec: false,
            listen_fds: opts.listen_fds,
            cgroup_tasks,
            session_keyring: (!opts.no_new_keyring).then(|| session_keyring_name(&id)),
            unprivileged: crate::sys::unprivileged(),
            setgroups_denied: crate::sys::unprivileged() && setgroups_denied_by_maps(linux),
        },
    )?;
    let args = CloneArgs {
        namespaces: plan.new_namespaces,
        cgroup_fd: cgroup_fd.as_ref().map(|f| f.as_raw_fd()),
        // A pid namespace the child joins itself is not the clone's (InitPlan::run).
        pid_namespace: plan
            .pid_namespace
            .as_ref()
            .filter(|_| !plan.clone_in_pid_namespace)
            .map(|f| f.as_raw_fd()),
    };
    // SAFETY: InitPlan::run only makes raw system calls on data compiled above:
    // it does not allocate, lock or unwind.
    let spawned = unsafe { namespaces::spawn(&args, || plan.run()) }.map_err(Error::Namespace)?;
    // The child's copies of the sync socket, stdio and namespace fds are its own now.
    let mut plan = plan;
    plan.close_child_fds();
    let pid = spawned.pid;
    undo.child = Some(spawned.pidfd);
    let child = undo.child.as_ref().expect("set just above");
    plan.apply_initial_affinity(pid)?;

    // A send the init is gone for: wait_ready then reports its error or exit.
    let mut sent = true;
    if plan.new_user {
        if crate::sys::unprivileged() {
            // The child makes itself dumpable first, so that this user can open its /proc files.
            let mut buf = [0u8; crate::sync::Msg::SIZE];
            let (sock, _) = poll_with_init(&parent_sock, child, "wait for the child to ask for its id maps")?;
            let m = (sock != 0)
                .then(|| crate::sys::recv(parent_sock.as_raw_fd(), &mut buf))
                .and_then(|got| got.ok())
                .filter(|&got| got == buf.len())
                .and_then(|_| crate::sync::Msg::decode(&buf));
            match m {
                Some(m) if m.tag == Tag::MapsWanted => {}
                Some(m) if m.tag == Tag::Error => return Err(init_error(&plan, m)),
                _ => return Err(Error::InitDied("it did not ask for its id maps".into())),
            }
            let (euid, egid) = crate::sys::effective_ids();
            namespaces::write_id_maps_unprivileged(pid, &plan.uid_maps, &plan.gid_maps, euid, egid)
                .map_err(Error::Namespace)?;
        } else {
            namespaces::write_id_maps(pid, &plan.uid_maps, &plan.gid_maps, false).map_err(Error::Namespace)?;
        }
        sent = send_tag(&parent_sock, Tag::MapsWritten)?;
    }
    // The rest of the cgroup, while the init sets up its rootfs. Go brings the v1 `tasks`
    // files, which the init writes "0" to, and the binds its mount plan left for later.
    let mut go_fds = Vec::new();
    if let Some(cgroup) = cgroup.as_ref().filter(|_| opts.systemd_cgroup) {
        finish_systemd_cgroup(cgroup, linux, &id, pid, rootless && in_user_namespace_or_unprivileged)?;
    } else if let Some(cgroup) = &cgroup {
        cgroup
            .create_rest(Some(&resources_for(
                linux,
                rootless && in_user_namespace_or_unprivileged,
            )))
            .map_err(Error::Cgroup)?;
        go_fds.extend(cgroup.v1_tasks().map_err(Error::Cgroup)?.into_iter().map(|(fd, _)| fd));
        if !spawned.in_cgroup {
            // clone without CLONE_INTO_CGROUP (before Linux 5.7): the v2 cgroup is ours to join.
            cgroup.add_process_v2(pid).map_err(Error::Cgroup)?;
        }
    }
    if plan.late_cgroup_binds() {
        for m in shown.mounts() {
            go_fds.push(rootfs::detached_bind(&m.dir).map_err(Error::Rootfs)?);
        }
    }
    // The devices are in the container's network namespace before Go: the init waits for Go
    // before it execs, and the hooks run after it.
    if linux.net_devices().as_ref().is_some_and(|d| !d.is_empty()) {
        move_net_devices(linux, pid)?;
    }
    // The record and the spec are written while the init sets up its rootfs, and before Go:
    // until the state names it, the init dies with this process (PDEATHSIG, cleared only after
    // Go or, for an init made in a joined pid namespace, after Recorded), so a create killed
    // at any point leaves no process that `delete` cannot find. The directory's lock keeps
    // every reader out until create returns; should the init be gone already, wait_ready
    // reports why.
    let save_record = |pid: i32| -> Result<Option<Record>> {
        let record = state::proc_stat(pid).map(|(_, start)| Record {
            no_new_keyring: opts.no_new_keyring,
            rootless,
            ..new_record(
                spec,
                &id,
                (pid, start),
                bundle,
                rootfs,
                cgroup_path.clone(),
                opts.systemd_cgroup,
            )
        });
        if let Some(record) = &record {
            dir.save_spec(spec)?;
            dir.save(record)?;
        }
        Ok(record)
    };
    // The init is the process the child makes in the pid namespace it joins, when it does.
    let mut record = if plan.clone_in_pid_namespace {
        None
    } else {
        save_record(pid)?
    };
    if sent {
        let raw: Vec<libc::c_int> = go_fds.iter().map(|f| f.as_raw_fd()).collect();
        let go = crate::sync::Msg::new(Tag::Go, 0, 0, 0).encode();
        delivered(crate::sys::send_with_fds(parent_sock.as_raw_fd(), &go, &raw))?;
    }
    drop(go_fds);
    let creating = oci_state(
        spec.version(),
        &id,
        bundle,
        spec.annotations().as_ref(),
        ContainerState::Creating,
        pid,
    );
    // From here a failed create is a destroyed container: its poststop hooks run.
    undo.poststop = spec.hooks().clone().map(|h| (h, creating.clone()));
    let mut create_hooks = || {
        for kind in [HookKind::Prestart, HookKind::CreateRuntime, HookKind::CreateContainer] {
            hooks::run(kind, spec.hooks().as_ref(), &creating, (pid, child.as_fd()))?;
        }
        Ok(())
    };
    let mut init_fds = wait_ready(&parent_sock, child, &plan, &mut create_hooks)?;
    let mut pid = pid;
    if let Some((init_pid, init)) = init_fds.process.take() {
        // The child handed over the init it made in the pid namespace, and exits.
        let first = undo.child.replace(init).expect("set above");
        let _ = pidfd::reap(&first, true);
        pid = init_pid;
        record = save_record(pid)?;
        // The state names it now: it may outlive this process.
        send_tag(&parent_sock, Tag::Recorded)?;
        let init = undo.child.as_ref().expect("set just above");
        let mut no_hooks = || {
            Err(Error::InitDied(
                "it asked for the create hooks after its root switch".into(),
            ))
        };
        let later = wait_ready(&parent_sock, init, &plan, &mut no_hooks)?;
        if later.process.is_some() {
            return Err(Error::InitDied("it handed over a second process".into()));
        }
        init_fds.absorb(later);
    }
    if let (Some(fd), Some((path, metadata))) = (&init_fds.seccomp_listener, &plan.seccomp_listener) {
        let json = seccomp::container_process_state(&creating, pid, metadata.as_deref());
        seccomp::send_to_listener(path, fd.as_fd(), &json).map_err(Error::Seccomp)?;
    }
    let pty_master = opts.console.deliver(init_fds.pty_master)?;
    let record = record.ok_or_else(|| Error::InitDied("its /proc entry vanished".into()))?;
    let pidfd = undo.child.take().expect("set above");
    Ok(Created {
        record,
        pidfd,
        pty_master,
        plan,
        exec_fifo: opts.exec_fifo,
    })
}

/// Moves the devices of `linux.netDevices` into the network namespace of the init `pid` (its
/// own, or the one it joins by path), as runc does before the init goes on to exec.
/// Once moved, a device lives and dies with that namespace: on delete (or a failed create) the
/// kernel moves a physical device back to the initial namespace and destroys a virtual one
/// (dummy, veth, ...), as with runc, which does not move them back itself either.
fn move_net_devices(linux: &oci_spec::runtime::Linux, pid: i32) -> Result<()> {
    let joined = linux
        .namespaces()
        .iter()
        .flatten()
        .find(|ns| NamespaceKind::from(ns.typ()) == NamespaceKind::Network)
        .and_then(|ns| ns.path().clone());
    // The init is this process's child, not reaped yet: its pid names it.
    let path = joined.unwrap_or_else(|| PathBuf::from(format!("/proc/{pid}/ns/net")));
    let netns = namespaces::sys::open_namespace(NamespaceKind::Network, &path).map_err(Error::Namespace)?;
    namespaces::netdev::move_into(netns.as_fd(), &spec::net_devices(linux)).map_err(Error::Namespace)
}

/// What [`create_in`] made.
struct Created {
    record: Record,
    pidfd: OwnedFd,
    pty_master: Option<OwnedFd>,
    plan: InitPlan,
    /// Whether the init waits on the exec fifo ([`CreateOptions::exec_fifo`]).
    exec_fifo: bool,
}

/// Resolves the container's cgroup from linux.cgroupsPath without touching the filesystem.
/// With the systemd driver the cgroup comes with the scope unit, which needs the init's pid
/// ([`finish_systemd_cgroup`]).
fn resolve_cgroup(linux: &oci_spec::runtime::Linux, id: &str, systemd: bool) -> Result<Cgroup> {
    let hierarchies = Hierarchies::detect().map_err(Error::Cgroup)?;
    let cgroups_path = linux.cgroups_path().as_ref().and_then(|p| p.to_str());
    if systemd {
        Cgroup::new_systemd(&hierarchies, cgroups_path, id).map_err(Error::Cgroup)
    } else {
        Cgroup::new(&hierarchies, cgroups_path, id).map_err(Error::Cgroup)
    }
}

/// The rootless container's cgroup (cgroupfs driver), made in every hierarchy before the
/// clone, or `None` when the caller may not make it and the spec needs none (no
/// linux.cgroupsPath, no limit): then, as runc with `--rootless`, a warning and no cgroup.
fn rootless_cgroup(cgroup: Cgroup, linux: &oci_spec::runtime::Linux) -> Result<Option<Cgroup>> {
    match cgroup.create(None) {
        Ok(()) => Ok(Some(cgroup)),
        Err(e) if e.permission_denied() => {
            let e = match std::error::Error::source(&e) {
                Some(cause) => format!("{e}: {cause}"),
                None => e.to_string(),
            };
            if linux.cgroups_path().is_some() || spec::needs_cgroup_limits(linux.resources().as_ref()) {
                return Err(Error::spec(
                    "linux.cgroupsPath",
                    format!(
                        "rootless: the cgroup cannot be made ({e}); without a cgroup delegated to this user, \
                         a rootless container takes neither linux.cgroupsPath nor limits in linux.resources"
                    ),
                ));
            }
            hooks::warn(&format!("rootless: running without a cgroup of its own: {e}"));
            Ok(None)
        }
        Err(e) => Err(Error::Cgroup(e)),
    }
}

/// `spec` with "ro" added to each of its mounts of type cgroup.
fn with_readonly_cgroup_mounts(spec: &Spec) -> Spec {
    let mut spec = spec.clone();
    if let Some(mounts) = spec.mounts().clone() {
        let mounts = mounts
            .into_iter()
            .map(|mut m| {
                if m.typ().as_deref() == Some("cgroup") {
                    let mut opts: Vec<String> = m.options().clone().unwrap_or_default();
                    opts.retain(|o| o != "rw");
                    opts.push("ro".to_string());
                    m.set_options(Some(opts));
                }
                m
            })
            .collect();
        spec.set_mounts(Some(mounts));
    }
    spec
}

/// Whether the user namespace's gid map is the caller's own gid alone, which an unprivileged
/// runtime writes itself after setting `setgroups` to `deny`.
fn setgroups_denied_by_maps(linux: &oci_spec::runtime::Linux) -> bool {
    let new_user = linux
        .namespaces()
        .iter()
        .flatten()
        .any(|ns| NamespaceKind::from(ns.typ()) == NamespaceKind::User && ns.path().is_none());
    let gids: Vec<namespaces::IdMap> = linux
        .gid_mappings()
        .iter()
        .flatten()
        .map(namespaces::IdMap::from)
        .collect();
    new_user && !gids.is_empty() && !namespaces::maps_need_tool(&gids, crate::sys::effective_ids().1)
}

/// The resources create writes: the spec's, with runc's default device rules unless
/// `no_devices` (rootless without root: a device cgroup rule needs privilege; device nodes
/// are bound, never made).
fn resources_for(linux: &oci_spec::runtime::Linux, no_devices: bool) -> oci_spec::runtime::LinuxResources {
    if no_devices {
        let mut r = linux.resources().clone().unwrap_or_default();
        r.set_devices(None);
        r
    } else {
        resources_with_default_devices(linux)
    }
}

/// With the systemd driver: the scope unit with the init in it, then the spec's resources
/// written into its cgroup and the init put in every hierarchy, as runc's driver does;
/// `no_devices` as for [`resources_for`] (rootless: the user's own systemd's scope).
fn finish_systemd_cgroup(
    cgroup: &Cgroup,
    linux: &oci_spec::runtime::Linux,
    id: &str,
    pid: i32,
    no_devices: bool,
) -> Result<()> {
    let resources = resources_for(linux, no_devices);
    cgroup
        .start_systemd_scope(pid, &format!("ocirun container {id}"), Some(&resources))
        .map_err(Error::Cgroup)?;
    cgroup.create(Some(&resources)).map_err(Error::Cgroup)?;
    cgroup.add_process(pid).map_err(Error::Cgroup)
}

/// The record of a new container whose init is `(pid, start time)`.
fn new_record(
    spec: &Spec,
    id: &str,
    (pid, pid_start_time): (i32, u64),
    bundle: &Path,
    rootfs: &Path,
    cgroup_path: String,
    systemd_cgroup: bool,
) -> Record {
    Record {
        oci_version: spec.version().clone(),
        id: id.to_string(),
        pid,
        pid_start_time,
        bundle: bundle.to_path_buf(),
        rootfs: rootfs.to_path_buf(),
        created: state::now_rfc3339(),
        annotations: spec.annotations().clone().unwrap_or_default(),
        cgroup_path,
        systemd_cgroup,
        hooks: spec.hooks().clone(),
        no_new_keyring: false,
        rootless: false,
        creator: None,
    }
}

/// Writes create's intent into `dir` before it makes anything outside this process: a record
/// with no init yet (pid 0) naming the cgroup it is about to make and this process as its
/// creator. `delete --force` of a create killed at any later step finds the cgroup through it.
fn save_intent(
    dir: &ContainerDir,
    spec: &Spec,
    bundle: &Path,
    rootfs: &Path,
    cgroup: &Cgroup,
    systemd: bool,
) -> Result<()> {
    let record = Record {
        creator: Some((std::process::id() as i32, crate::sys::boot_ticks_now())),
        ..new_record(
            spec,
            dir.id(),
            (0, 0),
            bundle,
            rootfs,
            cgroup.path().to_string(),
            systemd,
        )
    };
    dir.save(&record)
}

/// The session keyring a container's processes join, named as runc names it.
pub(crate) fn session_keyring_name(id: &str) -> String {
    format!("_ses.{id}")
}

/// The OCI state of a container, as hooks and the seccomp agent receive it.
fn oci_state(
    version: &str,
    id: &str,
    bundle: &Path,
    annotations: Option<&HashMap<String, String>>,
    status: ContainerState,
    pid: i32,
) -> oci_spec::runtime::State {
    let mut state = oci_spec::runtime::State::default();
    state
        .set_version(version.to_string())
        .set_id(id.to_string())
        .set_status(status)
        .set_pid(Some(pid))
        .set_bundle(bundle.to_path_buf())
        .set_annotations(annotations.filter(|a| !a.is_empty()).cloned());
    state
}

/// The OCI state of a stored container with `status`.
pub(crate) fn record_state(record: &Record, status: ContainerState) -> oci_spec::runtime::State {
    oci_state(
        &record.oci_version,
        &record.id,
        &record.bundle,
        Some(&record.annotations),
        status,
        record.pid,
    )
}

/// The spec's resources with runc's always-allowed device rules added after the spec's own,
/// as runc's spec conversion does (`CreateCgroupConfig` appends its `AllowedDevices`).
///
/// Devices listed in `linux.devices` get a node but no rule here: access to them follows
/// `linux.resources.devices` only, as in runc (Docker writes an allow rule there for
/// `--device`). An allow rule per listed device used to be added, which re-opened a device
/// the spec denied (issue 14, class 11).
///
/// Unlike runc, a spec rule that denies a device by its numbers, or every minor of a major,
/// keeps its word: the access it denies is taken out of the always-allowed rules it covers,
/// so a spec can deny `/dev/null` (runc's later allow rule would silently re-open it). A deny
/// that names no major (runc's default deny-all) is the baseline the list is added to, as in
/// runc. A deny of one minor inside a wildcard of the list (`c 136:*`, mknod of any device)
/// cannot take it away: the v1 controller has no way to punch a hole in a wildcard.
fn resources_with_default_devices(linux: &oci_spec::runtime::Linux) -> oci_spec::runtime::LinuxResources {
    use oci_spec::runtime::LinuxDeviceType;
    let mut resources = linux.resources().clone().unwrap_or_default();
    let mut rules = resources.devices().clone().unwrap_or_default();
    // -1, like no number, is the wildcard.
    let number = |n: Option<i64>| n.filter(|n| *n != -1);
    let denials: Vec<(Option<LinuxDeviceType>, i64, Option<i64>, String)> = rules
        .iter()
        .filter(|r| !r.allow())
        .filter_map(|r| {
            Some((
                r.typ(),
                number(r.major())?,
                number(r.minor()),
                r.access().clone().unwrap_or_else(|| "rwm".into()),
            ))
        })
        .collect();
    for mut rule in cgroups::default_device_rules() {
        let mut access = rule.access().clone().unwrap_or_else(|| "rwm".into());
        for (typ, major, minor, denied) in &denials {
            let same_type = matches!(typ, None | Some(LinuxDeviceType::A)) || *typ == rule.typ();
            let same_minor = minor.is_none() || rule.minor() == *minor;
            if same_type && rule.major() == Some(*major) && same_minor {
                access.retain(|c| !denied.contains(c));
            }
        }
        if !access.is_empty() {
            rule.set_access(Some(access));
            rules.push(rule);
        }
    }
    resources.set_devices(Some(rules));
    resources
}

/// The status of a stored container now: a frozen cgroup is "paused", as runc reports it.
/// `cgroup` is the container's, when the caller has it at hand (else it is looked up).
/// `dir` is its state directory, locked or not. A record that is only create's intent is
/// "creating" while its creator runs, else "stopped".
pub(crate) fn status_of(dir: &Path, record: &Record, cgroup: Option<&Cgroup>) -> Status {
    if record.is_intent() {
        match record.creator {
            Some((pid, since)) if state::is_alive_since(pid, since) => Status::Creating,
            _ => Status::Stopped,
        }
    } else if !state::is_alive(record.pid, record.pid_start_time) {
        Status::Stopped
    } else if crate::control::is_frozen(record, cgroup) {
        Status::Paused
    } else if state::fifo_in(dir).exists() {
        Status::Created
    } else {
        Status::Running
    }
}

/// Opens a pidfd for the record's init, checking it is still the same process.
fn open_init(record: &Record) -> Option<OwnedFd> {
    let fd = pidfd::open(record.pid).ok()?;
    // Checked after opening: if it matches now, the pidfd names the right process.
    state::is_alive(record.pid, record.pid_start_time).then_some(fd)
}

impl Container {
    /// A builder for a new container.
    pub fn builder(id: impl Into<String>) -> ContainerBuilder {
        ContainerBuilder::new(id)
    }

    /// Loads an existing container from the store at `root` (its record, read without its
    /// lock: see [`crate::state`]).
    pub fn load(root: impl Into<PathBuf>, id: &str) -> Result<Container> {
        let store = Store::new(root);
        let record = store.read(id)?;
        Ok(Container {
            store,
            record,
            pidfd: None,
            is_parent: false,
            pty_master: None,
            cgroup: None,
        })
    }

    /// The container id.
    pub fn id(&self) -> &str {
        &self.record.id
    }

    /// The init's pid in the runtime's pid namespace.
    pub fn pid(&self) -> i32 {
        self.record.pid
    }

    /// The init's pidfd, when this process created or started the container.
    pub fn pidfd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        self.pidfd.as_ref().map(|fd| fd.as_fd())
    }

    /// The state store record.
    pub fn record(&self) -> &Record {
        &self.record
    }

    /// The master of the container's pty, once: set when it was created with
    /// [`ContainerBuilder::keep_pty_master`]. Reading it gives the container's output,
    /// writing to it types into its terminal.
    pub fn take_pty_master(&mut self) -> Option<OwnedFd> {
        self.pty_master.take()
    }

    /// The status now, with the state directory open.
    pub(crate) fn status_in(&self, dir: &ContainerDir) -> Status {
        status_of(dir.path(), &self.record, self.cgroup.as_ref())
    }

    /// The status now (read without the lock: see [`crate::state`]).
    pub fn status(&self) -> Result<Status> {
        let dir = self.store.dir_path(self.id());
        if !dir.exists() {
            return Err(Error::NotFound(self.id().to_string()));
        }
        Ok(status_of(&dir, &self.record, self.cgroup.as_ref()))
    }

    /// The OCI state now.
    pub fn state(&self) -> Result<State> {
        let status = self.status()?;
        Ok(state_of(&self.record, status))
    }

    /// Starts the user process of a created container.
    pub fn start(&mut self) -> Result<()> {
        let dir = self.store.open(self.id())?;
        let status = self.status_in(&dir);
        if status != Status::Created {
            return Err(Error::BadStatus {
                op: "start",
                id: self.id().to_string(),
                status,
            });
        }
        self.start_in(&dir, true)?;
        drop(dir);
        self.run_poststart();
        Ok(())
    }

    /// Runs the poststart hooks, once started and without the directory's lock.
    fn run_poststart(&self) {
        hooks::run_warn(
            HookKind::Poststart,
            self.record.hooks.as_ref(),
            &record_state(&self.record, ContainerState::Running),
        );
    }

    /// Starts the init of a container known to be created, its directory locked as `dir`;
    /// `exec_fifo` says whether the init waits on the exec fifo (else it has exec'd already).
    /// The poststart hooks are the caller's, after the lock.
    fn start_in(&mut self, dir: &ContainerDir, exec_fifo: bool) -> Result<()> {
        let init = match self.pidfd.take() {
            Some(fd) => fd,
            None => open_init(&self.record).ok_or(Error::BadStatus {
                op: "start",
                id: self.id().to_string(),
                status: Status::Stopped,
            })?,
        };
        let hooks = self.record.hooks.as_ref();
        if let Err(e) =
            hooks::run_start_container(self, dir, hooks, &record_state(&self.record, ContainerState::Created))
        {
            // The spec: a failed startContainer hook stops the container.
            let _ = pidfd::send_signal(init.as_fd(), libc::SIGKILL);
            self.pidfd = Some(init);
            return Err(e);
        }
        self.pidfd = Some(init);
        if exec_fifo {
            write_fifo(&dir.fifo_path())?;
            let _ = std::fs::remove_file(dir.fifo_path());
        }
        Ok(())
    }

    /// Sends `signal` to the init, or with `all` to every process of the container, as
    /// `runc kill` 1.1 does in every state. Signal 0 checks that the init exists; any other
    /// number goes to the kernel, which refuses what is not a signal. A stopped container's
    /// init gets [`Error::NotRunning`]; with `all`, the processes still in its cgroup (those of
    /// a container without its own pid namespace outlive the init) are signalled and a stopped
    /// container with none succeeds: containerd's shim sends `kill --all 9` after every exit.
    pub fn kill(&self, signal: i32, all: bool) -> Result<()> {
        let dir = self.store.open(self.id())?;
        let status = self.status_in(&dir);
        // Without a cgroup (rootless) the init alone is signalled, as runc does.
        if all && self.has_cgroup() {
            let cgroup = self.cgroup()?;
            if status == Status::Stopped && !cgroup.exists() {
                return Ok(());
            }
            // The freeze around the signals waits on the container's processes: not under
            // the lock. A delete that removes the cgroup meanwhile left nothing to signal.
            drop(dir);
            return match cgroup.signal_all(signal, |msg| hooks::warn(&msg)) {
                Err(_) if !cgroup.exists() => Ok(()),
                other => other.map_err(Error::Cgroup),
            };
        }
        let not_running = || Error::NotRunning {
            id: self.id().to_string(),
        };
        if status == Status::Stopped {
            if all {
                return Ok(());
            }
            return Err(not_running());
        }
        let fd = match &self.pidfd {
            Some(fd) => fd.try_clone().map_err(|e| Error::Sys {
                op: "dup pidfd",
                source: e,
            })?,
            None => open_init(&self.record).ok_or_else(not_running)?,
        };
        pidfd::send_signal(fd.as_fd(), signal).map_err(|source| match source.raw_os_error() {
            // It exited after the status was read.
            Some(libc::ESRCH) => not_running(),
            _ => Error::Sys {
                op: "signal the container's init",
                source,
            },
        })?;
        self.thaw_after_kill(signal, status);
        Ok(())
    }

    /// Waits for the init to exit and returns how it ended; only the process that created it can.
    pub fn wait(&mut self) -> Result<ExitStatus> {
        match (&self.pidfd, self.is_parent) {
            (Some(fd), true) => pidfd::reap(fd, true)
                .map_err(|source| Error::Sys {
                    op: "wait for the container",
                    source,
                })?
                .ok_or_else(|| Error::InitDied("it was already reaped".into())),
            _ => Err(Error::Sys {
                op: "wait for the container: only its creator can read its exit status",
                source: std::io::Error::from_raw_os_error(libc::ECHILD),
            }),
        }
    }

    /// Deletes a stopped or created container (any container with `force`),
    /// leaving no process, cgroup or state behind.
    pub fn delete(mut self, force: bool) -> Result<()> {
        self.delete_inner(force)
    }

    /// The container's cgroup (as create resolved it, when this process created it).
    pub(crate) fn cgroup(&self) -> Result<Cow<'_, Cgroup>> {
        match &self.cgroup {
            Some(cg) => Ok(Cow::Borrowed(cg)),
            None => self.cgroup_of(None).map(Cow::Owned),
        }
    }

    /// Whether the container has a cgroup of its own (a rootless one may run without).
    pub(crate) fn has_cgroup(&self) -> bool {
        !self.record.cgroup_path.is_empty()
    }

    /// The container's cgroup, or an existing sub-cgroup of it (`exec --cgroup`): only a
    /// cgroup at or below the container's is accepted ([`Cgroup::nested`]).
    pub(crate) fn cgroup_of(&self, sub: Option<&str>) -> Result<Cgroup> {
        if !self.has_cgroup() {
            return Err(Error::spec(
                "linux.cgroupsPath",
                "the rootless container runs without a cgroup of its own (none was delegated to its user)",
            ));
        }
        let h = Hierarchies::detect().map_err(Error::Cgroup)?;
        let path = &self.record.cgroup_path;
        let cgroup = if self.record.systemd_cgroup {
            Cgroup::systemd_at(&h, path)
        } else {
            Cgroup::new(&h, Some(path), self.id()).map_err(Error::Cgroup)?
        };
        let Some(sub) = sub else {
            return Ok(cgroup);
        };
        let nested = cgroup.nested(sub).map_err(|e| Error::spec("--cgroup", e.to_string()))?;
        if !nested.exists() {
            return Err(Error::spec(
                "--cgroup",
                format!("{} does not exist in the container's cgroup", nested.path()),
            ));
        }
        Ok(nested)
    }

    /// The cgroup the init is in now, at or below the container's (v2: its own manager, e.g.
    /// systemd, may have moved it into a child cgroup); an error if it is anywhere else.
    pub(crate) fn init_cgroup(&self) -> Result<Cgroup> {
        let file = PathBuf::from(format!("/proc/{}/cgroup", self.pid()));
        let text = std::fs::read_to_string(&file).map_err(|e| Error::io("read", &file, e))?;
        let own = text.lines().find_map(|l| l.strip_prefix("0::")).unwrap_or_default();
        let base = self.record.cgroup_path.trim_end_matches('/');
        match own.strip_prefix(base) {
            Some(sub) if sub.is_empty() || sub.starts_with('/') => self.cgroup_of(Some(sub.trim_start_matches('/'))),
            _ => Err(Error::spec(
                "linux.cgroupsPath",
                format!("the init is in cgroup {own:?}, outside the container's {base:?}"),
            )),
        }
    }

    /// A pidfd for the init, or an error naming `op` when it is gone.
    pub(crate) fn init_pidfd(&self, op: &'static str) -> Result<OwnedFd> {
        open_init(&self.record).ok_or(Error::BadStatus {
            op,
            id: self.id().to_string(),
            status: Status::Stopped,
        })
    }

    /// Deletes under the directory's lock what needs no wait; what does (the init's exit after
    /// SIGKILL, processes left in the cgroup) is waited for without it, and the lock taken
    /// again for the rest. A delete that came first and removed everything is a success.
    fn delete_inner(&mut self, force: bool) -> Result<()> {
        let dir = self.store.open(self.id())?;
        let status = self.status_in(&dir);
        match status {
            Status::Stopped | Status::Created => {}
            // A create under way in another process is its own to finish or undo.
            Status::Creating | Status::Running | Status::Paused if force => {}
            _ => {
                return Err(Error::BadStatus {
                    op: "delete",
                    id: self.id().to_string(),
                    status,
                });
            }
        }
        let mut init = None;
        if status != Status::Stopped {
            init = match self.pidfd.take() {
                Some(fd) => Some(fd),
                None => open_init(&self.record),
            };
            if let Some(fd) = &init {
                let _ = pidfd::send_signal(fd.as_fd(), libc::SIGKILL);
                self.thaw_after_kill(libc::SIGKILL, status);
            }
        }
        // A rootless container may run without a cgroup of its own.
        let cgroup = match self.cgroup.take() {
            Some(cgroup) => Some(cgroup),
            None if self.has_cgroup() => Some(self.cgroup_of(None)?),
            None => None,
        };
        if init.is_none() {
            if let (Some(fd), true) = (&self.pidfd, self.is_parent) {
                // Stopped: the reap finds it exited, or gone already.
                let _ = pidfd::reap(fd, true);
            }
            // The usual end of a stopped container: nothing to wait for.
            if cgroup.as_ref().is_none_or(Cgroup::remove_if_empty) {
                return self.remove_dir(dir);
            }
        }
        drop(dir);
        if let Some(fd) = init {
            // Thawed again while waiting: a pause between the kill and here would keep a
            // SIGKILLed process of a v1 freezer from dying.
            let mut exited = false;
            for _ in 0..100 {
                match pidfd::wait_exited(fd.as_fd(), Some(Duration::from_millis(100))) {
                    Ok(true) => {
                        exited = true;
                        break;
                    }
                    Ok(false) => {
                        if let Some(cgroup) = &cgroup {
                            let _ = cgroup.thaw();
                        }
                    }
                    Err(_) => break,
                }
            }
            if self.is_parent {
                // An init that outlives SIGKILL waits for processes of its pid namespace
                // that nobody reaps: never block on it.
                let _ = pidfd::reap(&fd, exited);
            }
            self.pidfd = Some(fd);
        }
        let Some(cgroup) = cgroup else {
            let Some(dir) = self.reopen()? else { return Ok(()) };
            return self.remove_dir(dir);
        };
        // Kills what is left in the cgroup, waits until it is empty and removes it.
        cgroup.remove().map_err(Error::Cgroup)?;
        let Some(dir) = self.reopen()? else { return Ok(()) };
        // An exec that got its process into the cgroup while the lock was free: the
        // container's init is dead now, so no other can; without a wait if it is empty.
        if !cgroup.remove_if_empty() {
            drop(dir);
            cgroup.remove().map_err(Error::Cgroup)?;
            let Some(dir) = self.reopen()? else { return Ok(()) };
            return self.remove_dir(dir);
        }
        self.remove_dir(dir)
    }

    /// The directory locked again after a wait without the lock; `None` when another delete
    /// finished this container meanwhile (its directory gone, or made anew by a later create
    /// of the same id: the record names another init).
    fn reopen(&self) -> Result<Option<ContainerDir>> {
        let dir = match self.store.open(self.id()) {
            Ok(dir) => dir,
            Err(Error::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        let ours = dir.load()?.is_some_and(|r| {
            r.pid == self.record.pid
                && r.pid_start_time == self.record.pid_start_time
                && r.created == self.record.created
        });
        Ok(ours.then_some(dir))
    }

    /// Removes the state directory, lets its lock go, then runs the poststop hooks.
    fn remove_dir(&self, dir: ContainerDir) -> Result<()> {
        dir.remove()?;
        hooks::run_warn(
            HookKind::Poststop,
            self.record.hooks.as_ref(),
            &record_state(&self.record, ContainerState::Stopped),
        );
        Ok(())
    }
}

/// Writes the byte that lets the init exec into the exec fifo, without blocking: with no
/// reader, which only the init is, the init is gone (ENXIO, or EPIPE once open).
fn write_fifo(path: &Path) -> Result<()> {
    let gone = || Error::InitDied("it exited before start".into());
    let fifo = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ENXIO) => gone(),
            _ => Error::io("open exec fifo", path, e),
        })?;
    match crate::sys::write(fifo.as_raw_fd(), b"0") {
        Ok(()) => Ok(()),
        Err(libc::EPIPE) => Err(gone()),
        Err(e) => Err(Error::io("write exec fifo", path, std::io::Error::from_raw_os_error(e))),
    }
}

fn state_of(record: &Record, status: Status) -> State {
    State {
        oci_version: record.oci_version.clone(),
        id: record.id.clone(),
        status,
        pid: if status == Status::Stopped { 0 } else { record.pid },
        bundle: record.bundle.clone(),
        rootfs: record.rootfs.clone(),
        created: record.created.clone(),
        owner: String::new(),
        annotations: record.annotations.clone(),
    }
}

/// The state of every container under `root`, sorted by id.
pub fn list(root: impl Into<PathBuf>) -> Result<Vec<State>> {
    let store = Store::new(root);
    let mut out = Vec::new();
    // One look at the mounts for every container's freezer state.
    let hierarchies = Hierarchies::detect().ok();
    // Without the containers' locks (see crate::state): a listed container may be gone by
    // the time the list is printed, as with any list.
    for id in store.ids()? {
        if let Ok(state) = stored_state_in(&store, &id, hierarchies.as_ref()) {
            out.push(state);
        }
    }
    Ok(out)
}

/// The state of container `id` under `root`, as `list` shows it: a directory whose create was
/// killed before it wrote its intent is a stopped container too, for `delete --force` to remove.
pub fn stored_state(root: impl Into<PathBuf>, id: &str) -> Result<State> {
    stored_state_in(&Store::new(root), id, Hierarchies::detect().ok().as_ref())
}

/// The state of container `id` in `store`, read without its lock (see crate::state).
fn stored_state_in(store: &Store, id: &str, hierarchies: Option<&Hierarchies>) -> Result<State> {
    let stopped = || State {
        oci_version: String::new(),
        id: id.to_string(),
        status: Status::Stopped,
        pid: 0,
        bundle: PathBuf::new(),
        rootfs: PathBuf::new(),
        created: String::new(),
        owner: String::new(),
        annotations: HashMap::new(),
    };
    match store.read(id) {
        Ok(record) => {
            let cgroup = hierarchies.and_then(|h| Cgroup::new(h, Some(&record.cgroup_path), &record.id).ok());
            let status = status_of(&store.dir_path(id), &record, cgroup.as_ref());
            Ok(state_of(&record, status))
        }
        // A create killed before its intent was written made nothing but the directory; a
        // record that does not parse is no container that runs: both are stopped.
        Err(Error::NotFound(_)) if store.dir_path(id).is_dir() => Ok(stopped()),
        Err(e @ (Error::NotFound(_) | Error::InvalidId(_))) => Err(e),
        Err(_) => Ok(stopped()),
    }
}

/// Whether the namespace list of a spec creates `kind` (not joins it).
pub fn creates_namespace(spec: &Spec, kind: NamespaceKind) -> bool {
    spec.linux().as_ref().is_some_and(|l| {
        l.namespaces()
            .iter()
            .flatten()
            .any(|ns| NamespaceKind::from(ns.typ()) == kind && ns.path().is_none())
    })
}
