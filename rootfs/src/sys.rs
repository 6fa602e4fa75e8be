//! The system calls of the child-side executor: ocirun-sys's, under the names this crate uses.
pub(crate) use ocirun_sys::{SysResult, fs::*, mount::*};
