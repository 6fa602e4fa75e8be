//! Compiling the spec's filesystem part into a [`MountPlan`] (runs in the parent).
//!
//! `build` lists the steps in the order the child runs them; each domain adds its ops and
//! registers their steps on the `Builder`:
//! - `root`: the rootfs's checks, the propagation and bind before the mounts, the root switch
//!   and the propagation after it;
//! - `mount`: the spec's mounts (`proc`: what may go on /proc; `cgroup`: mounts of type
//!   "cgroup");
//! - `device`: the device nodes, default symlinks and console in /dev;
//! - `listed`: masked and read-only paths, read-only remounts;
//! - `ops`: the op model the child executes; `flags`: `MS_*` names and `MOUNT_ATTR_*`
//!   counterparts; `path`: container paths and field errors.

use std::fmt::Write as _;

#[macro_use]
mod builder;
mod cgroup;
mod device;
mod flags;
mod listed;
mod mount;
pub(crate) mod ops;
mod path;
mod proc;
mod root;
#[cfg(test)]
mod testing;

use builder::Builder;
pub(crate) use flags::PER_MOUNT_FLAGS;
pub(crate) use mount::is_bind_mount;
use ops::Op;
use root::Root;

use crate::hostmounts::HostMounts;
use crate::{RootfsConfig, RootfsError, StepFailure};

/// The compiled filesystem setup of one container: every string, flag and step prepared in
/// the parent, ready for [`MountPlan::execute`] in the child.
#[derive(Debug, Clone)]
pub struct MountPlan {
    /// The operations, in order.
    pub(crate) ops: Vec<Op>,
    /// The number of steps; [`MountPlan::explain`] describes one from `cfg`.
    step_count: u32,
    /// The configuration compiled.
    cfg: RootfsConfig,
    /// Some op binds, before the plan ends, a cgroup directory that was not ready at its start.
    pub(crate) needs_cgroup_dirs: bool,
    /// With `no_pivot`, the host's mounts as the parent read them when compiling; kept so
    /// that describing the steps later finds the same ones.
    host: Option<HostMounts>,
}

/// What `build` makes of a configuration.
struct Built {
    ops: Vec<Op>,
    /// Empty unless built with descriptions.
    steps: Vec<String>,
    step_count: u32,
    needs_cgroup_dirs: bool,
}

impl MountPlan {
    /// Compiles the configuration in the parent: all parsing, validation and allocation.
    /// The plan keeps the configuration, to describe its steps if one fails.
    ///
    /// Fails with an error naming the field for anything unsupported: relative or `..`
    /// destinations, an unknown propagation, a device of type `a`, `idmap` on a non-bind
    /// mount, `tmpcopyup` on a non-tmpfs mount, ...
    pub fn compile(cfg: RootfsConfig) -> Result<MountPlan, RootfsError> {
        // With --no-pivot the host's mounts outside the rootfs are detached in the child; the
        // list comes from this process's mount table, read here. The child's mount namespace
        // is a copy of this one made at clone time; the child's `run_move_root` says why a
        // mount the host adds after this read does not stay reachable.
        let host = if cfg.no_pivot && cfg.host_root.is_none() {
            Some(crate::hostmounts::read(&cfg.rootfs)?)
        } else {
            None
        };
        let built = build(&cfg, host.as_ref(), false)?;
        Ok(MountPlan {
            ops: built.ops,
            step_count: built.step_count,
            needs_cgroup_dirs: built.needs_cgroup_dirs,
            cfg,
            host,
        })
    }

    /// The description of every step, from compiling the configuration again with them;
    /// `None` if that no longer gives the same steps (the rootfs changed in between).
    fn descriptions(&self) -> Option<Vec<String>> {
        let built = build(&self.cfg, self.host.as_ref(), true).ok()?;
        (built.step_count == self.step_count).then_some(built.steps)
    }

    /// Turns a failure reported by the child into a rich error naming the operation and paths.
    pub fn explain(&self, failure: StepFailure) -> RootfsError {
        let source = std::io::Error::from_raw_os_error(failure.errno);
        let index = usize::try_from(failure.step).ok();
        let described = self
            .descriptions()
            .and_then(|mut steps| index.filter(|&i| i < steps.len()).map(|i| steps.swap_remove(i)));
        match described {
            Some(operation) => RootfsError::Step {
                step: failure.step,
                operation,
                source,
            },
            None => RootfsError::UnknownStep {
                step: failure.step,
                steps: self.step_count(),
                source,
            },
        }
    }

    /// The number of steps, for diagnostics.
    pub fn step_count(&self) -> usize {
        self.step_count as usize
    }

    /// A human-readable listing of the plan's steps, one per line, for debugging.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        match self.descriptions() {
            Some(steps) => {
                for (i, s) in steps.iter().enumerate() {
                    let _ = writeln!(out, "{i:3}: {s}");
                }
            }
            None => {
                let _ = writeln!(
                    out,
                    "the rootfs no longer compiles to this plan's {} steps",
                    self.step_count
                );
            }
        }
        out
    }
}

/// Compiles `cfg` into operations, with step descriptions if `describe`: the steps of the
/// container's filesystem in the order the child runs them.
fn build(cfg: &RootfsConfig, host: Option<&HostMounts>, describe: bool) -> Result<Built, RootfsError> {
    let root = Root::check(cfg)?;
    mount::check_mount_label(cfg)?;
    listed::check_allowed(cfg)?;
    let mut b = Builder::new(cfg, describe);
    b.push_root_setup(&root, host)?;
    let mounted = b.push_spec_mounts()?;
    if mounted.setup_dev {
        b.push_devices(mounted.devpts_at_dev_pts)?;
    }
    if cfg.console {
        b.push_console();
    }
    let bases = b.pseudo_bases(&mounted);
    b.push_readonly_paths(&bases)?;
    b.push_masked_paths(&bases)?;
    b.push_readonly_remounts(&mounted)?;
    b.push_root_switch(&root, host);
    b.push_root_propagation(&root);
    b.settle_late_cgroup_binds();
    Ok(Built {
        ops: b.ops,
        steps: b.steps,
        step_count: b.step_count,
        needs_cgroup_dirs: b.needs_cgroup_dirs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::testing::{cfg, cgroup_cfg, mount};

    #[test]
    fn a_plain_config_compiles_with_described_steps() {
        let mut c = cfg();
        c.mounts = vec![
            mount("/proc", Some("proc"), Some("proc"), &[]),
            mount("/dev", Some("tmpfs"), Some("tmpfs"), &["nosuid", "mode=755"]),
            mount("/data", Some("bind"), Some("/"), &["rbind", "ro"]),
        ];
        c.readonly = true;
        c.masked_paths = vec!["/proc/kcore".into()];
        c.readonly_paths = vec!["/proc/sys".into()];
        let plan = MountPlan::compile(c.clone()).unwrap();
        let text = plan.describe();
        assert!(text.contains("mount proc on /proc (/proc)"), "{text}");
        assert!(text.contains("rbind mount / on /data (/data)"), "{text}");
        assert!(text.contains("mknod /dev/null (/dev/null)"), "{text}");
        assert!(text.contains("pivot_root into /"), "{text}");
        assert!(text.contains("mask /proc/kcore"), "{text}");
        assert!(text.contains("remount / with flags ro"), "{text}");
        assert_eq!(plan.step_count(), text.lines().count());
    }

    #[test]
    fn explain_maps_steps_and_never_panics() {
        let plan = MountPlan::compile(cfg()).unwrap();
        let e = plan.explain(StepFailure {
            step: 0,
            errno: libc::EPERM,
        });
        assert_eq!(e.to_string(), "make / rslave before setting up the rootfs");
        let src = std::error::Error::source(&e).unwrap().to_string();
        assert!(src.contains("Operation not permitted"), "{src}");
        let e = plan.explain(StepFailure { step: 99_999, errno: 0 });
        assert!(matches!(e, RootfsError::UnknownStep { step: 99_999, .. }));
    }

    #[test]
    fn describing_changes_no_op_and_no_step_number() {
        let mut rich = cgroup_cfg(&["nosuid", "noexec", "nodev", "relatime", "ro"], false);
        rich.mounts.extend([
            mount("/proc", Some("proc"), Some("proc"), &[]),
            mount("/dev", Some("tmpfs"), Some("tmpfs"), &["nosuid", "mode=755"]),
            mount("/dev/pts", Some("devpts"), Some("devpts"), &["newinstance"]),
            mount("/data", Some("bind"), Some("/"), &["rbind", "ro", "rprivate"]),
            mount("/tmp", Some("tmpfs"), Some("tmpfs"), &["tmpcopyup"]),
        ]);
        rich.readonly = true;
        rich.masked_paths = vec!["/proc/kcore".into()];
        rich.readonly_paths = vec!["/proc/sys".into()];
        rich.mount_label = Some("system_u:object_r:container_file_t:s0".into());
        let dir = tempfile::tempdir().unwrap();
        let mut no_pivot = cfg();
        no_pivot.rootfs = dir.path().to_path_buf();
        no_pivot.no_pivot = true;
        no_pivot.propagation = Some("shared".into());
        let text = MountPlan::compile(no_pivot.clone()).unwrap().describe();
        assert!(text.contains("detach the host's mount at /proc (--no-pivot)"), "{text}");
        assert!(text.contains("make the host's mount at / private"), "{text}");
        for c in [rich, no_pivot, cgroup_cfg(&[], true)] {
            let host = c.no_pivot.then(|| crate::hostmounts::read(&c.rootfs).unwrap());
            let (quiet, described) = (
                build(&c, host.as_ref(), false).unwrap(),
                build(&c, host.as_ref(), true).unwrap(),
            );
            assert!(quiet.steps.is_empty());
            assert_eq!(quiet.step_count, described.step_count);
            assert_eq!(described.steps.len(), described.step_count as usize);
            assert!(described.steps.iter().all(|d| !d.is_empty()));
            assert_eq!(format!("{:?}", quiet.ops), format!("{:?}", described.ops));
            assert_eq!(quiet.needs_cgroup_dirs, described.needs_cgroup_dirs);
        }
    }

    #[test]
    fn a_rootfs_that_no_longer_compiles_leaves_steps_undescribed() {
        let dir = tempfile::tempdir().unwrap();
        let plan = MountPlan::compile(RootfsConfig {
            rootfs: dir.path().to_path_buf(),
            ..RootfsConfig::default()
        })
        .unwrap();
        drop(dir);
        let e = plan.explain(StepFailure {
            step: 0,
            errno: libc::EPERM,
        });
        assert!(matches!(e, RootfsError::UnknownStep { step: 0, .. }), "{e}");
        assert!(plan.describe().contains("no longer compiles"));
    }
}
