//! `ocirun`: runc's command line over runtime-core.

mod cgroup_cmds;
mod exec;
mod log;
mod specgen;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use runtime_core::Container;

/// What `ocirun --version` prints after the name, in runc's form ("runc version 1.1.5",
/// "spec: 1.0.2-dev"): dockerd reads the runtime's name and version from the line that holds
/// "version" and warns about any other output. `spec` is runtime_core::OCI_VERSION_MAX.
const VERSION: &str = concat!("version ", env!("CARGO_PKG_VERSION"), "\nspec: 1.2.0");

/// A fast, embeddable OCI container runtime with runc's command line.
#[derive(Parser, Debug)]
#[command(name = "ocirun", version = VERSION, about, disable_version_flag = true)]
struct Cli {
    /// Print the version (runc's -v, --version).
    #[arg(short = 'v', long = "version", action = clap::ArgAction::Version)]
    version: (),
    /// Root directory for the state of containers.
    #[arg(long, global = true, default_value = runtime_core::state::DEFAULT_ROOT)]
    root: PathBuf,
    /// Log file (runc's --log); errors are also printed to stderr.
    #[arg(long, global = true)]
    log: Option<PathBuf>,
    /// Log format: text or json.
    #[arg(long = "log-format", global = true, default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
    /// Log debug messages too.
    #[arg(long, global = true)]
    debug: bool,
    /// Use systemd to manage cgroups (runc's --systemd-cgroup).
    #[arg(long = "systemd-cgroup", global = true)]
    systemd_cgroup: bool,
    /// Rootless mode: ocirun supports only "false" (root) here.
    #[arg(long, global = true, num_args = 0..=1, default_missing_value = "true")]
    rootless: Option<String>,
    /// The CRIU binary for checkpoint and restore.
    #[arg(long, global = true, default_value = "criu")]
    criu: PathBuf,
    #[command(subcommand)]
    command: Command,
}

/// Flags shared by create and run.
#[derive(clap::Args, Debug)]
struct CreateArgs {
    /// The container id.
    id: String,
    /// The bundle directory (default: the current directory).
    #[arg(short, long, default_value = ".")]
    bundle: PathBuf,
    /// A unix socket that receives the pty master when process.terminal is set.
    #[arg(long = "console-socket")]
    console_socket: Option<PathBuf>,
    /// Write the init's pid to this file.
    #[arg(long = "pid-file")]
    pid_file: Option<PathBuf>,
    /// A unix socket that receives a pidfd of the init.
    #[arg(long = "pidfd-socket")]
    pidfd_socket: Option<PathBuf>,
    /// Do not use pivot_root (for a rootfs on a ramdisk).
    #[arg(long = "no-pivot")]
    no_pivot: bool,
    /// Do not create a new session keyring (ocirun never does).
    #[arg(long = "no-new-keyring")]
    no_new_keyring: bool,
    /// Pass this many fds after stdio (3, 4, ...) to the container.
    #[arg(long = "preserve-fds", default_value_t = 0)]
    preserve_fds: u32,
}

/// The CRIU flags checkpoint and restore share (runc's).
#[derive(clap::Args, Debug)]
struct CriuArgs {
    /// Where the images are.
    #[arg(long = "image-path", default_value = "checkpoint")]
    image_path: PathBuf,
    /// Where CRIU writes its logs (default: the image path).
    #[arg(long = "work-path")]
    work_path: Option<PathBuf>,
    /// Allow open TCP connections.
    #[arg(long = "tcp-established")]
    tcp_established: bool,
    /// Allow external unix sockets.
    #[arg(long = "ext-unix-sk")]
    ext_unix_sk: bool,
    /// Allow shell jobs.
    #[arg(long = "shell-job")]
    shell_job: bool,
    /// Handle file locks.
    #[arg(long = "file-locks")]
    file_locks: bool,
}

impl CriuArgs {
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

#[derive(Subcommand, Debug)]
enum Command {
    /// Create a container; its process waits for `start`.
    Create(CreateArgs),
    /// Start the process of a created container.
    Start {
        /// The container id.
        id: String,
    },
    /// Create and start a container, and wait for it unless --detach.
    Run {
        #[command(flatten)]
        args: CreateArgs,
        /// Do not wait for the container.
        #[arg(short, long)]
        detach: bool,
        /// Keep the container's state after it exits.
        #[arg(long)]
        keep: bool,
        /// Accepted for runc compatibility.
        #[arg(long = "no-subreaper", hide = true)]
        no_subreaper: bool,
    },
    /// Print the OCI state of a container as JSON.
    State {
        /// The container id.
        id: String,
    },
    /// Send a signal (default SIGTERM) to a container's init.
    Kill {
        /// The container id.
        id: String,
        /// Signal name or number.
        #[arg(default_value = "SIGTERM")]
        signal: String,
        /// Signal every process of the container.
        #[arg(short, long)]
        all: bool,
    },
    /// Delete a container and everything it holds.
    Delete {
        /// The container id.
        id: String,
        /// Kill the container first if it runs.
        #[arg(short, long)]
        force: bool,
    },
    /// List containers.
    List {
        /// Output format: table or json.
        #[arg(short, long, default_value = "table", value_parser = ["table", "json"])]
        format: String,
        /// Print only ids.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Run a process in a running container.
    Exec(Box<exec::ExecArgs>),
    /// Checkpoint a running container with CRIU.
    Checkpoint {
        /// The container id.
        id: String,
        #[command(flatten)]
        criu: CriuArgs,
        /// Leave the container running after the checkpoint.
        #[arg(long = "leave-running")]
        leave_running: bool,
    },
    /// Restore a container from a CRIU checkpoint.
    Restore {
        /// The container id.
        id: String,
        #[command(flatten)]
        criu: CriuArgs,
        /// The bundle directory (default: the current directory).
        #[arg(short, long, default_value = ".")]
        bundle: PathBuf,
        /// Write the restored init's pid to this file.
        #[arg(long = "pid-file")]
        pid_file: Option<PathBuf>,
        /// Return once restored (ocirun always does: the restored container runs detached).
        #[arg(short, long)]
        detach: bool,
    },
    /// Print the OCI features document of this build as JSON.
    Features,
    /// Write a default config.json (as `runc spec`).
    Spec {
        /// The bundle directory to write it in.
        #[arg(short, long, default_value = ".")]
        bundle: PathBuf,
    },
    #[command(flatten)]
    Cgroup(cgroup_cmds::CgroupCommand),
}

fn signal_number(s: &str) -> Result<i32> {
    if let Ok(n) = s.parse::<i32>() {
        if (1..=64).contains(&n) {
            return Ok(n);
        }
        bail!("invalid signal {s:?}");
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
        .systemd_cgroup(cli.systemd_cgroup)
        .listen_fds(listen_fds())
        .preserve_fds(a.preserve_fds)
        .keep_pty_master(tty == Tty::Relay);
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

fn run(cli: &Cli) -> Result<i32> {
    if cli.rootless.as_deref().is_some_and(|r| r == "true") {
        bail!("--rootless=true: rootless containers are not supported by this build of ocirun");
    }
    match &cli.command {
        Command::Create(a) => {
            builder(cli, a, true)?.0.create()?;
        }
        Command::Start { id } => {
            Container::load(&cli.root, id)?.start()?;
        }
        Command::Run { args, detach, keep, .. } => {
            let (b, tty) = builder(cli, args, *detach)?;
            let mut c = b.run()?;
            if *detach {
                return Ok(0);
            }
            let forward = c.pidfd().map(runtime_core::signals::Forwarder::start);
            if tty == Tty::Relay {
                let master = c.take_pty_master().context("the container's pty master is missing")?;
                if let Err(e) = runtime_core::console::relay_stdio(&master) {
                    let _ = c.kill(libc::SIGKILL, false);
                    let _ = c.wait();
                    let _ = c.delete(true);
                    return Err(anyhow::Error::new(e).context("relay the container's terminal"));
                }
            }
            let status = c.wait()?;
            drop(forward);
            if !keep {
                c.delete(true)?;
            }
            return Ok(status.code());
        }
        Command::State { id } => {
            let state = Container::load(&cli.root, id)?.state()?;
            println!("{}", serde_json::to_string_pretty(&state)?);
        }
        Command::Kill { id, signal, all } => {
            Container::load(&cli.root, id)?.kill(signal_number(signal)?, *all)?;
        }
        Command::Delete { id, force } => match Container::load(&cli.root, id) {
            Ok(c) => c.delete(*force)?,
            // runc: `delete --force` of an unknown container succeeds; a half-created one is removed.
            Err(runtime_core::Error::NotFound(_)) if *force => {
                let dir = cli.root.join(id);
                if runtime_core::state::valid_id(id) && dir.is_dir() {
                    std::fs::remove_dir_all(&dir).with_context(|| format!("remove {}", dir.display()))?;
                }
            }
            Err(e) => return Err(e.into()),
        },
        Command::List { format, quiet } => {
            let states = runtime_core::list(&cli.root)?;
            if *quiet {
                for s in &states {
                    println!("{}", s.id);
                }
            } else if format == "json" {
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
        } => {
            let mut opts = criu.options(&cli.criu)?;
            opts.leave_running = *leave_running;
            Container::load(&cli.root, id)?.checkpoint(&opts)?;
        }
        Command::Restore {
            id,
            criu,
            bundle,
            pid_file,
            ..
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
        Command::Spec { bundle, .. } => {
            let path = bundle.join("config.json");
            if path.exists() {
                bail!("file {} exists; remove it first", path.display());
            }
            std::fs::write(&path, specgen::default_spec()).with_context(|| format!("write {}", path.display()))?;
        }
        Command::Cgroup(c) => return cgroup_cmds::run(cli, c),
    }
    Ok(0)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if matches!(cli.command, Command::Run { detach: false, .. } | Command::Exec(_)) {
        // Before any thread starts: the foreground container process gets these signals.
        runtime_core::signals::block_forwarded();
    }
    let logger = std::sync::Arc::new(log::Logger::new(cli.log.as_deref(), &cli.log_format, cli.debug));
    logger.debug(&format!("{:?}", cli.command));
    let warnings = logger.clone();
    runtime_core::set_warning_handler(move |msg| warnings.warn(msg));
    match run(&cli) {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(e) => {
            let msg = format!("{e:#}");
            logger.error(&msg);
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_version_names_the_spec_version_of_the_features_document() {
        assert!(super::VERSION.ends_with(&format!("\nspec: {}", runtime_core::OCI_VERSION_MAX)));
    }
}
