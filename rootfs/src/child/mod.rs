//! Executing a [`MountPlan`] in the container's init child.
//!
//! Runs in the child: no allocation, no locks. Everything here reads data the parent prepared
//! (C strings, flags, step numbers), calls the wrappers in [`crate::sys`], and keeps paths in
//! stack buffers. Errors are `Copy` [`StepFailure`] values.
//!
//! `MountPlan::run` runs the ops in order and `run_op` hands each to its domain: `root` (the
//! rootfs's propagation, bind and switch), `mount`, `cgroup`, `device` (nodes, symlinks,
//! console), `listed` (read-only paths, masks, read-only remounts); `resolve` resolves paths
//! in the rootfs and `ctx` holds the state the ops share.

use std::convert::Infallible;
use std::os::fd::BorrowedFd;

mod cgroup;
mod ctx;
mod device;
mod listed;
mod mount;
mod resolve;
mod root;

pub use cgroup::LateCgroups;
use ctx::Ctx;
pub use device::Console;
pub(crate) use resolve::{ProcFdPath, open_nofollow, reopen_dir};

use crate::plan::ops::{Action, MountOp, Op};
use crate::{MountPlan, StepFailure};

/// Attaches a step number to an errno.
fn at(step: u32) -> impl Fn(i32) -> StepFailure {
    move |errno| StepFailure { step, errno }
}

/// What [`MountPlan::execute_with`] and [`MountPlan::execute_leaving_cgroups`] leave for the
/// steps after the root switch.
#[derive(Debug, Default)]
pub struct Finished {
    /// The cgroup binds left for [`MountPlan::bind_late_cgroups`], when the plan left any.
    pub late: Option<LateCgroups>,
    /// The container's /dev and console, with [`crate::RootfsConfig::console`].
    pub console: Option<Console>,
}

/// Why [`MountPlan::execute_with`] stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop<E> {
    /// A step of the plan failed.
    Step(StepFailure),
    /// The caller's `before_switch` failed.
    Caller(E),
}

/// Runs one op.
///
/// Runs in the child: no allocation, no locks.
fn run_op<'p>(ctx: &mut Ctx<'p>, op: &'p Op, index: usize, leave: bool) -> Result<(), StepFailure> {
    if !matches!(op, Op::Device(_) | Op::Symlink(_)) {
        ctx.parent = None;
    }
    if !op.under_pseudo_base() {
        ctx.pseudo = None;
    }
    match op {
        Op::Propagate {
            path,
            propagation,
            step,
        } => root::propagate(path, *propagation, *step),
        Op::ParentPrivate { candidates, step } => root::make_parent_private(candidates, *step),
        Op::BindRootfs { rootfs, step } => root::bind_rootfs(rootfs, *step),
        Op::HostRoot { fd, step } => root::take_host_root(ctx, *fd, *step),
        Op::OpenRoot { rootfs, step } => root::open_root(ctx, rootfs, *step),
        Op::Mount(m) => mount::run_mount(ctx, m),
        Op::CgroupV1(c) => cgroup::run_cgroup_v1(ctx, c, index, leave),
        Op::Device(d) => device::run_device(ctx, d),
        Op::Symlink(s) => device::run_symlink(ctx, s),
        Op::Console(c) => device::run_console(ctx, c),
        Op::Pivot { steps, slave_old } => root::run_pivot(ctx, steps, *slave_old),
        Op::Chroot { steps } => root::run_chroot(ctx, steps),
        Op::MoveRoot { detach, steps } => root::run_move_root(ctx, detach, steps),
        Op::ReadonlyPath(r) => listed::run_readonly_path(ctx, r),
        Op::MaskPath(m) => listed::run_mask(ctx, m),
        Op::RemountPath {
            target,
            resolve_step,
            remount,
        } => listed::run_remount_path(ctx, target, *resolve_step, remount),
    }
}

impl MountPlan {
    /// Runs the plan in the container's init child, which must already be in its own mount
    /// namespace; ends in the new root with the current directory `/`.
    ///
    /// Runs in the child: no allocation, no locks.
    pub fn execute(&self) -> Result<(), StepFailure> {
        self.execute_with(|| Ok::<(), Infallible>(()))
            .map(drop)
            .map_err(|stop| match stop {
                Stop::Step(f) => f,
                Stop::Caller(never) => match never {},
            })
    }

    /// Like [`execute`](Self::execute), but calls `before_switch` once every mount, device
    /// and symlink is in place, and before the read-only paths, masks and the root switch
    /// (pivot_root, or the move with `no_pivot`): where OCI's createContainer hooks run. Its
    /// error stops the plan. Returns what the plan leaves for after the switch (no late cgroup
    /// binds).
    ///
    /// Runs in the child: no allocation, no locks (as long as `before_switch` has none).
    pub fn execute_with<E>(&self, before_switch: impl FnOnce() -> Result<(), E>) -> Result<Finished, Stop<E>> {
        self.run(before_switch, false)
    }

    /// Like [`execute`](Self::execute), but leaves the binds of cgroup directories that were
    /// not ready at the start ([`crate::CgroupMount::ready_at_start`]) for the end, where the
    /// plan allows it, and returns them ([`Finished::late`]): attach them with
    /// [`bind_late_cgroups`](Self::bind_late_cgroups) once the directories exist, before the
    /// process gives up the capability to mount.
    ///
    /// Runs in the child: no allocation, no locks.
    pub fn execute_leaving_cgroups(&self) -> Result<Finished, StepFailure> {
        self.run(|| Ok::<(), Infallible>(()), true).map_err(|stop| match stop {
            Stop::Step(f) => f,
            Stop::Caller(never) => match never {},
        })
    }

    /// Runs every op, calling `before_switch` before the read-only paths, masks and root
    /// switch; with `leave`, late cgroup binds are left and returned.
    ///
    /// Runs in the child: no allocation, no locks (as long as `before_switch` has none).
    fn run<E>(&self, before_switch: impl FnOnce() -> Result<(), E>, leave: bool) -> Result<Finished, Stop<E>> {
        let mut ctx = Ctx::new();
        let mut pause = Some(before_switch);
        for (index, op) in self.ops.iter().enumerate() {
            if !matches!(op, Op::Device(_)) {
                ctx.restore_umask();
            }
            if op.follows_create_hooks()
                && let Some(f) = pause.take()
            {
                f().map_err(Stop::Caller)?;
            }
            if let Err(f) = run_op(&mut ctx, op, index, leave) {
                ctx.restore_umask();
                return Err(Stop::Step(f));
            }
        }
        ctx.restore_umask();
        if let Some(f) = pause.take() {
            f().map_err(Stop::Caller)?;
        }
        Ok(Finished {
            late: ctx.late,
            console: ctx.console,
        })
    }

    /// Attaches the binds [`execute_leaving_cgroups`](Self::execute_leaving_cgroups) left: one
    /// detached bind of the container's directory per hierarchy, in the order of
    /// [`crate::RootfsConfig::cgroup_mounts`] (made in the parent by [`crate::detached_bind`]),
    /// each onto its directory in the cgroup tmpfs; then seals the tree (read-only, or the
    /// spec's flags) with one recursive mount_setattr.
    ///
    /// Runs in the child: no allocation, no locks.
    pub fn bind_late_cgroups<'a>(
        &self,
        late: LateCgroups,
        binds: impl IntoIterator<Item = BorrowedFd<'a>>,
    ) -> Result<(), StepFailure> {
        let Some(Op::CgroupV1(op)) = self.ops.get(late.op) else {
            return Err(StepFailure {
                step: 0,
                errno: libc::EINVAL,
            });
        };
        cgroup::attach_late(op, &late, binds)
    }

    /// Whether the plan leaves cgroup binds for [`bind_late_cgroups`](Self::bind_late_cgroups)
    /// when run with [`execute_leaving_cgroups`](Self::execute_leaving_cgroups).
    pub fn has_late_cgroup_binds(&self) -> bool {
        self.ops.iter().any(|op| matches!(op, Op::CgroupV1(c) if c.late))
    }

    /// Whether the plan binds, before it ends, a cgroup directory that was not ready at its
    /// start ([`crate::CgroupMount::ready_at_start`]), even when run with
    /// [`execute_leaving_cgroups`](Self::execute_leaving_cgroups): the caller must make it
    /// before the plan runs.
    pub fn needs_cgroup_dirs(&self) -> bool {
        self.needs_cgroup_dirs
    }

    /// The fds of the bind sources the parent opened for a new user namespace
    /// ([`crate::RootfsConfig::new_user_namespace`]), and of the rootfs bind in the runtime's
    /// mount namespace ([`crate::RootfsConfig::host_root`]): the child must keep them open
    /// until the plan has run, and may close them then.
    ///
    /// Runs in the child too: no allocation, no locks.
    pub fn source_fds(&self) -> impl Iterator<Item = std::os::fd::RawFd> + '_ {
        use std::os::fd::AsRawFd;
        self.ops.iter().filter_map(|op| match op {
            Op::Mount(MountOp {
                action: Action::Bind { tree: Some(tree), .. },
                ..
            }) => Some(tree.as_raw_fd()),
            Op::HostRoot { fd, .. } => Some(*fd),
            _ => None,
        })
    }
}
