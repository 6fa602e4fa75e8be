//! `ocirun exec`: runc's flags turned into the process a running container runs.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use oci_spec::runtime::{Capabilities, Capability, Process};
use runtime_core::Container;

use crate::args::{CommandSpec, Flag, Matches, Usage};

/// `ocirun exec`'s table entry: runc's flags.
pub const SPEC: CommandSpec = CommandSpec {
    name: "exec",
    usage: "<id> <command> [args...]",
    about: "Run a process in a running container.",
    shared: &[],
    flags: &[
        Flag::value(
            "process",
            Some('p'),
            "file",
            "A process.json with the whole process; the other process flags then do not apply.",
        ),
        Flag::switch("tty", Some('t'), "Allocate a pseudo-terminal."),
        Flag::value(
            "console-socket",
            None,
            "path",
            "A unix socket that receives the pty master with --tty.",
        ),
        Flag::value(
            "pidfd-socket",
            None,
            "path",
            "A unix socket that receives a pidfd of the process.",
        ),
        Flag::value("cwd", None, "dir", "The working directory in the container."),
        Flag::value(
            "env",
            Some('e'),
            "KEY=value",
            "An environment variable (repeatable; replaces the container's value of KEY).",
        ),
        Flag::value(
            "user",
            Some('u'),
            "uid[:gid]|name",
            "The user: ids, or a name from the container's /etc/passwd.",
        ),
        Flag::value(
            "additional-gids",
            Some('g'),
            "gid",
            "An additional group id (repeatable).",
        ),
        Flag::value(
            "cap",
            Some('c'),
            "CAP_X",
            "A capability to add, e.g. CAP_NET_ADMIN (repeatable).",
        ),
        Flag::switch("no-new-privs", None, "Set no_new_privs for the process."),
        Flag::value("apparmor", None, "profile", "The AppArmor profile for the process."),
        Flag::value("process-label", None, "label", "The SELinux label for the process."),
        Flag::switch("detach", Some('d'), "Do not wait for the process."),
        Flag::value("pid-file", None, "path", "Write the process's pid to this file."),
        Flag::value(
            "preserve-fds",
            None,
            "n",
            "Pass this many fds after stdio (3, 4, ...) to the process.",
        ),
        Flag::value(
            "cgroup",
            None,
            "path",
            "Run in this sub-cgroup of the container's cgroup.",
        ),
        Flag::switch("ignore-paused", None, "Run even if the container is paused."),
    ],
    flags_end_at_first_positional: true,
};

/// runc's `exec` flags.
#[derive(Debug)]
pub struct ExecArgs {
    /// The container id.
    id: String,
    /// The command and its arguments (unless --process gives them).
    command: Vec<String>,
    /// A process.json with the whole process; the other process flags then do not apply.
    process: Option<PathBuf>,
    /// Allocate a pseudo-terminal.
    tty: bool,
    /// A unix socket that receives the pty master with --tty.
    console_socket: Option<PathBuf>,
    /// A unix socket that receives a pidfd of the process.
    pidfd_socket: Option<PathBuf>,
    /// The working directory in the container.
    cwd: Option<PathBuf>,
    /// Environment variables, KEY=value.
    env: Vec<String>,
    /// The user: `uid[:gid]`, or a name from the container's /etc/passwd.
    user: Option<String>,
    /// Additional group ids.
    additional_gids: Vec<u32>,
    /// Capabilities to add.
    cap: Vec<String>,
    /// Set no_new_privs for the process.
    no_new_privs: bool,
    /// The AppArmor profile for the process.
    apparmor: Option<String>,
    /// The SELinux label for the process.
    process_label: Option<String>,
    /// Do not wait for the process.
    detach: bool,
    /// Write the process's pid to this file.
    pid_file: Option<PathBuf>,
    /// Pass this many fds after stdio (3, 4, ...) to the process.
    pub(crate) preserve_fds: u32,
    /// Run in this sub-cgroup of the container's cgroup (runc's `--cgroup path`).
    cgroup: Option<String>,
    /// Run even if the container is paused.
    ignore_paused: bool,
}

impl ExecArgs {
    /// The container id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The exec flags and positionals, typed.
    pub fn from(m: &Matches) -> Result<ExecArgs, Usage> {
        let id = m.required(0, "container id")?;
        let command = (1..m.positionals.len())
            .map(|i| m.required(i, "command argument"))
            .collect::<Result<_, _>>()?;
        Ok(ExecArgs {
            id,
            command,
            process: m.path("process"),
            tty: m.switch("tty"),
            console_socket: m.path("console-socket"),
            pidfd_socket: m.path("pidfd-socket"),
            cwd: m.path("cwd"),
            env: m.strings("env")?,
            user: m.string("user")?,
            additional_gids: m.parse_all("additional-gids")?,
            cap: m.strings("cap")?,
            no_new_privs: m.switch("no-new-privs"),
            apparmor: m.string("apparmor")?,
            process_label: m.string("process-label")?,
            detach: m.switch("detach"),
            pid_file: m.path("pid-file"),
            preserve_fds: m.parse("preserve-fds")?.unwrap_or(0),
            cgroup: m.string("cgroup")?,
            ignore_paused: m.switch("ignore-paused"),
        })
    }
}

/// Runs `ocirun exec`; returns the process's exit code (0 when detached).
pub fn exec(root: &Path, a: &ExecArgs) -> Result<i32> {
    let c = Container::load(root, &a.id)?;
    let process = match &a.process {
        Some(path) => {
            let text = std::fs::read(path).with_context(|| format!("read --process {}", path.display()))?;
            parse_process(&text).with_context(|| format!("parse --process {}", path.display()))?
        }
        None => process_from_flags(&c, a)?,
    };
    // runc's checkTerminal rules, on the process that will run.
    let terminal = process.terminal().unwrap_or(false);
    let relay = match (terminal, a.detach, &a.console_socket) {
        (true, true, None) => bail!("cannot allocate tty if ocirun will detach without setting console socket"),
        (_, _, Some(_)) if !(terminal && a.detach) => {
            bail!("cannot use console socket if ocirun will not detach or allocate tty")
        }
        (true, false, None) => true,
        _ => false,
    };
    let mut b = c
        .exec(process)
        .preserve_fds(a.preserve_fds)
        .ignore_paused(a.ignore_paused)
        .keep_pty_master(relay);
    if let Some(path) = &a.console_socket {
        b = b.console_socket(crate::absolute(path)?);
    }
    if let Some(path) = &a.pidfd_socket {
        b = b.pidfd_socket(crate::absolute(path)?);
    }
    if let Some(p) = &a.pid_file {
        b = b.pid_file(crate::absolute(p)?);
    }
    if let Some(cg) = &a.cgroup {
        // runc's form `controller:path` names one v1 controller; one path for all is what this build takes.
        if cg.contains(':') {
            bail!(
                "--cgroup {cg:?}: per-controller sub-cgroups are not supported by this build of ocirun; give one path"
            );
        }
        b = b.sub_cgroup(cg);
    }
    let mut p = b.spawn()?;
    if a.detach {
        // Detached: the process is reparented when ocirun exits; nothing reaps it here.
        std::mem::forget(p);
        return Ok(0);
    }
    let forward = runtime_core::signals::Forwarder::start(p.pidfd());
    if let Some(master) = p.take_pty_master() {
        runtime_core::console::relay_stdio(&master).context("relay the process's terminal")?;
    }
    let status = p.wait()?;
    drop(forward);
    Ok(status.code())
}

/// A process.json as runc reads it: a missing `user` is uid 0, gid 0 (Go's zero value), where
/// oci-spec's parser wants the field.
fn parse_process(text: &[u8]) -> serde_json::Result<Process> {
    let mut value: serde_json::Value = serde_json::from_slice(text)?;
    match value.as_object_mut() {
        Some(object) if !object.contains_key("user") => {
            object.insert("user".into(), serde_json::json!({"uid": 0, "gid": 0}));
            runtime_core::spec::process_from_slice(&serde_json::to_vec(&value)?)
        }
        _ => runtime_core::spec::process_from_slice(text),
    }
}

/// The container's own process, with runc's exec flags applied over it.
fn process_from_flags(c: &Container, a: &ExecArgs) -> Result<Process> {
    if a.command.is_empty() {
        bail!("exec: give a command to run, or --process");
    }
    let spec = c.spec()?;
    let mut p = spec.process().clone().unwrap_or_default();
    p.set_args(Some(a.command.clone()))
        .set_terminal(Some(a.tty))
        .set_console_size(None);
    if let Some(cwd) = &a.cwd {
        p.set_cwd(cwd.clone());
    }
    let mut env = p.env().clone().unwrap_or_default();
    for e in &a.env {
        let Some((key, _)) = e.split_once('=') else {
            bail!("--env {e:?}: not KEY=value");
        };
        env.retain(|old| old.split_once('=').map(|(k, _)| k) != Some(key));
        env.push(e.clone());
    }
    p.set_env(Some(env));
    if let Some(u) = &a.user {
        p.set_user(c.resolve_user(u, p.user().gid())?);
    }
    if !a.additional_gids.is_empty() {
        let mut user = p.user().clone();
        user.set_additional_gids(Some(a.additional_gids.clone()));
        p.set_user(user);
    }
    if !a.cap.is_empty() {
        let mut caps = p.capabilities().clone().unwrap_or_default();
        for name in &a.cap {
            // runc's names (CAP_KILL) and oci-spec's (KILL) both name it.
            let upper = name.to_ascii_uppercase();
            let cap: Capability = upper
                .strip_prefix("CAP_")
                .unwrap_or(&upper)
                .parse()
                .map_err(|_| anyhow::anyhow!("--cap {name:?}: unknown capability"))?;
            let add = |set: &Option<Capabilities>| {
                let mut s = set.clone().unwrap_or_default();
                s.insert(cap);
                Some(s)
            };
            caps.set_bounding(add(caps.bounding()));
            caps.set_effective(add(caps.effective()));
            caps.set_permitted(add(caps.permitted()));
            // Never inheritable (CVE-2022-29162): that would hand the capability to whatever the
            // process execs. Ambient, which needs inheritable, only when the process already has
            // an inheritable set, as runc does.
            if caps.inheritable().is_some() {
                caps.set_ambient(add(caps.ambient()));
            }
        }
        p.set_capabilities(Some(caps));
    }
    if a.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if let Some(profile) = &a.apparmor {
        p.set_apparmor_profile(Some(profile.clone()));
    }
    if let Some(label) = &a.process_label {
        p.set_selinux_label(Some(label.clone()));
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::parse_process;

    #[test]
    fn a_process_json_without_user_runs_as_root() {
        let p = parse_process(br#"{"args": ["true"], "cwd": "/"}"#).unwrap();
        assert_eq!((p.user().uid(), p.user().gid()), (0, 0));
        let p = parse_process(br#"{"args": ["true"], "cwd": "/", "user": {"uid": 7, "gid": 8}}"#).unwrap();
        assert_eq!((p.user().uid(), p.user().gid()), (7, 8));
        assert!(
            parse_process(br#"{"args": ["true"]}"#).is_err(),
            "cwd stays required, as in runc"
        );
    }
}
