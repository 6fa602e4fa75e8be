//! The commands that act on a live container's cgroup: `pause`, `resume`, `ps`, `events` and `update`.

use std::io::{Read as _, Write as _};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use runtime_core::{Container, LinuxResources, Status};
use serde_json::json;

use crate::Cli;
use crate::args::{CommandSpec, Flag, Matches, Usage};
use crate::log::Logger;

/// `ocirun pause`'s table entry.
pub const PAUSE: CommandSpec = CommandSpec {
    name: "pause",
    usage: "<id>",
    about: "Suspend every process of a container (cgroup freezer).",
    shared: &[],
    flags: &[],
    flags_end_at_first_positional: false,
};

/// `ocirun resume`'s table entry.
pub const RESUME: CommandSpec = CommandSpec {
    name: "resume",
    usage: "<id>",
    about: "Resume every process of a paused container.",
    shared: &[],
    flags: &[],
    flags_end_at_first_positional: false,
};

/// `ocirun ps`'s table entry: its flags end at the id, the rest goes to ps(1).
pub const PS: CommandSpec = CommandSpec {
    name: "ps",
    usage: "<id> [ps options (default -ef)]",
    about: "Show the processes of a container.",
    shared: &[],
    flags: &[Flag::value(
        "format",
        Some('f'),
        "table|json",
        "Output format: table (ps(1) output filtered to the container, default) or json (the pids).",
    )],
    flags_end_at_first_positional: true,
};

/// `ocirun events`'s table entry.
pub const EVENTS: CommandSpec = CommandSpec {
    name: "events",
    usage: "<id>",
    about: "Print a container's statistics as JSON: once with --stats, else every --interval (and OOM \
            events as they happen) until it stops.",
    shared: &[],
    flags: &[
        Flag::switch("stats", None, "Print the statistics once and exit."),
        Flag::value(
            "interval",
            None,
            "duration",
            "The interval between two statistics events (a Go duration: 5s, 500ms, 1m30s; default 5s).",
        ),
    ],
    flags_end_at_first_positional: false,
};

/// `ocirun update`'s table entry: runc's flags.
pub const UPDATE: CommandSpec = CommandSpec {
    name: "update",
    usage: "<id>",
    about: "Change the resource limits of a container.",
    shared: &[],
    flags: &[
        Flag::value(
            "resources",
            Some('r'),
            "file",
            "A file holding the new linux.resources as JSON (\"-\" for stdin); no other flag may be given with it.",
        ),
        Flag::value("blkio-weight", None, "n", "Block I/O weight, 10 to 1000."),
        Flag::value("cpu-period", None, "us", "CPU CFS period in microseconds."),
        Flag::value(
            "cpu-quota",
            None,
            "us",
            "CPU CFS quota in microseconds per period (-1: unlimited).",
        ),
        Flag::value("cpu-burst", None, "us", "CPU CFS burst in microseconds."),
        Flag {
            long: "cpu-share",
            aliases: &["cpu-shares"],
            short: None,
            value: Some("n"),
            help: "CPU shares (relative weight).",
        },
        Flag::value("cpu-rt-period", None, "us", "CPU realtime period in microseconds."),
        Flag::value(
            "cpu-rt-runtime",
            None,
            "us",
            "CPU realtime runtime in microseconds per period.",
        ),
        Flag::value(
            "cpu-idle",
            None,
            "0|1",
            "SCHED_IDLE for the cgroup: 1, or 0 for the default.",
        ),
        Flag::value("cpuset-cpus", None, "list", "The CPUs to use (\"0-1\")."),
        Flag::value("cpuset-mems", None, "list", "The memory nodes to use (\"0\")."),
        Flag::value(
            "kernel-memory",
            None,
            "bytes",
            "Kernel memory limit (deprecated: ignored with a warning, as runc).",
        ),
        Flag::value(
            "kernel-memory-tcp",
            None,
            "bytes",
            "Kernel TCP buffer limit (refused by kernels that ignore it).",
        ),
        Flag::value(
            "memory",
            None,
            "bytes",
            "Memory limit: bytes or a size such as 64m, 1.5g (-1: unlimited).",
        ),
        Flag::value("memory-swap", None, "bytes", "Memory plus swap limit (-1: unlimited)."),
        Flag::value("memory-reservation", None, "bytes", "Memory soft limit."),
        Flag::value(
            "pids-limit",
            None,
            "n",
            "Maximum number of processes (-1: unlimited; 0: unchanged).",
        ),
        Flag::value(
            "l3-cache-schema",
            None,
            "schema",
            "Intel RDT L3 cache schema (not supported).",
        ),
        Flag::value(
            "mem-bw-schema",
            None,
            "schema",
            "Intel RDT memory bandwidth schema (not supported).",
        ),
    ],
    flags_end_at_first_positional: false,
};

/// runc's cgroup commands.
#[derive(Debug)]
pub enum CgroupCommand {
    /// Suspend every process of a container (cgroup freezer).
    Pause {
        /// The container id.
        id: String,
    },
    /// Resume every process of a paused container.
    Resume {
        /// The container id.
        id: String,
    },
    /// Show the processes of a container.
    Ps {
        /// Output format: table or json.
        format: &'static str,
        /// The container id, then the options for ps(1).
        args: Vec<String>,
    },
    /// Print a container's statistics as JSON.
    Events {
        /// Print the statistics once and exit.
        stats: bool,
        /// The interval between two statistics events.
        interval: Duration,
        /// The container id.
        id: String,
    },
    /// Change the resource limits of a container.
    Update(Box<UpdateArgs>),
}

impl CgroupCommand {
    /// The cgroup command `spec` names (one of the tables above), from its matches.
    pub fn from(spec: &CommandSpec, m: &Matches) -> Result<CgroupCommand, Usage> {
        let id = || -> Result<String, Usage> {
            m.at_most(1)?;
            m.required(0, "container id")
        };
        Ok(match spec.name {
            "pause" => CgroupCommand::Pause { id: id()? },
            "resume" => CgroupCommand::Resume { id: id()? },
            "ps" => CgroupCommand::Ps {
                format: m.choice("format", &["table", "json"], "table")?,
                args: {
                    m.required(0, "container id")?;
                    (0..m.positionals.len())
                        .map(|i| m.required(i, "ps option"))
                        .collect::<Result<_, _>>()?
                },
            },
            "events" => CgroupCommand::Events {
                stats: m.switch("stats"),
                interval: match m.string("interval")? {
                    None => Duration::from_secs(5),
                    Some(s) => parse_duration(&s).map_err(|e| Usage(format!("events --interval: {e}")))?,
                },
                id: id()?,
            },
            "update" => CgroupCommand::Update(Box::new(UpdateArgs::from(m)?)),
            other => unreachable!("{other} is not a command of this table"),
        })
    }
}

/// runc's `update` flags.
#[derive(Debug)]
pub struct UpdateArgs {
    /// The container id.
    id: String,
    /// A file holding the new linux.resources as JSON ("-" for stdin).
    resources: Option<String>,
    blkio_weight: Option<u16>,
    cpu_period: Option<u64>,
    cpu_quota: Option<i64>,
    cpu_burst: Option<u64>,
    cpu_share: Option<u64>,
    cpu_rt_period: Option<u64>,
    cpu_rt_runtime: Option<i64>,
    cpu_idle: Option<i64>,
    cpuset_cpus: Option<String>,
    cpuset_mems: Option<String>,
    kernel_memory: Option<String>,
    kernel_memory_tcp: Option<String>,
    memory: Option<String>,
    memory_swap: Option<String>,
    memory_reservation: Option<String>,
    pids_limit: Option<i64>,
    l3_cache_schema: Option<String>,
    mem_bw_schema: Option<String>,
}

impl UpdateArgs {
    fn from(m: &Matches) -> Result<UpdateArgs, Usage> {
        m.at_most(1)?;
        Ok(UpdateArgs {
            id: m.required(0, "container id")?,
            resources: m.string("resources")?,
            blkio_weight: m.parse("blkio-weight")?,
            cpu_period: m.parse("cpu-period")?,
            cpu_quota: m.parse("cpu-quota")?,
            cpu_burst: m.parse("cpu-burst")?,
            cpu_share: m.parse("cpu-share")?,
            cpu_rt_period: m.parse("cpu-rt-period")?,
            cpu_rt_runtime: m.parse("cpu-rt-runtime")?,
            cpu_idle: m.parse("cpu-idle")?,
            cpuset_cpus: m.string("cpuset-cpus")?,
            cpuset_mems: m.string("cpuset-mems")?,
            kernel_memory: m.string("kernel-memory")?,
            kernel_memory_tcp: m.string("kernel-memory-tcp")?,
            memory: m.string("memory")?,
            memory_swap: m.string("memory-swap")?,
            memory_reservation: m.string("memory-reservation")?,
            pids_limit: m.parse("pids-limit")?,
            l3_cache_schema: m.string("l3-cache-schema")?,
            mem_bw_schema: m.string("mem-bw-schema")?,
        })
    }
}

/// Runs one of the cgroup commands; returns the exit code.
pub fn run(cli: &Cli, cmd: &CgroupCommand) -> Result<i32> {
    let root = cli.root.as_path();
    match cmd {
        CgroupCommand::Pause { id } => Container::load(root, id)?.pause()?,
        CgroupCommand::Resume { id } => Container::load(root, id)?.resume()?,
        CgroupCommand::Ps { format, args } => ps(root, format, args)?,
        CgroupCommand::Events { stats, interval, id } => {
            let logger = Logger::new(cli.log.as_deref(), cli.log_format, cli.log_format_given, cli.debug, 0);
            events(root, id, *stats, *interval, &logger)?;
        }
        CgroupCommand::Update(a) => {
            let resources = update_resources(a)?;
            Container::load(root, &a.id)?.update(&resources)?;
        }
    }
    Ok(0)
}

fn ps(root: &Path, format: &str, args: &[String]) -> Result<()> {
    let (id, ps_args) = args.split_first().context("ps: a container id is required")?;
    let pids = Container::load(root, id)?.pids()?;
    if format == "json" {
        println!("{}", serde_json::to_string(&pids)?);
        return Ok(());
    }
    let default_args = ["-ef".to_string()];
    let ps_args = if ps_args.is_empty() { &default_args[..] } else { ps_args };
    let out = std::process::Command::new("ps")
        .args(ps_args)
        .output()
        .context("ps: run ps(1)")?;
    if !out.status.success() {
        bail!(
            "ps {}: {}{}",
            ps_args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    print!("{}", filter_ps(&text, &pids)?);
    Ok(())
}

/// Keeps ps(1)'s header and the lines whose PID column is one of `pids`, as runc does.
fn filter_ps(text: &str, pids: &[i32]) -> Result<String> {
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let index = header
        .split_whitespace()
        .position(|t| t == "PID")
        .context("ps: the ps(1) output has no PID column")?;
    let mut out = format!("{header}\n");
    for line in lines.filter(|l| !l.is_empty()) {
        let field = line.split_whitespace().nth(index).unwrap_or_default();
        let pid: i32 = field
            .parse()
            .with_context(|| format!("ps: unable to parse pid {field:?} in {line:?}"))?;
        if pids.contains(&pid) {
            out.push_str(line);
            out.push('\n');
        }
    }
    Ok(out)
}

/// One line of `events` output, with runc's key order: `{"type":..,"id":..,"data":..}`.
fn event(kind: &str, id: &str, data: Option<&str>) -> String {
    let mut line = format!("{{\"type\":{},\"id\":{}", json!(kind), json!(id));
    if let Some(d) = data {
        line.push_str(&format!(",\"data\":{d}"));
    }
    line.push('}');
    line
}

fn events(root: &Path, id: &str, once: bool, interval: Duration, logger: &Logger) -> Result<()> {
    let c = Container::load(root, id)?;
    if c.status()? == Status::Stopped {
        bail!("container with id {id} is not running");
    }
    let mut stdout = std::io::stdout();
    if once {
        let stats = serde_json::to_string(&c.stats()?)?;
        writeln!(stdout, "{}", event("stats", id, Some(&stats)))?;
        return Ok(());
    }
    // As runc: an "oom" event whenever the kernel reports one, and a stats event every interval
    // (a failed read is logged and skipped), until the container stops or is deleted.
    let mut oom = c.oom_notifier()?;
    drop(c);
    loop {
        let deadline = Instant::now() + interval;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            if oom.wait(left)? > 0 {
                writeln!(stdout, "{}", event("oom", id, None))?;
                stdout.flush()?;
            }
        }
        let c = match Container::load(root, id) {
            Ok(c) => c,
            Err(runtime_core::Error::NotFound(_)) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        if c.status()? == Status::Stopped {
            return Ok(());
        }
        match c.stats() {
            Ok(s) => {
                writeln!(stdout, "{}", event("stats", id, Some(&serde_json::to_string(&s)?)))?;
                stdout.flush()?;
            }
            Err(e) => logger.error(&format!("{:#}", anyhow::Error::from(e))),
        }
    }
}

/// The resources an `update` asks for: the `-r` file as is, or runc's flags.
fn update_resources(a: &UpdateArgs) -> Result<LinuxResources> {
    if a.l3_cache_schema.is_some() {
        bail!("--l3-cache-schema: Intel RDT is not supported by this build of ocirun");
    }
    if a.mem_bw_schema.is_some() {
        bail!("--mem-bw-schema: Intel RDT is not supported by this build of ocirun");
    }
    if let Some(file) = &a.resources {
        if let Some(flag) = first_resource_flag(a) {
            bail!("--resources: {flag} cannot be given with it (the file holds every value to change)");
        }
        let text = if file == "-" {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("--resources: read stdin")?;
            s
        } else {
            std::fs::read_to_string(file).with_context(|| format!("--resources: read {file}"))?
        };
        return serde_json::from_str(&text).with_context(|| format!("--resources: parse {file} as linux.resources"));
    }
    let mut memory = serde_json::Map::new();
    for (flag, key, value) in [
        ("--memory", "limit", &a.memory),
        ("--memory-swap", "swap", &a.memory_swap),
        ("--memory-reservation", "reservation", &a.memory_reservation),
        ("--kernel-memory", "kernel", &a.kernel_memory),
        ("--kernel-memory-tcp", "kernelTCP", &a.kernel_memory_tcp),
    ] {
        if let Some(v) = value {
            let bytes = ram_in_bytes(v).with_context(|| format!("invalid value for {flag}"))?;
            memory.insert(key.into(), json!(bytes));
        }
    }
    let mut cpu = serde_json::Map::new();
    let numbers = [
        ("shares", a.cpu_share.map(i128::from)),
        ("period", a.cpu_period.map(i128::from)),
        ("quota", a.cpu_quota.map(i128::from)),
        ("burst", a.cpu_burst.map(i128::from)),
        ("realtimePeriod", a.cpu_rt_period.map(i128::from)),
        ("realtimeRuntime", a.cpu_rt_runtime.map(i128::from)),
        ("idle", a.cpu_idle.map(i128::from)),
    ];
    for (key, value) in numbers {
        if let Some(v) = value {
            cpu.insert(key.into(), json!(v));
        }
    }
    for (key, value) in [("cpus", &a.cpuset_cpus), ("mems", &a.cpuset_mems)] {
        if let Some(v) = value.as_ref().filter(|v| !v.is_empty()) {
            cpu.insert(key.into(), json!(v));
        }
    }
    let mut r = json!({ "memory": memory, "cpu": cpu });
    if let Some(w) = a.blkio_weight.filter(|w| *w != 0) {
        r["blockIO"] = json!({ "weight": w });
    }
    if let Some(p) = a.pids_limit {
        r["pids"] = json!({ "limit": p });
    }
    serde_json::from_value(r).context("update: build linux.resources from the flags")
}

/// The first resource flag given, for the error when it comes with `--resources`.
fn first_resource_flag(a: &UpdateArgs) -> Option<&'static str> {
    [
        ("--blkio-weight", a.blkio_weight.is_some()),
        ("--cpu-period", a.cpu_period.is_some()),
        ("--cpu-quota", a.cpu_quota.is_some()),
        ("--cpu-burst", a.cpu_burst.is_some()),
        ("--cpu-share", a.cpu_share.is_some()),
        ("--cpu-rt-period", a.cpu_rt_period.is_some()),
        ("--cpu-rt-runtime", a.cpu_rt_runtime.is_some()),
        ("--cpu-idle", a.cpu_idle.is_some()),
        ("--cpuset-cpus", a.cpuset_cpus.is_some()),
        ("--cpuset-mems", a.cpuset_mems.is_some()),
        ("--kernel-memory", a.kernel_memory.is_some()),
        ("--kernel-memory-tcp", a.kernel_memory_tcp.is_some()),
        ("--memory", a.memory.is_some()),
        ("--memory-swap", a.memory_swap.is_some()),
        ("--memory-reservation", a.memory_reservation.is_some()),
        ("--pids-limit", a.pids_limit.is_some()),
    ]
    .into_iter()
    .find_map(|(flag, set)| set.then_some(flag))
}

/// A size as docker's units.RAMInBytes reads it ("1024", "64m", "1.5GiB", "2 kb": binary
/// multiples, case-insensitive), or "-1" for unlimited.
fn ram_in_bytes(s: &str) -> Result<i64> {
    if s == "-1" {
        return Ok(-1);
    }
    let digits_end = s.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(s.len());
    let (number, rest) = s.split_at(digits_end);
    let valid_number =
        !number.is_empty() && !number.starts_with('.') && !number.ends_with('.') && number.matches('.').count() <= 1;
    if !valid_number {
        bail!("invalid size {s:?}: expected a number of bytes, optionally with a unit (k, m, g, t, p)");
    }
    let unit = rest.strip_prefix(' ').unwrap_or(rest).to_ascii_lowercase();
    let mut unit = unit.as_str();
    let mut shift = 0;
    if let Some(c) = unit.chars().next()
        && let Some(i) = "kmgtp".find(c)
    {
        shift = 10 * (i + 1);
        unit = &unit[1..];
    }
    if shift != 0 {
        unit = unit.strip_prefix('i').unwrap_or(unit);
    }
    if !matches!(unit, "" | "b") {
        bail!("invalid size {s:?}: unknown unit {rest:?}");
    }
    let value: f64 = number.parse().with_context(|| format!("invalid size {s:?}"))?;
    let bytes = value * (1u64 << shift) as f64;
    if bytes >= i64::MAX as f64 {
        bail!("invalid size {s:?}: too large");
    }
    Ok(bytes as i64)
}

/// A Go duration as runc's `--interval` takes it: "5s", "500ms", "1m30s", "1.5h" (units ns, us,
/// µs, ms, s, m, h); it must be greater than zero.
fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    let bad = |why: &str| format!("invalid duration {s:?}: {why}");
    let mut rest = s.strip_prefix('+').unwrap_or(s);
    if rest.starts_with('-') {
        return Err(bad("the interval must be greater than 0"));
    }
    if rest == "0" {
        return Err(bad("the interval must be greater than 0"));
    }
    if rest.is_empty() {
        return Err(bad("empty"));
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(rest.len());
        let number: f64 = rest[..n].parse().map_err(|_| bad("expected a number"))?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let nanos = match &rest[..u] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => return Err(bad("missing unit")),
            _ => return Err(bad("unknown unit")),
        };
        rest = &rest[u..];
        total += number * nanos;
    }
    if total < 1.0 {
        return Err(bad("the interval must be greater than 0"));
    }
    if total > u64::MAX as f64 {
        return Err(bad("too large"));
    }
    Ok(Duration::from_nanos(total as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_like_units_ram_in_bytes() {
        for (s, want) in [
            ("1024", 1024),
            ("64m", 64 << 20),
            ("64M", 64 << 20),
            ("64MB", 64 << 20),
            ("64MiB", 64 << 20),
            ("1.5g", 3 << 29),
            ("2 kb", 2048),
            ("10b", 10),
            ("-1", -1),
        ] {
            assert_eq!(ram_in_bytes(s).unwrap(), want, "{s}");
        }
        for s in ["", "-2", "m", "1.2.3", "12x", "1mbb", ".5k", "99999999999p"] {
            assert!(ram_in_bytes(s).is_err(), "{s:?} accepted");
        }
    }

    #[test]
    fn durations_parse_like_go() {
        for (s, want) in [
            ("5s", Duration::from_secs(5)),
            ("500ms", Duration::from_millis(500)),
            ("1m30s", Duration::from_secs(90)),
            ("1.5h", Duration::from_secs(5400)),
            ("250us", Duration::from_micros(250)),
        ] {
            assert_eq!(parse_duration(s).unwrap(), want, "{s}");
        }
        for s in ["", "0", "0s", "-1s", "5", "5x", "s"] {
            assert!(parse_duration(s).is_err(), "{s:?} accepted");
        }
    }

    #[test]
    fn ps_output_keeps_the_header_and_the_container_pids() {
        let text = "UID PID PPID C STIME TTY TIME CMD\nroot 1 0 0 10:00 ? 00:00:01 init\n\
                    root 42 1 0 10:00 ? 00:00:00 sleep 100\nroot 43 1 0 10:00 ? 00:00:00 sh\n";
        assert_eq!(
            filter_ps(text, &[42]).unwrap(),
            "UID PID PPID C STIME TTY TIME CMD\nroot 42 1 0 10:00 ? 00:00:00 sleep 100\n"
        );
        assert!(filter_ps("UID CMD\nroot init\n", &[1]).is_err());
    }
}
