//! `exec`: another process in a running container, in every namespace and the
//! cgroup of its init, with its own user, capabilities, rlimits and the
//! container's seccomp profile.

use std::os::fd::{AsFd, OwnedFd};

use namespaces::pidfd::{self, ExitStatus};
use oci_spec::runtime::{ContainerState, LinuxNamespace, LinuxNamespaceType, Process};

use crate::builder::{ProcessIo, process_io_setters};
use crate::container::Container;
use crate::init::{InitPlan, PlanOptions};
use crate::launch::{self, reserve_passed_fds};
use crate::state::record_state;
use crate::state::{ContainerDir, Status};
use crate::sync::{Tag, send_tag, socketpair};
use crate::{Error, Result, spec};

/// Configures a process to run in a container; see [`Container::exec`].
#[derive(Debug)]
pub struct ExecBuilder<'a> {
    container: &'a Container,
    process: Process,
    sub_cgroup: Option<String>,
    ignore_paused: bool,
    io: ProcessIo,
    /// The file to execute instead of `args[0]` looked up (a hook's `path`).
    executable: Option<String>,
}

/// A process started by [`ExecBuilder::spawn`]. Dropping it without [`wait`](Self::wait)
/// leaves it running and reaps it in the background when it exits: an unreaped
/// process would keep the container's pid namespace, and its delete, from ending.
#[derive(Debug)]
pub struct ExecProcess {
    pid: i32,
    pidfd: Option<OwnedFd>,
    pty_master: Option<OwnedFd>,
}

impl Drop for ExecProcess {
    fn drop(&mut self) {
        if let Some(fd) = self.pidfd.take() {
            let _ = std::thread::Builder::new()
                .name("ocirun-exec-reaper".into())
                .spawn(move || pidfd::reap(&fd, true));
        }
    }
}

impl ExecProcess {
    /// Its pid in the runtime's pid namespace.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// The master of its pty, with `process.terminal` and [`ExecBuilder::keep_pty_master`]; once.
    pub fn take_pty_master(&mut self) -> Option<OwnedFd> {
        self.pty_master.take()
    }

    /// A pidfd naming it, to poll or signal.
    pub fn pidfd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.pidfd.as_ref().expect("held until wait or drop").as_fd()
    }

    /// Waits for it to exit and returns how it ended.
    pub fn wait(mut self) -> Result<ExitStatus> {
        let fd = self.pidfd.take().expect("held until wait or drop");
        pidfd::reap(&fd, true)
            .map_err(|source| Error::Sys {
                op: "wait for the exec'd process",
                source,
            })?
            .ok_or_else(|| Error::InitDied("it was already reaped".into()))
    }
}

impl Container {
    /// A builder for `process` run inside this container (runc's `exec`).
    pub fn exec(&self, process: Process) -> ExecBuilder<'_> {
        ExecBuilder {
            container: self,
            process,
            sub_cgroup: None,
            ignore_paused: false,
            io: ProcessIo::default(),
            executable: None,
        }
    }
}

impl Container {
    /// The spec the container was created with (read without the lock: see [`crate::state`]).
    pub fn spec(&self) -> Result<oci_spec::runtime::Spec> {
        self.store.read_spec(self.id())
    }
}

impl ExecBuilder<'_> {
    process_io_setters!("process");

    /// Put the process in this existing sub-cgroup of the container's cgroup (`--cgroup`).
    pub fn sub_cgroup(mut self, path: impl Into<String>) -> Self {
        self.sub_cgroup = Some(path.into());
        self
    }

    /// Run even when the container is paused (`--ignore-paused`).
    pub fn ignore_paused(mut self, yes: bool) -> Self {
        self.ignore_paused = yes;
        self
    }

    /// Execute this absolute path in the container, with `args` as its argv (a hook's `path`).
    pub(crate) fn executable(mut self, path: impl Into<String>) -> Self {
        self.executable = Some(path.into());
        self
    }

    /// Starts the process; it runs the user program once this returns.
    pub fn spawn(self) -> Result<ExecProcess> {
        // Before the runtime opens anything: see reserve_passed_fds.
        let closed_fds = reserve_passed_fds(self.io.preserve_fds)?;
        let dir = self.container.store.open(self.container.id())?;
        self.spawn_in(DirLock::Owned(dir), closed_fds)
    }

    /// [`spawn`](Self::spawn) with the container's directory open and locked as `dir`: owned by
    /// an exec, which lets the lock go before it clones its process (see [`crate::state`]): a
    /// child holds the lock's open file description until its first step closes its fds, and
    /// one cloned into a cgroup a pause froze meanwhile never takes that step, so the lock
    /// would stay held, by a frozen process, for ever; borrowed from `start`, for its
    /// startContainer hooks (start's lock keeps a pause out until they are done).
    /// `closed_fds` are the placeholders of its passed fds that are not open.
    pub(crate) fn spawn_in(self, dir: DirLock<'_>, closed_fds: Vec<OwnedFd>) -> Result<ExecProcess> {
        let c = self.container;
        let status = c.status_in(&dir);
        match status {
            Status::Created | Status::Running => {}
            Status::Paused if self.ignore_paused => {}
            _ => {
                return Err(Error::BadStatus {
                    op: "exec",
                    id: c.id().to_string(),
                    status,
                });
            }
        }
        let mut spec = dir.load_spec()?;
        let init = c.init_pidfd("exec")?;
        // In the runtime's mount namespace the process enters the init's root itself.
        let host_root = if spec::shares_mount_namespace(&spec) {
            Some(c.root_dir("exec")?)
        } else {
            None
        };
        let joins: Vec<LinuxNamespace> = namespaces::differing_namespaces(c.pid())
            .map_err(Error::Namespace)?
            .into_iter()
            .map(|(kind, path)| {
                let mut ns = LinuxNamespace::default();
                ns.set_typ(LinuxNamespaceType::from(kind)).set_path(Some(path));
                ns
            })
            .collect();
        // The namespaces are open: if the init is still the same process now, they are its own.
        if pidfd::wait_exited(init.as_fd(), Some(std::time::Duration::ZERO)).unwrap_or(true) {
            return Err(Error::BadStatus {
                op: "exec",
                id: c.id().to_string(),
                status: Status::Stopped,
            });
        }
        let mut linux = spec.linux().clone().unwrap_or_default();
        linux
            .set_namespaces(Some(joins))
            .set_uid_mappings(None)
            .set_gid_mappings(None)
            .set_time_offsets(None)
            .set_masked_paths(None)
            .set_readonly_paths(None)
            .set_sysctl(None);
        spec.set_linux(Some(linux))
            .set_process(Some(self.process))
            .set_hostname(None)
            .set_domainname(None)
            .set_hooks(None);
        spec::validate(&spec)?;
        let terminal = spec.process().as_ref().and_then(|p| p.terminal()).unwrap_or(false);
        let console = self.io.console(terminal)?;
        let pidfd_socket = self.io.pidfd_socket()?;
        // A rootless container without a cgroup: the process stays in the caller's, as runc's.
        let mut cgroup = if c.has_cgroup() || self.sub_cgroup.is_some() {
            Some(c.cgroup_of(self.sub_cgroup.as_deref())?)
        } else {
            None
        };
        let unprivileged = ocirun_sys::process::unprivileged();
        let setgroups_denied = unprivileged && setgroups_denied(c.pid())?;
        // The status is read, the namespaces are open: the lock goes before the clone. A delete
        // from now on either finds the process in the cgroup and kills it, or has removed the
        // cgroup, and the process cannot join it.
        if let DirLock::Owned(dir) = dir {
            drop(dir);
        }
        let (parent_sock, child_sock) = socketpair()?;
        let mut plan = InitPlan::compile(
            &spec,
            PlanOptions {
                rootfs: &c.record().rootfs,
                host_root,
                no_pivot: false,
                preserve_fds: self.io.preserve_fds,
                fifo: None,
                cgroup_mounts: Vec::new(),
                stdio: self.io.stdio,
                closed_fds,
                sync: child_sock,
                exec: true,
                listen_fds: 0,
                cgroup_tasks: Vec::new(),
                session_keyring: (!c.record().no_new_keyring).then(|| crate::create::session_keyring_name(c.id())),
                unprivileged,
                setgroups_denied,
            },
        )?;
        if let Some(path) = &self.executable {
            plan.set_executable(path)?;
        }
        // On cgroup v2 a cgroup that enabled controllers for its children (a container running
        // systemd did) takes no process (EBUSY): the process then joins the init's own cgroup
        // below it, as runc does. Not for an explicit --cgroup, which must be what it says.
        let busy = |errno: Option<i32>| errno == Some(libc::EBUSY) && self.sub_cgroup.is_none();
        let mut spawned = spawn_into(&mut plan, cgroup.as_ref());
        if let Err(namespaces::NamespaceError::Clone { source, .. }) = &spawned
            && busy(source.raw_os_error())
        {
            cgroup = Some(c.init_cgroup()?);
            spawned = spawn_into(&mut plan, cgroup.as_ref());
        }
        let spawned = spawned.map_err(Error::Namespace)?;
        let mut child = KillOnDrop(Some(spawned.pidfd));
        // The affinity and the cgroup are the first child's, which its own child inherits.
        plan.apply_initial_affinity(spawned.pid)?;
        if let Some(cgroup) = cgroup.as_ref().filter(|_| !spawned.in_cgroup) {
            match cgroup.add_process(spawned.pid) {
                Err(cgroups::CgroupError::Write { source, .. }) if busy(source.raw_os_error()) => {
                    c.init_cgroup()?.add_process(spawned.pid).map_err(Error::Cgroup)?;
                }
                other => other.map_err(Error::Cgroup)?,
            }
        }
        send_tag(&parent_sock, Tag::Go)?;
        // With a pid namespace to join, the first child hands over the process it made there.
        let state = record_state(c.record(), ContainerState::Running);
        let tail = launch::Tail {
            sock: &parent_sock,
            plan: &plan,
            state: &state,
            console,
            pid_file: self.io.pid_file.as_deref(),
            pidfd_socket,
        };
        let launched = launch::finish(tail, &mut child.0, spawned.pid, &mut |_| Ok(()), &mut |_| Ok(()))?;
        Ok(ExecProcess {
            pid: launched.pid,
            pidfd: Some(child.disarm()),
            pty_master: launched.pty_master,
        })
    }
}

/// The container's directory, locked, as [`ExecBuilder::spawn_in`] holds it.
pub(crate) enum DirLock<'a> {
    /// Opened for this exec: released before the wait on its process.
    Owned(ContainerDir),
    /// The caller's (`start`), held by it throughout.
    Borrowed(&'a ContainerDir),
}

impl std::ops::Deref for DirLock<'_> {
    type Target = ContainerDir;

    fn deref(&self) -> &ContainerDir {
        match self {
            DirLock::Owned(dir) => dir,
            DirLock::Borrowed(dir) => dir,
        }
    }
}

/// Kills and reaps a half-started exec'd process when spawn fails.
struct KillOnDrop(Option<OwnedFd>);

impl KillOnDrop {
    fn disarm(mut self) -> OwnedFd {
        self.0.take().expect("armed")
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        launch::kill_and_reap(self.0.take());
    }
}

/// Whether `setgroups` is `deny` in the user namespace of process `pid` (a container an
/// unprivileged runtime made with a gid map of the caller's gid alone).
fn setgroups_denied(pid: i32) -> Result<bool> {
    let path = std::path::PathBuf::from(format!("/proc/{pid}/setgroups"));
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io("read", &path, e))?;
    Ok(text.trim() == "deny")
}

/// Makes the exec's first child, born in `cgroup`'s v2 directory where the kernel can.
fn spawn_into(
    plan: &mut InitPlan,
    cgroup: Option<&cgroups::Cgroup>,
) -> std::result::Result<namespaces::Spawned, namespaces::NamespaceError> {
    // Not the container's pid namespace: the child joins every other namespace first and
    // then makes, in the pid namespace, the process that runs (InitPlan::run).
    let cgroup_fd = cgroup.and_then(|c| c.unified_dir_fd());
    launch::clone(plan, cgroup_fd.as_ref().map(|f| f.as_fd()))
}
