//! The create path: the state directory, the cgroup, the init plan and the clone, up to the
//! init's Ready; what a failed create made is undone.

use std::ffi::CString;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use cgroups::Cgroup;
use namespaces::NamespaceKind;
use namespaces::pidfd;
use oci_spec::runtime::{ContainerState, Spec};
use ocirun_sys::process;

use crate::builder::ContainerBuilder;
use crate::cgroup::{ContainerCgroup, resolve_cgroup, resources_with_default_devices};
use crate::container::Container;
use crate::hooks::{self, HookKind};
use crate::init::{InitPlan, PlanOptions};
use crate::launch::{self, reserve_passed_fds, write_pid_file};
use crate::state::{self, ContainerDir, Record, Store, oci_state};
use crate::sync::{Tag, delivered, init_error, poll_with_init, send_tag, socketpair};
use crate::{Error, Result, console, spec};

impl ContainerBuilder {
    /// Makes a container whose init `spawn` brings up some other way (CRIU's restore), with
    /// the state directory, cgroup and record create would make; `spawn` gets the spec, the
    /// rootfs and the cgroup path and returns the init's pid.
    pub(crate) fn create_with(mut self, spawn: impl FnOnce(&Spec, &Path, &str) -> Result<i32>) -> Result<Container> {
        let (bundle, spec, rootfs) = self.resolve()?;
        let store = Store::new(&self.root);
        let mut undo = Undo {
            dir: Some(store.create(&self.id)?),
            cgroup: None,
            child: None,
            poststop: None,
        };
        let linux = spec.linux().as_ref().ok_or_else(|| Error::spec("linux", "missing"))?;
        if self.systemd_cgroup {
            return Err(Error::spec(
                "--systemd-cgroup",
                "restoring into a systemd scope is not supported: use the cgroupfs driver",
            ));
        }
        if self.rootless.unwrap_or_else(process::unprivileged) {
            return Err(Error::spec(
                "--rootless",
                "restoring a rootless container is not supported",
            ));
        }
        if linux.net_devices().as_ref().is_some_and(|d| !d.is_empty()) {
            return Err(Error::spec(
                "linux.netDevices",
                "restoring a container with network devices is not supported",
            ));
        }
        if spec::shares_mount_namespace(&spec) {
            return Err(Error::spec(
                "linux.namespaces",
                "restoring a container without a mount namespace of its own is not supported",
            ));
        }
        crate::criu::refuse_id_mapped_mounts("restore", &spec)?;
        let cgroup = resolve_cgroup(linux, &self.id, false)?;
        save_intent(
            undo.dir.as_ref().expect("set above"),
            &spec,
            &bundle,
            &rootfs,
            &cgroup,
            false,
        )?;
        let cgroup_path = cgroup.path().to_string();
        // Owned by the undo first: a create that fails half-way removes what it made.
        let cgroup = undo.cgroup.insert(cgroup);
        cgroup
            .create(Some(&resources_with_default_devices(linux)))
            .map_err(Error::Cgroup)?;
        let pid = spawn(&spec, &rootfs, &cgroup_path)?;
        undo.child = Some(pidfd::open(pid).map_err(|source| Error::Sys {
            op: "open a pidfd for the restored init",
            source,
        })?);
        let (_, start) = state::proc_stat(pid).ok_or_else(|| Error::InitDied("its /proc entry vanished".into()))?;
        let record = new_record(
            &spec,
            &self.id,
            (pid, start),
            &bundle,
            &rootfs,
            cgroup_path,
            self.systemd_cgroup,
        );
        if let Some(path) = &self.io.pid_file {
            write_pid_file(path, pid)?;
        }
        let dir = undo.dir.as_ref().expect("set above");
        dir.save_spec(&spec)?;
        dir.save(&record)?;
        let pidfd = undo.child.take().expect("set above");
        undo.disarm();
        Ok(Container {
            store,
            record,
            pidfd: Some(pidfd),
            is_parent: false,
            pty_master: None,
            cgroup: None,
        })
    }

    /// Creates the container, handing back what create allocated, for the caller to free once
    /// the init has exec'd (see [`Leftovers`]). With `starting` (run), when no startContainer
    /// hook has to run between Ready and the exec, the init gets no exec fifo: it execs right
    /// after Ready, without waiting for this process to wake up and write to it (the container
    /// is never seen `created`: this process holds its directory's lock until it is started).
    pub(crate) fn create_keeping(mut self, starting: bool) -> Result<(Container, Leftovers)> {
        let (bundle, spec, rootfs) = self.resolve()?;
        let closed_fds = reserve_passed_fds(self.listen_fds.saturating_add(self.io.preserve_fds))?;
        let terminal = spec.process().as_ref().and_then(|p| p.terminal()).unwrap_or(false);
        let console = self.io.console(terminal)?;
        let pidfd_socket = self.io.pidfd_socket()?;
        let store = Store::new(&self.root);
        let dir = store.create(&self.id)?;
        let mut undo = Undo {
            dir: Some(dir),
            cgroup: None,
            child: None,
            poststop: None,
        };
        let exec_fifo = !starting || hooks::any(spec.hooks().as_ref(), &[HookKind::StartContainer]);
        let opts = CreateOptions {
            exec_fifo,
            no_pivot: self.no_pivot,
            no_new_keyring: self.no_new_keyring,
            systemd_cgroup: self.systemd_cgroup,
            rootless: self.rootless,
            preserve_fds: self.listen_fds.saturating_add(self.io.preserve_fds),
            listen_fds: self.listen_fds,
            stdio: self.io.stdio,
            closed_fds,
            console,
            pid_file: self.io.pid_file.as_deref(),
            pidfd_socket,
        };
        let Created {
            record,
            pidfd,
            pty_master,
            plan,
        } = create_in(&spec, &bundle, &rootfs, &mut undo, opts)?;
        let cgroup = undo.cgroup.take();
        let dir = undo.dir.take().expect("create_in keeps the state directory");
        undo.disarm();
        let c = Container {
            store,
            record,
            pidfd: Some(pidfd),
            is_parent: true,
            pty_master,
            cgroup,
        };
        Ok((
            c,
            Leftovers {
                dir,
                exec_fifo,
                _plan: plan,
                _spec: spec,
            },
        ))
    }
}

/// What create leaves for `run`, freed after start: the state directory with its lock, the
/// init plan and the spec. Until the init execs it is a fork living on the runtime's pages:
/// freeing these many small allocations writes to those pages, each write a copy-on-write
/// fault (~0.2 ms in all, measured between the init's Ready and start), while the init waits
/// on the exec fifo.
pub(crate) struct Leftovers {
    pub(crate) dir: ContainerDir,
    /// Whether the init waits on the exec fifo (see [`ContainerBuilder::create_keeping`]).
    pub(crate) exec_fifo: bool,
    _plan: InitPlan,
    _spec: Box<Spec>,
}

/// Undoes a half-made container when create fails: kills the init, removes the cgroup and state.
struct Undo {
    dir: Option<ContainerDir>,
    cgroup: Option<Cgroup>,
    child: Option<OwnedFd>,
    /// The hooks to run once the container is destroyed, with its state.
    poststop: Option<(oci_spec::runtime::Hooks, oci_spec::runtime::State)>,
}

impl Undo {
    fn disarm(&mut self) {
        self.dir = None;
        self.cgroup = None;
        self.child = None;
        self.poststop = None;
    }
}

impl Drop for Undo {
    fn drop(&mut self) {
        launch::kill_and_reap(self.child.take());
        if let Some(cg) = self.cgroup.take() {
            let _ = cg.remove();
        }
        if let Some(dir) = self.dir.take() {
            let _ = dir.remove();
        }
        if let Some((hooks, mut state)) = self.poststop.take() {
            state.set_status(ContainerState::Stopped);
            hooks::run_warn(HookKind::Poststop, Some(&hooks), || state);
        }
    }
}

/// The builder settings that reach the init plan and the launch.
struct CreateOptions<'a> {
    /// Make the exec fifo the init waits on after Ready for `start`; without it the init execs
    /// right after Ready.
    exec_fifo: bool,
    no_pivot: bool,
    no_new_keyring: bool,
    systemd_cgroup: bool,
    rootless: Option<bool>,
    preserve_fds: u32,
    listen_fds: u32,
    stdio: [Option<OwnedFd>; 3],
    /// The placeholders of the passed fds that are not open ([`reserve_passed_fds`]).
    closed_fds: Vec<OwnedFd>,
    console: console::Destination,
    /// `--pid-file`.
    pid_file: Option<&'a Path>,
    /// `--pidfd-socket`, connected.
    pidfd_socket: Option<console::FdSocket>,
}

/// The body of create once the state directory exists; `undo` cleans up on error.
fn create_in(spec: &Spec, bundle: &Path, rootfs: &Path, undo: &mut Undo, opts: CreateOptions<'_>) -> Result<Created> {
    let dir = undo.dir.as_ref().expect("create_in runs with the state directory made");
    let id = dir.id().to_string();
    let linux = spec.linux().as_ref().ok_or_else(|| Error::spec("linux", "missing"))?;
    refuse_unsafe_no_pivot(spec, opts.no_pivot)?;
    // The cgroupfs driver makes the v2 directory now, for CLONE_INTO_CGROUP; the v1 ones and
    // every limit come after the clone, while the init sets up its rootfs (it waits for them
    // only when it needs them). systemd makes them all once it has the init's pid.
    let cgroup = resolve_cgroup(linux, &id, opts.systemd_cgroup)?;
    // Before the undo owns it: a cgroup that was there already is left as it was.
    if cgroup.frozen_already().map_err(Error::Cgroup)? {
        return Err(Error::spec(
            "linux.cgroupsPath",
            format!("{}: container's cgroup unexpectedly frozen", cgroup.path()),
        ));
    }
    // What follows makes things outside this process: written down first. A rootless
    // container that ends up without a cgroup of its own names one that is never made.
    save_intent(dir, spec, bundle, rootfs, &cgroup, opts.systemd_cgroup)?;
    let cg = ContainerCgroup::make(cgroup, linux, opts.rootless, opts.systemd_cgroup, &mut undo.cgroup)?;
    let cgroup_mounts = cg.mounts();
    let (cgroup_fd, cgroup_tasks) = cg.clone_target()?;

    let fifo = if opts.exec_fifo {
        Some(make_exec_fifo(dir)?)
    } else {
        None
    };
    // A container without a mount namespace of its own sets up its rootfs in the runtime's,
    // below a bind of the rootfs that is recorded before it is attached: removing the state
    // directory (delete, a failed create, delete --force after a killed create) detaches it.
    let host_root = if spec::shares_mount_namespace(spec) {
        let bind = rootfs::HostRootBind::new(rootfs).map_err(Error::Rootfs)?;
        dir.save_root_bind(rootfs, bind.mount_id())?;
        bind.attach().map_err(Error::Rootfs)?;
        Some(bind)
    } else {
        None
    };
    let (parent_sock, child_sock) = socketpair()?;
    // Without a cgroup of its own the cgroup mounts bind the caller's cgroups: read-only,
    // whatever the spec says (runc's fix of CVE-2023-25809).
    let readonly_cgroups;
    let plan_spec = if cg.cgroup.is_none() {
        readonly_cgroups = with_readonly_cgroup_mounts(spec);
        &readonly_cgroups
    } else {
        spec
    };
    let unprivileged = process::unprivileged();
    let plan = InitPlan::compile(
        plan_spec,
        PlanOptions {
            rootfs,
            host_root: host_root
                .as_ref()
                .map(|b| b.fd().try_clone_to_owned())
                .transpose()
                .map_err(|e| Error::io("duplicate the rootfs bind", rootfs, e))?,
            no_pivot: opts.no_pivot,
            preserve_fds: opts.preserve_fds,
            fifo,
            cgroup_mounts,
            stdio: opts.stdio,
            closed_fds: opts.closed_fds,
            sync: child_sock,
            exec: false,
            listen_fds: opts.listen_fds,
            cgroup_tasks,
            session_keyring: (!opts.no_new_keyring).then(|| session_keyring_name(&id)),
            unprivileged,
            // Known from the maps (NamespacePlan::denies_setgroups).
            setgroups_denied: false,
        },
    )?;
    let mut plan = plan;
    let spawned = launch::clone(&mut plan, cgroup_fd.as_ref().map(|f| f.as_fd())).map_err(Error::Namespace)?;
    let pid = spawned.pid;
    undo.child = Some(spawned.pidfd);
    let child = undo.child.as_ref().expect("set just above");
    plan.apply_initial_affinity(pid)?;

    // A send the init is gone for: wait_ready then reports its error or exit.
    let mut sent = true;
    if plan.namespaces.new_user {
        sent = write_id_maps(&plan, pid, &parent_sock, child)?;
    }
    // The rest of the cgroup, while the init sets up its rootfs.
    let go_fds = cg.finish(linux, &id, pid, !spawned.in_cgroup, plan.late_cgroup_binds())?;
    // The devices are in the container's network namespace before Go: the init waits for Go
    // before it execs, and the hooks run after it.
    if linux.net_devices().as_ref().is_some_and(|d| !d.is_empty()) {
        move_net_devices(linux, pid)?;
    }
    // The record and the spec are written while the init sets up its rootfs, and before Go:
    // until the state names it, the init dies with this process (PDEATHSIG, cleared only after
    // Go or, for an init made in a joined pid namespace, after Recorded), so a create killed
    // at any point leaves no process that `delete` cannot find. The directory's lock keeps
    // every reader out until create returns; should the init be gone already, wait_ready
    // reports why.
    let save_record = |pid: i32| -> Result<Option<Record>> {
        let record = state::proc_stat(pid).map(|(_, start)| Record {
            no_new_keyring: opts.no_new_keyring,
            rootless: cg.rootless,
            ..new_record(
                spec,
                &id,
                (pid, start),
                bundle,
                rootfs,
                cg.path.clone(),
                opts.systemd_cgroup,
            )
        });
        if let Some(record) = &record {
            dir.save_spec(spec)?;
            dir.save(record)?;
        }
        Ok(record)
    };
    // The init is the process the child makes in the pid namespace it joins, when it does.
    let mut record = if plan.namespaces.clone_in_pid_namespace {
        None
    } else {
        save_record(pid)?
    };
    if sent {
        let fds: Vec<_> = go_fds.iter().map(AsFd::as_fd).collect();
        let go = crate::sync::Msg::new(Tag::Go, 0, 0, 0).encode();
        delivered(ocirun_sys::socket::send_whole_with_fds(parent_sock.as_fd(), &go, &fds))?;
    }
    drop(go_fds);
    let creating = oci_state(
        spec.version(),
        &id,
        bundle,
        spec.annotations().as_ref(),
        ContainerState::Creating,
        pid,
    );
    // From here a failed create is a destroyed container: its poststop hooks run.
    undo.poststop = spec.hooks().clone().map(|h| (h, creating.clone()));
    let mut create_hooks = |child: BorrowedFd<'_>| {
        for kind in [HookKind::Prestart, HookKind::CreateRuntime, HookKind::CreateContainer] {
            hooks::run(kind, spec.hooks().as_ref(), &creating, (pid, child))?;
        }
        Ok(())
    };
    // An init made in the pid namespace the child joins is recorded once handed over.
    let mut record_process = |pid: i32| {
        record = save_record(pid)?;
        Ok(())
    };
    let tail = launch::Tail {
        sock: &parent_sock,
        plan: &plan,
        state: &creating,
        console: opts.console,
        pid_file: opts.pid_file,
        pidfd_socket: opts.pidfd_socket,
    };
    let launched = launch::finish(tail, &mut undo.child, pid, &mut create_hooks, &mut record_process)?;
    let record = record.ok_or_else(|| Error::InitDied("its /proc entry vanished".into()))?;
    let pidfd = undo.child.take().expect("held by the launch");
    Ok(Created {
        record,
        pidfd,
        pty_master: launched.pty_master,
        plan,
    })
}

/// Refuses `--no-pivot` where the container's root is meant to be no one on the host but could
/// get the host's root filesystem back: in a user namespace of its own, with CAP_SYS_ADMIN in
/// its bounding set. Without pivot_root the host's root mount stays below the rootfs moved onto
/// it; the rootfs mount was made in the container's mount namespace, owned by that user
/// namespace, so nothing locks it: that root unmounts it and setns(2)s into its own mount
/// namespace, which sets its root to the namespace's, the host's (found by an escape review,
/// 2026-12-08). runc makes the same move and documents `--no-pivot` as unsafe; a container
/// without a user namespace that holds CAP_SYS_ADMIN is the host's root already.
fn refuse_unsafe_no_pivot(spec: &Spec, no_pivot: bool) -> Result<()> {
    let in_user_namespace = spec::lists_namespace(spec, NamespaceKind::User);
    let sys_admin = spec
        .process()
        .as_ref()
        .and_then(|p| p.capabilities().as_ref())
        .and_then(|c| c.bounding().as_ref())
        .is_some_and(|b| b.contains(&oci_spec::runtime::Capability::SysAdmin));
    if no_pivot && in_user_namespace && sys_admin && !spec::shares_mount_namespace(spec) {
        return Err(Error::spec(
            "--no-pivot",
            "refused for a container in a user namespace whose process keeps CAP_SYS_ADMIN: \
             without pivot_root the host's root stays below the rootfs, and that process could \
             unmount the rootfs and enter it (drop CAP_SYS_ADMIN from process.capabilities.bounding, \
             or run without --no-pivot)",
        ));
    }
    Ok(())
}

/// Makes the exec fifo in `dir` and opens its read end, which the init waits on until
/// `start` writes a byte (crun's direction): opened here before the clone, since the init
/// never opens a path of the host's itself.
fn make_exec_fifo(dir: &ContainerDir) -> Result<OwnedFd> {
    let fifo_path = dir.fifo_path();
    let c_fifo = CString::new(fifo_path.as_os_str().as_encoded_bytes())
        .map_err(|_| Error::spec("--root", "contains a NUL byte"))?;
    ocirun_sys::fs::mkfifo(&c_fifo, 0o600).map_err(|e| Error::io("create exec fifo", &fifo_path, e))?;
    // Without a writer yet, a non-blocking open for reading returns at once.
    let fifo = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(&fifo_path)
        .map_err(|e| Error::io("open exec fifo", &fifo_path, e))?;
    Ok(OwnedFd::from(fifo))
}

/// Writes the id maps of the init `pid`'s new user namespace and tells it; whether the message
/// reached it ([`delivered`]). Unprivileged, once the init asks for them: it makes itself
/// dumpable first, so that this user can open its /proc files.
fn write_id_maps(plan: &InitPlan, pid: i32, sock: &OwnedFd, child: &OwnedFd) -> Result<bool> {
    let ns = &plan.namespaces;
    if process::unprivileged() {
        let mut buf = [0u8; crate::sync::Msg::SIZE];
        let (events, _) = poll_with_init(sock, child, "wait for the child to ask for its id maps")?;
        let m = (events != 0)
            .then(|| ocirun_sys::socket::recv(sock.as_fd(), &mut buf))
            .and_then(|got| got.ok())
            .filter(|&got| got == buf.len())
            .and_then(|_| crate::sync::Msg::decode(&buf));
        match m {
            Some(m) if m.tag == Tag::MapsWanted => {}
            Some(m) if m.tag == Tag::Error => return Err(init_error(plan, m)),
            _ => return Err(Error::InitDied("it did not ask for its id maps".into())),
        }
        let (euid, egid) = (process::geteuid(), process::getegid());
        namespaces::write_id_maps_unprivileged(pid, &ns.uid_maps, &ns.gid_maps, euid, egid)
            .map_err(Error::Namespace)?;
    } else {
        namespaces::write_id_maps(pid, &ns.uid_maps, &ns.gid_maps, false).map_err(Error::Namespace)?;
    }
    send_tag(sock, Tag::MapsWritten)
}

/// Moves the devices of `linux.netDevices` into the network namespace of the init `pid` (its
/// own, or the one it joins by path), as runc does before the init goes on to exec.
/// Once moved, a device lives and dies with that namespace: on delete (or a failed create) the
/// kernel moves a physical device back to the initial namespace and destroys a virtual one
/// (dummy, veth, ...), as with runc, which does not move them back itself either.
fn move_net_devices(linux: &oci_spec::runtime::Linux, pid: i32) -> Result<()> {
    let joined = linux
        .namespaces()
        .iter()
        .flatten()
        .find(|ns| NamespaceKind::from(ns.typ()) == NamespaceKind::Network)
        .and_then(|ns| ns.path().clone());
    // The init is this process's child, not reaped yet: its pid names it.
    let path = joined.unwrap_or_else(|| PathBuf::from(format!("/proc/{pid}/ns/net")));
    let netns = namespaces::open_namespace(NamespaceKind::Network, &path).map_err(Error::Namespace)?;
    namespaces::netdev::move_into(netns.as_fd(), &spec::net_devices(linux)).map_err(Error::Namespace)
}

/// What [`create_in`] made.
struct Created {
    record: Record,
    pidfd: OwnedFd,
    pty_master: Option<OwnedFd>,
    plan: InitPlan,
}

/// `spec` with "ro" added to each of its mounts of type cgroup.
fn with_readonly_cgroup_mounts(spec: &Spec) -> Spec {
    let mut spec = spec.clone();
    if let Some(mounts) = spec.mounts().clone() {
        let mounts = mounts
            .into_iter()
            .map(|mut m| {
                if m.typ().as_deref() == Some("cgroup") {
                    let mut opts: Vec<String> = m.options().clone().unwrap_or_default();
                    opts.retain(|o| o != "rw");
                    opts.push("ro".to_string());
                    m.set_options(Some(opts));
                }
                m
            })
            .collect();
        spec.set_mounts(Some(mounts));
    }
    spec
}

/// The record of a new container whose init is `(pid, start time)`.
fn new_record(
    spec: &Spec,
    id: &str,
    (pid, pid_start_time): (i32, u64),
    bundle: &Path,
    rootfs: &Path,
    cgroup_path: String,
    systemd_cgroup: bool,
) -> Record {
    Record {
        oci_version: spec.version().clone(),
        id: id.to_string(),
        pid,
        pid_start_time,
        bundle: bundle.to_path_buf(),
        rootfs: rootfs.to_path_buf(),
        created: state::now_rfc3339(),
        annotations: spec.annotations().clone().unwrap_or_default(),
        cgroup_path,
        systemd_cgroup,
        hooks: spec.hooks().clone(),
        no_new_keyring: false,
        rootless: false,
        creator: None,
    }
}

/// Writes create's intent into `dir` before it makes anything outside this process: a record
/// with no init yet (pid 0) naming the cgroup it is about to make and this process as its
/// creator. `delete --force` of a create killed at any later step finds the cgroup through it.
fn save_intent(
    dir: &ContainerDir,
    spec: &Spec,
    bundle: &Path,
    rootfs: &Path,
    cgroup: &Cgroup,
    systemd: bool,
) -> Result<()> {
    let record = Record {
        creator: Some((std::process::id() as i32, process::boot_ticks_now())),
        ..new_record(
            spec,
            dir.id(),
            (0, 0),
            bundle,
            rootfs,
            cgroup.path().to_string(),
            systemd,
        )
    };
    dir.save(&record)
}

/// The session keyring a container's processes join, named as runc names it.
pub(crate) fn session_keyring_name(id: &str) -> String {
    format!("_ses.{id}")
}
