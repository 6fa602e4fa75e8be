//! Parsing of fstab-style mount options into flags, the way runc does.

use libc::c_ulong;

use crate::sys::{
    MOUNT_ATTR_ATIME_MASK, MOUNT_ATTR_NOATIME, MOUNT_ATTR_NODEV, MOUNT_ATTR_NODIRATIME, MOUNT_ATTR_NOEXEC,
    MOUNT_ATTR_NOSUID, MOUNT_ATTR_NOSYMFOLLOW, MOUNT_ATTR_RDONLY, MOUNT_ATTR_RELATIME, MOUNT_ATTR_STRICTATIME,
};
use crate::{Propagation, RootfsError};

/// The mount options of one OCI mount, split into what each kernel call needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MountOptions {
    /// `MS_*` flags to set in mount(2) (`ro`, `nosuid`, `bind`, `rbind` -> `MS_BIND|MS_REC`, ...).
    pub flags: c_ulong,
    /// `MS_*` flags the options explicitly clear (`rw`, `suid`, `dev`, `exec`, `atime`, ...).
    pub cleared: c_ulong,
    /// Propagation changes (`shared`, `rprivate`, ...), applied in order after the mount.
    pub propagation: Vec<Propagation>,
    /// `MOUNT_ATTR_*` to set recursively with mount_setattr(2) (`rro`, `rnosuid`, ...).
    pub attr_set: u64,
    /// `MOUNT_ATTR_*` to clear recursively with mount_setattr(2) (`rrw`, `rsuid`, ...).
    pub attr_clr: u64,
    /// `tmpcopyup`: copy the target directory's contents into the new tmpfs.
    pub tmpcopyup: bool,
    /// `idmap` (`Some(false)`: the bind's own mount is id-mapped) or `ridmap` (`Some(true)`:
    /// every mount of the tree too); the later one wins, as runc.
    pub idmap: Option<bool>,
    /// Everything else, in order, for the data argument of mount(2) (`mode=755`, `size=64k`).
    pub data: Vec<String>,
}

impl MountOptions {
    /// Whether the options ask for a bind mount (`bind` or `rbind`).
    pub fn is_bind(&self) -> bool {
        self.flags & libc::MS_BIND != 0
    }

    /// Whether the options ask for a recursive bind mount (`rbind`).
    pub fn is_recursive_bind(&self) -> bool {
        self.is_bind() && self.flags & libc::MS_REC != 0
    }

    /// Whether any recursive mount attribute (`rro`, `rnosuid`, ...) was given.
    pub fn has_recursive_attrs(&self) -> bool {
        self.attr_set != 0 || self.attr_clr != 0
    }

    /// The data options joined with commas, as mount(2) takes them.
    pub fn data_string(&self) -> String {
        self.data.join(",")
    }
}

/// What one classic option does to the `MS_*` flags.
enum Flag {
    /// Set these flags.
    Set(c_ulong),
    /// Clear these flags.
    Clear(c_ulong),
}

/// Every mount option name [`parse_mount_options`] recognizes (the rest go to mount(2)'s data),
/// sorted: the `mountOptions` of the OCI features document.
pub const RECOGNIZED_MOUNT_OPTIONS: &[&str] = &[
    "async",
    "atime",
    "bind",
    "defaults",
    "dev",
    "diratime",
    "dirsync",
    "exec",
    "idmap",
    "iversion",
    "lazytime",
    "loud",
    "mand",
    "noatime",
    "nodev",
    "nodiratime",
    "noexec",
    "noiversion",
    "nolazytime",
    "nomand",
    "norelatime",
    "nostrictatime",
    "nosuid",
    "nosymfollow",
    "private",
    "ratime",
    "rbind",
    "rdev",
    "rdiratime",
    "relatime",
    "remount",
    "rexec",
    "ridmap",
    "rnoatime",
    "rnodev",
    "rnodiratime",
    "rnoexec",
    "rnorelatime",
    "rnostrictatime",
    "rnosuid",
    "rnosymfollow",
    "ro",
    "rprivate",
    "rrelatime",
    "rro",
    "rrw",
    "rshared",
    "rslave",
    "rstrictatime",
    "rsuid",
    "rsymfollow",
    "runbindable",
    "rw",
    "shared",
    "silent",
    "slave",
    "strictatime",
    "suid",
    "symfollow",
    "sync",
    "tmpcopyup",
    "unbindable",
];

/// runc's table of classic mount options.
fn classic(option: &str) -> Option<Flag> {
    use Flag::{Clear, Set};
    Some(match option {
        "async" => Clear(libc::MS_SYNCHRONOUS),
        "atime" => Clear(libc::MS_NOATIME),
        "bind" => Set(libc::MS_BIND),
        "defaults" => Set(0),
        "dev" => Clear(libc::MS_NODEV),
        "diratime" => Clear(libc::MS_NODIRATIME),
        "dirsync" => Set(libc::MS_DIRSYNC),
        "exec" => Clear(libc::MS_NOEXEC),
        "iversion" => Set(libc::MS_I_VERSION),
        "lazytime" => Set(libc::MS_LAZYTIME),
        "loud" => Clear(libc::MS_SILENT),
        "mand" => Set(libc::MS_MANDLOCK),
        "noatime" => Set(libc::MS_NOATIME),
        "nodev" => Set(libc::MS_NODEV),
        "nodiratime" => Set(libc::MS_NODIRATIME),
        "noexec" => Set(libc::MS_NOEXEC),
        "noiversion" => Clear(libc::MS_I_VERSION),
        "nolazytime" => Clear(libc::MS_LAZYTIME),
        "nomand" => Clear(libc::MS_MANDLOCK),
        "norelatime" => Clear(libc::MS_RELATIME),
        "nostrictatime" => Clear(libc::MS_STRICTATIME),
        "nosuid" => Set(libc::MS_NOSUID),
        "nosymfollow" => Set(libc::MS_NOSYMFOLLOW),
        "rbind" => Set(libc::MS_BIND | libc::MS_REC),
        "relatime" => Set(libc::MS_RELATIME),
        "remount" => Set(libc::MS_REMOUNT),
        "ro" => Set(libc::MS_RDONLY),
        "rw" => Clear(libc::MS_RDONLY),
        "silent" => Set(libc::MS_SILENT),
        "strictatime" => Set(libc::MS_STRICTATIME),
        "suid" => Clear(libc::MS_NOSUID),
        "symfollow" => Clear(libc::MS_NOSYMFOLLOW),
        "sync" => Set(libc::MS_SYNCHRONOUS),
        _ => return None,
    })
}

/// What one recursive option does with mount_setattr(2).
enum Attr {
    /// Set a flag attribute.
    Set(u64),
    /// Clear a flag attribute.
    Clear(u64),
    /// Set the atime field (needs the whole atime mask in `attr_clr`).
    Atime(u64),
}

/// The recursive (`AT_RECURSIVE` mount_setattr) options.
///
/// runc maps `ratime` and `rnostrictatime` to a "clear" of a single atime bit, which the
/// kernel rejects with EINVAL; we give them the meaning of their classic counterparts instead:
/// they select relatime (the kernel default). `rnorelatime` is runc's clear of
/// `MOUNT_ATTR_RELATIME`, which is 0: it changes nothing, so a mount stays relatime (the
/// conformance suites expect runc's result).
fn recursive(option: &str) -> Option<Attr> {
    use Attr::{Atime, Clear, Set};
    Some(match option {
        "rro" => Set(MOUNT_ATTR_RDONLY),
        "rrw" => Clear(MOUNT_ATTR_RDONLY),
        "rnosuid" => Set(MOUNT_ATTR_NOSUID),
        "rsuid" => Clear(MOUNT_ATTR_NOSUID),
        "rnodev" => Set(MOUNT_ATTR_NODEV),
        "rdev" => Clear(MOUNT_ATTR_NODEV),
        "rnoexec" => Set(MOUNT_ATTR_NOEXEC),
        "rexec" => Clear(MOUNT_ATTR_NOEXEC),
        "rnodiratime" => Set(MOUNT_ATTR_NODIRATIME),
        "rdiratime" => Clear(MOUNT_ATTR_NODIRATIME),
        "rnosymfollow" => Set(MOUNT_ATTR_NOSYMFOLLOW),
        "rsymfollow" => Clear(MOUNT_ATTR_NOSYMFOLLOW),
        "rrelatime" | "ratime" | "rnostrictatime" => Atime(MOUNT_ATTR_RELATIME),
        "rnoatime" => Atime(MOUNT_ATTR_NOATIME),
        "rstrictatime" => Atime(MOUNT_ATTR_STRICTATIME),
        "rnorelatime" => Clear(MOUNT_ATTR_RELATIME),
        _ => return None,
    })
}

/// Parses OCI mount options the way runc does; later options win over earlier ones.
///
/// Unknown options go, in order, into [`MountOptions::data`]. The error names the field
/// `options`; [`crate::MountPlan::compile`] reports it as `mounts[i].options`.
pub fn parse_mount_options<S: AsRef<str>>(options: &[S]) -> Result<MountOptions, RootfsError> {
    let mut out = MountOptions::default();
    for option in options {
        let option = option.as_ref();
        if let Some(flag) = classic(option) {
            match flag {
                Flag::Set(f) => {
                    out.flags |= f;
                    out.cleared &= !f;
                }
                Flag::Clear(f) => {
                    out.flags &= !f;
                    out.cleared |= f;
                }
            }
        } else if let Some(p) = Propagation::from_name(option) {
            out.propagation.push(p);
        } else if let Some(attr) = recursive(option) {
            match attr {
                Attr::Set(a) => {
                    out.attr_set |= a;
                    out.attr_clr &= !a;
                }
                Attr::Clear(a) => {
                    out.attr_clr |= a;
                    out.attr_set &= !a;
                }
                Attr::Atime(a) => {
                    out.attr_set = (out.attr_set & !MOUNT_ATTR_ATIME_MASK) | a;
                    out.attr_clr |= MOUNT_ATTR_ATIME_MASK;
                }
            }
        } else if option == "tmpcopyup" {
            out.tmpcopyup = true;
        } else if option == "idmap" || option == "ridmap" {
            out.idmap = Some(option == "ridmap");
        } else if option.is_empty() {
            return Err(RootfsError::InvalidField {
                field: "options".to_owned(),
                value: String::new(),
                reason: "empty mount option",
            });
        } else if option.contains('\0') {
            return Err(RootfsError::InvalidField {
                field: "options".to_owned(),
                value: option.to_owned(),
                reason: "mount option contains a NUL byte",
            });
        } else {
            out.data.push(option.to_owned());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_listed_option_is_recognized() {
        let mut sorted = RECOGNIZED_MOUNT_OPTIONS.to_vec();
        sorted.sort_unstable();
        assert_eq!(sorted, RECOGNIZED_MOUNT_OPTIONS, "keep the list sorted");
        for option in RECOGNIZED_MOUNT_OPTIONS {
            let parsed = parse_mount_options(&[option]).unwrap_or_else(|e| panic!("{option}: {e}"));
            assert!(parsed.data.is_empty(), "{option} fell through to mount data");
        }
    }

    use super::*;

    #[test]
    fn classic_flags_set_and_clear_in_order() {
        let o = parse_mount_options(&["nosuid", "ro", "rw", "nodev", "dev", "noexec"]).unwrap();
        assert_eq!(o.flags, libc::MS_NOSUID | libc::MS_NOEXEC);
        assert_eq!(o.cleared, libc::MS_RDONLY | libc::MS_NODEV);
        assert!(o.data.is_empty());
        let o = parse_mount_options(&["rw", "ro"]).unwrap();
        assert_eq!(o.flags, libc::MS_RDONLY);
        assert_eq!(o.cleared, 0);
    }

    #[test]
    fn bind_and_rbind() {
        let o = parse_mount_options(&["bind"]).unwrap();
        assert!(o.is_bind() && !o.is_recursive_bind());
        let o = parse_mount_options(&["rbind", "ro"]).unwrap();
        assert!(o.is_recursive_bind());
        assert_eq!(o.flags, libc::MS_BIND | libc::MS_REC | libc::MS_RDONLY);
    }

    #[test]
    fn propagation_in_order() {
        let o = parse_mount_options(&["rshared", "private", "runbindable"]).unwrap();
        assert_eq!(
            o.propagation.iter().map(|p| p.flags()).collect::<Vec<_>>(),
            vec![
                libc::MS_SHARED | libc::MS_REC,
                libc::MS_PRIVATE,
                libc::MS_UNBINDABLE | libc::MS_REC
            ]
        );
        assert_eq!(o.flags, 0);
    }

    #[test]
    fn recursive_attrs() {
        let o = parse_mount_options(&["rro", "rnosuid", "rnodev", "rexec"]).unwrap();
        assert_eq!(o.attr_set, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
        assert_eq!(o.attr_clr, MOUNT_ATTR_NOEXEC);
        let o = parse_mount_options(&["rro", "rrw"]).unwrap();
        assert_eq!(o.attr_set, 0);
        assert_eq!(o.attr_clr, MOUNT_ATTR_RDONLY);
    }

    #[test]
    fn recursive_atime_sets_whole_mask_in_clear() {
        let o = parse_mount_options(&["rnoatime"]).unwrap();
        assert_eq!(o.attr_set, MOUNT_ATTR_NOATIME);
        assert_eq!(o.attr_clr, MOUNT_ATTR_ATIME_MASK);
        let o = parse_mount_options(&["rnoatime", "rstrictatime"]).unwrap();
        assert_eq!(o.attr_set, MOUNT_ATTR_STRICTATIME);
        // runc's rnorelatime clears MOUNT_ATTR_RELATIME, 0: the atime setting is left alone.
        let o = parse_mount_options(&["rnoatime", "rnorelatime"]).unwrap();
        assert_eq!((o.attr_set, o.attr_clr), (MOUNT_ATTR_NOATIME, MOUNT_ATTR_ATIME_MASK));
        let o = parse_mount_options(&["rnorelatime"]).unwrap();
        assert_eq!((o.attr_set, o.attr_clr), (0, 0));
        let o = parse_mount_options(&["rnoatime", "rrelatime"]).unwrap();
        assert_eq!(o.attr_set, MOUNT_ATTR_RELATIME);
        assert_eq!(o.attr_clr, MOUNT_ATTR_ATIME_MASK);
    }

    #[test]
    fn unknown_options_go_to_data_in_order() {
        let o = parse_mount_options(&["nosuid", "mode=755", "size=65536k", "newinstance"]).unwrap();
        assert_eq!(o.data, vec!["mode=755", "size=65536k", "newinstance"]);
        assert_eq!(o.data_string(), "mode=755,size=65536k,newinstance");
        assert_eq!(o.flags, libc::MS_NOSUID);
    }

    #[test]
    fn tmpcopyup_is_recorded() {
        assert!(parse_mount_options(&["tmpcopyup"]).unwrap().tmpcopyup);
    }

    #[test]
    fn idmap_and_ridmap_the_later_wins() {
        assert_eq!(parse_mount_options(&["bind", "idmap"]).unwrap().idmap, Some(false));
        assert_eq!(parse_mount_options(&["rbind", "ridmap"]).unwrap().idmap, Some(true));
        assert_eq!(parse_mount_options(&["ridmap", "idmap"]).unwrap().idmap, Some(false));
        assert_eq!(parse_mount_options(&["rbind"]).unwrap().idmap, None);
    }

    #[test]
    fn empty_and_nul_options_are_rejected() {
        assert!(parse_mount_options(&[""]).is_err());
        assert!(parse_mount_options(&["mode=7\x0055"]).is_err());
    }
}
