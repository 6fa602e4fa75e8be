//! The system calls runtime-core reaches by this path (until it calls ocirun-sys itself).
pub use crate::join::{open_namespace, setns};
pub use ocirun_sys::{errno, net::loopback_up, ns::setdomainname, ns::sethostname, ns::unshare};
