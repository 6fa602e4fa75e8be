//! The `MS_*` mount flags: which a bind remount changes, their names in messages, and the
//! `MOUNT_ATTR_*` flags mount_setattr(2) and fsmount(2) take for them.

use libc::c_ulong;

use crate::sys::{
    MOUNT_ATTR_ATIME_MASK, MOUNT_ATTR_NOATIME, MOUNT_ATTR_NODEV, MOUNT_ATTR_NODIRATIME, MOUNT_ATTR_NOEXEC,
    MOUNT_ATTR_NOSUID, MOUNT_ATTR_NOSYMFOLLOW, MOUNT_ATTR_RDONLY, MOUNT_ATTR_RELATIME, MOUNT_ATTR_STRICTATIME,
    MountAttr,
};

/// The per-mount flags a bind remount can change (everything else is a superblock flag).
pub(crate) const PER_MOUNT_FLAGS: c_ulong = libc::MS_RDONLY
    | libc::MS_NOSUID
    | libc::MS_NODEV
    | libc::MS_NOEXEC
    | libc::MS_NOATIME
    | libc::MS_NODIRATIME
    | libc::MS_RELATIME
    | libc::MS_STRICTATIME
    | libc::MS_NOSYMFOLLOW;

/// The superblock flags fsconfig(2) takes by their names (`ro`, `sync`, ...), in the order it
/// is given them; the per-mount flags go to fsmount(2) as `MOUNT_ATTR_*`.
pub(super) const SUPERBLOCK_FLAGS: [c_ulong; 5] = [
    libc::MS_RDONLY,
    libc::MS_SYNCHRONOUS,
    libc::MS_DIRSYNC,
    libc::MS_LAZYTIME,
    libc::MS_MANDLOCK,
];

/// The `MS_*` flag names, for messages and fsconfig(2).
const FLAG_NAMES: [(c_ulong, &str); 18] = [
    (libc::MS_RDONLY, "ro"),
    (libc::MS_NOSUID, "nosuid"),
    (libc::MS_NODEV, "nodev"),
    (libc::MS_NOEXEC, "noexec"),
    (libc::MS_SYNCHRONOUS, "sync"),
    (libc::MS_REMOUNT, "remount"),
    (libc::MS_MANDLOCK, "mand"),
    (libc::MS_DIRSYNC, "dirsync"),
    (libc::MS_NOSYMFOLLOW, "nosymfollow"),
    (libc::MS_NOATIME, "noatime"),
    (libc::MS_NODIRATIME, "nodiratime"),
    (libc::MS_BIND, "bind"),
    (libc::MS_REC, "rec"),
    (libc::MS_SILENT, "silent"),
    (libc::MS_RELATIME, "relatime"),
    (libc::MS_I_VERSION, "iversion"),
    (libc::MS_STRICTATIME, "strictatime"),
    (libc::MS_LAZYTIME, "lazytime"),
];

/// The per-mount `MS_*` flags that have a `MOUNT_ATTR_*` flag of the same meaning (the atime
/// mode aside: [`atime_attr`]).
const MOUNT_ATTRS: [(c_ulong, u64); 6] = [
    (libc::MS_RDONLY, MOUNT_ATTR_RDONLY),
    (libc::MS_NOSUID, MOUNT_ATTR_NOSUID),
    (libc::MS_NODEV, MOUNT_ATTR_NODEV),
    (libc::MS_NOEXEC, MOUNT_ATTR_NOEXEC),
    (libc::MS_NOSYMFOLLOW, MOUNT_ATTR_NOSYMFOLLOW),
    (libc::MS_NODIRATIME, MOUNT_ATTR_NODIRATIME),
];

/// The `MOUNT_ATTR_*` flags of the `MS_*` flags in `flags` ([`MOUNT_ATTRS`]); the atime mode
/// and the superblock flags are not among them.
pub(super) fn mount_attrs(flags: c_ulong) -> u64 {
    MOUNT_ATTRS
        .iter()
        .filter(|(ms, _)| flags & ms != 0)
        .fold(0, |attrs, (_, ma)| attrs | ma)
}

/// Renders `MS_*` flags as option names (`ro,nosuid`), for messages.
pub(super) fn flag_names(flags: c_ulong) -> String {
    let mut out = String::new();
    for (bit, name) in FLAG_NAMES {
        if flags & bit != 0 {
            if !out.is_empty() {
                out.push(',');
            }
            out.push_str(name);
        }
    }
    if out.is_empty() {
        out.push_str("none");
    }
    out
}

/// The mount_setattr(2) change that gives one mount what `MS_BIND|MS_REMOUNT` with `set`
/// gives it, keeping the flags statfs reports (ro, nosuid, nodev, noexec, nosymfollow) unless
/// `cleared` names them: those in `set` are set, those in `cleared` cleared, the rest kept;
/// nodiratime and the atime mode are replaced, as a remount replaces them (relatime unless
/// `set` says noatime or strictatime).
pub(super) fn remount_attr(set: c_ulong, cleared: c_ulong) -> MountAttr {
    let mut attr = MountAttr {
        attr_set: mount_attrs(set) | atime_attr(set),
        attr_clr: mount_attrs(cleared & !set) | MOUNT_ATTR_ATIME_MASK,
        ..MountAttr::default()
    };
    if set & libc::MS_NODIRATIME == 0 {
        attr.attr_clr |= MOUNT_ATTR_NODIRATIME;
    }
    attr
}

/// The `MOUNT_ATTR_*` atime mode mount(2) gives a mount for `flags`: strictatime over noatime
/// over the default relatime.
pub(super) fn atime_attr(flags: c_ulong) -> u64 {
    if flags & libc::MS_STRICTATIME != 0 {
        MOUNT_ATTR_STRICTATIME
    } else if flags & libc::MS_NOATIME != 0 {
        MOUNT_ATTR_NOATIME
    } else {
        MOUNT_ATTR_RELATIME
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remount_attrs_do_what_a_bind_remount_does() {
        let a = remount_attr(libc::MS_RDONLY, 0);
        assert_eq!(a.attr_set, MOUNT_ATTR_RDONLY | MOUNT_ATTR_RELATIME);
        assert_eq!(a.attr_clr, MOUNT_ATTR_NODIRATIME | MOUNT_ATTR_ATIME_MASK);
        let a = remount_attr(
            libc::MS_NOSUID | libc::MS_NOATIME | libc::MS_NODIRATIME,
            libc::MS_RDONLY,
        );
        assert_eq!(
            a.attr_set,
            MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOATIME | MOUNT_ATTR_NODIRATIME
        );
        assert_eq!(a.attr_clr, MOUNT_ATTR_RDONLY | MOUNT_ATTR_ATIME_MASK);
    }

    #[test]
    fn flag_names_render() {
        assert_eq!(flag_names(libc::MS_RDONLY | libc::MS_NOSUID), "ro,nosuid");
        assert_eq!(flag_names(0), "none");
    }

    #[test]
    fn mount_attrs_map_each_per_mount_flag() {
        assert_eq!(
            mount_attrs(libc::MS_RDONLY | libc::MS_NODIRATIME | libc::MS_BIND | libc::MS_NOATIME),
            MOUNT_ATTR_RDONLY | MOUNT_ATTR_NODIRATIME
        );
        assert_eq!(mount_attrs(0), 0);
    }
}
