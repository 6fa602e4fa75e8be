//! Statistics shaped like the "data" object of `runc events --stats` (cpu, memory, pids, blkio, hugetlb).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::error::{CgroupError, Result};
use crate::fsio::{self, key};
use crate::{Cgroup, Dir};

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// Cgroup statistics, serialised like runc's events "data" object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Stats {
    /// CPU usage and throttling.
    pub cpu: CpuStats,
    /// Memory usage.
    pub memory: MemoryStats,
    /// Process counts.
    pub pids: PidsStats,
    /// Block I/O counters.
    pub blkio: BlkioStats,
    /// Per hugepage size ("2MB").
    pub hugetlb: BTreeMap<String, HugetlbStats>,
}

/// CPU statistics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct CpuStats {
    /// Time used.
    pub usage: CpuUsage,
    /// CFS bandwidth throttling.
    pub throttling: Throttling,
}

/// CPU time used, in nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct CpuUsage {
    /// Total.
    #[serde(skip_serializing_if = "is_zero")]
    pub total: u64,
    /// Per CPU (v1 only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu: Vec<u64>,
    /// Per CPU in kernel mode (v1 only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu_kernel: Vec<u64>,
    /// Per CPU in user mode (v1 only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu_user: Vec<u64>,
    /// In kernel mode.
    pub kernel: u64,
    /// In user mode.
    pub user: u64,
}

/// CFS throttling counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Throttling {
    /// Enforcement periods elapsed.
    #[serde(skip_serializing_if = "is_zero")]
    pub periods: u64,
    /// Periods in which the group was throttled.
    #[serde(rename = "throttledPeriods", skip_serializing_if = "is_zero")]
    pub throttled_periods: u64,
    /// Time throttled, in nanoseconds.
    #[serde(rename = "throttledTime", skip_serializing_if = "is_zero")]
    pub throttled_time: u64,
}

/// Memory statistics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct MemoryStats {
    /// Page cache bytes.
    #[serde(skip_serializing_if = "is_zero")]
    pub cache: u64,
    /// Memory.
    pub usage: MemoryEntry,
    /// Memory plus swap (as v1 reports it; v2 values are added up to match).
    pub swap: MemoryEntry,
    /// Kernel memory (v1 only).
    pub kernel: MemoryEntry,
    /// Kernel TCP buffers (v1 only).
    #[serde(rename = "kernelTCP")]
    pub kernel_tcp: MemoryEntry,
    /// memory.stat as read.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub raw: BTreeMap<String, u64>,
}

/// One memory counter group.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct MemoryEntry {
    /// The limit (`u64::MAX` when unlimited on v2).
    pub limit: u64,
    /// Current usage.
    #[serde(skip_serializing_if = "is_zero")]
    pub usage: u64,
    /// Peak usage.
    #[serde(skip_serializing_if = "is_zero")]
    pub max: u64,
    /// Times the limit was hit.
    pub failcnt: u64,
}

/// Process counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct PidsStats {
    /// Processes now.
    #[serde(skip_serializing_if = "is_zero")]
    pub current: u64,
    /// The limit, 0 when unlimited.
    #[serde(skip_serializing_if = "is_zero")]
    pub limit: u64,
}

/// Block I/O counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct BlkioStats {
    /// Bytes transferred.
    #[serde(rename = "ioServiceBytesRecursive", skip_serializing_if = "Vec::is_empty")]
    pub io_service_bytes_recursive: Vec<BlkioEntry>,
    /// Operations.
    #[serde(rename = "ioServicedRecursive", skip_serializing_if = "Vec::is_empty")]
    pub io_serviced_recursive: Vec<BlkioEntry>,
}

/// One block I/O counter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct BlkioEntry {
    /// Device major number.
    #[serde(skip_serializing_if = "is_zero")]
    pub major: u64,
    /// Device minor number.
    #[serde(skip_serializing_if = "is_zero")]
    pub minor: u64,
    /// "Read", "Write", "Sync", "Async", "Discard" or "Total".
    #[serde(skip_serializing_if = "String::is_empty")]
    pub op: String,
    /// The counter.
    #[serde(skip_serializing_if = "is_zero")]
    pub value: u64,
}

/// Hugepage usage for one page size.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct HugetlbStats {
    /// Bytes in use.
    #[serde(skip_serializing_if = "is_zero")]
    pub usage: u64,
    /// Peak bytes (v1 only).
    #[serde(skip_serializing_if = "is_zero")]
    pub max: u64,
    /// Times the limit was hit.
    pub failcnt: u64,
}

/// Reads every class whose controller the host has; a class it lacks stays empty.
pub(crate) fn collect(cg: &Cgroup) -> Result<Stats> {
    let mut s = Stats::default();
    if let Some(d) = cg
        .dir_for("cpuacct")
        .or_else(|| cg.dir_for("cpu"))
        .or_else(|| cg.v2_dir())
    {
        if d.h.v2 {
            cpu_v2(&d.path, &mut s.cpu)?;
        } else {
            cpu_v1(&d.path, &mut s.cpu)?;
            if let Some(c) = cg.dir_for("cpu").filter(|c| !c.h.v2) {
                throttling(&c.path, "throttled_time", 1, &mut s.cpu.throttling)?;
            }
        }
    }
    if let Some(d) = cg.dir_for("memory") {
        if d.h.v2 {
            memory_v2(&d.path, &mut s.memory)?;
        } else {
            memory_v1(&d.path, &mut s.memory)?;
        }
    }
    if let Some(d) = cg.dir_for("pids") {
        s.pids.current = fsio::read_u64(&d.path, "pids.current")?;
        let max = fsio::read_u64(&d.path, "pids.max")?;
        s.pids.limit = if max == u64::MAX { 0 } else { max };
    }
    if let Some(d) = cg.dir_for("blkio").or_else(|| cg.dir_for("io")) {
        if d.h.v2 {
            io_v2(&d.path, &mut s.blkio)?;
        } else {
            blkio_v1(&d.path, &mut s.blkio)?;
        }
    }
    if let Some(d) = cg.dir_for("hugetlb") {
        hugetlb(d, &mut s.hugetlb)?;
    }
    Ok(s)
}

fn numbers(dir: &Path, file: &str) -> Result<Vec<u64>> {
    let Some(s) = fsio::read_opt(dir, file)? else {
        return Ok(Vec::new());
    };
    let path = dir.join(file);
    s.split_whitespace().map(|v| fsio::parse_u64(&path, v)).collect()
}

fn cpu_v1(dir: &Path, c: &mut CpuStats) -> Result<()> {
    c.usage.total = fsio::read_u64_opt(dir, "cpuacct.usage")?;
    c.usage.percpu = numbers(dir, "cpuacct.usage_percpu")?;
    c.usage.percpu_kernel = numbers(dir, "cpuacct.usage_percpu_sys")?;
    c.usage.percpu_user = numbers(dir, "cpuacct.usage_percpu_user")?;
    let st = fsio::read_keyed(dir, "cpuacct.stat")?;
    let hz = ocirun_sys::process::clock_ticks();
    c.usage.user = key(&st, "user").saturating_mul(1_000_000_000) / hz;
    c.usage.kernel = key(&st, "system").saturating_mul(1_000_000_000) / hz;
    Ok(())
}

fn throttling(dir: &Path, time_key: &str, scale: u64, t: &mut Throttling) -> Result<()> {
    let st = fsio::read_keyed(dir, "cpu.stat")?;
    t.periods = key(&st, "nr_periods");
    t.throttled_periods = key(&st, "nr_throttled");
    t.throttled_time = key(&st, time_key).saturating_mul(scale);
    Ok(())
}

fn cpu_v2(dir: &Path, c: &mut CpuStats) -> Result<()> {
    let st = fsio::read_keyed(dir, "cpu.stat")?;
    c.usage.total = key(&st, "usage_usec").saturating_mul(1000);
    c.usage.user = key(&st, "user_usec").saturating_mul(1000);
    c.usage.kernel = key(&st, "system_usec").saturating_mul(1000);
    throttling(dir, "throttled_usec", 1000, &mut c.throttling)
}

fn memory_entry_v1(dir: &Path, prefix: &str) -> Result<MemoryEntry> {
    let f = |name: &str| format!("{prefix}.{name}");
    // A group the kernel lacks (no swap accounting) stays empty, as in runc.
    if !fsio::exists(dir, &f("usage_in_bytes")) {
        return Ok(MemoryEntry::default());
    }
    Ok(MemoryEntry {
        limit: fsio::read_u64(dir, &f("limit_in_bytes"))?,
        usage: fsio::read_u64(dir, &f("usage_in_bytes"))?,
        max: fsio::read_u64_opt(dir, &f("max_usage_in_bytes"))?,
        failcnt: fsio::read_u64_opt(dir, &f("failcnt"))?,
    })
}

fn memory_v1(dir: &Path, m: &mut MemoryStats) -> Result<()> {
    m.raw = fsio::read_keyed(dir, "memory.stat")?.into_iter().collect();
    m.cache = m.raw.get("cache").copied().unwrap_or(0);
    m.usage = memory_entry_v1(dir, "memory")?;
    m.swap = memory_entry_v1(dir, "memory.memsw")?;
    m.kernel = memory_entry_v1(dir, "memory.kmem")?;
    m.kernel_tcp = memory_entry_v1(dir, "memory.kmem.tcp")?;
    Ok(())
}

fn memory_entry_v2(dir: &Path, module: &str) -> Result<MemoryEntry> {
    let f = |name: &str| format!("{module}.{name}");
    if !fsio::exists(dir, &f("current")) {
        return Ok(MemoryEntry::default());
    }
    let events = fsio::read_keyed(dir, &f("events"))?;
    Ok(MemoryEntry {
        usage: fsio::read_u64(dir, &f("current"))?,
        limit: fsio::read_u64(dir, &f("max"))?,
        max: fsio::read_u64_opt(dir, &f("peak"))?,
        failcnt: key(&events, "max"),
    })
}

fn memory_v2(dir: &Path, m: &mut MemoryStats) -> Result<()> {
    m.raw = fsio::read_keyed(dir, "memory.stat")?.into_iter().collect();
    m.cache = m.raw.get("file").copied().unwrap_or(0);
    m.usage = memory_entry_v2(dir, "memory")?;
    // As runc: report memory+swap like v1 does.
    let mut swap = memory_entry_v2(dir, "memory.swap")?;
    swap.usage = swap.usage.saturating_add(m.usage.usage);
    if swap.limit != u64::MAX {
        swap.limit = swap.limit.saturating_add(m.usage.limit);
    }
    swap.max = 0;
    m.swap = swap;
    Ok(())
}

fn blkio_entries(dir: &Path, file: &str) -> Result<Option<Vec<BlkioEntry>>> {
    let Some(s) = fsio::read_opt(dir, file)? else {
        return Ok(None);
    };
    let path = dir.join(file);
    let parse_err = |line: &str| CgroupError::Parse {
        path: path.clone(),
        content: line.to_owned(),
    };
    let mut out = Vec::new();
    for line in s.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        // "Total N" lines and empty lines carry no device (runc skips them).
        let [dev, op, value] = f.as_slice() else {
            continue;
        };
        let (maj, min) = dev.split_once(':').ok_or_else(|| parse_err(line))?;
        out.push(BlkioEntry {
            major: maj.parse().map_err(|_| parse_err(line))?,
            minor: min.parse().map_err(|_| parse_err(line))?,
            op: (*op).to_owned(),
            value: value.parse().map_err(|_| parse_err(line))?,
        });
    }
    Ok(Some(out))
}

fn blkio_v1(dir: &Path, b: &mut BlkioStats) -> Result<()> {
    // As runc: CFQ's files, else BFQ's, else the throttle layer's.
    for prefix in ["blkio", "blkio.bfq", "blkio.throttle"] {
        let bytes = blkio_entries(dir, &format!("{prefix}.io_service_bytes_recursive"))?;
        if let Some(bytes) = bytes {
            b.io_service_bytes_recursive = bytes;
            b.io_serviced_recursive =
                blkio_entries(dir, &format!("{prefix}.io_serviced_recursive"))?.unwrap_or_default();
            return Ok(());
        }
    }
    Ok(())
}

fn io_v2(dir: &Path, b: &mut BlkioStats) -> Result<()> {
    let Some(s) = fsio::read_opt(dir, "io.stat")? else {
        return Ok(());
    };
    let path = dir.join("io.stat");
    for line in s.lines() {
        let mut it = line.split_whitespace();
        let Some(dev) = it.next() else { continue };
        let parse_err = || CgroupError::Parse {
            path: path.clone(),
            content: line.to_owned(),
        };
        let (maj, min) = dev.split_once(':').ok_or_else(parse_err)?;
        let major: u64 = maj.parse().map_err(|_| parse_err())?;
        let minor: u64 = min.parse().map_err(|_| parse_err())?;
        for kv in it {
            let Some((k, v)) = kv.split_once('=') else {
                return Err(parse_err());
            };
            let (list, op) = match k {
                "rbytes" => (&mut b.io_service_bytes_recursive, "Read"),
                "wbytes" => (&mut b.io_service_bytes_recursive, "Write"),
                "dbytes" => (&mut b.io_service_bytes_recursive, "Discard"),
                "rios" => (&mut b.io_serviced_recursive, "Read"),
                "wios" => (&mut b.io_serviced_recursive, "Write"),
                "dios" => (&mut b.io_serviced_recursive, "Discard"),
                _ => continue,
            };
            list.push(BlkioEntry {
                major,
                minor,
                op: op.to_owned(),
                value: v.parse().map_err(|_| parse_err())?,
            });
        }
    }
    Ok(())
}

fn hugetlb(d: &Dir, out: &mut BTreeMap<String, HugetlbStats>) -> Result<()> {
    let read_err = |source| CgroupError::Read {
        path: d.path.clone(),
        source,
    };
    let suffix = if d.h.v2 { ".current" } else { ".usage_in_bytes" };
    let mut sizes = Vec::new();
    for entry in std::fs::read_dir(&d.path).map_err(read_err)? {
        let name = entry.map_err(read_err)?.file_name();
        let name = name.to_string_lossy();
        if let Some(size) = name
            .strip_prefix("hugetlb.")
            .and_then(|r| r.strip_suffix(suffix))
            .filter(|s| !s.contains('.'))
        {
            sizes.push(size.to_owned());
        }
    }
    for size in sizes {
        let st = if d.h.v2 {
            let events = fsio::read_keyed(&d.path, &format!("hugetlb.{size}.events"))?;
            HugetlbStats {
                usage: fsio::read_u64(&d.path, &format!("hugetlb.{size}.current"))?,
                max: 0,
                failcnt: key(&events, "max"),
            }
        } else {
            HugetlbStats {
                usage: fsio::read_u64(&d.path, &format!("hugetlb.{size}.usage_in_bytes"))?,
                max: fsio::read_u64_opt(&d.path, &format!("hugetlb.{size}.max_usage_in_bytes"))?,
                failcnt: fsio::read_u64_opt(&d.path, &format!("hugetlb.{size}.failcnt"))?,
            }
        };
        out.insert(size, st);
    }
    Ok(())
}
