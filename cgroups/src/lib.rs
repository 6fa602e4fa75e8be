//! ocirun cgroups: container resource control on cgroup v1, v2 and hybrid hosts.
//!
//! [`Hierarchies::detect`] finds how cgroups are mounted; [`Cgroup::new`] resolves
//! `linux.cgroupsPath` to a cgroup path (`/ocirun/<id>`) without touching the filesystem;
//! [`Cgroup::create`] makes the directory in every hierarchy and applies `linux.resources`;
//! [`Cgroup::add_process`] (or, for a new child, [`Cgroup::create_unified`] and
//! [`Cgroup::clone_into_fd`] before its clone, [`Cgroup::create_rest`], [`Cgroup::v1_tasks`]
//! and [`join_self`] after it),
//! [`Cgroup::freeze`], [`Cgroup::stats`], [`Cgroup::oom_notifier`], [`Cgroup::update`] and
//! [`Cgroup::remove`] do the rest of a container's life.
//!
//! Each resource class goes to the hierarchy that has its controller: on a hybrid host a
//! controller bound to the v2 mount (hugetlb on the build machine) is written in v2 format, the
//! others in v1 format. A spec value the host cannot express is an error naming the field.
//!
//! # Why no cgroups-rs
//! The file I/O is written here directly instead of using `cgroups-rs`: its 0.5 line pulls in
//! zbus (an async D-Bus stack) and its 0.3 line an old `nix`, both heavy for a runtime whose
//! spawn latency is a goal; it also applies values its own way (skipping what it cannot set,
//! different write orders), while this crate must write exactly the files and values runc
//! writes and refuse what it cannot express. The files are few and their formats stable.
//!
//! # Where each path is tested
//! - On the build machines (hybrid: v1 controllers, cgroup2 with only hugetlb): every v1
//!   controller a spec can set, hugetlb in v2 format, the v2 device eBPF program (attached to a
//!   cgroup of the v2 mount and checked by opening devices from a process in it), freeze, OOM
//!   notification and stats, with real containers (cli/tests/cgroups.rs).
//! - On the VM test host (scripts/vm-test.sh: Debian's 6.1 kernel, pure cgroup v2, systemd as
//!   pid 1; cli/tests/vm_host.rs): memory, cpu, cpuset, io weight and throttle, pids, hugetlb and
//!   `unified` keys read back from inside the container, controllers enabled up a nested path,
//!   the container's own /sys/fs/cgroup, and the systemd driver's delegated scope.
//! - Only against a temp dir laid out like /sys/fs/cgroup (fake_tests.rs), checking every file
//!   and value written: v2 rdma, io.bfq.weight, cpu.idle, v1 net_cls, net_prio, rdma and blkio
//!   weights (not mounted or not enabled on either host), and removal through cgroup.kill.
//!
//! # Choices where runc is not the whole answer
//! - A relative cgroupsPath is placed under the hierarchy root (runc's cgroupfs driver joins it
//!   onto the runtime's own cgroup); no cgroupsPath gives `/ocirun/<id>`; ".." is refused.
//! - `linux.resources.unified` is an error on v1; on hybrid hosts a key is accepted only for a
//!   controller bound to the v2 mount (or a core `cgroup.*` file), where runc refuses it outright.
//! - `memory.kernel` is not applied: the runtime spec deprecates it and kernels since 5.16
//!   ignore it, so, as runc and youki, it is skipped (runtime-core warns). `memory.kernelTCP` is
//!   written and read back: a kernel that accepts and ignores it is an error (runc ignores the
//!   field). On v2 it, swappiness, disableOOMKiller and useHierarchy=false are errors (runc
//!   skips some silently).
//! - memory.checkBeforeUpdate is honoured on v1 as well as v2.
//! - A v2 update that sets only cpu.period keeps the quota in force (runc writes "max").
//! - A device rule without access means "rwm" (as crun); type "u" and "p" are refused (as runc).
//! - pids.limit 0 or -1 means unlimited, as runc; below -1 is an error.
//! - [`default_device_rules`] is runc's list of always-allowed devices: the caller appends it
//!   to the spec's rules, as runc's spec conversion does; this crate applies exactly what it gets.
//!
//! # The systemd driver
//! [`Cgroup::start_systemd_scope`] asks systemd for a transient scope per container over the
//! system bus, through a D-Bus client of its own (`dbus.rs`: EXTERNAL authentication, method
//! calls, the JobRemoved signal), and sets the limits as unit properties, as runc does. Not
//! root, it asks the caller's own systemd over the user bus instead, as runc's rootless driver,
//! the scope's cgroup being below that manager's own (its `ControlGroup` property).
//!
//! Why not zbus, the field's D-Bus crate: measured on 2026-12-07 (AMD EPYC, 2 vCPUs, other
//! builds running), a program that makes one call with zbus 5 (`blocking-api` on `async-io`,
//! release profile as ocirun's) pulls 85 crates into its tree, is 1.1 MB stripped, runs 4
//! threads after the call and takes 1.4 to 2.1 ms to connect and call a private
//! dbus-daemon. The driver needs four calls and one signal; `dbus.rs` is about 350 lines,
//! adds no thread (the runtime clones the container's init from its own process) and no
//! dependency.

mod dbus;
mod devices;
mod error;
#[cfg(test)]
mod fake_tests;
mod freezer;
mod fsio;
mod hierarchy;
mod oom;
mod path;
mod resources;
mod stats;
mod systemd;

use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use oci_spec::runtime::LinuxResources;

pub use devices::default_device_rules;
pub use error::CgroupError;
pub use freezer::FreezerState;
pub use hierarchy::{Hierarchies, Layout};
pub use oom::OomNotifier;
pub use path::{DEFAULT_PARENT, SystemdPath, expand_slice, parse_systemd};
pub use stats::{
    BlkioEntry, BlkioStats, CpuStats, CpuUsage, HugetlbStats, MemoryEntry, MemoryStats, PidsStats, Stats, Throttling,
};

use error::Result;
use hierarchy::Hierarchy;

/// The longest [`Cgroup::remove`] waits for processes to die.
const KILL_WAIT: Duration = Duration::from_secs(5);
/// The longest [`Cgroup::remove`] retries one rmdir that fails with EBUSY.
const RMDIR_WAIT: Duration = Duration::from_secs(2);

/// A container's cgroup directory in one hierarchy.
#[derive(Debug, Clone)]
pub(crate) struct Dir {
    /// The hierarchy.
    pub(crate) h: Hierarchy,
    /// The host directory of the container's cgroup in it.
    pub(crate) path: PathBuf,
}

/// One hierarchy of a container's cgroup, as a cgroup mount in the container shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HierarchyDir {
    /// The directory name under the cgroup mount (`cpu,cpuacct`, `unified`); "" on a pure v2 host.
    pub name: String,
    /// The v1 mount data (`cpu,cpuacct`, `none,name=systemd`); "" for v2.
    pub mount_data: String,
    /// The hierarchy is cgroup v2.
    pub unified: bool,
    /// The hierarchy's host mount point.
    pub root: PathBuf,
    /// The container's cgroup directory on the host, below `root`.
    pub dir: PathBuf,
}

/// A container's cgroup in every hierarchy.
#[derive(Debug, Clone)]
pub struct Cgroup {
    path: String,
    layout: Layout,
    dirs: Vec<Dir>,
    /// With the systemd driver: the scope unit and its slice.
    unit: Option<(String, String)>,
    /// With the systemd driver: the unit is the caller's own systemd's, over the user bus
    /// (not root: runc's rootless systemd driver).
    user: bool,
}

impl Cgroup {
    /// Resolves linux.cgroupsPath (None -> `/ocirun/<id>`; relative -> under the hierarchy root;
    /// ".." refused) for the cgroupfs driver, without touching the filesystem.
    pub fn new(h: &Hierarchies, cgroups_path: Option<&str>, id: &str) -> Result<Cgroup> {
        let path = path::resolve(cgroups_path, id)?;
        Ok(Self::at(h, path))
    }

    /// Resolves a systemd-driver cgroupsPath ("slice:prefix:name") to the scope unit systemd
    /// will make; errors when the bus cannot be reached. As root that is the system's systemd,
    /// and nothing is asked of it until [`Cgroup::start_systemd_scope`]. Not root, it is the
    /// caller's own systemd over the user bus, as runc's rootless driver: the default slice is
    /// "user.slice", and the scope's cgroup lies below the user manager's own cgroup, which
    /// is asked for here ("/user.slice/user-1000.slice/user@1000.service/user.slice/x.scope").
    pub fn new_systemd(h: &Hierarchies, cgroups_path: Option<&str>, id: &str) -> Result<Cgroup> {
        let user = ocirun_sys::process::unprivileged();
        let default_slice = if user { "user.slice" } else { "system.slice" };
        let parsed = path::parse_systemd_in(cgroups_path, id, default_slice)?;
        path::require_systemd(cgroups_path.unwrap_or(&parsed.path), user)?;
        let full = if user {
            let manager = systemd::user_manager_cgroup(&parsed.unit)?;
            format!("{}{}", manager.trim_end_matches('/'), parsed.path)
        } else {
            parsed.path
        };
        let mut cg = Self::at(h, full);
        cg.unit = Some((parsed.unit, parsed.slice));
        cg.user = user;
        Ok(cg)
    }

    /// The cgroup of a scope the systemd driver made, from the path stored for it
    /// ("/system.slice/ocirun-abc.scope"): its unit is the last component, its slice the one
    /// before; not root, the unit is the caller's own systemd's, as when it was made.
    pub fn systemd_at(h: &Hierarchies, path: &str) -> Cgroup {
        let mut parts = path.rsplit('/');
        let unit = parts.next().unwrap_or_default().to_string();
        let slice = parts.next().filter(|s| !s.is_empty()).unwrap_or("-.slice").to_string();
        let mut cg = Self::at(h, path.to_string());
        cg.unit = Some((unit, slice));
        cg.user = ocirun_sys::process::unprivileged();
        cg
    }

    /// With the systemd driver, asks systemd for the transient scope with `pid` in it
    /// (`Delegate=yes`, `resources` as unit properties), and waits until it runs; nothing to
    /// do with the cgroupfs driver. [`Cgroup::create`] then writes the resources, as runc's
    /// driver does.
    pub fn start_systemd_scope(&self, pid: i32, description: &str, resources: Option<&LinuxResources>) -> Result<()> {
        match &self.unit {
            Some((unit, slice)) => {
                let limits = match resources {
                    Some(r) => systemd::properties(r, self.layout == Layout::V2)?,
                    None => Vec::new(),
                };
                systemd::start_scope(unit, slice, pid as u32, description, limits, self.user)
            }
            None => Ok(()),
        }
    }

    /// The cgroup process `pid` is in, in every hierarchy (`/proc/<pid>/cgroup`); its path is
    /// the v2 one, else the first hierarchy's. For a rootless container without a cgroup of
    /// its own: its cgroup mounts show the caller's cgroups, as runc's do.
    pub fn of_process(h: &Hierarchies, pid: i32) -> Result<Cgroup> {
        let file = PathBuf::from(format!("/proc/{pid}/cgroup"));
        let text = std::fs::read_to_string(&file).map_err(|source| CgroupError::Read {
            path: file.clone(),
            source,
        })?;
        let mut dirs = Vec::new();
        for hier in &h.list {
            let found = text.lines().find_map(|l| {
                let mut f = l.splitn(3, ':');
                let (_, ctrls, path) = (f.next()?, f.next()?, f.next()?);
                let matches = if hier.v2 {
                    ctrls.is_empty()
                } else if let Some(name) = &hier.name {
                    ctrls.split(',').any(|c| c.strip_prefix("name=") == Some(name))
                } else {
                    hier.controllers
                        .first()
                        .is_some_and(|c| ctrls.split(',').any(|x| x == c))
                };
                matches.then(|| path.to_string())
            });
            if let Some(path) = found {
                dirs.push(Dir {
                    path: hier.dir_of(&path),
                    h: hier.clone(),
                });
            }
        }
        let path = text
            .lines()
            .find_map(|l| l.strip_prefix("0::"))
            .or_else(|| text.lines().next().and_then(|l| l.splitn(3, ':').nth(2)))
            .unwrap_or("/")
            .to_string();
        Ok(Cgroup {
            path,
            layout: h.layout(),
            dirs,
            unit: None,
            user: false,
        })
    }

    /// Whether the systemd driver manages this cgroup.
    pub fn is_systemd(&self) -> bool {
        self.unit.is_some()
    }

    fn at(h: &Hierarchies, path: String) -> Cgroup {
        let dirs = h
            .list
            .iter()
            .map(|hier| Dir {
                path: hier.dir_of(&path),
                h: hier.clone(),
            })
            .collect();
        Cgroup {
            path,
            layout: h.layout(),
            dirs,
            unit: None,
            user: false,
        }
    }

    /// The resolved cgroup path ("/ocirun/abc"), to store in state.json.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The sub-cgroup `sub` of this cgroup ("/" or "" is this cgroup itself), for
    /// `exec --cgroup`: refused unless it names a cgroup at or below this one (no "..", "." or
    /// empty component). Nothing is checked on the filesystem: see [`Cgroup::exists`].
    ///
    /// The checked components are joined below this cgroup's directories, which are opened by
    /// path: cgroupfs has no symlinks (the kernel refuses to create one) and the container
    /// cannot change the host's mounts above its cgroup, so the path cannot lead elsewhere.
    pub fn nested(&self, sub: &str) -> Result<Cgroup> {
        let rel = path::sub(sub)?;
        if rel.is_empty() {
            return Ok(self.clone());
        }
        Ok(Cgroup {
            path: format!("{}/{rel}", self.path.trim_end_matches('/')),
            layout: self.layout,
            dirs: self
                .dirs
                .iter()
                .map(|d| Dir {
                    h: d.h.clone(),
                    path: d.path.join(&rel),
                })
                .collect(),
            unit: None,
            user: false,
        })
    }

    /// The host layout this cgroup lives on.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Each hierarchy of this cgroup, as a cgroup mount in the container shows it.
    pub fn mounts(&self) -> Vec<HierarchyDir> {
        // On a pure v2 host the one hierarchy is the cgroup mount itself, as runc and crun
        // mount it: /sys/fs/cgroup/memory.max, never /sys/fs/cgroup/cgroup/memory.max.
        let pure_v2 = self.layout == Layout::V2;
        self.dirs
            .iter()
            .map(|d| HierarchyDir {
                name: if pure_v2 { String::new() } else { d.h.dir_name() },
                mount_data: d.h.mount_data(),
                unified: d.h.v2,
                root: d.h.mountpoint.clone(),
                dir: d.path.clone(),
            })
            .collect()
    }

    /// The host directory of this cgroup in the hierarchy that has `controller`.
    pub fn dir_of_controller(&self, controller: &str) -> Option<&Path> {
        self.dir_for(controller).map(|d| d.path.as_path())
    }

    /// The directory in the hierarchy holding `controller`, if any.
    pub(crate) fn dir_for(&self, controller: &str) -> Option<&Dir> {
        self.dirs.iter().find(|d| d.h.has(controller))
    }

    /// The v2 directory, if the host has a v2 mount.
    pub(crate) fn v2_dir(&self) -> Option<&Dir> {
        self.dirs.iter().find(|d| d.h.v2)
    }

    /// Makes the directory in every hierarchy (mkdir -p), then applies `resources`. On failure
    /// the directories it made are removed again.
    pub fn create(&self, resources: Option<&LinuxResources>) -> Result<()> {
        self.create_some(|_| true, resources)
    }

    /// Makes only the v2 directory (mkdir -p, enabling controllers on the way), with no
    /// resources: what clone3's `CLONE_INTO_CGROUP` needs before the process exists. Nothing
    /// without a v2 mount. [`Cgroup::create_rest`] does the rest once the process runs.
    pub fn create_unified(&self) -> Result<()> {
        self.create_some(|d| d.h.v2, None)
    }

    /// What [`Cgroup::create_unified`] left of [`Cgroup::create`]: makes the v1 directories,
    /// then applies `resources` in every hierarchy. On failure the directories it made are
    /// removed again.
    pub fn create_rest(&self, resources: Option<&LinuxResources>) -> Result<()> {
        self.create_some(|d| !d.h.v2, resources)
    }

    /// Makes the directories `which` selects, then applies `resources`; undoes the directories
    /// on failure.
    fn create_some(&self, which: impl Fn(&Dir) -> bool, resources: Option<&LinuxResources>) -> Result<()> {
        let mut made = Vec::new();
        let result = self.create_dirs(which, &mut made).and_then(|()| match resources {
            Some(r) => resources::apply(self, r, false),
            None => Ok(()),
        });
        if result.is_err() {
            for dir in made.iter().rev() {
                // Best effort: the original error is the one worth reporting.
                let _ = std::fs::remove_dir(dir);
            }
        }
        result
    }

    fn create_dirs(&self, which: impl Fn(&Dir) -> bool, made: &mut Vec<PathBuf>) -> Result<()> {
        for d in self.dirs.iter().filter(|d| which(d)) {
            // The usual v1 case: the parents exist, so one mkdir makes the cgroup. (On v2 every
            // ancestor's subtree_control is checked on the way down, as runc does.)
            if !d.h.v2 && d.path != d.h.mountpoint {
                match std::fs::create_dir(&d.path) {
                    Ok(()) => {
                        made.push(d.path.clone());
                        if d.h.has("cpuset")
                            && let Some(parent) = d.path.parent()
                        {
                            copy_cpuset_from_parent(parent, &d.path)?;
                        }
                        continue;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                    Err(_) => {}
                }
            }
            // The usual v2 case: the parent exists, and every controller of the hierarchy has
            // reached it: one mkdir, and the new cgroup's own cgroup.controllers shows that no
            // ancestor needs one enabled. Otherwise the walk below enables them on the way down.
            if d.h.v2
                && d.path != d.h.mountpoint
                && let Ok(()) = std::fs::create_dir(&d.path)
            {
                made.push(d.path.clone());
                let avail = fsio::read_opt(&d.path, "cgroup.controllers")
                    .ok()
                    .flatten()
                    .unwrap_or_default();
                if d.h.controllers.iter().all(|c| avail.split_whitespace().any(|a| a == c)) {
                    continue;
                }
            }
            let rel = d
                .path
                .strip_prefix(&d.h.mountpoint)
                .unwrap_or(Path::new(""))
                .to_path_buf();
            let mut cur = d.h.mountpoint.clone();
            for comp in rel.components() {
                if d.h.v2 {
                    enable_v2_controllers(&cur);
                }
                let parent = cur.clone();
                cur.push(comp);
                match std::fs::create_dir(&cur) {
                    Ok(()) => {
                        made.push(cur.clone());
                        if d.h.has("cpuset") && !d.h.v2 {
                            copy_cpuset_from_parent(&parent, &cur)?;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                    Err(source) => return Err(CgroupError::Mkdir { path: cur, source }),
                }
            }
        }
        Ok(())
    }

    /// Applies `resources` to an existing cgroup (also what [`Cgroup::create`] does).
    pub fn apply(&self, resources: &LinuxResources) -> Result<()> {
        resources::apply(self, resources, false)
    }

    /// Updates the resources of a running container: like [`Cgroup::apply`], and honours
    /// memory.checkBeforeUpdate.
    pub fn update(&self, resources: &LinuxResources) -> Result<()> {
        if let Some((unit, _)) = &self.unit {
            systemd::set_properties(
                unit,
                &systemd::properties(resources, self.layout == Layout::V2)?,
                self.user,
            )?;
        }
        resources::apply(self, resources, true)
    }

    /// Moves process `pid` into this cgroup in every hierarchy, back to back.
    pub fn add_process(&self, pid: i32) -> Result<()> {
        if pid <= 0 {
            return Err(CgroupError::InvalidValue {
                field: "pid",
                value: pid.to_string(),
                reason: "a process id is positive",
            });
        }
        let value = pid.to_string();
        for d in &self.dirs {
            fsio::write(&d.path, "cgroup.procs", &value)?;
        }
        Ok(())
    }

    /// Moves process `pid` into this cgroup's v2 directory only (nothing without a v2 mount):
    /// for a child joined to the v1 hierarchies through [`Cgroup::v1_tasks`] whose clone could
    /// not use `CLONE_INTO_CGROUP` (kernels before 5.7).
    pub fn add_process_v2(&self, pid: i32) -> Result<()> {
        if pid <= 0 {
            return Err(CgroupError::InvalidValue {
                field: "pid",
                value: pid.to_string(),
                reason: "a process id is positive",
            });
        }
        match self.v2_dir() {
            Some(d) => fsio::write(&d.path, "cgroup.procs", &pid.to_string()),
            None => Ok(()),
        }
    }

    /// An `O_PATH` fd of the v2 directory, for clone3's `CLONE_INTO_CGROUP` (`None` without a
    /// v2 mount). On a hybrid host the new process must still enter each v1 hierarchy: see
    /// [`Cgroup::v1_tasks`].
    pub fn clone_into_fd(&self) -> Result<Option<OwnedFd>> {
        let Some(d) = self.v2_dir() else {
            return Ok(None);
        };
        ocirun_sys::fs::open_dir_path(&d.path)
            .map(Some)
            .map_err(|source| CgroupError::Read {
                path: d.path.clone(),
                source,
            })
    }

    /// The `tasks` file of each v1 hierarchy, in the order [`Cgroup::v1_tasks`] opens them.
    pub fn v1_tasks_paths(&self) -> Vec<PathBuf> {
        self.dirs
            .iter()
            .filter(|d| !d.h.v2)
            .map(|d| d.path.join("tasks"))
            .collect()
    }

    /// Each v1 hierarchy's `tasks` file, open for writing, with its path: for [`join_self`] in a
    /// new child, which enters the cgroup without migrating a whole process.
    ///
    /// A pid written to `cgroup.procs` takes the kernel's global threadgroup lock, whose first
    /// writer waits for an RCU grace period (6-16 ms on the build machine); a thread that writes
    /// "0" to `tasks` moves only itself and skips that lock. For a single-threaded process (a
    /// freshly cloned child) moving its one thread is moving the process. The fds may cross to
    /// the child after its clone: the kernel checks the writer's rights against the opener's.
    pub fn v1_tasks(&self) -> Result<Vec<(OwnedFd, PathBuf)>> {
        let mut tasks = Vec::new();
        for path in self.v1_tasks_paths() {
            match ocirun_sys::fs::open_write(&path) {
                Ok(fd) => tasks.push((fd, path)),
                Err(source) => {
                    return Err(CgroupError::Write {
                        path,
                        value: "0".to_owned(),
                        source,
                    });
                }
            }
        }
        Ok(tasks)
    }

    /// An `O_PATH` fd of the v2 directory for clone3's `CLONE_INTO_CGROUP`, on a pure v2 host only.
    ///
    /// `None` on v1 and on hybrid hosts: there the new process must still be written into every
    /// v1 hierarchy, so use [`Cgroup::add_process`], which covers the v2 mount too. `None` also
    /// when the directory cannot be opened (then [`Cgroup::add_process`] reports why).
    pub fn unified_dir_fd(&self) -> Option<OwnedFd> {
        if self.layout != Layout::V2 {
            return None;
        }
        ocirun_sys::fs::open_dir_path(&self.v2_dir()?.path).ok()
    }

    /// The processes in this cgroup and its nested cgroups.
    pub fn pids(&self) -> Result<Vec<i32>> {
        let primary = match self.layout {
            Layout::V2 => self.v2_dir(),
            Layout::V1 | Layout::Hybrid => self
                .dir_for("freezer")
                .or_else(|| self.dir_for("pids"))
                .or_else(|| self.dirs.iter().find(|d| !d.h.v2)),
        };
        let mut pids = Vec::new();
        if let Some(d) = primary {
            procs_recursive(&d.path, &mut pids)?;
        }
        pids.sort_unstable();
        pids.dedup();
        Ok(pids)
    }

    /// Sends `sig` to every process of the cgroup (nested cgroups included) as runc 1.1's
    /// signalAllProcesses does: frozen while they are listed and signalled, so that none forks
    /// past the list, and thawed afterwards whatever its state before. A failed freeze or thaw,
    /// or a process that cannot be signalled, goes to `warn` and does not fail the call; a
    /// process that exited meanwhile is not reported.
    pub fn signal_all(&self, sig: i32, mut warn: impl FnMut(String)) -> Result<()> {
        if let Err(e) = self.freeze() {
            warn(format!("freeze {} to signal its processes: {e}", self.path()));
        }
        let pids = self.pids();
        if let Ok(pids) = &pids {
            for &pid in pids {
                match ocirun_sys::process::kill(pid, sig) {
                    Err(e) if e != libc::ESRCH => warn(format!(
                        "signal {sig} to pid {pid}: {}",
                        std::io::Error::from_raw_os_error(e)
                    )),
                    _ => {}
                }
            }
        }
        if let Err(e) = self.thaw() {
            warn(format!("thaw {} after signalling its processes: {e}", self.path()));
        }
        pids.map(drop)
    }

    /// Processes in this cgroup in any hierarchy (the union), nested cgroups included.
    fn all_pids(&self) -> Result<Vec<i32>> {
        let mut pids = Vec::new();
        for d in &self.dirs {
            procs_recursive(&d.path, &mut pids)?;
        }
        pids.sort_unstable();
        pids.dedup();
        Ok(pids)
    }

    /// Whether the cgroup directory exists in any hierarchy.
    pub fn exists(&self) -> bool {
        self.dirs.iter().any(|d| d.path.is_dir())
    }

    /// Removes the cgroup: SIGKILLs what is left in it (thawing a v1 freezer first, using
    /// cgroup.kill on v2), waits until it is empty, then removes nested directories and the
    /// cgroup itself in every hierarchy, retrying EBUSY. Every wait is bounded: past it the error
    /// names the directory. Removing a cgroup that does not exist succeeds.
    pub fn remove(&self) -> Result<()> {
        // systemd removes its scope's cgroups once the unit stops; what it leaves goes below.
        if let Some((unit, _)) = &self.unit {
            systemd::stop_unit(unit, self.user)?;
        }
        // The usual case, an empty cgroup with nothing nested: one rmdir per hierarchy. The
        // kernel refuses (EBUSY) while a process or a nested cgroup is in it; then the full path.
        if self.rmdir_each() {
            return Ok(());
        }
        if !self.exists() {
            return Ok(());
        }
        self.kill_all()?;
        for d in &self.dirs {
            remove_tree(&d.path)?;
        }
        Ok(())
    }

    /// Removes the cgroup if that needs no wait: every directory empty, with nothing nested
    /// (one rmdir per hierarchy), and no systemd unit to stop. Returns whether it is gone from
    /// every hierarchy; if not, [`remove`](Self::remove) kills what is in it and waits.
    pub fn remove_if_empty(&self) -> bool {
        if self.unit.is_some() && self.exists() {
            return false;
        }
        self.rmdir_each()
    }

    /// One rmdir per hierarchy; whether none of the directories is left.
    fn rmdir_each(&self) -> bool {
        self.dirs.iter().all(|d| match std::fs::remove_dir(&d.path) {
            Ok(()) => true,
            Err(e) => e.kind() == std::io::ErrorKind::NotFound,
        })
    }

    fn kill_all(&self) -> Result<()> {
        let start = Instant::now();
        let mut pause = Duration::from_millis(1);
        loop {
            let pids = self.all_pids()?;
            if pids.is_empty() {
                return Ok(());
            }
            if start.elapsed() > KILL_WAIT {
                let path = self.dirs.first().map(|d| d.path.clone()).unwrap_or_default();
                return Err(CgroupError::NotEmpty {
                    path,
                    waited_ms: u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX),
                });
            }
            freezer::thaw_v1_for_kill(self);
            if let Some(d) = self.v2_dir() {
                // cgroup.kill (5.14+) kills the whole v2 subtree atomically, even frozen.
                let _ = fsio::write_path(&d.path.join("cgroup.kill"), "1");
            }
            for pid in pids {
                ocirun_sys::process::kill(pid, libc::SIGKILL).or_else(|e| {
                    if e == libc::ESRCH {
                        Ok(())
                    } else {
                        Err(CgroupError::Kill {
                            pid,
                            path: self.path.clone().into(),
                            source: std::io::Error::from_raw_os_error(e),
                        })
                    }
                })?;
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }

    /// Freezes every process in the cgroup and waits (bounded) until the kernel reports it frozen.
    pub fn freeze(&self) -> Result<()> {
        freezer::freeze(self)
    }

    /// Thaws the cgroup.
    pub fn thaw(&self) -> Result<()> {
        freezer::thaw(self)
    }

    /// The freezer state.
    pub fn state(&self) -> Result<FreezerState> {
        freezer::state(self)
    }

    /// Whether the cgroup exists already, frozen or freezing: runc refuses to create a
    /// container in it, whose init would stop there.
    pub fn frozen_already(&self) -> Result<bool> {
        freezer::frozen_already(self)
    }

    /// The statistics `runc events --stats` prints (its "data" object).
    pub fn stats(&self) -> Result<Stats> {
        stats::collect(self)
    }

    /// Starts listening for OOM events in this cgroup (the memory controller's hierarchy).
    pub fn oom_notifier(&self) -> Result<OomNotifier> {
        OomNotifier::new(self)
    }
}

/// Moves the calling thread into the cgroup of each `tasks` fd by writing "0" to it.
/// Returns the index of the first fd whose write failed, with its errno.
///
/// Only for a single-threaded process (such as a child just made by clone), where the one
/// thread is the whole process. Runs in the child: no allocation, no locks.
pub fn join_self<'a>(tasks: impl IntoIterator<Item = BorrowedFd<'a>>) -> std::result::Result<(), (usize, i32)> {
    for (i, fd) in tasks.into_iter().enumerate() {
        ocirun_sys::fs::write_whole(fd, b"0").map_err(|errno| (i, errno))?;
    }
    Ok(())
}

/// Enables in `dir`'s cgroup.subtree_control every controller it has, as runc does for each
/// ancestor of a new v2 cgroup; a controller the kernel refuses is skipped here and reported
/// when a spec field needs it.
fn enable_v2_controllers(dir: &Path) {
    let Ok(Some(avail)) = fsio::read_opt(dir, "cgroup.controllers") else {
        return;
    };
    let enabled = fsio::read_opt(dir, "cgroup.subtree_control")
        .ok()
        .flatten()
        .unwrap_or_default();
    let missing: Vec<String> = avail
        .split_whitespace()
        .filter(|c| !enabled.split_whitespace().any(|e| e == *c))
        .map(|c| format!("+{c}"))
        .collect();
    if missing.is_empty() {
        return;
    }
    let file = dir.join("cgroup.subtree_control");
    if fsio::write_path(&file, &missing.join(" ")).is_err() {
        for c in &missing {
            let _ = fsio::write_path(&file, c);
        }
    }
}

/// A new v1 cpuset cgroup starts with empty cpus and mems, which makes adding a process fail:
/// copy the parent's values, as runc does.
fn copy_cpuset_from_parent(parent: &Path, dir: &Path) -> Result<()> {
    for file in ["cpuset.cpus", "cpuset.mems"] {
        let Some(own) = fsio::read_opt(dir, file)? else {
            continue;
        };
        if own.trim().is_empty() {
            let value = fsio::read(parent, file)?;
            let value = value.trim();
            if !value.is_empty() {
                fsio::write(dir, file, value)?;
            }
        }
    }
    Ok(())
}

/// Appends the pids in `dir`/cgroup.procs and in every nested cgroup; a missing directory is empty.
fn procs_recursive(dir: &Path, out: &mut Vec<i32>) -> Result<()> {
    let Some(text) = fsio::read_opt(dir, "cgroup.procs")? else {
        return Ok(());
    };
    let file = dir.join("cgroup.procs");
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let pid = line.trim().parse().map_err(|_| CgroupError::Parse {
            path: file.clone(),
            content: line.to_owned(),
        })?;
        out.push(pid);
    }
    for sub in subdirs(dir)? {
        procs_recursive(&sub, out)?;
    }
    Ok(())
}

fn subdirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let read_err = |source| CgroupError::Read {
        path: dir.to_path_buf(),
        source,
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(read_err(e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(read_err)?;
        if entry.file_type().map_err(read_err)?.is_dir() {
            out.push(entry.path());
        }
    }
    Ok(out)
}

/// Removes `dir` and every cgroup nested in it, deepest first, retrying EBUSY with a bounded backoff.
fn remove_tree(dir: &Path) -> Result<()> {
    for sub in subdirs(dir)? {
        remove_tree(&sub)?;
    }
    let start = Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && start.elapsed() < RMDIR_WAIT => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(100));
            }
            Err(source) => {
                return Err(CgroupError::Rmdir {
                    path: dir.to_path_buf(),
                    source,
                });
            }
        }
    }
}
