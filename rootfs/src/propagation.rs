//! Mount propagation: runc's propagation names and their mount(2) flags, in one table for
//! the mount options, `linux.rootfsPropagation`, the plan's messages and the child.

use std::ffi::CStr;
use std::os::fd::{AsFd, OwnedFd};

use libc::c_ulong;

use crate::sys::{self, MountAttr, SysResult};

/// A propagation change (`MS_PRIVATE`, `MS_SLAVE`, ...) for mount_setattr(2), which takes the
/// recursion as a flag of its own.
pub(crate) fn setattr(flag: c_ulong) -> MountAttr {
    // `c_ulong` is u32 on 32-bit targets.
    #[allow(clippy::useless_conversion)]
    MountAttr {
        propagation: u64::from(flag),
        ..MountAttr::default()
    }
}

/// A detached clone (open_tree(2), every mount below it with `recursive`) of the host path
/// `source`, made by the runtime in its own mount namespace for a container's mount namespace
/// to attach, made a slave with every mount below it before anything can be mounted in it.
/// A clone of a shared mount is a peer of the host's mount: what the container mounted in it
/// would appear in the host's mount table (found by review, 2026-12-08: over the container's
/// own `cgroup.procs` in the host's cgroupfs). As a slave it is what a bind made in the
/// container's rslave mount namespace is, as runc makes them: it still receives what the host
/// mounts below the source, and sends nothing back. Runs in the parent.
pub(crate) fn clone_from_host(source: &CStr, recursive: bool) -> SysResult<OwnedFd> {
    let tree = sys::clone_mount(source, recursive)?;
    sys::mount_setattr(tree.as_fd(), true, &setattr(libc::MS_SLAVE))?;
    Ok(tree)
}

/// A change of a mount's propagation (`rslave`, `private`, ...): one propagation type, for
/// the mount alone or (`r...`, `MS_REC`) for every mount below it too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Propagation(c_ulong);

/// Every propagation name runc knows, with its mount(2) flags.
const NAMES: [(&str, c_ulong); 8] = [
    ("shared", libc::MS_SHARED),
    ("rshared", libc::MS_SHARED | libc::MS_REC),
    ("slave", libc::MS_SLAVE),
    ("rslave", libc::MS_SLAVE | libc::MS_REC),
    ("private", libc::MS_PRIVATE),
    ("rprivate", libc::MS_PRIVATE | libc::MS_REC),
    ("unbindable", libc::MS_UNBINDABLE),
    ("runbindable", libc::MS_UNBINDABLE | libc::MS_REC),
];

impl Propagation {
    /// `private`: this mount only.
    pub const PRIVATE: Propagation = Propagation(libc::MS_PRIVATE);
    /// `rprivate`.
    pub const RPRIVATE: Propagation = Propagation(libc::MS_PRIVATE | libc::MS_REC);
    /// `rslave`: the container's root when the spec names none, as runc.
    pub const RSLAVE: Propagation = Propagation(libc::MS_SLAVE | libc::MS_REC);

    /// The propagation a name of runc's (`rshared`, `private`, ...) stands for, as a mount
    /// option or `linux.rootfsPropagation` gives it; `None` for any other name.
    pub fn from_name(name: &str) -> Option<Propagation> {
        NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|&(_, flags)| Propagation(flags))
    }

    /// The name of the propagation (`rslave`), for messages.
    pub fn name(self) -> &'static str {
        NAMES
            .iter()
            .find(|(_, flags)| *flags == self.0)
            .map_or("unknown propagation", |(name, _)| name)
    }

    /// The flags of mount(2) that make the change (`MS_SLAVE|MS_REC`).
    ///
    /// Runs in the child too: no allocation, no locks.
    pub const fn flags(self) -> c_ulong {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_round_trips_and_others_are_refused() {
        for (name, flags) in NAMES {
            let p = Propagation::from_name(name).unwrap_or_else(|| panic!("{name}"));
            assert_eq!((p.name(), p.flags()), (name, flags));
        }
        assert_eq!(Propagation::RSLAVE.name(), "rslave");
        assert_eq!(Propagation::RSLAVE.flags(), libc::MS_SLAVE | libc::MS_REC);
        assert_eq!(Propagation::PRIVATE.name(), "private");
        assert_eq!(Propagation::RPRIVATE.name(), "rprivate");
        for bad in ["", "sideways", "Shared", "rec"] {
            assert_eq!(Propagation::from_name(bad), None, "{bad}");
        }
    }
}
