use std::path::PathBuf;

/// Everything that can go wrong in a container's lifecycle.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The container id is empty or has characters runc refuses.
    #[error("invalid container id {0:?}: it must match [A-Za-z0-9_+.-]+ and not be \".\" or \"..\"")]
    InvalidId(String),
    /// A container with this id exists already (runc's words, which its clients match).
    #[error("container with given ID already exists: {0:?}")]
    AlreadyExists(String),
    /// No container has this id (runc's words, which its clients match).
    #[error("container does not exist: {0:?}")]
    NotFound(String),
    /// The operation does not fit the container's current status; the message carries
    /// runc's words for the case ([`status_words`]).
    #[error("{}", bad_status_message(op, id, *status))]
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
    #[error("container init: {what}")]
    Init {
        /// The step that failed.
        step: crate::InitStep,
        /// Which one within the step, where it has several (a namespace, an rlimit, a
        /// capability...), in the order of the spec's list; else 0.
        index: u32,
        /// What the step was doing, with the value involved.
        what: String,
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
    pub(crate) fn sys(op: &'static str, errno: i32) -> Self {
        Error::Sys {
            op,
            source: std::io::Error::from_raw_os_error(errno),
        }
    }
    pub(crate) fn spec(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidSpec {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// runc's words for an operation that the container's status does not allow: libcontainer's
/// `ErrNotRunning`, `ErrNotPaused`, `ErrPaused` and its commands' own sentences, which
/// containerd, CRI-O and the conformance suites match to tell "already gone" from a failure.
pub fn status_words(op: &str, status: crate::Status) -> std::borrow::Cow<'static, str> {
    use crate::Status::{Paused, Running, Stopped};
    match (op, status) {
        ("start", Stopped) => "cannot start a container that has stopped".into(),
        ("start", Running) => "cannot start an already running container".into(),
        ("start", s) => format!("cannot start a container in the {s} state").into(),
        (op, Paused) if op.starts_with("exec") => {
            "cannot exec in a paused container (use --ignore-paused to override)".into()
        }
        (op, Stopped) if op.starts_with("exec") => "cannot exec in a stopped container".into(),
        ("delete", crate::Status::Creating) => {
            "cannot delete a container that another ocirun is still creating (delete --force removes it anyway)".into()
        }
        ("delete", s) => format!("cannot delete a container that is not stopped: {s}").into(),
        ("resume", _) => "container not paused".into(),
        ("checkpoint", s) if s != Stopped => format!("container cannot be checkpointed in {s} state").into(),
        ("pause", _) => "container not running".into(),
        (_, Paused) => "container paused".into(),
        _ => "container not running".into(),
    }
}

/// [`Error::BadStatus`]'s message: the operation, the container and runc's words.
fn bad_status_message(op: &str, id: &str, status: crate::Status) -> String {
    let words = status_words(op, status);
    if words.starts_with("cannot ") {
        format!("container {id:?}: {words}")
    } else {
        format!("cannot {op} container {id:?}: {words} (it is {status})")
    }
}

/// A `Result` with ocirun's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;

    #[test]
    fn status_errors_carry_runcs_words() {
        let e = |op, status| {
            Error::BadStatus {
                op,
                id: "c".into(),
                status,
            }
            .to_string()
        };
        assert_eq!(
            e("kill", Status::Stopped),
            r#"cannot kill container "c": container not running (it is stopped)"#
        );
        assert_eq!(
            e("exec", Status::Paused),
            r#"container "c": cannot exec in a paused container (use --ignore-paused to override)"#
        );
        assert!(e("resume", Status::Running).contains("container not paused"));
        assert!(e("pause", Status::Paused).contains("container not running"));
        assert!(e("start", Status::Stopped).contains("cannot start a container that has stopped"));
        assert!(e("update", Status::Stopped).contains("container not running"));
        assert!(
            Error::NotFound("c".into())
                .to_string()
                .contains("container does not exist")
        );
        assert!(
            Error::AlreadyExists("c".into())
                .to_string()
                .contains("container with given ID already exists")
        );
    }
}
