//! Linux namespaces for ocirun: the eight kinds, their clone flags, joining by path,
//! uid/gid maps, time offsets, `clone3` process creation with a pidfd, and moving network
//! devices into a network namespace ([`netdev`]).
//!
//! Functions documented with "Runs in the child" are called between clone and exec:
//! they make one raw system call on data prepared beforehand and never allocate.

mod clone;
mod error;
mod idmap;
mod join;
mod kind;
pub mod netdev;
pub mod pidfd;
mod userns;

pub use clone::{CloneArgs, Spawned, spawn};
pub use error::NamespaceError;
pub use idmap::{IdMap, maps_need_tool, running_in_user_namespace, write_id_maps, write_id_maps_unprivileged};
pub use join::{open_namespace, setns};
pub use kind::{NamespaceKind, NamespaceSet, differing_namespaces, differing_namespaces_for_children};
pub use userns::user_namespace;
