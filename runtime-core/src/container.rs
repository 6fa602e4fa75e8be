//! [`Container`]: the handle on a container in the state store, and every lifecycle operation
//! on it after create (start, kill, wait, delete).

use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cgroups::Cgroup;
use namespaces::NamespaceKind;
use namespaces::pidfd::{self, ExitStatus};
use oci_spec::runtime::{ContainerState, Spec};

use crate::builder::ContainerBuilder;
use crate::hooks::{self, HookKind};
use crate::state::{ContainerDir, Record, State, Status, Store, record_state, state_of, status_of};
use crate::{Error, Result};

/// A container in the state store, and, when this process created it, its init's pidfd.
#[derive(Debug)]
pub struct Container {
    pub(crate) store: Store,
    pub(crate) record: Record,
    pub(crate) pidfd: Option<OwnedFd>,
    pub(crate) is_parent: bool,
    pub(crate) pty_master: Option<OwnedFd>,
    /// The cgroup as create resolved it, so delete need not find the hierarchies again.
    pub(crate) cgroup: Option<Cgroup>,
}

/// Opens a pidfd for the record's init, checking it is still the same process.
pub(crate) fn open_init(record: &Record) -> Option<OwnedFd> {
    let fd = pidfd::open(record.pid).ok()?;
    // Checked after opening: if it matches now, the pidfd names the right process.
    crate::state::is_alive(record.pid, record.pid_start_time).then_some(fd)
}

/// Writes the byte that lets the init exec into the exec fifo, without blocking: with no
/// reader, which only the init is, the init is gone (ENXIO, or EPIPE once open).
fn write_fifo(path: &Path) -> Result<()> {
    let gone = || Error::InitDied("it exited before start".into());
    let fifo = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ENXIO) => gone(),
            _ => Error::io("open exec fifo", path, e),
        })?;
    match ocirun_sys::fs::write_whole(fifo.as_fd(), b"0") {
        Ok(()) => Ok(()),
        Err(libc::EPIPE) => Err(gone()),
        Err(e) => Err(Error::io("write exec fifo", path, std::io::Error::from_raw_os_error(e))),
    }
}

/// Deletes container `id` under `root` whatever its state, as runc's `delete --force`: a
/// container is killed and removed with everything it made ([`Container::delete`] with
/// `force`); a directory that a create killed before it wrote its record left is removed
/// under its lock, with what create recorded there (a rootfs bind in the runtime's mount
/// namespace is detached); an unknown id is no error.
pub fn force_delete(root: impl Into<PathBuf>, id: &str) -> Result<()> {
    let root = root.into();
    match Container::load(&root, id) {
        Ok(c) => c.delete(true),
        Err(Error::NotFound(_)) => match Store::new(root).open(id) {
            Ok(dir) => dir.remove(),
            Err(Error::NotFound(_) | Error::InvalidId(_)) => Ok(()),
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    }
}

/// Whether the namespace list of a spec creates `kind` (not joins it).
pub fn creates_namespace(spec: &Spec, kind: NamespaceKind) -> bool {
    spec.linux().as_ref().is_some_and(|l| {
        l.namespaces()
            .iter()
            .flatten()
            .any(|ns| NamespaceKind::from(ns.typ()) == kind && ns.path().is_none())
    })
}

impl Container {
    /// A builder for a new container.
    pub fn builder(id: impl Into<String>) -> ContainerBuilder {
        ContainerBuilder::new(id)
    }

    /// Loads an existing container from the store at `root` (its record, read without its
    /// lock: see [`crate::state`]).
    pub fn load(root: impl Into<PathBuf>, id: &str) -> Result<Container> {
        let store = Store::new(root);
        let record = store.read(id)?;
        Ok(Container {
            store,
            record,
            pidfd: None,
            is_parent: false,
            pty_master: None,
            cgroup: None,
        })
    }

    /// The container id.
    pub fn id(&self) -> &str {
        &self.record.id
    }

    /// The init's pid in the runtime's pid namespace.
    pub fn pid(&self) -> i32 {
        self.record.pid
    }

    /// The init's pidfd, when this process created or started the container.
    pub fn pidfd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        self.pidfd.as_ref().map(|fd| fd.as_fd())
    }

    /// The state store record.
    pub fn record(&self) -> &Record {
        &self.record
    }

    /// The master of the container's pty, once: set when it was created with
    /// [`ContainerBuilder::keep_pty_master`]. Reading it gives the container's output,
    /// writing to it types into its terminal.
    pub fn take_pty_master(&mut self) -> Option<OwnedFd> {
        self.pty_master.take()
    }

    /// The status now, with the state directory open.
    pub(crate) fn status_in(&self, dir: &ContainerDir) -> Status {
        status_of(dir.path(), &self.record, self.cgroup.as_ref())
    }

    /// The status now (read without the lock: see [`crate::state`]).
    pub fn status(&self) -> Result<Status> {
        let dir = self.store.dir_path(self.id());
        if !dir.exists() {
            return Err(Error::NotFound(self.id().to_string()));
        }
        Ok(status_of(&dir, &self.record, self.cgroup.as_ref()))
    }

    /// The OCI state now.
    pub fn state(&self) -> Result<State> {
        let status = self.status()?;
        Ok(state_of(&self.record, status))
    }

    /// Starts the user process of a created container.
    pub fn start(&mut self) -> Result<()> {
        let dir = self.store.open(self.id())?;
        let status = self.status_in(&dir);
        if status != Status::Created {
            return Err(Error::BadStatus {
                op: "start",
                id: self.id().to_string(),
                status,
            });
        }
        self.start_in(&dir, true)?;
        drop(dir);
        self.run_poststart();
        Ok(())
    }

    /// Runs the poststart hooks, once started and without the directory's lock.
    pub(crate) fn run_poststart(&self) {
        hooks::run_warn(HookKind::Poststart, self.record.hooks.as_ref(), || {
            record_state(&self.record, ContainerState::Running)
        });
    }

    /// Starts the init of a container known to be created, its directory locked as `dir`;
    /// `exec_fifo` says whether the init waits on the exec fifo (else it has exec'd already).
    /// The poststart hooks are the caller's, after the lock.
    pub(crate) fn start_in(&mut self, dir: &ContainerDir, exec_fifo: bool) -> Result<()> {
        let init = match self.pidfd.take() {
            Some(fd) => fd,
            None => self.init_pidfd("start")?,
        };
        let hooks = self.record.hooks.as_ref();
        if let Err(e) =
            hooks::run_start_container(self, dir, hooks, || record_state(&self.record, ContainerState::Created))
        {
            // The spec: a failed startContainer hook stops the container.
            let _ = pidfd::send_signal(init.as_fd(), libc::SIGKILL);
            self.pidfd = Some(init);
            return Err(e);
        }
        self.pidfd = Some(init);
        if exec_fifo {
            write_fifo(&dir.fifo_path())?;
            let _ = std::fs::remove_file(dir.fifo_path());
        }
        Ok(())
    }

    /// Sends `signal` to the init, or with `all` to every process of the container, as
    /// `runc kill` 1.1 does in every state. Signal 0 checks that the init exists; any other
    /// number goes to the kernel, which refuses what is not a signal. A stopped container's
    /// init gets [`Error::NotRunning`]; with `all`, the processes still in its cgroup (those of
    /// a container without its own pid namespace outlive the init) are signalled and a stopped
    /// container with none succeeds: containerd's shim sends `kill --all 9` after every exit.
    pub fn kill(&self, signal: i32, all: bool) -> Result<()> {
        let dir = self.store.open(self.id())?;
        let status = self.status_in(&dir);
        // Without a cgroup (rootless) the init alone is signalled, as runc does.
        if all && self.has_cgroup() {
            let cgroup = self.cgroup()?;
            if status == Status::Stopped && !cgroup.exists() {
                return Ok(());
            }
            // The freeze around the signals waits on the container's processes: not under
            // the lock. A delete that removes the cgroup meanwhile left nothing to signal.
            drop(dir);
            return match cgroup.signal_all(signal, |msg| hooks::warn(&msg)) {
                Err(_) if !cgroup.exists() => Ok(()),
                other => other.map_err(Error::Cgroup),
            };
        }
        let not_running = || Error::NotRunning {
            id: self.id().to_string(),
        };
        if status == Status::Stopped {
            if all {
                return Ok(());
            }
            return Err(not_running());
        }
        let fd = match &self.pidfd {
            Some(fd) => fd.try_clone().map_err(|e| Error::Sys {
                op: "dup pidfd",
                source: e,
            })?,
            None => open_init(&self.record).ok_or_else(not_running)?,
        };
        pidfd::send_signal(fd.as_fd(), signal).map_err(|source| match source.raw_os_error() {
            // It exited after the status was read.
            Some(libc::ESRCH) => not_running(),
            _ => Error::Sys {
                op: "signal the container's init",
                source,
            },
        })?;
        self.thaw_after_kill(signal, status);
        Ok(())
    }

    /// Waits for the init to exit and returns how it ended; only the process that created it can.
    pub fn wait(&mut self) -> Result<ExitStatus> {
        match (&self.pidfd, self.is_parent) {
            (Some(fd), true) => pidfd::reap(fd, true)
                .map_err(|source| Error::Sys {
                    op: "wait for the container",
                    source,
                })?
                .ok_or_else(|| Error::InitDied("it was already reaped".into())),
            _ => Err(Error::Sys {
                op: "wait for the container: only its creator can read its exit status",
                source: std::io::Error::from_raw_os_error(libc::ECHILD),
            }),
        }
    }

    /// Deletes a stopped or created container (any container with `force`),
    /// leaving no process, cgroup or state behind.
    pub fn delete(mut self, force: bool) -> Result<()> {
        self.delete_inner(force)
    }

    /// A pidfd for the init, or an error naming `op` when it is gone.
    pub(crate) fn init_pidfd(&self, op: &'static str) -> Result<OwnedFd> {
        open_init(&self.record).ok_or(Error::BadStatus {
            op,
            id: self.id().to_string(),
            status: Status::Stopped,
        })
    }

    /// Deletes under the directory's lock what needs no wait; what does (the init's exit after
    /// SIGKILL, processes left in the cgroup) is waited for without it, and the lock taken
    /// again for the rest. A delete that came first and removed everything is a success.
    pub(crate) fn delete_inner(&mut self, force: bool) -> Result<()> {
        let dir = self.store.open(self.id())?;
        let status = self.status_in(&dir);
        match status {
            Status::Stopped | Status::Created => {}
            // A create under way in another process is its own to finish or undo.
            Status::Creating | Status::Running | Status::Paused if force => {}
            _ => {
                return Err(Error::BadStatus {
                    op: "delete",
                    id: self.id().to_string(),
                    status,
                });
            }
        }
        let mut init = None;
        if status != Status::Stopped {
            init = match self.pidfd.take() {
                Some(fd) => Some(fd),
                None => open_init(&self.record),
            };
            if let Some(fd) = &init {
                let _ = pidfd::send_signal(fd.as_fd(), libc::SIGKILL);
                self.thaw_after_kill(libc::SIGKILL, status);
            }
        }
        // A rootless container may run without a cgroup of its own.
        let cgroup = match self.cgroup.take() {
            Some(cgroup) => Some(cgroup),
            None if self.has_cgroup() => Some(self.cgroup_of(None)?),
            None => None,
        };
        if init.is_none() {
            if let (Some(fd), true) = (&self.pidfd, self.is_parent) {
                // Stopped: the reap finds it exited, or gone already.
                let _ = pidfd::reap(fd, true);
            }
            // The usual end of a stopped container: nothing to wait for.
            if cgroup.as_ref().is_none_or(Cgroup::remove_if_empty) {
                return self.remove_dir(dir);
            }
        }
        drop(dir);
        if let Some(fd) = init {
            // Thawed again while waiting: a pause between the kill and here would keep a
            // SIGKILLed process of a v1 freezer from dying.
            let mut exited = false;
            for _ in 0..100 {
                match pidfd::wait_exited(fd.as_fd(), Some(Duration::from_millis(100))) {
                    Ok(true) => {
                        exited = true;
                        break;
                    }
                    Ok(false) => {
                        if let Some(cgroup) = &cgroup {
                            let _ = cgroup.thaw();
                        }
                    }
                    Err(_) => break,
                }
            }
            if self.is_parent {
                // An init that outlives SIGKILL waits for processes of its pid namespace
                // that nobody reaps: never block on it.
                let _ = pidfd::reap(&fd, exited);
            }
            self.pidfd = Some(fd);
        }
        let Some(cgroup) = cgroup else {
            let Some(dir) = self.reopen()? else { return Ok(()) };
            return self.remove_dir(dir);
        };
        // Kills what is left in the cgroup, waits until it is empty and removes it.
        cgroup.remove().map_err(Error::Cgroup)?;
        let Some(dir) = self.reopen()? else { return Ok(()) };
        // An exec that got its process into the cgroup while the lock was free: the
        // container's init is dead now, so no other can; without a wait if it is empty.
        if !cgroup.remove_if_empty() {
            drop(dir);
            cgroup.remove().map_err(Error::Cgroup)?;
            let Some(dir) = self.reopen()? else { return Ok(()) };
            return self.remove_dir(dir);
        }
        self.remove_dir(dir)
    }

    /// The directory locked again after a wait without the lock; `None` when another delete
    /// finished this container meanwhile (its directory gone, or made anew by a later create
    /// of the same id: the record names another init).
    fn reopen(&self) -> Result<Option<ContainerDir>> {
        let dir = match self.store.open(self.id()) {
            Ok(dir) => dir,
            Err(Error::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        let ours = dir.load()?.is_some_and(|r| {
            r.pid == self.record.pid
                && r.pid_start_time == self.record.pid_start_time
                && r.created == self.record.created
        });
        Ok(ours.then_some(dir))
    }

    /// Removes the state directory, lets its lock go, then runs the poststop hooks.
    fn remove_dir(&self, dir: ContainerDir) -> Result<()> {
        dir.remove()?;
        hooks::run_warn(HookKind::Poststop, self.record.hooks.as_ref(), || {
            record_state(&self.record, ContainerState::Stopped)
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::{Container, Error, Status};

    // Moved from tests/lifecycle.rs: it writes a record through the store, which is private.
    /// Issue 17: the record create writes before it makes anything (its intent: no init yet) is
    /// `creating` while its creator runs, and delete without force refuses it, naming why; once
    /// the creator is gone it is `stopped`, and delete removes it.
    #[test]
    fn an_intent_record_is_creating_while_its_creator_runs_and_stopped_after() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("state");
        let id = test_support::unique_id("intent");
        let me = std::process::id() as i32;
        let (_, start) = crate::state::proc_stat(me).unwrap();
        let store = crate::state::Store::new(&root);
        let intent = |written: u64| crate::state::Record {
            oci_version: "1.0.2".into(),
            id: id.clone(),
            pid: 0,
            pid_start_time: 0,
            bundle: tmp.path().to_path_buf(),
            rootfs: tmp.path().join("rootfs"),
            created: crate::state::now_rfc3339(),
            annotations: Default::default(),
            // A cgroup that was never made: removing it is a no-op.
            cgroup_path: format!("/{}/{id}", test_support::cgroup_parent()),
            systemd_cgroup: false,
            hooks: None,
            no_new_keyring: false,
            rootless: false,
            creator: Some((me, written)),
        };
        store.create(&id).unwrap().save(&intent(start)).unwrap();
        let c = Container::load(&root, &id).unwrap();
        assert_eq!(c.state().unwrap().status, Status::Creating);
        assert_eq!(c.state().unwrap().pid, 0);
        let listed = crate::list(&root).unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].status, Status::Creating);
        let e = c.delete(false).unwrap_err();
        assert!(
            matches!(
                e,
                Error::BadStatus {
                    status: Status::Creating,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("still creating"), "{e}");
        assert!(root.join(&id).exists());
        // An intent written before this process started is another's, gone (its pid reused).
        store.open(&id).unwrap().save(&intent(start - 1)).unwrap();
        let c = Container::load(&root, &id).unwrap();
        assert_eq!(c.state().unwrap().status, Status::Stopped);
        c.delete(false).unwrap();
        assert!(!root.join(&id).exists());
    }
}
