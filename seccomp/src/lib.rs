//! ocirun seccomp: an OCI `linux.seccomp` profile compiled to a classic-BPF program
//! in pure Rust (no libseccomp), loaded without allocation in the container's init,
//! and the SCMP_ACT_NOTIFY listener fd handed to the seccomp agent.
//!
//! ```no_run
//! # fn main() -> Result<(), seccomp::SeccompError> {
//! let profile = seccomp::parse_profile(br#"{"defaultAction": "SCMP_ACT_ERRNO",
//!     "architectures": ["SCMP_ARCH_X86_64"],
//!     "syscalls": [{"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"}]}"#)?;
//! let program = seccomp::SeccompProgram::compile(&profile)?;
//! // In the child, after capabilities and the user switch:
//! let _listener = program.load();
//! # Ok(())
//! # }
//! ```
//!
//! The program is a jump tree over syscall numbers: each architecture's numbers are
//! cut into runs with one outcome, and a binary search of `jge` comparisons finds the
//! run, so an allowed syscall under Docker's default profile costs about a dozen
//! instructions (336 instructions in all for Docker's profile on x86_64+x86+x32,
//! where libseccomp emits 1227). See [`compile`] for what a profile means.
//!
//! No cache of compiled programs: compiling Docker's default profile takes about
//! 0.5 ms (benches/benches/seccomp.rs), small next to a container start, and a cache
//! keyed by a hash of the profile would have to serialise the profile to hash it.

pub mod action;
pub mod arch;
pub mod bpf;
pub mod compile;
mod error;
mod load;
mod notify;
mod profile;
pub mod syscalls;

pub use arch::ScmpArch;
pub use compile::SeccompProgram;
pub use error::SeccompError;
pub use notify::{container_process_state, send_to_listener};
pub use profile::{ACTIONS, FLAGS, OPERATORS, check_known, parse_profile};
