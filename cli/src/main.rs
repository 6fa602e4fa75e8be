//! `ocirun`: runc's command line over runtime-core.
// The C runtime calls `main` below directly; see there why.
#![cfg_attr(not(test), no_main)]

mod args;
mod cgroup_cmds;
mod exec;
mod log;
mod specgen;

use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use args::{CommandSpec, Flag, Matches, Parsed, Usage};
use runtime_core::Container;

/// What `ocirun --version` prints after the name, in runc's form ("runc version 1.1.5",
/// "spec: 1.0.2-dev"): dockerd reads the runtime's name and version from the line that holds
/// "version" and warns about any other output. `spec` is runtime_core::OCI_VERSION_MAX.
const VERSION: &str = concat!("version ", env!("CARGO_PKG_VERSION"), "\nspec: 1.2.0");

/// The global flags and the command to run.
#[derive(Debug)]
struct Cli {
    /// Root directory for the state of containers.
    root: PathBuf,
    /// Log file (runc's --log); errors are also printed to stderr.
    log: Option<PathBuf>,
    /// Log format: text or json.
    log_format: &'static str,
    /// Whether `--log-format` was given (stderr then gets log lines, as runc's).
    log_format_given: bool,
    /// Log debug messages too.
    debug: bool,
    /// Use systemd to manage cgroups (runc's --systemd-cgroup).
    systemd_cgroup: bool,
    /// Rootless mode: `Some` for true or false, `None` for auto (runc's `--rootless`).
    rootless: Option<bool>,
    /// The CRIU binary for checkpoint and restore.
    criu: PathBuf,
    /// The command.
    command: Command,
}

/// The flags create and run share.
const CREATE_FLAGS: [Flag; 7] = [
    Flag::value(
        "bundle",
        Some('b'),
        "dir",
        "The bundle directory (default: the current directory).",
    ),
    Flag::value(
        "console-socket",
        None,
        "path",
        "A unix socket that receives the pty master when process.terminal is set.",
    ),
    Flag::value("pid-file", None, "path", "Write the init's pid to this file."),
    Flag::value(
        "pidfd-socket",
        None,
        "path",
        "A unix socket that receives a pidfd of the init.",
    ),
    Flag::switch("no-pivot", None, "Do not use pivot_root (for a rootfs on a ramdisk)."),
    Flag::switch(
        "no-new-keyring",
        None,
        "Keep the caller's session keyring instead of a new one for the container.",
    ),
    Flag::value(
        "preserve-fds",
        None,
        "n",
        "Pass this many fds after stdio (3, 4, ...) to the container.",
    ),
];

/// The flags of create and run.
#[derive(Debug)]
struct CreateArgs {
    /// The container id.
    id: String,
    /// The bundle directory (default: the current directory).
    bundle: PathBuf,
    /// A unix socket that receives the pty master when process.terminal is set.
    console_socket: Option<PathBuf>,
    /// Write the init's pid to this file.
    pid_file: Option<PathBuf>,
    /// A unix socket that receives a pidfd of the init.
    pidfd_socket: Option<PathBuf>,
    /// Do not use pivot_root.
    no_pivot: bool,
    /// Keep the caller's session keyring.
    no_new_keyring: bool,
    /// Pass this many fds after stdio (3, 4, ...) to the container.
    preserve_fds: u32,
}

impl CreateArgs {
    fn from(m: &Matches) -> Result<CreateArgs, Usage> {
        m.at_most(1)?;
        Ok(CreateArgs {
            id: m.required(0, "container id")?,
            bundle: m.path("bundle").unwrap_or_else(|| PathBuf::from(".")),
            console_socket: m.path("console-socket"),
            pid_file: m.path("pid-file"),
            pidfd_socket: m.path("pidfd-socket"),
            no_pivot: m.switch("no-pivot"),
            no_new_keyring: m.switch("no-new-keyring"),
            preserve_fds: m.parse("preserve-fds")?.unwrap_or(0),
        })
    }
}

/// The CRIU flags checkpoint and restore share (runc's).
const CRIU_FLAGS: [Flag; 6] = [
    Flag::value("image-path", None, "dir", "Where the images are (default: checkpoint)."),
    Flag::value(
        "work-path",
        None,
        "dir",
        "Where CRIU writes its logs (default: the image path).",
    ),
    Flag::switch("tcp-established", None, "Allow open TCP connections."),
    Flag::switch("ext-unix-sk", None, "Allow external unix sockets."),
    Flag::switch("shell-job", None, "Allow shell jobs."),
    Flag::switch("file-locks", None, "Handle file locks."),
];

/// The CRIU flags checkpoint and restore share (runc's).
#[derive(Debug)]
struct CriuArgs {
    /// Where the images are.
    image_path: PathBuf,
    /// Where CRIU writes its logs (default: the image path).
    work_path: Option<PathBuf>,
    /// Allow open TCP connections.
    tcp_established: bool,
    /// Allow external unix sockets.
    ext_unix_sk: bool,
    /// Allow shell jobs.
    shell_job: bool,
    /// Handle file locks.
    file_locks: bool,
}

impl CriuArgs {
    fn from(m: &Matches) -> CriuArgs {
        CriuArgs {
            image_path: m.path("image-path").unwrap_or_else(|| PathBuf::from("checkpoint")),
            work_path: m.path("work-path"),
            tcp_established: m.switch("tcp-established"),
            ext_unix_sk: m.switch("ext-unix-sk"),
            shell_job: m.switch("shell-job"),
            file_locks: m.switch("file-locks"),
        }
    }

    fn options(&self, criu: &std::path::Path) -> Result<runtime_core::CriuOptions> {
        let mut o = runtime_core::CriuOptions::new(absolute(&self.image_path)?);
        o.criu = criu.to_path_buf();
        o.work_path = self.work_path.as_deref().map(absolute).transpose()?;
        o.tcp_established = self.tcp_established;
        o.ext_unix_sk = self.ext_unix_sk;
        o.shell_job = self.shell_job;
        o.file_locks = self.file_locks;
        Ok(o)
    }
}

/// Declares a command's table entry: name, positionals, about line, flags.
macro_rules! command {
    ($name:literal, $usage:literal, $about:literal, [$($flag:expr),* $(,)?]) => {
        CommandSpec {
            name: $name,
            usage: $usage,
            about: $about,
            shared: &[],
            flags: &[$($flag),*],
            flags_end_at_first_positional: false,
        }
    };
}

const CREATE: CommandSpec = CommandSpec {
    shared: &CREATE_FLAGS,
    ..command!(
        "create",
        "<id>",
        "Create a container; its process waits for `start`.",
        []
    )
};
const START: CommandSpec = command!("start", "<id>", "Start the process of a created container.", []);
const RUN: CommandSpec = CommandSpec {
    shared: &CREATE_FLAGS,
    flags: &[
        Flag::switch("detach", Some('d'), "Do not wait for the container."),
        Flag::switch("keep", None, "Keep the container's state after it exits."),
        Flag::switch("no-subreaper", None, "Accepted for runc compatibility."),
    ],
    ..command!(
        "run",
        "<id>",
        "Create and start a container, and wait for it unless --detach.",
        []
    )
};
const STATE: CommandSpec = command!("state", "<id>", "Print the OCI state of a container as JSON.", []);
const KILL: CommandSpec = command!(
    "kill",
    "<id> [signal]",
    "Send a signal (default SIGTERM) to a container's init.",
    [Flag::switch("all", Some('a'), "Signal every process of the container.")]
);
const DELETE: CommandSpec = command!(
    "delete",
    "<id>",
    "Delete a container and everything it holds.",
    [Flag::switch("force", Some('f'), "Kill the container first if it runs.")]
);
const LIST: CommandSpec = command!(
    "list",
    "",
    "List containers.",
    [
        Flag::value("format", Some('f'), "table|json", "Output format (default table)."),
        Flag::switch("quiet", Some('q'), "Print only ids."),
    ]
);
const CHECKPOINT: CommandSpec = CommandSpec {
    shared: &CRIU_FLAGS,
    flags: &[
        Flag::switch(
            "leave-running",
            None,
            "Leave the container running after the checkpoint.",
        ),
        Flag::switch(
            "pre-dump",
            None,
            "Dump the container's memory only and leave it running (a later checkpoint's --parent-path).",
        ),
        Flag::value(
            "parent-path",
            None,
            "path",
            "The images of a previous --pre-dump, relative to --image-path.",
        ),
    ],
    ..command!("checkpoint", "<id>", "Checkpoint a running container with CRIU.", [])
};
const RESTORE: CommandSpec = CommandSpec {
    shared: &CRIU_FLAGS,
    flags: &[
        CREATE_FLAGS[0],
        CREATE_FLAGS[2],
        Flag::switch(
            "detach",
            Some('d'),
            "Return once restored (ocirun always does: the restored container runs detached).",
        ),
    ],
    ..command!("restore", "<id>", "Restore a container from a CRIU checkpoint.", [])
};
const FEATURES: CommandSpec = command!(
    "features",
    "",
    "Print the OCI features document of this build as JSON.",
    []
);
const SPEC: CommandSpec = command!(
    "spec",
    "",
    "Write a default config.json (as `runc spec`).",
    [
        Flag::value("bundle", Some('b'), "dir", "The bundle directory to write it in."),
        Flag::switch(
            "rootless",
            None,
            "A spec for a rootless container: a user namespace mapping the caller to root, no network namespace, /sys bound, no resources."
        )
    ]
);

/// Every command, in the order `--help` lists them.
const COMMANDS: &[&CommandSpec] = &[
    &CREATE,
    &START,
    &RUN,
    &STATE,
    &KILL,
    &DELETE,
    &LIST,
    &exec::SPEC,
    &cgroup_cmds::PAUSE,
    &cgroup_cmds::RESUME,
    &cgroup_cmds::PS,
    &cgroup_cmds::EVENTS,
    &cgroup_cmds::UPDATE,
    &CHECKPOINT,
    &RESTORE,
    &FEATURES,
    &SPEC,
];

/// A command and its arguments.
#[derive(Debug)]
enum Command {
    Create(CreateArgs),
    Start {
        id: String,
    },
    Run {
        args: CreateArgs,
        detach: bool,
        keep: bool,
    },
    State {
        id: String,
    },
    Kill {
        id: String,
        signal: String,
        all: bool,
    },
    Delete {
        id: String,
        force: bool,
    },
    List {
        format: &'static str,
        quiet: bool,
    },
    Exec(Box<exec::ExecArgs>),
    Checkpoint {
        id: String,
        criu: CriuArgs,
        leave_running: bool,
        pre_dump: bool,
        parent_path: Option<PathBuf>,
    },
    Restore {
        id: String,
        criu: CriuArgs,
        bundle: PathBuf,
        pid_file: Option<PathBuf>,
    },
    Features,
    Spec {
        bundle: PathBuf,
        /// `--rootless`: runc's `spec --rootless`.
        rootless: bool,
    },
    Cgroup(cgroup_cmds::CgroupCommand),
}

impl Command {
    /// The command `spec` names, from its matches.
    fn from(spec: &CommandSpec, m: &Matches) -> Result<Command, Usage> {
        let id = || -> Result<String, Usage> {
            m.at_most(1)?;
            m.required(0, "container id")
        };
        Ok(match spec.name {
            "create" => Command::Create(CreateArgs::from(m)?),
            "start" => Command::Start { id: id()? },
            "run" => Command::Run {
                args: CreateArgs::from(m)?,
                detach: m.switch("detach"),
                keep: m.switch("keep"),
            },
            "state" => Command::State { id: id()? },
            "kill" => {
                m.at_most(2)?;
                Command::Kill {
                    id: m.required(0, "container id")?,
                    signal: m.optional(1, "signal")?.unwrap_or_else(|| "SIGTERM".to_owned()),
                    all: m.switch("all"),
                }
            }
            "delete" => Command::Delete {
                id: id()?,
                force: m.switch("force"),
            },
            "list" => {
                m.at_most(0)?;
                Command::List {
                    format: m.choice("format", &["table", "json"], "table")?,
                    quiet: m.switch("quiet"),
                }
            }
            "exec" => Command::Exec(Box::new(exec::ExecArgs::from(m)?)),
            "checkpoint" => Command::Checkpoint {
                id: id()?,
                criu: CriuArgs::from(m),
                leave_running: m.switch("leave-running"),
                pre_dump: m.switch("pre-dump"),
                parent_path: m.path("parent-path"),
            },
            "restore" => Command::Restore {
                id: id()?,
                criu: CriuArgs::from(m),
                bundle: m.path("bundle").unwrap_or_else(|| PathBuf::from(".")),
                pid_file: m.path("pid-file"),
            },
            "features" => {
                m.at_most(0)?;
                Command::Features
            }
            "spec" => {
                m.at_most(0)?;
                Command::Spec {
                    bundle: m.path("bundle").unwrap_or_else(|| PathBuf::from(".")),
                    rootless: m.switch("rootless"),
                }
            }
            _ => Command::Cgroup(cgroup_cmds::CgroupCommand::from(spec, m)?),
        })
    }
}

impl Cli {
    /// The command line, or what to print instead (help, version, a usage error).
    fn parse(argv: Vec<OsString>) -> Result<Cli, u8> {
        let (spec, global, matches) = match args::parse(COMMANDS, argv.into_iter().skip(1)) {
            Ok(Parsed::Command { spec, global, matches }) => (spec, global, matches),
            Ok(Parsed::Version) => {
                println!("ocirun {VERSION}");
                return Err(0);
            }
            Ok(Parsed::Help(text)) => {
                print!("{text}");
                return Err(0);
            }
            Err(e) => return Err(usage_error(&e)),
        };
        let cli = || -> Result<Cli, Usage> {
            Ok(Cli {
                root: global.path("root").unwrap_or_else(default_root),
                log: global.path("log"),
                log_format: global.choice("log-format", &["text", "json"], "text")?,
                log_format_given: global.string("log-format")?.is_some(),
                debug: global.switch("debug"),
                systemd_cgroup: global.switch("systemd-cgroup"),
                rootless: match global.string("rootless")? {
                    None => None,
                    Some(s) => parse_bool_or_auto(&s)
                        .ok_or_else(|| Usage(format!("--rootless: {s:?} is not true, false or auto")))?,
                },
                criu: global.path("criu").unwrap_or_else(|| PathBuf::from("criu")),
                command: Command::from(spec, &matches)?,
            })
        };
        cli().map_err(|e| usage_error(&e))
    }
}

/// runc's parseBoolOrAuto: "" or auto is `Some(None)`; Go's ParseBool spellings are a bool.
fn parse_bool_or_auto(s: &str) -> Option<Option<bool>> {
    match s {
        "" => Some(None),
        _ if s.eq_ignore_ascii_case("auto") => Some(None),
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(Some(true)),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(Some(false)),
        _ => None,
    }
}

/// The default state root, as runc's: `$XDG_RUNTIME_DIR/ocirun` for a caller that is not
/// root (or is root only in a user namespace, with `$USER` unset or not root), else
/// [`runtime_core::state::DEFAULT_ROOT`].
fn default_root() -> PathBuf {
    let xdg = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty());
    if let Some(dir) = xdg {
        let euid = ocirun_sys::process::geteuid();
        // runc's shouldHonorXDGRuntimeDir: root in a user namespace unless $USER says root
        // ($USER first: /proc/self/uid_map costs a read).
        let honor = euid != 0
            || (std::env::var("USER").map_or(true, |u| u != "root") && runtime_core::running_in_user_namespace());
        if honor {
            return PathBuf::from(dir).join("ocirun");
        }
    }
    PathBuf::from(runtime_core::state::DEFAULT_ROOT)
}

/// Prints a command-line mistake; exits 2, as for any usage error.
fn usage_error(e: &Usage) -> u8 {
    eprintln!("ocirun: {e}");
    2
}

fn signal_number(s: &str) -> Result<i32> {
    if let Ok(n) = s.parse::<i32>() {
        // As runc: any number, 0 (does the init exist?) included; the kernel refuses the rest.
        return Ok(n);
    }
    let upper = s.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    let n = match name {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "ILL" => libc::SIGILL,
        "TRAP" => libc::SIGTRAP,
        "ABRT" | "IOT" => libc::SIGABRT,
        "BUS" => libc::SIGBUS,
        "FPE" => libc::SIGFPE,
        "KILL" => libc::SIGKILL,
        "USR1" => libc::SIGUSR1,
        "SEGV" => libc::SIGSEGV,
        "USR2" => libc::SIGUSR2,
        "PIPE" => libc::SIGPIPE,
        "ALRM" => libc::SIGALRM,
        "TERM" => libc::SIGTERM,
        "STKFLT" => libc::SIGSTKFLT,
        "CHLD" => libc::SIGCHLD,
        "CONT" => libc::SIGCONT,
        "STOP" => libc::SIGSTOP,
        "TSTP" => libc::SIGTSTP,
        "TTIN" => libc::SIGTTIN,
        "TTOU" => libc::SIGTTOU,
        "URG" => libc::SIGURG,
        "XCPU" => libc::SIGXCPU,
        "XFSZ" => libc::SIGXFSZ,
        "VTALRM" => libc::SIGVTALRM,
        "PROF" => libc::SIGPROF,
        "WINCH" => libc::SIGWINCH,
        "IO" | "POLL" => libc::SIGIO,
        "PWR" => libc::SIGPWR,
        "SYS" => libc::SIGSYS,
        _ => bail!("unknown signal {s:?}"),
    };
    Ok(n)
}

/// How the container's terminal is handled: runc's checkTerminal rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tty {
    /// No terminal: stdio passes through.
    None,
    /// The pty master goes to --console-socket.
    Socket,
    /// Foreground `run`: ocirun relays its own stdio to the pty.
    Relay,
}

/// The builder for create and run; `detach` is true for create and `run --detach`.
fn builder(cli: &Cli, a: &CreateArgs, detach: bool) -> Result<(runtime_core::ContainerBuilder, Tty)> {
    let bundle = absolute(&a.bundle)?;
    let spec = runtime_core::spec::load_bundle(&bundle)?;
    let terminal = spec.process().as_ref().and_then(|p| p.terminal()).unwrap_or(false);
    let tty = match (terminal, detach, &a.console_socket) {
        (true, true, None) => bail!("cannot allocate tty if ocirun will detach without setting console socket"),
        (true, true, Some(_)) => Tty::Socket,
        (_, _, Some(_)) => bail!("cannot use console socket if ocirun will not detach or allocate tty"),
        (true, false, None) => Tty::Relay,
        (false, _, None) => Tty::None,
    };
    let mut b = Container::builder(&a.id)
        .root(&cli.root)
        .bundle(&bundle)
        .spec(spec)
        .no_pivot(a.no_pivot)
        .no_new_keyring(a.no_new_keyring)
        .systemd_cgroup(cli.systemd_cgroup)
        .listen_fds(listen_fds())
        .preserve_fds(a.preserve_fds)
        .keep_pty_master(tty == Tty::Relay);
    // runc's shouldUseRootlessCgroupManager: as given; auto is rootless when not root (with
    // --systemd-cgroup the user's own systemd is then asked), else root in a user namespace
    // is rootless without --systemd-cgroup only.
    b = match cli.rootless {
        Some(yes) => b.rootless(yes),
        None if cli.systemd_cgroup && ocirun_sys::process::geteuid() == 0 => b.rootless(false),
        None => b.rootless_auto(),
    };
    if let Some(p) = &a.console_socket {
        b = b.console_socket(absolute(p)?);
    }
    if let Some(p) = &a.pidfd_socket {
        b = b.pidfd_socket(absolute(p)?);
    }
    if let Some(p) = &a.pid_file {
        b = b.pid_file(absolute(p)?);
    }
    Ok((b, tty))
}

/// The systemd socket-activation fds this process was given, as runc reads them
/// (go-systemd's `activation.Files`): `LISTEN_FDS`, when `LISTEN_PID` is our pid.
fn listen_fds() -> u32 {
    let var = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u32>().ok());
    match (var("LISTEN_PID"), var("LISTEN_FDS")) {
        (Some(pid), Some(n)) if pid == std::process::id() => n,
        _ => 0,
    }
}

pub(crate) fn absolute(p: &std::path::Path) -> Result<PathBuf> {
    Ok(if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()?.join(p)
    })
}

/// `run`: creates and starts the container and, unless detached, waits for it, relaying its
/// terminal or forwarding signals, then deletes it (unless `--keep`); returns its exit code.
#[inline(never)]
fn run_container(cli: &Cli, args: &CreateArgs, detach: bool, keep: bool) -> Result<i32> {
    let (b, tty) = builder(cli, args, detach)?;
    let mut c = b.run()?;
    if detach {
        return Ok(0);
    }
    let mut forward = None;
    if tty == Tty::Relay {
        // This thread relays the terminal; another forwards the signals.
        forward = c.pidfd().map(runtime_core::signals::Forwarder::start);
        let master = c.take_pty_master().context("the container's pty master is missing")?;
        if let Err(e) = runtime_core::console::relay_stdio(&master) {
            let _ = c.kill(libc::SIGKILL, false);
            let _ = c.wait();
            let _ = c.delete(true);
            return Err(anyhow::Error::new(e).context("relay the container's terminal"));
        }
    } else if let Some(init) = c.pidfd() {
        // Nothing else to do until the init exits: this thread forwards the signals.
        let _ = runtime_core::signals::forward_until_exit(init);
    }
    let status = c.wait()?;
    drop(forward);
    if !keep {
        c.delete(true)?;
    }
    Ok(status.code())
}

/// Runs a command; returns the exit code. [`ocirun`] sends `run` to [`run_container`] itself,
/// so that this function's frame is not on the stack of every container start.
#[inline(never)]
fn run(cli: &Cli) -> Result<i32> {
    match &cli.command {
        Command::Create(a) => {
            builder(cli, a, true)?.0.create()?;
        }
        Command::Start { id } => {
            Container::load(&cli.root, id)?.start()?;
        }
        Command::Run { args, detach, keep, .. } => return run_container(cli, args, *detach, *keep),
        Command::State { id } => {
            let state = runtime_core::stored_state(&cli.root, id)?;
            println!("{}", serde_json::to_string_pretty(&state)?);
        }
        Command::Kill { id, signal, all } => {
            Container::load(&cli.root, id)?.kill(signal_number(signal)?, *all)?;
        }
        // runc: `delete --force` of an unknown container succeeds; a half-created one is removed.
        Command::Delete { id, force: true } => runtime_core::force_delete(&cli.root, id)?,
        Command::Delete { id, force: false } => Container::load(&cli.root, id)?.delete(false)?,
        Command::List { format, quiet } => {
            let states = runtime_core::list(&cli.root)?;
            if *quiet {
                for s in &states {
                    println!("{}", s.id);
                }
            } else if *format == "json" {
                println!("{}", serde_json::to_string(&states)?);
            } else {
                println!(
                    "{:<12} {:<8} {:<10} {:<40} {:<30} OWNER",
                    "ID", "PID", "STATUS", "BUNDLE", "CREATED"
                );
                for s in &states {
                    println!(
                        "{:<12} {:<8} {:<10} {:<40} {:<30} {}",
                        s.id,
                        s.pid,
                        s.status,
                        s.bundle.display(),
                        s.created,
                        if s.owner.is_empty() { "root" } else { &s.owner }
                    );
                }
            }
        }
        Command::Exec(a) => return exec::exec(&cli.root, a),
        Command::Checkpoint {
            id,
            criu,
            leave_running,
            pre_dump,
            parent_path,
        } => {
            let mut opts = criu.options(&cli.criu)?;
            opts.leave_running = *leave_running;
            opts.pre_dump = *pre_dump;
            opts.parent_path.clone_from(parent_path);
            Container::load(&cli.root, id)?.checkpoint(&opts)?;
        }
        Command::Restore {
            id,
            criu,
            bundle,
            pid_file,
        } => {
            let mut b = Container::builder(id)
                .root(&cli.root)
                .bundle(absolute(bundle)?)
                .systemd_cgroup(cli.systemd_cgroup);
            if let Some(p) = pid_file {
                b = b.pid_file(absolute(p)?);
            }
            b.restore(&criu.options(&cli.criu)?)?;
        }
        Command::Features => println!("{}", serde_json::to_string_pretty(&runtime_core::features())?),
        Command::Spec { bundle, rootless } => {
            let path = bundle.join("config.json");
            if path.exists() {
                bail!("file {} exists; remove it first", path.display());
            }
            let text = if *rootless {
                let (euid, egid) = (ocirun_sys::process::geteuid(), ocirun_sys::process::getegid());
                specgen::rootless_spec(euid, egid)
            } else {
                specgen::default_spec().to_string()
            };
            std::fs::write(&path, text).with_context(|| format!("write {}", path.display()))?;
        }
        Command::Cgroup(c) => return cgroup_cmds::run(cli, c),
    }
    Ok(0)
}

/// The allocator of the musl build, the binary to ship (scripts/release-flags.sh). musl starts
/// a process faster than glibc, whose start-up probes the processor with `cpuid`, a trap to the
/// hypervisor in a VM, but musl's own allocator gave that time back: a `run` makes about 1,500
/// allocations. With dlmalloc, the musl build runs `ocirun run` 0.15 ms faster than the glibc
/// one (README, "Spawn latency"); with glibc, dlmalloc was no faster than glibc's allocator.
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOCATOR: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

/// The entry point, called by the C runtime (`#![no_main]`). Rust's own start-up would, on
/// every run, read `/proc/self/maps` to find the main thread's stack guard and map an
/// alternate signal stack for its stack-overflow report: about 50 µs of a 3.5 ms `run`.
/// What of it ocirun needs is done here, through the syscall layer every crate sits on
/// (ocirun-sys), since it is the C entry's job and no library's: fds 0 to 2 open, on
/// /dev/null where one is not, so that no file opened later takes their number; and SIGPIPE
/// ignored, so that a closed pipe is an EPIPE error rather than a silent death. A stack
/// overflow still ends the process (SIGSEGV on the kernel's guard gap), without the report.
/// The arguments are taken from `argv` here: std fills its own list only from glibc's
/// start-up, so it is empty in the musl build.
#[cfg_attr(not(test), unsafe(no_mangle))]
extern "C" fn main(argc: std::ffi::c_int, argv: *const *const std::ffi::c_char) -> std::ffi::c_int {
    // SAFETY: the C runtime calls `main` with `argc` valid argument strings at `argv`.
    let argv = unsafe { ocirun_sys::process::main_args(argc, argv) };
    ocirun_sys::fd::ensure_stdio();
    // SIGPIPE is a valid signal: ignoring it cannot fail.
    let _ = ocirun_sys::signal::ignore(libc::SIGPIPE);
    // Exits through std, which flushes stdout as a Rust main's return would.
    std::process::exit(ocirun(argv).into())
}

/// Before `create`, `run`, `exec` (and `start` with startContainer hooks) make a process in a
/// container, which starts as a clone of this one: re-executes ocirun from a read-only view of
/// its binary unless no container process can write it (CVE-2019-5736; see
/// [`runtime_core::exe`]). Other commands make none.
fn protect_binary(cli: &Cli) -> Result<()> {
    use runtime_core::exe::{protect, start_spawns};
    match &cli.command {
        Command::Create(a) | Command::Run { args: a, .. } => protect(|| runtime_core::spec::load_bundle(&a.bundle))?,
        Command::Exec(a) => protect(|| Container::load(&cli.root, a.id())?.spec())?,
        Command::Start { id } => {
            let c = Container::load(&cli.root, id)?;
            if !start_spawns(c.record().hooks.as_ref()) {
                return Ok(());
            }
            protect(|| c.spec())?
        }
        _ => return Ok(()),
    };
    Ok(())
}

/// The command line (`argv`, the program's name first), run; returns the exit code.
fn ocirun(argv: Vec<OsString>) -> u8 {
    let cli = match Cli::parse(argv) {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    let passed = match &cli.command {
        Command::Create(a) | Command::Run { args: a, .. } => a.preserve_fds.saturating_add(listen_fds()),
        Command::Exec(a) => a.preserve_fds,
        _ => 0,
    };
    let logger = std::sync::Arc::new(log::Logger::new(
        cli.log.as_deref(),
        cli.log_format,
        cli.log_format_given,
        cli.debug,
        passed,
    ));
    if let Err(e) = protect_binary(&cli) {
        return fail(&logger, &cli.command, &e);
    }
    if matches!(cli.command, Command::Run { detach: false, .. } | Command::Exec(_)) {
        // Before any thread starts: the foreground container process gets these signals.
        runtime_core::signals::block_forwarded();
    }
    logger.debug(&format!("{:?}", cli.command));
    let warnings = logger.clone();
    runtime_core::set_warning_handler(move |msg| warnings.warn(msg));
    // `run` goes straight to its own function: the other commands' locals in [`run`]'s frame
    // would widen the stack every container start touches (each new page a fault).
    let result = match &cli.command {
        Command::Run { args, detach, keep, .. } => run_container(&cli, args, *detach, *keep),
        _ => run(&cli),
    };
    match result {
        Ok(code) => code.clamp(0, 255) as u8,
        Err(e) => fail(&logger, &cli.command, &e),
    }
}

/// Logs ocirun's own failure of `command` and returns its exit code: 255 for `exec`, whose
/// process may itself exit 1 (runc's "exec failed: ..."), 1 for the others, as runc.
fn fail(logger: &log::Logger, command: &Command, e: &anyhow::Error) -> u8 {
    if matches!(command, Command::Exec(_)) {
        logger.error(&format!("exec failed: {e:#}"));
        255
    } else {
        logger.error(&format!("{e:#}"));
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_parses_and_no_two_flags_share_a_name() {
        // runc's `spec --rootless` (a switch) shadows the global `--rootless <mode>` after the
        // command: a command's own flags are looked up first.
        let shadowed = |cmd: &str, f: &args::Flag| cmd == "spec" && f.long == "rootless";
        for spec in COMMANDS {
            let mut names: Vec<String> = Vec::new();
            let globals = args::GLOBAL.iter().filter(|f| !shadowed(spec.name, f));
            for f in spec.shared.iter().chain(spec.flags).chain(globals) {
                names.push(f.long.to_owned());
                names.extend(f.aliases.iter().map(|a| a.to_string()));
                names.extend(f.short.map(String::from));
            }
            let count = names.len();
            names.sort();
            names.dedup();
            assert_eq!(names.len(), count, "{} has a flag name twice", spec.name);
            let argv = [spec.name, "id", "arg"].map(std::ffi::OsString::from);
            let n = if spec.flags_end_at_first_positional { 3 } else { 2 };
            let Ok(Parsed::Command { spec: s, matches, .. }) = args::parse(COMMANDS, argv.into_iter().take(n)) else {
                panic!("{} does not parse", spec.name)
            };
            assert_eq!(s.name, spec.name);
            if !["list", "features", "spec"].contains(&spec.name) {
                Command::from(spec, &matches).unwrap_or_else(|e| panic!("{}: {e}", spec.name));
            }
        }
    }

    #[test]
    fn rootless_is_the_global_mode_before_the_command_and_specs_switch_after_it() {
        let parse = |argv: &[&str]| match args::parse(COMMANDS, argv.iter().map(std::ffi::OsString::from)) {
            Ok(Parsed::Command { global, matches, .. }) => (global, matches),
            _ => panic!("{argv:?} does not parse"),
        };
        let (global, matches) = parse(&["spec", "--rootless"]);
        assert!(matches.switch("rootless"));
        assert_eq!(global.string("rootless").unwrap(), None);
        let (global, matches) = parse(&["--rootless", "auto", "spec"]);
        assert!(!matches.switch("rootless"));
        assert_eq!(global.string("rootless").unwrap().as_deref(), Some("auto"));
        for (s, want) in [("auto", None), ("", None), ("true", Some(true)), ("0", Some(false))] {
            assert_eq!(super::parse_bool_or_auto(s), Some(want), "{s}");
        }
        assert_eq!(super::parse_bool_or_auto("yes"), None);
    }

    #[test]
    fn the_version_names_the_spec_version_of_the_features_document() {
        assert!(super::VERSION.ends_with(&format!("\nspec: {}", runtime_core::OCI_VERSION_MAX)));
    }
}
