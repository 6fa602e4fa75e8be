//! The plan's builder: the ops compiled so far, and the step numbers and descriptions they
//! register (`step!`).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use libc::c_ulong;

use super::flags::{flag_names, remount_attr};
use super::ops::{Leaf, Op, Remount};
use super::path::absolute_from;
use crate::RootfsConfig;

/// Registers a step of builder `$b` and returns its number: `step!(b, "format", args..)`.
/// The description is formatted, and its arguments evaluated, only when `$b.describe`.
macro_rules! step {
    ($b:expr, $($description:tt)+) => {{
        let description = if $b.describe { Some(format!($($description)+)) } else { None };
        $b.step(description)
    }};
}

/// Builds the plan: ops, and the step descriptions when asked for.
pub(super) struct Builder<'a> {
    /// The configuration being compiled.
    pub(super) cfg: &'a RootfsConfig,
    /// Whether to describe the steps. Compiling for a run does not: a run that goes well
    /// never shows them, and formatting them is most of the compile's time.
    /// [`crate::MountPlan::explain`] compiles again with descriptions when a step fails.
    pub(super) describe: bool,
    /// The operations so far.
    pub(super) ops: Vec<Op>,
    /// Step descriptions so far (only when `describe`).
    pub(super) steps: Vec<String>,
    /// Steps registered so far.
    pub(super) step_count: u32,
    /// A bind of a cgroup directory that was not ready at the start is in place (not late).
    pub(super) needs_cgroup_dirs: bool,
    /// Set while compiling a mount of type "cgroup": its destination must be an ordinary
    /// directory, like a proc or sysfs mount's.
    pub(super) cgroup_mount: bool,
    /// The last mount at /dev so far is a new filesystem, whose fd the child keeps: mounts
    /// under /dev go in it by that fd ([`super::ops::Base::Dev`]).
    pub(super) dev_mounted: bool,
}

impl<'a> Builder<'a> {
    /// A builder for `cfg`, with step descriptions if `describe`.
    pub(super) fn new(cfg: &'a RootfsConfig, describe: bool) -> Builder<'a> {
        Builder {
            cfg,
            describe,
            ops: Vec::new(),
            steps: Vec::new(),
            step_count: 0,
            needs_cgroup_dirs: false,
            cgroup_mount: false,
            dev_mounted: false,
        }
    }

    /// Registers a step and returns its number; use [`step!`].
    pub(super) fn step(&mut self, description: Option<String>) -> u32 {
        if let Some(d) = description {
            self.steps.push(d);
        }
        self.step_count += 1;
        self.step_count - 1
    }

    /// `/dev (<rootfs>/dev)` for messages; empty when not describing.
    pub(super) fn where_(&self, parts: &[Vec<u8>]) -> String {
        if !self.describe {
            return String::new();
        }
        let inside = String::from_utf8_lossy(&absolute_from(parts)).into_owned();
        let mut host = self.cfg.rootfs.clone();
        for p in parts {
            host.push(OsStr::from_bytes(p));
        }
        format!("{inside} ({})", host.display())
    }

    /// A path inside the container for messages; empty when not describing.
    pub(super) fn shown(&self, path: &[u8]) -> String {
        if self.describe {
            String::from_utf8_lossy(path).into_owned()
        } else {
            String::new()
        }
    }

    /// `resolve /x in the rootfs ...` step.
    pub(super) fn resolve_step(&mut self, parts: &[Vec<u8>], leaf: Option<Leaf>, no_symlinks: bool) -> u32 {
        let what = match leaf {
            Some(Leaf::Dir) => " (creating missing directories)",
            Some(Leaf::File) => " (creating missing directories and an empty file)",
            None => "",
        };
        let how = if no_symlinks { " without following symlinks" } else { "" };
        step!(self, "resolve {} inside the rootfs{what}{how}", self.where_(parts))
    }

    /// Registers the check that `what` at `place` did not resolve to the container's root
    /// directory itself.
    pub(super) fn not_root_step(&mut self, what: &str, place: &str) -> u32 {
        step!(
            self,
            "check that {what} at {place} is not the container's root directory itself (an image symlink \
             to / leads there?): nothing is mounted over the rootfs's root, where the root switch would \
             not see it and --no-pivot would move it instead of the rootfs"
        )
    }

    /// Registers a remount of per-mount flags on `place`.
    pub(super) fn remount(&mut self, place: &str, set: c_ulong, cleared: c_ulong) -> Remount {
        let statfs_step = step!(self, "read the mount flags of {place}");
        let step = step!(
            self,
            "remount {place} with flags {} (keeping locked flags)",
            flag_names(set)
        );
        Remount {
            set,
            cleared,
            attr: remount_attr(set, cleared),
            statfs_step,
            step,
        }
    }
}
