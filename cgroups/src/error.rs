use std::path::PathBuf;

/// What went wrong while finding, creating, configuring or removing a cgroup.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CgroupError {
    /// /proc/self/mountinfo (or a fake root) could not be read.
    #[error("read cgroup mounts from {path}")]
    Mounts {
        /// The file or directory read.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// No cgroup filesystem is mounted on this host.
    #[error("no cgroup filesystem is mounted")]
    NoCgroupMounts,
    /// linux.cgroupsPath (or the container id used to build it) is not acceptable.
    #[error("invalid cgroups path {path:?}: {reason}")]
    InvalidPath {
        /// The path as given.
        path: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A sub-cgroup path (`exec --cgroup`) does not name a cgroup at or below the container's.
    #[error("invalid sub-cgroup path {path:?}: {reason}")]
    InvalidSubPath {
        /// The path as given.
        path: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// The systemd cgroup driver was asked for but systemd cannot be reached.
    #[error("systemd cgroup driver for {path:?}: {reason}")]
    Systemd {
        /// The cgroupsPath as given.
        path: String,
        /// Why it cannot be used.
        reason: &'static str,
    },
    /// systemd refused or failed a request of the systemd cgroup driver.
    #[error("systemd cgroup driver: {op} {unit}: {reason}")]
    SystemdCall {
        /// What was asked: start or stop.
        op: &'static str,
        /// The unit.
        unit: String,
        /// What systemd or the bus answered.
        reason: String,
    },
    /// A cgroup directory could not be created.
    #[error("create cgroup directory {path}")]
    Mkdir {
        /// The directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A cgroup directory could not be opened.
    #[error("open cgroup directory {path}")]
    Open {
        /// The directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Writing a cgroup file failed.
    #[error("write {value:?} to {path}")]
    Write {
        /// The file written.
        path: PathBuf,
        /// The value written.
        value: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The kernel refused a value written for a spec field.
    #[error("set {field}: write {value:?} to {path}")]
    Apply {
        /// The spec field, as in config.json (e.g. `linux.resources.cpu.quota`).
        field: &'static str,
        /// The file written.
        path: PathBuf,
        /// The value written.
        value: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Reading a cgroup file failed.
    #[error("read {path}")]
    Read {
        /// The file read.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A cgroup file held something this crate cannot parse.
    #[error("parse {path}: unexpected content {content:?}")]
    Parse {
        /// The file read.
        path: PathBuf,
        /// The offending content.
        content: String,
    },
    /// A spec value is out of range or malformed.
    #[error("invalid {field} {value:?}: {reason}")]
    InvalidValue {
        /// The spec field, as in config.json (e.g. `linux.resources.memory.limit`).
        field: &'static str,
        /// The value given.
        value: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A spec field cannot be expressed on this host's cgroup layout.
    #[error("{field} is not supported: {reason}")]
    Unsupported {
        /// The spec field, as in config.json.
        field: String,
        /// Why (which layout or file lacks it).
        reason: &'static str,
    },
    /// A spec field needs a controller that is not mounted on this host.
    #[error("{field} needs the {controller} cgroup controller, which this host does not have")]
    MissingController {
        /// The spec field, as in config.json.
        field: &'static str,
        /// The controller name.
        controller: &'static str,
    },
    /// The kernel refused a value and the value read back differs (e.g. cpu.shares clamped).
    #[error("{field}: wrote {wrote} to {path} but the kernel kept {kept}")]
    NotApplied {
        /// The spec field.
        field: &'static str,
        /// The file written.
        path: PathBuf,
        /// The value written.
        wrote: String,
        /// The value read back.
        kept: String,
    },
    /// A memory limit lower than the current usage was refused (checkBeforeUpdate or EBUSY).
    #[error("memory limit {limit} is below the current usage {usage} of {path}")]
    MemoryBelowUsage {
        /// The cgroup directory.
        path: PathBuf,
        /// The requested limit in bytes.
        limit: i64,
        /// The current usage in bytes.
        usage: u64,
    },
    /// Sending a signal to a process left in the cgroup failed.
    #[error("kill process {pid} left in {path}")]
    Kill {
        /// The process id.
        pid: i32,
        /// The cgroup directory it was found in.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Processes were still in the cgroup after the bounded wait.
    #[error("processes still in {path} after {waited_ms} ms")]
    NotEmpty {
        /// The cgroup directory.
        path: PathBuf,
        /// How long we waited.
        waited_ms: u64,
    },
    /// A cgroup directory could not be removed.
    #[error("remove cgroup directory {path}")]
    Rmdir {
        /// The directory.
        path: PathBuf,
        /// The underlying error (EBUSY after the bounded retries).
        #[source]
        source: std::io::Error,
    },
    /// Freezing did not reach the frozen state in the bounded wait (the cgroup was thawed again).
    #[error("freeze {path}: not frozen after {waited_ms} ms")]
    FreezeTimeout {
        /// The freezer file's directory.
        path: PathBuf,
        /// How long we waited.
        waited_ms: u64,
    },
    /// Neither a v1 freezer hierarchy nor a cgroup v2 directory is available.
    #[error("no freezer: neither a v1 freezer hierarchy nor cgroup v2 is mounted")]
    NoFreezer,
    /// A bpf(2) call for the cgroup v2 device filter failed.
    #[error("bpf {op} for {path}")]
    Bpf {
        /// The bpf command (prog load, prog attach, ...).
        op: &'static str,
        /// The cgroup directory.
        path: PathBuf,
        /// The kernel's verifier log, when there is one.
        log: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// The result type of this crate.
pub type Result<T> = std::result::Result<T, CgroupError>;

impl CgroupError {
    /// Whether the kernel refused for want of permission (EACCES, EPERM, EROFS): what a
    /// rootless runtime meets in a cgroup not delegated to its user.
    pub fn permission_denied(&self) -> bool {
        let mut e: Option<&(dyn std::error::Error + 'static)> = Some(self);
        while let Some(err) = e {
            if let Some(io) = err.downcast_ref::<std::io::Error>() {
                return matches!(io.raw_os_error(), Some(libc::EACCES | libc::EPERM | libc::EROFS));
            }
            e = err.source();
        }
        false
    }
}
