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

mod caps;
pub mod console;
mod container;
mod error;
mod init;
pub mod spec;
pub mod state;
mod sync;
mod sys;

pub use container::{Container, ContainerBuilder, State, creates_namespace, list};
pub use error::{Error, Result};
pub use namespaces::pidfd::ExitStatus;
pub use oci_spec::runtime::Spec;
pub use state::Status;
