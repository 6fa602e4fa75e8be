//! A long-lived embedding process for the soak (`scripts/soak.sh`, issue 17 item 3): one
//! process uses the library for the whole run, first `--runs` containers of `true` in a row
//! (create, start, wait, delete), then for `--seconds` keeps `--parallel` containers at a time
//! going, each created, started, exec'd into (`true`), killed, waited for and deleted. At the
//! end it reports its open fds, its RSS over time and its unreaped children, and fails on a
//! leak: more fds than after the warm-up, a zombie child, or RSS grown past the tolerance.
//!
//! Usage (as root): `soak --rootfs DIR --root STATE_ROOT --cgroup-parent NAME [--runs N]
//! [--parallel N] [--seconds S] [--rss-tolerance-kib K]`

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use runtime_core::{Container, Spec};

struct Opts {
    rootfs: String,
    root: String,
    parent: String,
    runs: u64,
    parallel: u64,
    seconds: u64,
    rss_tolerance_kib: u64,
}

fn opts() -> Result<Opts> {
    let mut o = Opts {
        rootfs: String::new(),
        root: String::new(),
        parent: String::new(),
        runs: 100,
        parallel: 50,
        seconds: 10,
        rss_tolerance_kib: 4096,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().with_context(|| format!("{flag} needs a value"))?;
        let num = || {
            value
                .parse::<u64>()
                .with_context(|| format!("{flag} {value}: not a number"))
        };
        match flag.as_str() {
            "--rootfs" => o.rootfs = value.clone(),
            "--root" => o.root = value.clone(),
            "--cgroup-parent" => o.parent = value.clone(),
            "--runs" => o.runs = num()?,
            "--parallel" => o.parallel = num()?,
            "--seconds" => o.seconds = num()?,
            "--rss-tolerance-kib" => o.rss_tolerance_kib = num()?,
            _ => bail!("unknown flag {flag}"),
        }
    }
    ensure!(
        !o.rootfs.is_empty() && !o.root.is_empty() && !o.parent.is_empty(),
        "usage: soak --rootfs DIR --root STATE_ROOT --cgroup-parent NAME [--runs N] [--parallel N] [--seconds S] [--rss-tolerance-kib K]"
    );
    Ok(o)
}

/// A spec running `args` in `rootfs` (read-only, shared by every container) under the
/// cgroup `/<parent>/<id>`.
fn spec(rootfs: &str, parent: &str, id: &str, args: &[&str]) -> Result<Spec> {
    let mut spec = Spec::default();
    let mut root = spec.root().clone().unwrap_or_default();
    root.set_path(rootfs.into()).set_readonly(Some(true));
    spec.set_root(Some(root));
    let mut process = spec.process().clone().unwrap_or_default();
    process
        .set_args(Some(args.iter().map(|a| a.to_string()).collect()))
        .set_terminal(Some(false));
    spec.set_process(Some(process));
    let mut linux = spec.linux().clone().context("the default spec has a linux section")?;
    linux.set_cgroups_path(Some(format!("/{parent}/{id}").into()));
    spec.set_linux(Some(linux));
    Ok(spec)
}

/// Stdio for a container: the null device (nothing of this process's own stdio leaks in).
fn null_io(b: runtime_core::ContainerBuilder) -> Result<runtime_core::ContainerBuilder> {
    let null = || std::fs::OpenOptions::new().read(true).write(true).open("/dev/null");
    Ok(b.stdin(null()?).stdout(null()?).stderr(null()?))
}

/// One container of `true`: create, start, wait, delete.
fn run_true(o: &Opts, id: &str) -> Result<()> {
    let b = Container::builder(id)
        .root(&o.root)
        .spec(spec(&o.rootfs, &o.parent, id, &["true"])?);
    let mut c = null_io(b)?.run().with_context(|| format!("run {id}"))?;
    let status = c.wait().with_context(|| format!("wait for {id}"))?;
    ensure!(status.code() == 0, "{id}: true exited with {}", status.code());
    c.delete(false).with_context(|| format!("delete {id}"))
}

/// One container of the churn: created, started, exec'd into, killed, waited for, deleted.
fn churn_one(o: &Opts, id: &str) -> Result<()> {
    let b = Container::builder(id)
        .root(&o.root)
        .spec(spec(&o.rootfs, &o.parent, id, &["sleep", "86399"])?);
    let mut c = null_io(b)?.create().with_context(|| format!("create {id}"))?;
    c.start().with_context(|| format!("start {id}"))?;
    let mut process = c.spec()?.process().clone().context("the spec has a process")?;
    process.set_args(Some(vec!["true".into()]));
    let null = || std::fs::OpenOptions::new().read(true).write(true).open("/dev/null");
    let exec = c
        .exec(process)
        .stdin(null()?)
        .stdout(null()?)
        .stderr(null()?)
        .spawn()
        .with_context(|| format!("exec into {id}"))?;
    let status = exec.wait().with_context(|| format!("wait for the exec in {id}"))?;
    ensure!(status.code() == 0, "{id}: exec'd true exited with {}", status.code());
    c.kill(SIGKILL, false).with_context(|| format!("kill {id}"))?;
    let status = c.wait().with_context(|| format!("wait for {id}"))?;
    ensure!(
        status == runtime_core::ExitStatus::Signaled(SIGKILL),
        "{id}: init ended with {status:?}, not SIGKILL"
    );
    c.delete(false).with_context(|| format!("delete {id}"))
}

/// SIGKILL's number on Linux.
const SIGKILL: i32 = 9;

/// Open fds of this process, from /proc/self/fd (the directory handle itself not counted).
fn fd_count() -> Result<usize> {
    Ok(std::fs::read_dir("/proc/self/fd")?.count().saturating_sub(1))
}

/// VmRSS of this process in KiB.
fn rss_kib() -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS in /proc/self/status")
}

/// Children of this process (any of its threads) that exited and were not reaped.
fn zombie_children() -> Result<Vec<i32>> {
    let me = std::process::id().to_string();
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc")?.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
            continue;
        };
        let mut f = rest.split(' ');
        let (state, ppid) = (f.next(), f.next());
        if state == Some("Z") && ppid == Some(me.as_str()) {
            out.push(pid);
        }
    }
    Ok(out)
}

fn main() -> Result<()> {
    let o = Arc::new(opts()?);
    let probe = spec(&o.rootfs, &o.parent, "soak-probe", &["true"])?;
    // Before any container process exists (see the run_in_memory example).
    runtime_core::exe::protect(|| Ok(probe.clone()))?;
    let tag = std::process::id();

    // Warm-up: one container of each kind before the baseline.
    run_true(&o, &format!("soak-{tag}-warm"))?;
    churn_one(&o, &format!("soak-{tag}-warmc"))?;
    let fds0 = fd_count()?;
    let t0 = Instant::now();

    let runs_rss0 = rss_kib()?;
    for i in 0..o.runs {
        run_true(&o, &format!("soak-{tag}-r{i}"))?;
    }
    let runs_secs = t0.elapsed().as_secs_f64();
    let runs_rss1 = rss_kib()?;
    println!(
        "soak: {} runs of true in a row in {:.1} s ({:.1} ms each); RSS KiB {runs_rss0} -> {runs_rss1}",
        o.runs,
        runs_secs,
        runs_secs * 1000.0 / o.runs.max(1) as f64
    );

    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..o.parallel)
        .map(|w| {
            let (o, stop, done, failed) = (o.clone(), stop.clone(), done.clone(), failed.clone());
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let id = format!("soak-{tag}-w{w}-{n}");
                    n += 1;
                    match churn_one(&o, &id) {
                        Ok(()) => {
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => {
                            eprintln!("soak: {e:#}");
                            failed.fetch_add(1, Ordering::Relaxed);
                            // Leave nothing behind whatever step failed.
                            if let Ok(c) = Container::load(&o.root, &id) {
                                let _ = c.delete(true);
                            }
                        }
                    }
                }
            })
        })
        .collect();
    // RSS sampled ten times; the first sample, a tenth of the way in (the threads' stacks and
    // the allocator's arenas in use), is the baseline the last is held to.
    let deadline = Duration::from_secs(o.seconds);
    let step = (deadline / 10).max(Duration::from_secs(1));
    let mut rss = Vec::new();
    while started.elapsed() < deadline {
        std::thread::sleep(step.min(deadline.saturating_sub(started.elapsed())));
        rss.push((started.elapsed().as_secs(), rss_kib()?));
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().map_err(|_| anyhow::anyhow!("a churn thread panicked"))?;
    }
    let churn_secs = started.elapsed().as_secs_f64();
    let (done, failed) = (done.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    println!(
        "soak: {done} containers created, started, exec'd into, killed and deleted, {} at a time, in {churn_secs:.1} s ({:.1} per second); {failed} failed",
        o.parallel,
        done as f64 / churn_secs
    );

    let fds1 = fd_count()?;
    let zombies = zombie_children()?;
    let (first, last) = (rss.first().map_or(0, |s| s.1), rss.last().map_or(0, |s| s.1));
    let samples: Vec<String> = rss.iter().map(|(t, k)| format!("{t}s:{k}")).collect();
    println!(
        "soak: fds {fds0} -> {fds1}; zombies {}; churn RSS KiB first {first} last {last} (tolerance +{}), over time {}; after the churn {}",
        zombies.len(),
        o.rss_tolerance_kib,
        samples.join(" "),
        rss_kib()?
    );
    let mut leaks = Vec::new();
    if fds1 > fds0 {
        let list: Vec<String> = std::fs::read_dir("/proc/self/fd")?
            .flatten()
            .map(|e| {
                format!(
                    "{}->{}",
                    e.file_name().to_string_lossy(),
                    std::fs::read_link(e.path())
                        .map(|p| p.display().to_string())
                        .unwrap_or_default()
                )
            })
            .collect();
        leaks.push(format!("{} fds leaked (now open: {})", fds1 - fds0, list.join(" ")));
    }
    if !zombies.is_empty() {
        leaks.push(format!("unreaped children {zombies:?}"));
    }
    if runs_rss1 > runs_rss0 + o.rss_tolerance_kib {
        leaks.push(format!("RSS grew {} KiB over the runs in a row", runs_rss1 - runs_rss0));
    }
    if last > first + o.rss_tolerance_kib {
        leaks.push(format!("RSS grew {} KiB over the churn", last - first));
    }
    if failed > 0 {
        leaks.push(format!("{failed} containers failed"));
    }
    if !leaks.is_empty() {
        bail!("soak failed: {}", leaks.join("; "));
    }
    println!("soak: ok");
    Ok(())
}
