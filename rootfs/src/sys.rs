//! The system calls of the child-side executor: ocirun-sys's, under the names this crate uses.
pub(crate) use ocirun_sys::{
    SysResult,
    fd::{dup_cloexec, dup_raw_cloexec},
    fs::*,
    mount::*,
};
