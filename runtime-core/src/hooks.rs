//! OCI hooks: each one a new process with the container's state on stdin and its
//! own `args`, `env` and `timeout`. The runtime's hooks run in its namespaces;
//! createContainer in the container's namespaces; startContainer, whose path the
//! image supplies, as a process of the container (see [`run_start_container`]).

use std::ffi::{CString, c_char};
use std::io::{Read, Seek};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::OnceLock;
use std::time::Duration;

use namespaces::pidfd::{self, ExitStatus};
use namespaces::{CloneArgs, NamespaceKind};
use oci_spec::runtime::{Hook, Hooks, Process, State};
use ocirun_sys::{fd, fs, process, signal};

use crate::container::Container;
use crate::state::ContainerDir;
use crate::{Error, Result};

/// The six points of the lifecycle where hooks run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookKind {
    /// During create, in the runtime's namespaces (deprecated by the spec, still run).
    Prestart,
    /// During create, in the runtime's namespaces, before pivot_root.
    CreateRuntime,
    /// During create, in the container's namespaces, before pivot_root.
    CreateContainer,
    /// During start, before the user process runs, as a process of the container: its
    /// user, capabilities, no_new_privs, seccomp filter, rlimits, LSM label, cgroup, root
    /// and namespaces (runc runs it from the init, after its setup).
    StartContainer,
    /// After start, in the runtime's namespaces; failures only warn.
    Poststart,
    /// After delete, in the runtime's namespaces; failures only warn.
    Poststop,
}

impl HookKind {
    /// All six, in the order of the lifecycle.
    pub const ALL: [HookKind; 6] = [
        HookKind::Prestart,
        HookKind::CreateRuntime,
        HookKind::CreateContainer,
        HookKind::StartContainer,
        HookKind::Poststart,
        HookKind::Poststop,
    ];

    /// The name config.json gives this list.
    pub fn name(self) -> &'static str {
        match self {
            HookKind::Prestart => "prestart",
            HookKind::CreateRuntime => "createRuntime",
            HookKind::CreateContainer => "createContainer",
            HookKind::StartContainer => "startContainer",
            HookKind::Poststart => "poststart",
            HookKind::Poststop => "poststop",
        }
    }

    /// The hooks of this kind in `hooks`.
    pub fn of(self, hooks: &Hooks) -> &[Hook] {
        let list = match self {
            #[allow(deprecated)] // The spec deprecates prestart, yet runtimes still run it.
            HookKind::Prestart => hooks.prestart(),
            HookKind::CreateRuntime => hooks.create_runtime(),
            HookKind::CreateContainer => hooks.create_container(),
            HookKind::StartContainer => hooks.start_container(),
            HookKind::Poststart => hooks.poststart(),
            HookKind::Poststop => hooks.poststop(),
        };
        list.as_deref().unwrap_or_default()
    }

    /// Whether the hook runs in the container's namespaces rather than the runtime's.
    fn in_container(self) -> bool {
        matches!(self, HookKind::CreateContainer)
    }
}

/// Whether any hook of `kinds` is configured.
pub(crate) fn any(hooks: Option<&Hooks>, kinds: &[HookKind]) -> bool {
    hooks.is_some_and(|h| kinds.iter().any(|k| !k.of(h).is_empty()))
}

/// Checks every hook before anything is created: absolute paths, positive timeouts.
pub(crate) fn validate(hooks: &Hooks) -> Result<()> {
    for kind in HookKind::ALL {
        for (i, hook) in kind.of(hooks).iter().enumerate() {
            let field = || format!("hooks.{}[{i}]", kind.name());
            if !hook.path().is_absolute() {
                return Err(Error::spec(
                    format!("{}.path", field()),
                    format!("{} is not absolute", hook.path().display()),
                ));
            }
            if hook.timeout().is_some_and(|t| t <= 0) {
                return Err(Error::spec(
                    format!("{}.timeout", field()),
                    "must be a positive number of seconds",
                ));
            }
            for env in hook.env().iter().flatten() {
                if !env.contains('=') {
                    return Err(Error::spec(
                        format!("{}.env", field()),
                        format!("{env:?} is not KEY=value"),
                    ));
                }
            }
        }
    }
    Ok(())
}

type WarningHandler = Box<dyn Fn(&str) + Send + Sync>;

static WARNINGS: OnceLock<WarningHandler> = OnceLock::new();

/// Sets where warnings go (failed poststart and poststop hooks, ignored spec fields); the default
/// is stderr.
/// Only the first call takes effect.
pub fn set_warning_handler(handler: impl Fn(&str) + Send + Sync + 'static) {
    let _ = WARNINGS.set(Box::new(handler));
}

pub(crate) fn warn(msg: &str) {
    match WARNINGS.get() {
        Some(handler) => handler(msg),
        None => eprintln!("ocirun: warning: {msg}"),
    }
}

/// Runs the hooks of `kind` in order; the first failure stops them and is returned.
/// `init` is the container's init (its pid and a pidfd), whose namespaces container hooks join.
/// These hooks keep the runtime's privileges: their paths are the config's, resolved on the
/// host. Not for startContainer, whose path the image supplies: [`run_start_container`].
pub(crate) fn run(kind: HookKind, hooks: Option<&Hooks>, state: &State, init: (i32, BorrowedFd<'_>)) -> Result<()> {
    let Some(hooks) = hooks else { return Ok(()) };
    let list = kind.of(hooks);
    if list.is_empty() {
        return Ok(());
    }
    if kind == HookKind::StartContainer {
        return Err(hook_error(
            kind,
            0,
            &list[0],
            "runs only as a process of the container, never with the runtime's privileges".into(),
        ));
    }
    let json = serde_json::to_vec(state).expect("a State serialises");
    let namespaces = if kind.in_container() {
        let joins = container_namespaces(init.0).map_err(|reason| hook_error(kind, 0, &list[0], reason))?;
        // Opened by pid: if the init still runs now, they are its own and not a reused pid's.
        if pidfd::wait_exited(init.1, Some(Duration::ZERO)).unwrap_or(true) {
            return Err(hook_error(kind, 0, &list[0], "the container's init has exited".into()));
        }
        joins
    } else {
        Joins::default()
    };
    for (i, hook) in list.iter().enumerate() {
        run_one(hook, &json, &namespaces).map_err(|reason| hook_error(kind, i, hook, reason))?;
    }
    Ok(())
}

/// Runs the startContainer hooks in order, each as a process of the container `c` (whose
/// directory `dir` the caller holds locked), made by `exec`'s machinery: the container
/// process's user and groups, capabilities, no_new_privs, seccomp filter, rlimits, LSM exec
/// label and cwd, in the container's cgroup, root and every namespace. The path resolves and
/// runs in the container, like runc's hooks run from its init after the init's setup. Without
/// `env` the hook gets the container process's environment, as in runc and youki. The first
/// failure stops them and is returned.
pub(crate) fn run_start_container(
    c: &Container,
    dir: &ContainerDir,
    hooks: Option<&Hooks>,
    state: impl FnOnce() -> State,
) -> Result<()> {
    let kind = HookKind::StartContainer;
    let Some(hooks) = hooks else { return Ok(()) };
    let list = kind.of(hooks);
    if list.is_empty() {
        return Ok(());
    }
    let spec = dir.load_spec()?;
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::spec("process", "missing"))?;
    let json = serde_json::to_vec(&state()).expect("a State serialises");
    for (i, hook) in list.iter().enumerate() {
        run_in_container(c, dir, process, hook, &json).map_err(|reason| hook_error(kind, i, hook, reason))?;
    }
    Ok(())
}

/// An error with its sources, for a hook's failure reason.
fn chain(e: &Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Runs one startContainer hook as a process of the container, to its end or its timeout.
fn run_in_container(
    c: &Container,
    dir: &ContainerDir,
    process: &Process,
    hook: &Hook,
    state: &[u8],
) -> std::result::Result<(), String> {
    let path = hook.path().to_str().ok_or("path is not UTF-8")?;
    let mut p = process.clone();
    let args = match hook.args() {
        Some(args) if !args.is_empty() => args.clone(),
        _ => vec![path.to_string()],
    };
    p.set_args(Some(args)).set_terminal(Some(false)).set_console_size(None);
    if let Some(env) = hook.env() {
        p.set_env(Some(env.clone()));
    }
    let stdin = memfd(c"ocirun-hook-state", state)?;
    let stdout = memfd(c"ocirun-hook-stdout", b"")?;
    let stderr = memfd(c"ocirun-hook-stderr", b"")?;
    let dup = |f: &std::fs::File| f.try_clone().map_err(|e| format!("dup: {e}"));
    let spawned = c
        .exec(p)
        .executable(path)
        .stdin(stdin)
        .stdout(dup(&stdout)?)
        .stderr(dup(&stderr)?)
        .spawn_in(crate::exec::DirLock::Borrowed(dir), Vec::new())
        .map_err(|e| chain(&e))?;
    let timeout = hook.timeout().map(|t| Duration::from_secs(t as u64));
    let exited = pidfd::wait_exited(spawned.pidfd(), timeout).map_err(|e| format!("wait: {e}"))?;
    if !exited {
        let _ = pidfd::send_signal(spawned.pidfd(), libc::SIGKILL);
        let _ = spawned.wait();
        return Err(timed_out(hook));
    }
    let status = spawned.wait().map_err(|e| chain(&e))?;
    outcome(Some(status), &stdout, &stderr)
}

fn timed_out(hook: &Hook) -> String {
    format!(
        "did not finish within its timeout of {}s and was killed",
        hook.timeout().unwrap_or_default()
    )
}

/// How a hook ended, as the result of running it; with what it printed when it failed.
fn outcome(
    status: Option<ExitStatus>,
    stdout: &std::fs::File,
    stderr: &std::fs::File,
) -> std::result::Result<(), String> {
    let printed = |what: &str, file: &std::fs::File| {
        let text = read_back(file);
        if text.is_empty() {
            String::new()
        } else {
            format!(", {what}: {text}")
        }
    };
    match status {
        Some(ExitStatus::Exited(0)) => Ok(()),
        Some(ExitStatus::Exited(code)) => Err(format!(
            "exited with status {code}{}{}",
            printed("stdout", stdout),
            printed("stderr", stderr)
        )),
        Some(ExitStatus::Signaled(sig)) => Err(format!("killed by signal {sig}{}", printed("stderr", stderr))),
        None => Err("vanished before it could be waited for".into()),
    }
}

/// Runs every hook of `kind`, turning failures into warnings (poststart, poststop); `state` is
/// made only when there is a hook to give it to.
pub(crate) fn run_warn(kind: HookKind, hooks: Option<&Hooks>, state: impl FnOnce() -> State) {
    let Some(hooks) = hooks else { return };
    let list = kind.of(hooks);
    if list.is_empty() {
        return;
    }
    let json = serde_json::to_vec(&state()).expect("a State serialises");
    for (i, hook) in list.iter().enumerate() {
        if let Err(reason) = run_one(hook, &json, &Joins::default()) {
            warn(&hook_error(kind, i, hook, reason).to_string());
        }
    }
}

fn hook_error(kind: HookKind, index: usize, hook: &Hook, reason: String) -> Error {
    Error::Hook {
        kind: kind.name(),
        index,
        path: hook.path().clone(),
        reason,
    }
}

/// The namespaces of the init a container hook joins: user first, then the rest;
/// the pid namespace separately, since the clone itself must enter it.
#[derive(Default)]
struct Joins {
    user: Option<OwnedFd>,
    others: Vec<(NamespaceKind, OwnedFd)>,
    pid: Option<OwnedFd>,
}

/// Opens every namespace of `init` that differs from this process's own; for the pid
/// namespace, the one `init` makes its children in: an init made outside the pid namespace it
/// joins is in it only for its children until its root switch, after these hooks.
fn container_namespaces(init: i32) -> std::result::Result<Joins, String> {
    let mut joins = Joins::default();
    let found =
        namespaces::differing_namespaces_for_children(init).map_err(|e| match std::error::Error::source(&e) {
            Some(source) => format!("{e}: {source}"),
            None => e.to_string(),
        })?;
    for (kind, path) in found {
        let fd: OwnedFd = std::fs::File::open(&path)
            .map_err(|e| format!("open {}: {e}", path.display()))?
            .into();
        match kind {
            NamespaceKind::User => joins.user = Some(fd),
            NamespaceKind::Pid => joins.pid = Some(fd),
            _ => joins.others.push((kind, fd)),
        }
    }
    Ok(joins)
}

/// A memfd holding `content`, read from the start.
fn memfd(name: &std::ffi::CStr, content: &[u8]) -> std::result::Result<std::fs::File, String> {
    let fd =
        fs::memfd_create(name, 0).map_err(|e| format!("memfd_create: {}", std::io::Error::from_raw_os_error(e)))?;
    let mut file = std::fs::File::from(fd);
    std::io::Write::write_all(&mut file, content).map_err(|e| format!("write the state: {e}"))?;
    file.rewind().map_err(|e| format!("rewind the state: {e}"))?;
    Ok(file)
}

/// What a memfd holds, at most 4 KiB of it, trimmed.
fn read_back(mut file: &std::fs::File) -> String {
    let mut buf = Vec::new();
    let _ = file.rewind();
    let _ = file.take(4096).read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).trim().to_string()
}

fn cstring(what: &str, s: impl Into<Vec<u8>>) -> std::result::Result<CString, String> {
    CString::new(s).map_err(|_| format!("{what} contains a NUL byte"))
}

/// Runs one hook to its end; the error says why it failed, with what it printed.
fn run_one(hook: &Hook, state: &[u8], joins: &Joins) -> std::result::Result<(), String> {
    let path = cstring("path", hook.path().as_os_str().as_encoded_bytes())?;
    let args: Vec<CString> = match hook.args() {
        Some(args) if !args.is_empty() => args
            .iter()
            .map(|a| cstring("args", a.as_str()))
            .collect::<Result<_, _>>()?,
        _ => vec![path.clone()],
    };
    // Without env the hook inherits the runtime's environment, as runc's do, but for the
    // marker of ocirun's own sealed re-execution.
    let env: Vec<CString> = match hook.env() {
        Some(env) => env
            .iter()
            .map(|e| cstring("env", e.as_str()))
            .collect::<Result<_, _>>()?,
        None => crate::exe::environment_without_marker(),
    };
    let argv: Vec<*const c_char> = args.iter().map(|a| a.as_ptr()).chain([std::ptr::null()]).collect();
    let envp: Vec<*const c_char> = env.iter().map(|e| e.as_ptr()).chain([std::ptr::null()]).collect();
    let stdin = memfd(c"ocirun-hook-state", state)?;
    let stdout = memfd(c"ocirun-hook-stdout", b"")?;
    let stderr = memfd(c"ocirun-hook-stderr", b"")?;
    // The child writes the errno of a failed setup or exec here; exec closes it.
    let (err_read, err_write) = std::io::pipe().map_err(|e| format!("pipe: {e}"))?;
    let err_write = OwnedFd::from(err_write);

    let io = [stdin.as_fd(), stdout.as_fd(), stderr.as_fd()];
    let report = err_write.as_fd();
    let child = || -> i32 {
        let fail = |stage: u8, errno: i32| -> i32 {
            let mut msg = [0u8; 5];
            msg[0] = stage;
            msg[1..].copy_from_slice(&errno.to_ne_bytes());
            let _ = fs::write_whole(report, &msg);
            127
        };
        if let Err(e) = signal::reset_to_default() {
            return fail(0, e);
        }
        for (target, src) in io.iter().enumerate() {
            if let Err(e) = fd::dup2(*src, target as libc::c_int) {
                return fail(0, e);
            }
        }
        if let Some(user) = &joins.user {
            if let Err(e) = namespaces::setns(user.as_fd(), NamespaceKind::User) {
                return fail(1, e);
            }
            // Become the namespace's root, as the container's own init is.
            if let Err(e) = process::setresgid(0).and_then(|()| process::setresuid(0)) {
                return fail(2, e);
            }
        }
        for (kind, fd) in &joins.others {
            if let Err(e) = namespaces::setns(fd.as_fd(), *kind) {
                return fail(1, e);
            }
        }
        // Only stdio reaches the hook, whatever the embedding program has open.
        if let Err(e) = fd::cloexec_from(3) {
            return fail(0, e);
        }
        fail(3, process::execve(&path, &argv, &envp))
    };
    let args = CloneArgs {
        pid_namespace: joins.pid.as_ref().map(|fd| fd.as_raw_fd()),
        ..CloneArgs::default()
    };
    // SAFETY: the child only makes raw system calls (dup2, setns, setres[ug]id,
    // fcntl, write, execve) on data prepared above; it does not allocate or lock.
    let spawned = unsafe { namespaces::spawn(&args, child) }.map_err(|e| format!("spawn: {e}"))?;
    drop(err_write);

    let timeout = hook.timeout().map(|t| Duration::from_secs(t as u64));
    let exited = pidfd::wait_exited(spawned.pidfd.as_fd(), timeout).map_err(|e| format!("wait: {e}"))?;
    if !exited {
        let _ = pidfd::send_signal(spawned.pidfd.as_fd(), libc::SIGKILL);
        let _ = pidfd::reap(&spawned.pidfd, true);
        return Err(timed_out(hook));
    }
    let status = pidfd::reap(&spawned.pidfd, true).map_err(|e| format!("wait: {e}"))?;
    let mut report = [0u8; 5];
    let mut err_read = err_read;
    if err_read.read_exact(&mut report).is_ok() {
        let errno = std::io::Error::from_raw_os_error(i32::from_ne_bytes([report[1], report[2], report[3], report[4]]));
        return Err(match report[0] {
            0 => format!("set up its stdio: {errno}"),
            1 => format!("join the container's namespaces: {errno}"),
            2 => format!("become root in the container's user namespace: {errno}"),
            _ => format!("exec {}: {errno}", hook.path().display()),
        });
    }
    outcome(status, &stdout, &stderr)
}
