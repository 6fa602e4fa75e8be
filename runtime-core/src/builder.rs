//! [`ContainerBuilder`]: the settings of a new container, each defaulting to runc's.

use std::os::fd::OwnedFd;
use std::path::PathBuf;

use oci_spec::runtime::Spec;

use crate::container::Container;
use crate::state;
use crate::{Error, Result, console, spec};

/// Configures and creates a container; every setting defaults to what runc would use.
#[derive(Debug)]
pub struct ContainerBuilder {
    pub(crate) id: String,
    pub(crate) root: PathBuf,
    pub(crate) bundle: Option<PathBuf>,
    /// Boxed: a [`Spec`] is about 3 KB, and the builder is moved by value at every call.
    pub(crate) spec: Option<Box<Spec>>,
    pub(crate) no_pivot: bool,
    pub(crate) no_new_keyring: bool,
    pub(crate) listen_fds: u32,
    pub(crate) systemd_cgroup: bool,
    /// Rootless mode; `None` is runc's auto ([`ContainerBuilder::rootless_auto`]).
    pub(crate) rootless: Option<bool>,
    pub(crate) io: ProcessIo,
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
        self.spec = Some(Box::new(spec));
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
    pub(crate) fn resolve(&mut self) -> Result<(PathBuf, Box<Spec>, PathBuf)> {
        let bundle = match &self.bundle {
            Some(b) => ocirun_sys::fs::canonicalize(b).map_err(|e| Error::io("open bundle", b, e))?,
            None => std::env::current_dir().map_err(|e| Error::io("find bundle", ".", e))?,
        };
        let spec = match self.spec.take() {
            Some(s) => s,
            None => Box::new(spec::load_bundle(&bundle)?),
        };
        spec::validate(&spec)?;
        spec::warn_ignored_resources(spec.linux().as_ref().and_then(|l| l.resources().as_ref()));
        let rootfs = spec::rootfs_path(&spec, &bundle)?;
        Ok((bundle, spec, rootfs))
    }

    /// Creates the container: its init waits for [`Container::start`].
    pub fn create(self) -> Result<Container> {
        self.create_keeping(false).map(|(c, _)| c)
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
