//! The state store: one directory per container under the root, holding
//! `state.json` (written atomically), the exec fifo, and a lock; for a container that shares
//! the runtime's mount namespace, `rootfs-bind.json`, the rootfs bind to detach on removal.
//!
//! Create writes down what it is about to make before it makes it (a write-ahead intent, as
//! a journaling filesystem does), so that `delete --force` finds every piece whatever step it
//! was killed at: the directory itself first; then `state.json` as an intent record (pid 0,
//! the cgroup path, the creator) before any cgroup directory, fifo, mount or process exists;
//! `rootfs-bind.json` before the rootfs bind is attached; and `state.json` naming the init
//! before the init may outlive create (it dies with its parent until then).
//!
//! # Locks
//!
//! The one lock on a container is an exclusive `flock` on its state directory, held by a
//! `ContainerDir`; no in-process lock is taken while it is held. The order:
//!
//! 1. A process holds at most one container's lock at a time (`list` takes none; nothing
//!    takes a second container's lock while holding one).
//! 2. Readers take no lock: `state`, `list`, `ps`, `events` and the spec an `exec` reads
//!    (`Store::read`, `Store::read_spec`) read files written atomically (`state.json` by a
//!    rename, `config.json` before the record that points to it) and the kernel's view.
//! 3. A command that changes a container (start, kill, pause, resume, update, exec, delete)
//!    takes the lock to read the status and act on it, and lets it go before it waits on a
//!    process or a cgroup freeze: `pause` and `kill --all` freeze after it, `delete` waits
//!    for the init's exit and the cgroup to empty after it and takes it again to remove what
//!    is left (another delete that came first leaves nothing: that is a success), `exec`
//!    lets it go once its process is in the container's cgroup, and the poststart and
//!    poststop hooks run after it.
//! 4. The exceptions are the steps that bring a container into being, whose waits end with
//!    the container's own processes: `create` (and `run`'s create and start) holds the lock
//!    of the directory it made until it returns, across the wait for its init (which ends
//!    when the init reports or dies: a pidfd is polled with the socket) and the create hooks;
//!    `start` holds it across the startContainer hooks (each ends or is killed at its
//!    timeout). A hook may run `ocirun state` or `list` on its own container (they take no
//!    lock); a command that changes that container waits until the step is done.
//! 5. No process is cloned under the lock into a cgroup that a pause may freeze: a child
//!    shares the lock's open file description until its first step closes its fds, and a
//!    child frozen at birth never takes it, leaving the lock held by a frozen process (which
//!    only a `resume`, that needs the lock, would thaw). `exec` lets the lock go before its
//!    clone; create's init and start's hooks are cloned under the lock that keeps `pause`
//!    (which takes it to read the status) out until they are done.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use cgroups::{Cgroup, Hierarchies};
use oci_spec::runtime::ContainerState;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The default state root, as runc's `/run/runc`.
pub const DEFAULT_ROOT: &str = "/run/ocirun";

/// The lifecycle status of a container, as the OCI runtime spec names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// `create` is still running.
    Creating,
    /// Created, its init waits for `start`.
    Created,
    /// The user process runs.
    Running,
    /// Frozen by `pause`.
    Paused,
    /// The init process has exited.
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // pad, not write_str, so that `{:<10}` in a table lines up.
        f.pad(match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        })
    }
}

/// What the store keeps about a container between commands.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    /// The spec version of its config.
    pub oci_version: String,
    /// The container id.
    pub id: String,
    /// Its init's pid in the runtime's pid namespace (0 before it exists).
    pub pid: i32,
    /// The init's start time in clock ticks since boot, to detect pid reuse.
    pub pid_start_time: u64,
    /// The bundle directory.
    pub bundle: PathBuf,
    /// The root filesystem on the host.
    pub rootfs: PathBuf,
    /// When it was created, RFC 3339.
    pub created: String,
    /// The annotations of its config.
    #[serde(default)]
    pub annotations: HashMap<String, String>,
    /// Its cgroup path, as the cgroups crate resolved it; empty for a rootless container
    /// that runs without a cgroup of its own.
    pub cgroup_path: String,
    /// Whether the runtime that created it used the systemd cgroup driver.
    #[serde(default)]
    pub systemd_cgroup: bool,
    /// The hooks of its config, for the ones that run after create.
    #[serde(default)]
    pub hooks: Option<oci_spec::runtime::Hooks>,
    /// It was created with `--no-new-keyring`: its processes keep the caller's session keyring.
    #[serde(default)]
    pub no_new_keyring: bool,
    /// It was created in rootless mode (`--rootless`).
    #[serde(default)]
    pub rootless: bool,
    /// While the record is create's intent (no init yet, `pid` 0): the pid of the process
    /// running create and when it wrote the intent, in clock ticks since boot (the clock of
    /// process start times), so that a reader tells a create under way (`creating`) from one
    /// that died (`stopped`, and removable): a process with that pid that started later is
    /// not the creator. (The writer reads no /proc file for it: one system call less.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creator: Option<(i32, u64)>,
}

impl Record {
    /// Whether this is only the intent create wrote before it made anything (no init yet).
    pub fn is_intent(&self) -> bool {
        self.pid == 0
    }
}

mod store;

#[cfg(not(feature = "bench-internals"))]
pub(crate) use store::Store;
// The store, for the benchmarks of its own cost: no embedder API.
#[cfg(feature = "bench-internals")]
pub use store::Store;
pub(crate) use store::{ContainerDir, fifo_in, is_alive, is_alive_since, proc_stat};

/// Now, as RFC 3339 UTC with nanoseconds (as runc writes `created`).
pub fn now_rfc3339() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        now.subsec_nanos()
    )
}

// The OCI state of a container, from its record.

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

/// The OCI state of a container, as hooks and the seccomp agent receive it.
pub(crate) fn oci_state(
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

/// The status of a stored container now: a frozen cgroup is "paused", as runc reports it.
/// `cgroup` is the container's, when the caller has it at hand (else it is looked up).
/// `dir` is its state directory, locked or not. A record that is only create's intent is
/// "creating" while its creator runs, else "stopped".
pub(crate) fn status_of(dir: &Path, record: &Record, cgroup: Option<&Cgroup>) -> Status {
    if record.is_intent() {
        match record.creator {
            Some((pid, since)) if is_alive_since(pid, since) => Status::Creating,
            _ => Status::Stopped,
        }
    } else if !is_alive(record.pid, record.pid_start_time) {
        Status::Stopped
    } else if crate::control::is_frozen(record, cgroup) {
        Status::Paused
    } else if fifo_in(dir).exists() {
        Status::Created
    } else {
        Status::Running
    }
}

pub(crate) fn state_of(record: &Record, status: Status) -> State {
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
