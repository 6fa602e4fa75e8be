//! The ocirun container lifecycle: `Container::builder()` creates, starts,
//! signals, waits for and deletes OCI containers, composing the namespaces,
//! cgroups and rootfs crates.
//!
//! ```no_run
//! use runtime_core::Container;
//! let mut c = Container::builder("demo").bundle("/path/to/bundle").run()?;
//! let status = c.wait()?;
//! println!("exited with {}", status.code());
//! c.delete(false)?;
//! # Ok::<(), runtime_core::Error>(())
//! ```
//!
//! # Layout
//!
//! One job per module: `builder` holds the [`ContainerBuilder`] settings; `create` makes a
//! container (state directory, cgroup, init plan, clone) and undoes a failed one; `exec`
//! plans a process in a running container; `launch` is what both share once the process is
//! planned (the clone, the wait for its Ready, the seccomp listener, the pty, the pid file);
//! `sync` is the runtime's side of the messages with the init; `init` is the plan the child
//! runs between clone and exec, one sub-plan per domain (namespaces, filesystem, terminal,
//! procfs writes, cgroup join, process, identity, seccomp, fds) and its steps in security
//! order; `container` is the [`Container`] handle (start, kill, wait, delete); [`state`] the
//! store and the OCI state; `cgroup` the container's cgroup as create makes it. Every system
//! call goes through `ocirun_sys`, the workspace's one syscall layer.

mod builder;
mod caps;
mod cgroup;
pub mod console;
mod container;
mod control;
mod create;
mod criu;
mod error;
pub mod exe;
mod exec;
mod features;
mod hooks;
mod init;
mod launch;
mod lsm;
mod mempolicy;
mod sched;
pub mod signals;
pub mod spec;
pub mod state;
mod sync;
mod sysctl;
mod user;

pub use builder::ContainerBuilder;
pub use cgroups::{OomNotifier, Stats};
pub use container::{Container, creates_namespace, force_delete};
pub use criu::CriuOptions;
pub use error::{Error, Result, status_words};
pub use exec::{ExecBuilder, ExecProcess};
pub use features::{OCI_VERSION_MAX, OCI_VERSION_MIN, features};
pub use hooks::{HookKind, set_warning_handler};
pub use init::InitStep;
pub use launch::keep_clear_of_passed_fds;
pub use namespaces::pidfd::ExitStatus;
pub use namespaces::running_in_user_namespace;
pub use oci_spec::runtime::{LinuxResources, Spec};
pub use state::Status;
pub use state::{State, list, stored_state};
