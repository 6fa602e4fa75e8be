//! The steps of the container's init, as the child reports a failure and an embedder reads it
//! in [`crate::Error::Init`].

/// Declares the steps once: the enum, and its decoding from the wire.
macro_rules! steps {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
        /// A step of the container's init, between clone and exec: the one that failed, in
        /// [`crate::Error::Init`]. Listed in no particular order; the init runs them in
        /// security order.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        #[repr(u32)]
        pub enum InitStep {
            $($(#[$doc])* $name),*
        }

        impl InitStep {
            /// The step a message names, if any.
            pub(crate) fn from_u32(n: u32) -> Option<InitStep> {
                [$(InitStep::$name),*].into_iter().find(|s| *s as u32 == n)
            }
        }
    };
}

steps!(
    /// Reset the signal mask and dispositions.
    Signals,
    /// A `prctl` (parent-death signal, dumpable, keep-caps).
    Prctl,
    /// Wait for the runtime to write the id maps.
    WaitMaps,
    /// Become root of the new user namespace.
    BecomeRoot,
    /// Join a namespace by path (`linux.namespaces[].path`).
    Setns,
    /// Create the time namespace.
    TimeNamespace,
    /// Join a new session keyring.
    SessionKeyring,
    /// Write `linux.timeOffsets`.
    TimeOffsets,
    /// Create the cgroup namespace.
    CgroupNamespace,
    /// Bring up the loopback interface.
    Loopback,
    /// Set the hostname.
    Hostname,
    /// Set the domain name.
    Domainname,
    /// Open and verify the runtime's procfs.
    ProcFs,
    /// Set up the root filesystem (reported as [`crate::Error::Rootfs`]).
    Rootfs,
    /// Wait for the create hooks.
    Hooks,
    /// Set up the pty (`process.terminal`).
    Console,
    /// Write a `linux.sysctl`.
    Sysctl,
    /// Write `process.oomScoreAdj`.
    OomScoreAdj,
    /// Set a `process.rlimits` entry.
    Rlimit,
    /// Change into `process.cwd`.
    Chdir,
    /// Drop a capability from the bounding set.
    BoundingSet,
    /// Set the supplementary groups.
    SetGroups,
    /// Set the gid.
    SetGid,
    /// Set the uid.
    SetUid,
    /// Set the capability sets.
    Capabilities,
    /// Raise an ambient capability.
    Ambient,
    /// Find `process.args[0]`.
    Lookup,
    /// Wait for (or report to) the runtime.
    WaitStart,
    /// Set `no_new_privs`.
    NoNewPrivileges,
    /// Load the seccomp filter.
    Seccomp,
    /// Prepare the process's file descriptors.
    Fds,
    /// Set `process.ioPriority`.
    IoPriority,
    /// Set `process.scheduler`.
    Scheduler,
    /// Set the CPU affinity (`process.execCPUAffinity.final`).
    CpuAffinity,
    /// Write an LSM exec label.
    ExecLabel,
    /// Set `linux.personality`.
    Personality,
    /// Set `linux.memoryPolicy`.
    MemoryPolicy,
    /// Join the container's cgroup.
    JoinCgroup,
    /// Join the pid namespace given by path.
    JoinPidNamespace,
    /// Create the process in the container's pid namespace.
    CloneProcess,
    /// Enter the container's root (a container that shares the runtime's mount namespace).
    EnterRoot,
    /// Set `process.execCPUAffinity.initial`: done by the runtime, right after the clone.
    InitialCpuAffinity,
);

/// A step of the init that failed: what the child reports to the parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Failed {
    pub step: InitStep,
    /// Which one within the step (a namespace, an rlimit, a capability...).
    pub index: u32,
    pub errno: i32,
}

/// Why the child stops before exec: a failed step, or an end of its own with this exit code.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Stop {
    Failed(Failed),
    Exit(i32),
}

impl From<Failed> for Stop {
    fn from(f: Failed) -> Stop {
        Stop::Failed(f)
    }
}

/// A syscall's errno as the failure of a step. Runs in the child: no allocation.
pub(crate) trait At<T> {
    /// The failure of `step`.
    fn at(self, step: InitStep) -> Result<T, Failed>;
    /// The failure of item `index` of `step`.
    fn at_index(self, step: InitStep, index: u32) -> Result<T, Failed>;
}

impl<T> At<T> for Result<T, i32> {
    fn at(self, step: InitStep) -> Result<T, Failed> {
        self.at_index(step, 0)
    }

    fn at_index(self, step: InitStep, index: u32) -> Result<T, Failed> {
        self.map_err(|errno| Failed { step, index, errno })
    }
}
