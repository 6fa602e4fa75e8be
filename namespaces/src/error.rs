use std::path::PathBuf;

/// What went wrong while preparing or creating namespaces.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NamespaceError {
    /// A namespace file given by path could not be opened.
    #[error("open {kind} namespace {path}")]
    Open {
        /// The namespace kind, as `/proc/<pid>/ns` names it.
        kind: &'static str,
        /// The path from the spec.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A path is not a namespace of the expected kind.
    #[error("{path} is not a {kind} namespace")]
    WrongKind {
        /// The namespace kind expected.
        kind: &'static str,
        /// The path from the spec.
        path: PathBuf,
    },
    /// Writing a uid_map, gid_map or setgroups file failed.
    #[error("write {path}: {content:?}")]
    WriteMap {
        /// The /proc file written.
        path: PathBuf,
        /// What was written.
        content: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// newuidmap or newgidmap failed or could not be run.
    #[error("{tool} for the map {maps:?}: {reason}")]
    MapTool {
        /// The tool run.
        tool: &'static str,
        /// The map it was asked to write.
        maps: String,
        /// Why it failed (its exit status and stderr).
        reason: String,
    },
    /// The clone3 (or clone) system call failed.
    #[error("clone the container process with flags {flags:#x}")]
    Clone {
        /// The clone flags used.
        flags: u64,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The helper process of a user namespace made for its maps ([`crate::user_namespace`])
    /// could not be made, its namespace opened or the helper reaped.
    #[error("make a user namespace for an id mapping")]
    UserNamespace {
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A device of `linux.netDevices` could not be moved into the container's network namespace.
    #[error("linux.netDevices: network device {device:?}: {step}")]
    NetDevice {
        /// The device's name in the runtime's network namespace.
        device: String,
        /// The step that failed.
        step: &'static str,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}
