//! The error type of this crate.

use std::path::PathBuf;

/// Everything that can go wrong while parsing, compiling or handing over a filter.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SeccompError {
    /// The profile is not valid JSON or does not have the OCI shape.
    #[error("parse seccomp profile")]
    Parse {
        /// What serde reported.
        #[source]
        source: serde_json::Error,
    },
    /// A field holds a value the OCI specification does not define.
    #[error("{field}: unknown value {value:?}")]
    UnknownValue {
        /// The JSON path of the field, e.g. `syscalls[3].action`.
        field: String,
        /// The value found there.
        value: String,
    },
    /// An architecture the OCI specification knows but this crate has no syscall table for.
    #[error(
        "architectures: {arch} is not supported (supported: SCMP_ARCH_X86_64, SCMP_ARCH_X86, SCMP_ARCH_X32, SCMP_ARCH_AARCH64, SCMP_ARCH_ARM)"
    )]
    UnsupportedArchitecture {
        /// The architecture as the profile spells it.
        arch: String,
    },
    /// The machine that compiles is not one of the supported architectures.
    #[error("the host architecture {host} is not supported")]
    UnsupportedHost {
        /// `std::env::consts::ARCH`.
        host: &'static str,
    },
    /// A rule lists no syscall name.
    #[error("syscalls[{index}].names is empty")]
    EmptyNames {
        /// Index of the rule in `syscalls`.
        index: usize,
    },
    /// A rule lists an empty string as a syscall name.
    #[error("syscalls[{index}].names contains an empty name")]
    EmptyName {
        /// Index of the rule in `syscalls`.
        index: usize,
    },
    /// A condition names an argument beyond the sixth.
    #[error("syscalls[{index}].args[{arg}].index is {value}, syscalls have arguments 0 to 5")]
    ArgumentIndex {
        /// Index of the rule in `syscalls`.
        index: usize,
        /// Index of the condition in `args`.
        arg: usize,
        /// The argument index given.
        value: usize,
    },
    /// An errno value that does not fit the 16 bits of SECCOMP_RET_DATA.
    #[error("{field} is {value}, it must be at most 65535")]
    ErrnoTooLarge {
        /// `defaultErrnoRet` or `syscalls[i].errnoRet`.
        field: String,
        /// The value given.
        value: u32,
    },
    /// An errno value given with an action that returns none.
    #[error("{field} is set but the action {action} takes no errno (only SCMP_ACT_ERRNO and SCMP_ACT_TRACE do)")]
    ErrnoWithoutErrnoAction {
        /// `defaultErrnoRet` or `syscalls[i].errnoRet`.
        field: String,
        /// The action.
        action: String,
    },
    /// SCMP_ACT_NOTIFY used where it would deadlock the container's start.
    #[error("{field}: SCMP_ACT_NOTIFY {reason}")]
    NotifyMisuse {
        /// The field that holds the action.
        field: String,
        /// Why this is refused.
        reason: &'static str,
    },
    /// A flag that needs something the profile does not have.
    #[error("flags: {flag} {reason}")]
    Flag {
        /// The flag.
        flag: String,
        /// What is missing.
        reason: &'static str,
    },
    /// The compiled program is longer than the kernel accepts.
    #[error("the compiled filter has {len} instructions, the kernel accepts at most {max}")]
    ProgramTooLarge {
        /// Instructions emitted.
        len: usize,
        /// BPF_MAXINSNS.
        max: usize,
    },
    /// Connecting to the seccomp agent's socket failed.
    #[error("connect to seccomp listener {path}")]
    ListenerConnect {
        /// `listenerPath`.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Sending the listener fd and the state to the seccomp agent failed.
    #[error("send seccomp fd and state to listener {path}")]
    ListenerSend {
        /// `listenerPath`.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}
