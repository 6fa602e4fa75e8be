//! The error type of the rootfs crate.

use std::path::PathBuf;

/// Everything that can go wrong while compiling or executing a mount plan.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RootfsError {
    /// A configuration field holds a value we reject (fail closed).
    #[error("{field} = {value:?}: {reason}")]
    InvalidField {
        /// The field, e.g. `mounts[2].destination`.
        field: String,
        /// The offending value.
        value: String,
        /// Why it is rejected.
        reason: &'static str,
    },
    /// A host path named by the configuration could not be inspected while compiling.
    #[error("{field}: inspect {}", path.display())]
    Inspect {
        /// The field that names the path, e.g. `mounts[0].source`.
        field: String,
        /// The host path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A detached bind of a host directory could not be made (open_tree).
    #[error("clone the mounts of {} for a bind", path.display())]
    DetachedBind {
        /// The host directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The source of a bind mount in a new user namespace could not be opened (open_tree) with
    /// the runtime's privileges.
    #[error("{field}: open bind source {} with the runtime's privileges", path.display())]
    BindSource {
        /// The spec field, `mounts[i].source`.
        field: String,
        /// The host path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The detached bind of an id-mapped mount could not be id-mapped (mount_setattr with
    /// `MOUNT_ATTR_IDMAP`).
    #[error("{field}: id-map the bind of {}{hint}", path.display())]
    IdMap {
        /// The spec field, `mounts[i]`.
        field: String,
        /// The host source path.
        path: PathBuf,
        /// What the kernel's answer means, when it is known (EINVAL: the filesystem does not
        /// support id-mapped mounts).
        hint: &'static str,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The rootfs bind of a container that shares the runtime's mount namespace could not be
    /// made or released ([`crate::HostRootBind`]).
    #[error("{operation} {}", path.display())]
    HostRoot {
        /// What was done.
        operation: &'static str,
        /// The rootfs.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A step of the plan failed in the child.
    #[error("{operation}")]
    Step {
        /// The index of the failed step.
        step: u32,
        /// What the step does, naming the container path and the host path.
        operation: String,
        /// The errno the kernel returned.
        #[source]
        source: std::io::Error,
    },
    /// The child reported a step index that this plan does not have.
    #[error("unknown mount plan step {step} (plan has {steps} steps)")]
    UnknownStep {
        /// The reported step index.
        step: u32,
        /// The number of steps in the plan.
        steps: usize,
        /// The errno the child reported.
        #[source]
        source: std::io::Error,
    },
}
