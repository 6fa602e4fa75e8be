use std::path::PathBuf;

/// Everything that can go wrong in a container's lifecycle.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The container id is empty or has characters runc refuses.
    #[error("invalid container id {0:?}: it must match [A-Za-z0-9_+.-]+ and not be \".\" or \"..\"")]
    InvalidId(String),
    /// A container with this id exists already.
    #[error("container {0:?} already exists")]
    AlreadyExists(String),
    /// No container has this id.
    #[error("container {0:?} does not exist")]
    NotFound(String),
    /// The operation does not fit the container's current status.
    #[error("cannot {op} container {id:?}: it is {status}")]
    BadStatus {
        /// The operation tried.
        op: &'static str,
        /// The container.
        id: String,
        /// Its status at the time.
        status: crate::Status,
    },
    /// A signal for the init of a container that is stopped: runc's text, which its clients
    /// (containerd's shim, CRI-O) match to tell "already exited" from a failure.
    #[error("container not running")]
    NotRunning {
        /// The container.
        id: String,
    },
    /// config.json could not be read or parsed.
    #[error("load {path}")]
    LoadSpec {
        /// The file.
        path: PathBuf,
        /// The parser's error.
        #[source]
        source: oci_spec::OciSpecError,
    },
    /// A spec field has a value ocirun refuses.
    #[error("invalid spec: {field}: {reason}")]
    InvalidSpec {
        /// The JSON path of the field, e.g. `process.args`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A file or directory of the state store or bundle could not be used.
    #[error("{op} {path}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A system call in the runtime itself failed.
    #[error("{op}")]
    Sys {
        /// What was being done.
        op: &'static str,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// state.json could not be read or written.
    #[error("state of container {id:?}")]
    State {
        /// The container.
        id: String,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// Creating namespaces or the init process failed.
    #[error("namespaces")]
    Namespace(#[source] namespaces::NamespaceError),
    /// The cgroup could not be created, joined or removed.
    #[error("cgroup")]
    Cgroup(#[source] cgroups::CgroupError),
    /// The seccomp profile could not be compiled or its listener reached.
    #[error("linux.seccomp")]
    Seccomp(#[source] seccomp::SeccompError),
    /// The root filesystem could not be set up.
    #[error("rootfs")]
    Rootfs(#[source] rootfs::RootfsError),
    /// The container's init failed at a step before exec.
    #[error("container init: {step}")]
    Init {
        /// The step, with the value involved.
        step: String,
        /// The errno the kernel returned.
        #[source]
        source: std::io::Error,
    },
    /// A hook failed, timed out or could not be started.
    #[error("{kind} hook {index} ({path}): {reason}")]
    Hook {
        /// Which list: `prestart`, `createRuntime`, ...
        kind: &'static str,
        /// Its index in that list.
        index: usize,
        /// Its path.
        path: PathBuf,
        /// What went wrong, with what it printed.
        reason: String,
    },
    /// A socket that receives an fd from ocirun (`--console-socket`, `--pidfd-socket`) could not be used.
    #[error("{socket} {path} ({flag}): {reason}")]
    Socket {
        /// Which socket: "console socket" or "pidfd socket".
        socket: &'static str,
        /// The flag that names it.
        flag: &'static str,
        /// The socket's path.
        path: PathBuf,
        /// What went wrong.
        reason: &'static str,
        /// The underlying error, if any.
        #[source]
        source: Option<std::io::Error>,
    },
    /// CRIU could not checkpoint or restore, or cannot run on this host.
    #[error("checkpoint/restore: criu {op}: {reason}")]
    Criu {
        /// What was run: check, dump or restore.
        op: &'static str,
        /// Why it failed, with what CRIU said.
        reason: String,
    },
    /// The container's init died before it reported back.
    #[error("container init exited before it was ready ({0})")]
    InitDied(String),
}

impl Error {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }
    pub(crate) fn sys(op: &'static str) -> Self {
        Error::Sys {
            op,
            source: std::io::Error::last_os_error(),
        }
    }
    pub(crate) fn spec(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidSpec {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// A `Result` with ocirun's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
