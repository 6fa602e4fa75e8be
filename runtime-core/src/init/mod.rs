//! The container's init: the plan the parent compiles, one typed sub-plan per domain, and the
//! code that executes it in the child between clone and exec, as a list of named steps in
//! security order ([`InitPlan::run`]).

mod cgroup;
mod fds;
mod filesystem;
mod identity;
mod namespace;
mod process;
mod procfs;
mod step;
mod syscall_filter;
mod terminal;

use std::ffi::CString;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use oci_spec::runtime::Spec;
use ocirun_sys::{fd, fs, io, socket};

pub use step::InitStep;

use self::cgroup::CgroupJoin;
use self::fds::FdPlan;
use self::filesystem::{FsOptions, FsPlan};
use self::identity::IdentityPlan;
use self::namespace::NamespacePlan;
use self::process::ProcessPlan;
use self::procfs::{ProcFs, ProcfsWrites};
use self::step::{At, Failed, Stop};
use self::syscall_filter::SeccompPlan;
use self::terminal::{ConsoleStep, Terminal};
use crate::sync::{FdKind, Msg, Tag, wait_for};
use crate::{Error, Result};

/// Everything the child needs, compiled in the parent: no parsing or allocation is left for
/// the child. Each part is a domain's sub-plan, compiled by its own function.
pub(crate) struct InitPlan {
    pub namespaces: NamespacePlan,
    pub fs: FsPlan,
    terminal: Option<Terminal>,
    procfs: ProcfsWrites,
    cgroup: CgroupJoin,
    process: ProcessPlan,
    identity: IdentityPlan,
    pub seccomp: SeccompPlan,
    fds: FdPlan,
}

/// What the builder passes down besides the spec.
pub(crate) struct PlanOptions<'a> {
    pub rootfs: &'a Path,
    pub no_pivot: bool,
    pub preserve_fds: u32,
    pub fifo: Option<OwnedFd>,
    pub cgroup_mounts: Vec<rootfs::CgroupMount>,
    pub stdio: [Option<OwnedFd>; 3],
    /// The placeholders of the passed fds that are not open, which the init closes.
    pub closed_fds: Vec<OwnedFd>,
    pub sync: OwnedFd,
    /// An exec'd process: it joins every namespace and sets up no filesystem.
    pub exec: bool,
    /// A container that shares the runtime's mount namespace: for create, the root of the
    /// rootfs bind made in it ([`rootfs::HostRootBind`]); for exec, the init's root
    /// (`/proc/<pid>/root`), which the process chroots into.
    pub host_root: Option<OwnedFd>,
    /// The first this many preserved fds are systemd socket-activation fds: the
    /// process gets `LISTEN_FDS` and `LISTEN_PID=1`.
    pub listen_fds: u32,
    /// Each v1 hierarchy's `tasks` file, for errors: the parent's Go brings them open, in
    /// this order, and the init writes "0" to each.
    pub cgroup_tasks: Vec<String>,
    /// The name of the new session keyring the process joins, as runc names it
    /// (`_ses.<id>`); `None` keeps the caller's (`--no-new-keyring`).
    pub session_keyring: Option<String>,
    /// The runtime is not root (euid != 0): it writes the id maps as an unprivileged user.
    pub unprivileged: bool,
    /// `setgroups` is `deny` in the user namespace an exec joins; the user namespace a create
    /// makes has it when its maps say so ([`NamespacePlan::denies_setgroups`]).
    pub setgroups_denied: bool,
}

fn cstring(field: &str, s: impl Into<Vec<u8>>) -> Result<CString> {
    CString::new(s).map_err(|_| Error::spec(field, "contains a NUL byte"))
}

/// Moves `fd` above the `passed` preserved fds, so it cannot collide with them.
fn raise_fd(fd: OwnedFd, passed: u32) -> Result<OwnedFd> {
    crate::launch::keep_clear_of_passed_fds(fd, passed).map_err(|source| Error::Sys {
        op: "duplicate a runtime fd above the preserved fds",
        source,
    })
}

/// The index of [`InitStep::CloneProcess`] that says the new process did not reach the runtime.
const CLONE_HANDOVER: u32 = 1;

/// What the steps of [`InitPlan::run`] hand on to later ones, on the child's stack.
struct Progress {
    /// The runtime's verified /proc, open from before the first namespace change until the
    /// procfs writes are done.
    procfs: Option<ProcFs>,
    /// The fds Go brought: each v1 `tasks` file, then the late binds.
    go_fds: [Option<OwnedFd>; socket::MAX_MSG_FDS],
    /// Whether the parent's Go (the cgroup is made) has come, and the init is in its cgroup.
    in_cgroup: bool,
    /// What the mount plan left for after the root switch.
    finished: rootfs::Finished,
    /// The peer of the container's pty, with process.terminal.
    pty: Option<OwnedFd>,
}

impl InitPlan {
    /// Compiles the spec into a plan: each domain's sub-plan in turn. All parsing, validation
    /// and allocation happen here.
    pub(crate) fn compile(spec: &Spec, opts: PlanOptions<'_>) -> Result<InitPlan> {
        let process = spec
            .process()
            .as_ref()
            .ok_or_else(|| Error::spec("process", "missing"))?;
        let linux = spec.linux().as_ref().ok_or_else(|| Error::spec("linux", "missing"))?;
        let passed = opts.preserve_fds;
        let namespaces = NamespacePlan::compile(spec, linux, &opts, passed)?;
        let terminal = Terminal::compile(process, opts.exec)?;
        let hierarchies = opts.cgroup_mounts.len();
        let fs = FsPlan::compile(
            spec,
            linux,
            &namespaces,
            FsOptions {
                rootfs: opts.rootfs,
                no_pivot: opts.no_pivot,
                exec: opts.exec,
                unprivileged: opts.unprivileged,
                host_root: opts.host_root,
                cgroup_mounts: opts.cgroup_mounts,
                console: terminal.is_some(),
            },
            passed,
        )?;
        let procfs = ProcfsWrites::compile(linux, process)?;
        let process_plan = ProcessPlan::compile(process, linux, opts.listen_fds)?;
        let setgroups_denied = opts.setgroups_denied || namespaces.denies_setgroups(opts.unprivileged);
        let identity = IdentityPlan::compile(process, setgroups_denied)?;
        let seccomp = SeccompPlan::compile(linux, &identity)?;
        let late_binds = if fs.has_late_cgroup_binds() { hierarchies } else { 0 };
        let cgroup_first = namespaces.new_cgroup || fs.create_hooks || fs.needs_cgroup_dirs();
        let cgroup = CgroupJoin::compile(opts.cgroup_tasks, late_binds, cgroup_first, hierarchies)?;
        let mut fds = FdPlan::compile(
            opts.preserve_fds,
            opts.fifo,
            opts.stdio,
            opts.closed_fds,
            opts.sync,
            passed,
        )?;
        fds.keep(namespaces.fds().chain(fs.fds()));
        Ok(InitPlan {
            namespaces,
            fs,
            terminal,
            procfs,
            cgroup,
            process: process_plan,
            identity,
            seccomp,
            fds,
        })
    }

    /// Executes `path`, an absolute path in the container, instead of `args[0]` looked up in
    /// `PATH` (a hook's `path`, whose `args[0]` may be any name).
    pub(crate) fn set_executable(&mut self, path: &str) -> Result<()> {
        self.process.set_executable(path)
    }

    /// Whether the init, made in the pid namespace it joined, waits for [`Tag::Recorded`].
    pub(crate) fn awaits_recorded(&self) -> bool {
        self.namespaces.awaits_recorded
    }

    /// Whether the init writes to procfs (and opens the runtime's /proc for it).
    fn writes_procfs(&self) -> bool {
        self.namespaces.time_offsets.is_some() || self.procfs.any()
    }

    /// Whether Go must bring detached binds of the cgroup directories, one per hierarchy in
    /// the order of the plan's cgroup mounts ([`rootfs::detached_bind`]), after the `tasks`
    /// files.
    pub(crate) fn late_cgroup_binds(&self) -> bool {
        self.cgroup.late_binds > 0
    }

    /// Closes the parent's copies of the fds that now belong to the child, so
    /// the parent sees EOF on the sync socket and on stdio pipes when the child goes.
    pub(crate) fn close_child_fds(&mut self) {
        self.fds.close_child_fds();
        self.fs.close_child_fds();
    }

    /// Sets the CPUs the child runs on until it is in its cgroup (which resets them):
    /// `process.execCPUAffinity.initial`. Runs in the parent, right after the clone.
    pub(crate) fn apply_initial_affinity(&self, pid: i32) -> Result<()> {
        match &self.process.affinity_initial {
            Some(set) => ocirun_sys::process::sched_setaffinity(pid, set)
                .map_err(|e| self.error(InitStep::InitialCpuAffinity, 0, e)),
            None => Ok(()),
        }
    }

    /// The error of a failed step: [`Error::Init`] with its description.
    pub(crate) fn error(&self, step: InitStep, index: u32, errno: i32) -> Error {
        Error::Init {
            step,
            index,
            what: self.describe(step, index),
            source: std::io::Error::from_raw_os_error(errno),
        }
    }

    /// A human description of a failed step, for the parent's error.
    pub(crate) fn describe(&self, step: InitStep, index: u32) -> String {
        let described = self
            .namespaces
            .describe(step, index)
            .or_else(|| self.fs.describe(step))
            .or_else(|| self.procfs.describe(step, index))
            .or_else(|| self.cgroup.describe(step, index))
            .or_else(|| self.process.describe(step, index))
            .or_else(|| self.identity.describe(step, index));
        if let Some(what) = described {
            return what;
        }
        match step {
            InitStep::Console => ConsoleStep::describe(index, self.identity.uid),
            InitStep::Signals => "reset the signal mask and dispositions".into(),
            InitStep::Prctl => "prctl".into(),
            InitStep::WaitStart => "wait for the runtime".into(),
            InitStep::Seccomp => "load the seccomp filter".into(),
            InitStep::Fds => "prepare file descriptors".into(),
            InitStep::CloneProcess => match index {
                CLONE_HANDOVER => "hand the process made in the container's pid namespace to the runtime".into(),
                _ => "create the process in the container's pid namespace".into(),
            },
            _ => format!("{step:?}"),
        }
    }

    /// Runs the plan in the child and execs the user process; returns only the exit code of a
    /// failure. The child's copy of the plan is its own: the fds it closes on the way are
    /// taken out of it (it is never dropped there, and nothing is freed).
    ///
    /// Runs in the child: no allocation, no locks.
    pub(crate) fn run(&mut self) -> i32 {
        let Some(sync_fd) = self.fds.sync.take() else { return 1 };
        let sync = sync_fd.as_fd();
        let mut progress = Progress {
            procfs: None,
            go_fds: [const { None }; socket::MAX_MSG_FDS],
            in_cgroup: false,
            finished: rootfs::Finished::default(),
            pty: None,
        };
        match self.set_up(sync, &mut progress) {
            Ok(exe) => self.process.exec(exe),
            Err(Stop::Exit(code)) => code,
            Err(Stop::Failed(f)) => {
                let _ = socket::send_whole(sync, &Msg::new(Tag::Error, f.step as u32, f.index, f.errno).encode());
                1
            }
        }
    }

    /// The init's steps, in security order (as crun's `container_init_setup`); returns the
    /// executable (its index among the candidates) once the process is set up and may exec.
    ///
    /// Runs in the child: no allocation, no locks.
    fn set_up(&mut self, sync: BorrowedFd<'_>, p: &mut Progress) -> Result<usize, Stop> {
        // Fds that other threads of the embedding program opened came along with the clone.
        self.fds.close_inherited()?;
        self.guard_process(sync)?;
        p.procfs = self.open_procfs()?;
        self.namespaces.enter_time_namespace(p.procfs.as_ref())?;
        self.namespaces.become_root(sync)?;
        self.namespaces.join()?;
        self.namespaces.join_pid_namespace_for_children()?;
        self.namespaces.join_session_keyring()?;
        if self.cgroup.first {
            self.enter_cgroup(sync, p)?;
        }
        self.namespaces.unshare_cgroup()?;
        self.namespaces.set_up_network_and_names()?;
        self.write_procfs(p)?;
        p.finished = self.fs.set_up(sync)?;
        self.enter_pid_namespace(sync, p)?;
        self.open_terminal(sync, p)?;
        self.process.set_io_priority()?;
        self.identity.drop_bounding_set()?;
        // Into the cgroup, which the parent made while the init set itself up; the late binds
        // go in while the init can still mount (the bounding set limits only what exec gives).
        // Before the rlimits: a low RLIMIT_NOFILE could refuse Go's fds.
        self.enter_cgroup(sync, p)?;
        self.fs
            .bind_late_cgroups(p.finished.late.take(), self.cgroup.late_binds(&p.go_fds))?;
        fd::close_fds(&mut p.go_fds);
        self.process.set_rlimits()?;
        // Every fd of the host's is closed by now (the exec fifo, a fifo, is no directory to
        // resolve through): the cwd resolves in the container, and must stay in its root.
        self.process.enter_cwd()?;
        self.process.set_scheduling()?;
        self.identity.own_terminal(p.pty.as_ref().map(AsFd::as_fd))?;
        self.fds.set_stdio(p.pty.as_ref().map(AsFd::as_fd))?;
        self.fds.restrict_to_passed()?;
        self.seccomp.load(sync, true)?;
        self.identity.switch_user()?;
        self.identity.set_capabilities(sync)?;
        let exe = self.process.find_executable()?;
        self.identity.set_no_new_privileges()?;
        self.process.set_personality()?;
        self.wait_recorded(sync)?;
        ocirun_sys::process::prctl(libc::PR_SET_PDEATHSIG, 0).at(InitStep::Prctl)?;
        // As late as possible, so the profile governs the fewest of the runtime's own syscalls.
        self.seccomp.load(sync, false)?;
        socket::send_whole(sync, &Msg::new(Tag::Ready, 0, 0, 0).encode()).at(InitStep::WaitStart)?;
        self.fds.wait_start()?;
        Ok(exe)
    }

    /// Resets the signals, dies with the runtime, and makes the process non-dumpable: nothing
    /// in the container may open it through /proc until exec. Rootless, not before the maps
    /// are written: until then no container process exists, and only the caller's own user
    /// could open it.
    ///
    /// Runs in the child: no allocation, no locks.
    fn guard_process(&self, sync: BorrowedFd<'_>) -> Result<(), Failed> {
        ocirun_sys::signal::reset_to_default().at(InitStep::Signals)?;
        ocirun_sys::process::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong).at(InitStep::Prctl)?;
        if self.namespaces.dumpable_until_maps {
            // Born non-dumpable (namespaces::spawn); the maps are written by this user.
            ocirun_sys::process::prctl(libc::PR_SET_DUMPABLE, 1).at(InitStep::Prctl)?;
            socket::send_whole(sync, &Msg::new(Tag::MapsWanted, 0, 0, 0).encode()).at(InitStep::WaitMaps)
        } else {
            ocirun_sys::process::prctl(libc::PR_SET_DUMPABLE, 0).at(InitStep::Prctl)
        }
    }

    /// Opens and verifies the runtime's own /proc, before any container mount exists, when
    /// the init writes to procfs; it is closed before the container's filesystem is set up.
    ///
    /// Runs in the child: no allocation, no locks.
    fn open_procfs(&self) -> Result<Option<ProcFs>, Failed> {
        if !self.writes_procfs() {
            return Ok(None);
        }
        ProcFs::open().map(Some).map_err(|(part, errno)| Failed {
            step: InitStep::ProcFs,
            index: part as u32,
            errno,
        })
    }

    /// Writes sysctls, oom_score_adj and the exec labels through the runtime's /proc, then
    /// closes it: no fd of the host's procfs is left once the container's filesystem is in place.
    ///
    /// Runs in the child: no allocation, no locks.
    fn write_procfs(&self, p: &mut Progress) -> Result<(), Failed> {
        if let Some(procfs) = p.procfs.take() {
            self.procfs.write(&procfs)?;
        }
        Ok(())
    }

    /// Waits for Go once and enters the cgroup; then, in the cgroup, sets the final CPU affinity.
    ///
    /// Runs in the child: no allocation, no locks.
    fn enter_cgroup(&self, sync: BorrowedFd<'_>, p: &mut Progress) -> Result<(), Failed> {
        if p.in_cgroup {
            return Ok(());
        }
        self.cgroup.join(sync, &mut p.go_fds)?;
        p.in_cgroup = true;
        self.process.set_final_affinity()
    }

    /// With a pid namespace joined by path ([`NamespacePlan::clone_in_pid_namespace`]): this
    /// process is in every namespace of the container but its pid namespace, where the
    /// container cannot see it, and, for an init, in its new root. Had it been made in that pid
    /// namespace, a process there with CAP_SYS_PTRACE could have opened the host's root and
    /// cwd through /proc/<pid>/root and /proc/<pid>/cwd until the mount namespace was joined or
    /// the root switched (runc's stage-1/stage-2). The process that lives there is made now,
    /// from this one: it starts with the container's root and cwd, in the cgroup (every
    /// hierarchy: Go has come), non-dumpable, with the procfs writes done (oom_score_adj and
    /// the exec labels are inherited), and no fd of the host's but stdio, preserved fds, the
    /// exec fifo and the sync socket. This process hands it to the runtime and exits.
    ///
    /// Runs in the child: no allocation, no locks.
    fn enter_pid_namespace(&mut self, sync: BorrowedFd<'_>, p: &mut Progress) -> Result<(), Stop> {
        if self.namespaces.pid_namespace_to_join().is_none() {
            return Ok(());
        }
        self.enter_cgroup(sync, p)?;
        // The host's file of the pid namespace, joined for the children: closed now.
        drop(self.namespaces.pid_namespace.take());
        // The new process waits until this one has handed it to the runtime, so that the
        // runtime hears of it before it hears from it.
        let (gate_read, gate_write) = io::pipe().at(InitStep::CloneProcess)?;
        // A copy of this process as the runtime's child (CLONE_PARENT), made in the pid
        // namespace joined for the children, with a pidfd; its exit signal is SIGCHLD.
        let flags = (libc::CLONE_PARENT | libc::SIGCHLD) as u64;
        // SAFETY: this process is a copy of one thread of the runtime (the init, or an exec's
        // first child): the new process, a whole copy of it, runs only this allocation-free,
        // lock-free code until exec, as this one does; no CLONE_VM, stack, TLS or tid flag.
        match unsafe { ocirun_sys::process::clone_pidfd(flags) } {
            Ok((0, _)) => {
                drop(gate_write);
                let mut byte = [0u8; 1];
                let opened = fs::read(gate_read.as_fd(), &mut byte);
                drop(gate_read);
                if opened != Ok(1) {
                    return Err(Stop::Exit(1));
                }
                // A fork clears the parent-death signal; the parent is the runtime's thread.
                ocirun_sys::process::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong)
                    .at(InitStep::Prctl)?;
                Ok(())
            }
            Ok((pid, pidfd)) => {
                // The new process is the runtime's child (CLONE_PARENT): it gets its pid and
                // a pidfd, and this one exits, to be reaped by it.
                let msg = Msg::new(Tag::Fd, FdKind::Process as u32, pid as u32, 0).encode();
                let sent = match &pidfd {
                    Some(pidfd) => socket::send_whole_with_fds(sync, &msg, &[pidfd.as_fd()]),
                    None => Err(libc::EBADF),
                };
                drop(pidfd);
                // Unsent, the new process sees the gate close without a byte and exits.
                sent.at_index(InitStep::CloneProcess, CLONE_HANDOVER)?;
                fs::write_whole(gate_write.as_fd(), b"g").at_index(InitStep::CloneProcess, CLONE_HANDOVER)?;
                Err(Stop::Exit(0))
            }
            Err(errno) => Err(Stop::Failed(Failed {
                step: InitStep::CloneProcess,
                index: 0,
                errno,
            })),
        }
    }

    /// The pty, from the container's own devpts now that the root is the container's; or,
    /// without a terminal, a session of its own. The container's /dev and console are of no
    /// more use then.
    ///
    /// Runs in the child: no allocation, no locks.
    fn open_terminal(&self, sync: BorrowedFd<'_>, p: &mut Progress) -> Result<(), Failed> {
        let console = p.finished.console.take();
        match &self.terminal {
            Some(t) => p.pty = Some(t.open(sync, console.as_ref())?),
            None => terminal::new_session()?,
        }
        Ok(())
    }

    /// An init made in the pid namespace it joined was not known at Go: it outlives the
    /// runtime only once the state names it, which [`Tag::Recorded`] says.
    ///
    /// Runs in the child: no allocation, no locks.
    fn wait_recorded(&self, sync: BorrowedFd<'_>) -> Result<(), Failed> {
        if !self.namespaces.awaits_recorded {
            return Ok(());
        }
        wait_for(sync, Tag::Recorded, &mut []).map(drop).at(InitStep::WaitStart)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    /// Runs `check` in a copy of this process made like fork (single-threaded: no other
    /// thread of the test binary can reuse an fd number or see a change of its mounts or
    /// dispositions) and asserts that it returned true.
    pub(crate) fn in_forked_child(check: impl FnOnce() -> bool) {
        use ocirun_sys::process::{WaitInfo, clone_pidfd, exit_now, waitid_pidfd};
        use std::os::fd::AsFd;
        // SAFETY: the copy runs only `check`, which makes system calls on data made before,
        // and ends with _exit; no CLONE_VM, stack or tid flag.
        let (_, pidfd) = unsafe { clone_pidfd(libc::SIGCHLD as u64) }.expect("clone");
        let Some(pidfd) = pidfd else {
            exit_now(i32::from(!check()));
        };
        let ended = waitid_pidfd(pidfd.as_fd(), libc::WEXITED).expect("waitid");
        let passed = WaitInfo {
            code: libc::CLD_EXITED,
            status: 0,
        };
        assert_eq!(ended, Some(passed), "the check in the child");
    }

    /// In a forked child with a private mount namespace (the host's mounts stay as they are).
    pub(crate) fn in_private_mounts(check: impl FnOnce() -> bool) {
        in_forked_child(|| {
            let private = ocirun_sys::ns::unshare(libc::CLONE_NEWNS as u64).is_ok()
                && ocirun_sys::mount::mount(Some(c"none"), c"/", None, libc::MS_REC | libc::MS_PRIVATE, None).is_ok();
            private && check()
        });
    }
}
