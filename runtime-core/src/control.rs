//! Resource control of a live container through its cgroup: pause, resume, ps, stats and update.

use cgroups::{Cgroup, FreezerState, Hierarchies, OomNotifier, Stats};
use oci_spec::runtime::LinuxResources;

use crate::container::Container;
use crate::state::{Record, Status};
use crate::{Error, Result};

impl Container {
    /// Freezes every process of a created or running container (runc's `pause`), waiting until
    /// the kernel reports the cgroup frozen: after the directory's lock, which is held only to
    /// check the status (see [`crate::state`]).
    pub fn pause(&self) -> Result<()> {
        let dir = self.store.open(self.id())?;
        let status = self.status_in(&dir);
        if !matches!(status, Status::Running | Status::Created) {
            return Err(self.bad_status("pause", status));
        }
        let cgroup = self.cgroup()?;
        drop(dir);
        cgroup.freeze().map_err(Error::Cgroup)
    }

    /// Thaws a paused container (runc's `resume`).
    pub fn resume(&self) -> Result<()> {
        let dir = self.store.open(self.id())?;
        let status = self.status_in(&dir);
        if status != Status::Paused {
            return Err(self.bad_status("resume", status));
        }
        self.cgroup()?.thaw().map_err(Error::Cgroup)
    }

    /// The host pids of every process in the container's cgroup, nested cgroups included, sorted
    /// (runc's `ps --format json`).
    pub fn pids(&self) -> Result<Vec<i32>> {
        self.check_stored()?;
        self.cgroup()?.pids().map_err(Error::Cgroup)
    }

    /// The cgroup statistics `runc events --stats` prints as its "data" object. A stopped
    /// container's cgroup still answers until it is deleted (its memory failcnt, for one).
    pub fn stats(&self) -> Result<Stats> {
        self.check_stored()?;
        let cgroup = self.cgroup()?;
        if !cgroup.exists() {
            return Err(Error::BadStatus {
                op: "read the stats of",
                id: self.id().to_string(),
                status: Status::Stopped,
            });
        }
        cgroup.stats().map_err(Error::Cgroup)
    }

    /// Starts listening for the container's OOM events (what `runc events` streams as "oom").
    pub fn oom_notifier(&self) -> Result<OomNotifier> {
        self.check_stored()?;
        self.cgroup()?.oom_notifier().map_err(Error::Cgroup)
    }

    /// Changes the resources of a created, running or paused container (runc's `update`).
    ///
    /// Only the fields given are written; zero means "leave as it is" (runc's update template is
    /// all zeros), `pids.limit` included, and -1 means unlimited. `memory.checkBeforeUpdate`
    /// refuses a limit below the current usage. Device rules cannot be updated (runc ignores
    /// them; here they are an error naming the field). The cgroup files stay the only record of
    /// the limits in force, so `stats` and later updates always see what the kernel holds.
    pub fn update(&self, resources: &LinuxResources) -> Result<()> {
        let dir = self.store.open(self.id())?;
        let status = self.status_in(&dir);
        if matches!(status, Status::Stopped | Status::Creating) {
            return Err(self.bad_status("update", status));
        }
        if resources.devices().as_ref().is_some_and(|d| !d.is_empty()) {
            return Err(Error::spec(
                "linux.resources.devices",
                "the device rules of a container cannot be updated",
            ));
        }
        crate::spec::warn_ignored_resources(Some(resources));
        let mut resources = resources.clone();
        if resources.pids().is_some_and(|p| p.limit() == 0) {
            resources.set_pids(None);
        }
        self.cgroup()?.update(&resources).map_err(Error::Cgroup)
    }

    /// After a signal to a paused container: a SIGKILL'd process in a frozen cgroup dies only
    /// once thawed, so thaw it, as runc does. Best effort: delete removes the cgroup regardless.
    pub(crate) fn thaw_after_kill(&self, signal: i32, status: Status) {
        if signal == libc::SIGKILL
            && status == Status::Paused
            && let Ok(cgroup) = self.cgroup()
        {
            let _ = cgroup.thaw();
        }
    }

    /// That the container is still in the store, for the readers, which take no lock
    /// (see [`crate::state`]).
    fn check_stored(&self) -> Result<()> {
        if self.store.dir_path(self.id()).exists() {
            Ok(())
        } else {
            Err(Error::NotFound(self.id().to_string()))
        }
    }

    fn bad_status(&self, op: &'static str, status: Status) -> Error {
        Error::BadStatus {
            op,
            id: self.id().to_string(),
            status,
        }
    }
}

/// Whether the container's cgroup is frozen (status "paused"); false when it cannot be read.
pub(crate) fn is_frozen(record: &Record, cgroup: Option<&Cgroup>) -> bool {
    let state = match cgroup {
        Some(cg) => cg.state(),
        None => {
            let Ok(h) = Hierarchies::detect() else {
                return false;
            };
            Cgroup::new(&h, Some(&record.cgroup_path), &record.id).and_then(|cg| cg.state())
        }
    };
    state.is_ok_and(|s| s == FreezerState::Frozen)
}
