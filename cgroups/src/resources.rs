//! Applying linux.resources: each class goes to the hierarchy that has its controller, in the
//! v1 or v2 file format of that hierarchy, writing the files and values runc writes.

use std::path::Path;

use oci_spec::runtime::{
    LinuxBlockIo, LinuxCpu, LinuxHugepageLimit, LinuxMemory, LinuxNetwork, LinuxPids, LinuxRdma, LinuxResources,
};

use crate::error::{CgroupError, Result};
use crate::fsio::{self, set};
use crate::{Cgroup, Dir, Layout, devices};

/// Applies every class in `r`. `update` enables memory.checkBeforeUpdate.
pub(crate) fn apply(cg: &Cgroup, r: &LinuxResources, update: bool) -> Result<()> {
    if let Some(cpu) = r.cpu() {
        cpuset(cg, cpu)?;
    }
    if let Some(rules) = r.devices() {
        devices::apply(cg, rules)?;
    }
    if let Some(m) = r.memory() {
        memory(cg, m, update)?;
    }
    if let Some(cpu) = r.cpu() {
        cpu_bandwidth(cg, cpu)?;
    }
    if let Some(p) = r.pids() {
        pids(cg, p)?;
    }
    if let Some(b) = r.block_io() {
        block_io(cg, b)?;
    }
    if let Some(h) = r.hugepage_limits() {
        hugetlb(cg, h)?;
    }
    if let Some(n) = r.network() {
        network(cg, n)?;
    }
    if let Some(rdma_map) = r.rdma() {
        let mut list: Vec<(&String, &LinuxRdma)> = rdma_map.iter().collect();
        list.sort_by(|a, b| a.0.cmp(b.0));
        rdma(cg, &list)?;
    }
    if let Some(u) = r.unified() {
        let mut list: Vec<(&String, &String)> = u.iter().collect();
        list.sort();
        unified(cg, &list)?;
    }
    Ok(())
}

/// The directory of the hierarchy holding `controller`, or an error naming `field`.
fn need<'a>(cg: &'a Cgroup, controller: &'static str, field: &'static str) -> Result<&'a Dir> {
    cg.dir_for(controller)
        .ok_or(CgroupError::MissingController { field, controller })
}

fn invalid(field: &'static str, value: impl ToString, reason: &'static str) -> CgroupError {
    CgroupError::InvalidValue {
        field,
        value: value.to_string(),
        reason,
    }
}

fn unsupported(field: &str, reason: &'static str) -> CgroupError {
    CgroupError::Unsupported {
        field: field.to_owned(),
        reason,
    }
}

/// A byte limit: 0 is unset, -1 unlimited, anything else below 0 is an error.
pub(crate) fn check_bytes(field: &'static str, v: Option<i64>) -> Result<i64> {
    match v.unwrap_or(0) {
        v if v < -1 => Err(invalid(field, v, "must be -1 (unlimited), 0 (unset) or a byte count")),
        v => Ok(v),
    }
}

/// runc's numToStr for v2 files: 0 is "" (do not write), -1 is "max".
fn num_to_str(v: i64) -> String {
    match v {
        0 => String::new(),
        -1 => "max".to_owned(),
        v => v.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// memory

pub(crate) const MEM_LIMIT: &str = "linux.resources.memory.limit";
pub(crate) const MEM_RESERVATION: &str = "linux.resources.memory.reservation";
pub(crate) const MEM_SWAP: &str = "linux.resources.memory.swap";
const MEM_KERNEL_TCP: &str = "linux.resources.memory.kernelTCP";
const MEM_SWAPPINESS: &str = "linux.resources.memory.swappiness";
const MEM_OOM: &str = "linux.resources.memory.disableOOMKiller";
const MEM_HIERARCHY: &str = "linux.resources.memory.useHierarchy";

fn memory(cg: &Cgroup, m: &LinuxMemory, update: bool) -> Result<()> {
    let any = m.limit().is_some()
        || m.reservation().is_some()
        || m.swap().is_some()
        || m.kernel_tcp().is_some()
        || m.swappiness().is_some()
        || m.disable_oom_killer().is_some()
        || m.use_hierarchy().is_some();
    if !any {
        return Ok(());
    }
    let d = need(cg, "memory", "linux.resources.memory")?;
    let limit = check_bytes(MEM_LIMIT, m.limit())?;
    let reservation = check_bytes(MEM_RESERVATION, m.reservation())?;
    let swap = check_bytes(MEM_SWAP, m.swap())?;
    // runc reads swappiness -1 (u64::MAX in this type) as unset.
    let swappiness = m.swappiness().filter(|s| *s != u64::MAX);
    if let Some(s) = swappiness.filter(|s| *s > 100) {
        return Err(invalid(MEM_SWAPPINESS, s, "the range is 0-100"));
    }
    let check = update && m.check_before_update() == Some(true) && limit > 0;
    if d.h.v2 {
        memory_v2(&d.path, m, limit, reservation, swap, swappiness, check)
    } else {
        memory_v1(&d.path, m, limit, reservation, swap, swappiness, check)
    }
}

fn check_usage(dir: &Path, file: &str, limit: i64) -> Result<()> {
    let usage = fsio::read_u64(dir, file)?;
    if u64::try_from(limit).is_ok_and(|l| usage >= l) {
        return Err(CgroupError::MemoryBelowUsage {
            path: dir.to_path_buf(),
            limit,
            usage,
        });
    }
    Ok(())
}

fn memory_v1(
    dir: &Path,
    m: &LinuxMemory,
    limit: i64,
    reservation: i64,
    mut swap: i64,
    swappiness: Option<u64>,
    check: bool,
) -> Result<()> {
    if check {
        check_usage(dir, "memory.usage_in_bytes", limit)?;
    }
    // runc: an unlimited memory with swap not given means unlimited swap too.
    if limit == -1 && swap == 0 {
        swap = -1;
    }
    if swap != 0 && !fsio::exists(dir, "memory.memsw.limit_in_bytes") {
        return Err(unsupported(
            MEM_SWAP,
            "the kernel has no swap accounting (memory.memsw.limit_in_bytes is missing)",
        ));
    }
    let set_memory = || -> Result<()> {
        if limit == 0 {
            return Ok(());
        }
        let path = dir.join("memory.limit_in_bytes");
        let value = limit.to_string();
        fsio::write_path(&path, &value).or_else(|source| {
            if source.raw_os_error() == Some(libc::EBUSY) {
                let usage = fsio::read_u64(dir, "memory.usage_in_bytes")?;
                return Err(CgroupError::MemoryBelowUsage { path, limit, usage });
            }
            Err(CgroupError::Apply {
                field: MEM_LIMIT,
                path,
                value,
                source,
            })
        })
    };
    let set_swap = || -> Result<()> {
        if swap == 0 {
            return Ok(());
        }
        set(dir, "memory.memsw.limit_in_bytes", &swap.to_string(), MEM_SWAP)
    };
    // The kernel wants memory <= memory+swap at every step: order the writes like runc.
    if limit != 0 && swap != 0 {
        let current = fsio::read_u64(dir, "memory.limit_in_bytes")?;
        if swap == -1 || u64::try_from(swap).is_ok_and(|s| current < s) {
            set_swap()?;
            set_memory()?;
        } else {
            set_memory()?;
            set_swap()?;
        }
    } else {
        set_memory()?;
        set_swap()?;
    }
    if reservation != 0 {
        set(
            dir,
            "memory.soft_limit_in_bytes",
            &reservation.to_string(),
            MEM_RESERVATION,
        )?;
    }
    // memory.kernel is not written: deprecated by the runtime spec, ignored by kernels since
    // 5.16; runc and youki ignore it with a warning, which runtime-core gives.
    if let Some(k) = m.kernel_tcp() {
        set_checked_bytes(dir, "memory.kmem.tcp.limit_in_bytes", k, MEM_KERNEL_TCP)?;
    }
    if let Some(s) = swappiness {
        set(dir, "memory.swappiness", &s.to_string(), MEM_SWAPPINESS)?;
    }
    if m.disable_oom_killer() == Some(true) {
        set(dir, "memory.oom_control", "1", MEM_OOM)?;
    }
    if let Some(h) = m.use_hierarchy() {
        set(dir, "memory.use_hierarchy", if h { "1" } else { "0" }, MEM_HIERARCHY)?;
    }
    Ok(())
}

/// Writes a byte limit and reads it back: kernels since 5.16 accept kernel-memory limits and
/// ignore them, which must not pass for a limit in force.
fn set_checked_bytes(dir: &Path, file: &str, value: i64, field: &'static str) -> Result<()> {
    if value < -1 {
        return Err(invalid(field, value, "must be -1 (unlimited) or a byte count"));
    }
    if !fsio::exists(dir, file) {
        return Err(unsupported(field, "the kernel no longer has kernel memory limits"));
    }
    set(dir, file, &value.to_string(), field)?;
    if value == -1 {
        return Ok(());
    }
    let kept = fsio::read_u64(dir, file)?;
    let wanted = value.unsigned_abs();
    // The kernel rounds a limit down to a page.
    if kept > wanted || wanted - kept >= 65536 {
        return Err(CgroupError::NotApplied {
            field,
            path: dir.join(file),
            wrote: value.to_string(),
            kept: kept.to_string(),
        });
    }
    Ok(())
}

/// runc's ConvertMemorySwapToCgroupV2Value: v2 memory.swap.max holds swap only, OCI swap is memory+swap.
pub(crate) fn swap_to_v2(swap: i64, limit: i64) -> Result<i64> {
    if limit == -1 && swap == 0 {
        return Ok(-1);
    }
    if swap == -1 || swap == 0 {
        return Ok(swap);
    }
    if limit == 0 || limit == -1 {
        return Err(invalid(
            MEM_SWAP,
            swap,
            "a swap limit needs a memory limit on cgroup v2",
        ));
    }
    if swap < limit {
        return Err(invalid(MEM_SWAP, swap, "memory+swap must be at least the memory limit"));
    }
    Ok(swap - limit)
}

fn memory_v2(
    dir: &Path,
    m: &LinuxMemory,
    limit: i64,
    reservation: i64,
    swap: i64,
    swappiness: Option<u64>,
    check: bool,
) -> Result<()> {
    if m.kernel_tcp().is_some() {
        return Err(unsupported(MEM_KERNEL_TCP, "cgroup v2 has no kernel TCP memory limit"));
    }
    if swappiness.is_some() {
        return Err(unsupported(MEM_SWAPPINESS, "cgroup v2 has no per-cgroup swappiness"));
    }
    if m.disable_oom_killer() == Some(true) {
        return Err(unsupported(MEM_OOM, "cgroup v2 cannot disable the OOM killer"));
    }
    if m.use_hierarchy() == Some(false) {
        return Err(unsupported(MEM_HIERARCHY, "cgroup v2 is always hierarchical"));
    }
    if check {
        check_usage(dir, "memory.current", limit)?;
    }
    let swap_v2 = swap_to_v2(swap, limit)?;
    let mut swap_str = num_to_str(swap_v2);
    if swap_str.is_empty() && swap_v2 == 0 && swap > 0 {
        // memory and memory+swap set to the same value: no swap.
        swap_str = "0".to_owned();
    }
    if !swap_str.is_empty() {
        let path = dir.join("memory.swap.max");
        if let Err(source) = fsio::write_path(&path, &swap_str) {
            // As runc: without swap, "max" and "0" already hold.
            let no_swap = source.kind() == std::io::ErrorKind::NotFound;
            if !(no_swap && (swap_str == "max" || swap_str == "0")) {
                return Err(CgroupError::Apply {
                    field: MEM_SWAP,
                    path,
                    value: swap_str,
                    source,
                });
            }
        }
    }
    let v = num_to_str(limit);
    if !v.is_empty() {
        set(dir, "memory.max", &v, MEM_LIMIT)?;
    }
    let v = num_to_str(reservation);
    if !v.is_empty() {
        set(dir, "memory.low", &v, MEM_RESERVATION)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// cpu and cpuset

const CPU_SHARES: &str = "linux.resources.cpu.shares";
const CPU_QUOTA: &str = "linux.resources.cpu.quota";
const CPU_PERIOD: &str = "linux.resources.cpu.period";
const CPU_BURST: &str = "linux.resources.cpu.burst";
const CPU_IDLE: &str = "linux.resources.cpu.idle";
const CPU_RT_RUNTIME: &str = "linux.resources.cpu.realtimeRuntime";
const CPU_RT_PERIOD: &str = "linux.resources.cpu.realtimePeriod";
const CPU_CPUS: &str = "linux.resources.cpu.cpus";
const CPU_MEMS: &str = "linux.resources.cpu.mems";

/// runc's ConvertCPUSharesToCgroupV2Value: [2, 262144] to [1, 10000].
pub(crate) fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    1 + (shares.saturating_sub(2) * 9999) / 262_142
}

fn cpuset(cg: &Cgroup, c: &LinuxCpu) -> Result<()> {
    let cpus = c.cpus().as_deref().filter(|s| !s.is_empty());
    let mems = c.mems().as_deref().filter(|s| !s.is_empty());
    if cpus.is_none() && mems.is_none() {
        return Ok(());
    }
    let d = need(cg, "cpuset", CPU_CPUS)?;
    if let Some(v) = cpus {
        set(&d.path, "cpuset.cpus", v, CPU_CPUS)?;
    }
    if let Some(v) = mems {
        set(&d.path, "cpuset.mems", v, CPU_MEMS)?;
    }
    Ok(())
}

fn cpu_bandwidth(cg: &Cgroup, c: &LinuxCpu) -> Result<()> {
    let shares = c.shares().unwrap_or(0);
    let quota = c.quota().unwrap_or(0);
    let period = c.period().unwrap_or(0);
    let rt_runtime = c.realtime_runtime().unwrap_or(0);
    let rt_period = c.realtime_period().unwrap_or(0);
    let any = shares != 0
        || quota != 0
        || period != 0
        || rt_runtime != 0
        || rt_period != 0
        || c.burst().is_some()
        || c.idle().is_some();
    if !any {
        return Ok(());
    }
    if quota < -1 {
        return Err(invalid(CPU_QUOTA, quota, "must be -1 (unlimited) or positive"));
    }
    let d = need(cg, "cpu", "linux.resources.cpu")?;
    if d.h.v2 {
        cpu_v2(&d.path, c, shares, quota, period, rt_runtime, rt_period)
    } else {
        cpu_v1(&d.path, c, shares, quota, period, rt_runtime, rt_period)
    }
}

fn is_einval(e: &CgroupError) -> bool {
    match e {
        CgroupError::Apply { source, .. } => source.raw_os_error() == Some(libc::EINVAL),
        _ => false,
    }
}

fn cpu_v1(
    dir: &Path,
    c: &LinuxCpu,
    shares: u64,
    quota: i64,
    period: u64,
    rt_runtime: i64,
    rt_period: u64,
) -> Result<()> {
    if rt_period != 0 {
        set(dir, "cpu.rt_period_us", &rt_period.to_string(), CPU_RT_PERIOD)?;
    }
    if rt_runtime != 0 {
        set(dir, "cpu.rt_runtime_us", &rt_runtime.to_string(), CPU_RT_RUNTIME)?;
    }
    if shares != 0 {
        set(dir, "cpu.shares", &shares.to_string(), CPU_SHARES)?;
        let kept = fsio::read_u64(dir, "cpu.shares")?;
        if kept != shares {
            return Err(CgroupError::NotApplied {
                field: CPU_SHARES,
                path: dir.join("cpu.shares"),
                wrote: shares.to_string(),
                kept: kept.to_string(),
            });
        }
    }
    // As runc: a period or burst the kernel refuses before the quota is set is retried after it.
    let mut retry_period = false;
    if period != 0 {
        match set(dir, "cpu.cfs_period_us", &period.to_string(), CPU_PERIOD) {
            Ok(()) => {}
            Err(e) if is_einval(&e) && quota != 0 => retry_period = true,
            Err(e) => return Err(e),
        }
    }
    let mut retry_burst = None;
    if let Some(b) = c.burst() {
        match set(dir, "cpu.cfs_burst_us", &b.to_string(), CPU_BURST) {
            Ok(()) => {}
            Err(e) if is_einval(&e) && quota != 0 => retry_burst = Some(b),
            Err(e) => return Err(e),
        }
    }
    if quota != 0 {
        set(dir, "cpu.cfs_quota_us", &quota.to_string(), CPU_QUOTA)?;
        if retry_period {
            set(dir, "cpu.cfs_period_us", &period.to_string(), CPU_PERIOD)?;
        }
        if let Some(b) = retry_burst {
            set(dir, "cpu.cfs_burst_us", &b.to_string(), CPU_BURST)?;
        }
    }
    if let Some(i) = c.idle() {
        set(dir, "cpu.idle", &i.to_string(), CPU_IDLE)?;
    }
    Ok(())
}

fn cpu_v2(
    dir: &Path,
    c: &LinuxCpu,
    shares: u64,
    quota: i64,
    period: u64,
    rt_runtime: i64,
    rt_period: u64,
) -> Result<()> {
    if rt_runtime != 0 {
        return Err(unsupported(CPU_RT_RUNTIME, "cgroup v2 has no realtime cpu bandwidth"));
    }
    if rt_period != 0 {
        return Err(unsupported(CPU_RT_PERIOD, "cgroup v2 has no realtime cpu bandwidth"));
    }
    if let Some(i) = c.idle() {
        set(dir, "cpu.idle", &i.to_string(), CPU_IDLE)?;
    }
    if shares != 0 {
        if !(2..=262_144).contains(&shares) {
            return Err(invalid(CPU_SHARES, shares, "the range is 2-262144"));
        }
        set(dir, "cpu.weight", &shares_to_weight(shares).to_string(), CPU_SHARES)?;
    }
    let mut retry_burst = None;
    if let Some(b) = c.burst() {
        match set(dir, "cpu.max.burst", &b.to_string(), CPU_BURST) {
            Ok(()) => {}
            Err(e) if is_einval(&e) && quota != 0 => retry_burst = Some(b),
            Err(e) => return Err(e),
        }
    }
    if quota != 0 || period != 0 {
        let mut value = if quota > 0 {
            quota.to_string()
        } else if quota == -1 {
            "max".to_owned()
        } else {
            // Only the period changes: keep the quota in force (runc writes "max" here,
            // which would silently drop an existing quota on update).
            fsio::read_opt(dir, "cpu.max")?
                .and_then(|s| s.split_whitespace().next().map(str::to_owned))
                .unwrap_or_else(|| "max".to_owned())
        };
        if period != 0 {
            value.push(' ');
            value.push_str(&period.to_string());
        }
        set(dir, "cpu.max", &value, if quota != 0 { CPU_QUOTA } else { CPU_PERIOD })?;
    }
    if let Some(b) = retry_burst {
        set(dir, "cpu.max.burst", &b.to_string(), CPU_BURST)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// pids

pub(crate) const PIDS_LIMIT: &str = "linux.resources.pids.limit";

fn pids(cg: &Cgroup, p: &LinuxPids) -> Result<()> {
    let limit = p.limit();
    if limit < -1 {
        return Err(invalid(PIDS_LIMIT, limit, "must be -1 or 0 (unlimited) or positive"));
    }
    let d = need(cg, "pids", PIDS_LIMIT)?;
    // As runc: zero or negative means no limit, written as "max" (same file name on v1 and v2).
    let value = if limit > 0 { limit.to_string() } else { "max".to_owned() };
    set(&d.path, "pids.max", &value, PIDS_LIMIT)
}

// ---------------------------------------------------------------------------------------------
// block io

const BLKIO_WEIGHT: &str = "linux.resources.blockIO.weight";
const BLKIO_LEAF_WEIGHT: &str = "linux.resources.blockIO.leafWeight";
const BLKIO_WEIGHT_DEVICE: &str = "linux.resources.blockIO.weightDevice";
const BLKIO_THROTTLE: [&str; 4] = [
    "linux.resources.blockIO.throttleReadBpsDevice",
    "linux.resources.blockIO.throttleWriteBpsDevice",
    "linux.resources.blockIO.throttleReadIOPSDevice",
    "linux.resources.blockIO.throttleWriteIOPSDevice",
];

/// runc's ConvertBlkIOToIOWeightValue: blkio [10, 1000] to io.weight [1, 10000].
pub(crate) fn blkio_to_io_weight(w: u64) -> u64 {
    if w == 0 {
        return 0;
    }
    1 + (w.saturating_sub(10) * 9999) / 990
}

fn check_weight(field: &'static str, w: u16) -> Result<()> {
    if w != 0 && !(10..=1000).contains(&w) {
        return Err(invalid(field, w, "the range is 10-1000"));
    }
    Ok(())
}

fn check_dev(field: &'static str, major: i64, minor: i64) -> Result<()> {
    if major < 0 || minor < 0 || major > i64::from(u32::MAX) || minor > i64::from(u32::MAX) {
        return Err(invalid(field, format!("{major}:{minor}"), "not a device number"));
    }
    Ok(())
}

fn block_io(cg: &Cgroup, b: &LinuxBlockIo) -> Result<()> {
    let weight = b.weight().unwrap_or(0);
    let leaf = b.leaf_weight().unwrap_or(0);
    let wdev = b.weight_device().as_deref().unwrap_or_default();
    let throttles = [
        b.throttle_read_bps_device().as_deref().unwrap_or_default(),
        b.throttle_write_bps_device().as_deref().unwrap_or_default(),
        b.throttle_read_iops_device().as_deref().unwrap_or_default(),
        b.throttle_write_iops_device().as_deref().unwrap_or_default(),
    ];
    if weight == 0 && leaf == 0 && wdev.is_empty() && throttles.iter().all(|t| t.is_empty()) {
        return Ok(());
    }
    check_weight(BLKIO_WEIGHT, weight)?;
    check_weight(BLKIO_LEAF_WEIGHT, leaf)?;
    for wd in wdev {
        check_dev(BLKIO_WEIGHT_DEVICE, wd.major(), wd.minor())?;
        check_weight(BLKIO_WEIGHT_DEVICE, wd.weight().unwrap_or(0))?;
        check_weight(BLKIO_WEIGHT_DEVICE, wd.leaf_weight().unwrap_or(0))?;
    }
    for (field, list) in BLKIO_THROTTLE.iter().zip(throttles) {
        for t in list {
            check_dev(field, t.major(), t.minor())?;
        }
    }
    let d = match (cg.dir_for("blkio"), cg.dir_for("io")) {
        (Some(d), _) | (None, Some(d)) => d,
        (None, None) => {
            return Err(CgroupError::MissingController {
                field: "linux.resources.blockIO",
                controller: if cg.layout == Layout::V2 { "io" } else { "blkio" },
            });
        }
    };
    let dir = d.path.as_path();
    if d.h.v2 {
        if leaf != 0 || wdev.iter().any(|w| w.leaf_weight().is_some_and(|l| l != 0)) {
            return Err(unsupported(BLKIO_LEAF_WEIGHT, "cgroup v2 has no leaf weights"));
        }
        let bfq = fsio::exists(dir, "io.bfq.weight");
        if weight != 0 {
            if bfq {
                set(dir, "io.bfq.weight", &weight.to_string(), BLKIO_WEIGHT)?;
            } else {
                let v = blkio_to_io_weight(u64::from(weight)).to_string();
                set(dir, "io.weight", &v, BLKIO_WEIGHT)?;
            }
        }
        for wd in wdev {
            let Some(w) = wd.weight().filter(|w| *w != 0) else {
                continue;
            };
            if !bfq {
                return Err(unsupported(
                    BLKIO_WEIGHT_DEVICE,
                    "per-device weights need the BFQ scheduler (io.bfq.weight is missing)",
                ));
            }
            let v = format!("{}:{} {w}", wd.major(), wd.minor());
            set(dir, "io.bfq.weight", &v, BLKIO_WEIGHT_DEVICE)?;
        }
        for ((field, list), key) in BLKIO_THROTTLE
            .iter()
            .zip(throttles)
            .zip(["rbps", "wbps", "riops", "wiops"])
        {
            for t in list {
                let v = format!("{}:{} {key}={}", t.major(), t.minor(), t.rate());
                set(dir, "io.max", &v, field)?;
            }
        }
        return Ok(());
    }
    // v1: prefer the BFQ files when they exist, as runc does.
    let (wfile, wdfile) = if fsio::exists(dir, "blkio.bfq.weight") {
        ("blkio.bfq.weight", "blkio.bfq.weight_device")
    } else {
        ("blkio.weight", "blkio.weight_device")
    };
    let need_file = |file: &str, field: &'static str| -> Result<()> {
        if fsio::exists(dir, file) {
            Ok(())
        } else {
            Err(unsupported(
                field,
                "the host's block I/O scheduler has no cgroup weights (no blkio.weight or blkio.bfq.weight)",
            ))
        }
    };
    if weight != 0 {
        need_file(wfile, BLKIO_WEIGHT)?;
        set(dir, wfile, &weight.to_string(), BLKIO_WEIGHT)?;
    }
    if leaf != 0 {
        need_file("blkio.leaf_weight", BLKIO_LEAF_WEIGHT)?;
        set(dir, "blkio.leaf_weight", &leaf.to_string(), BLKIO_LEAF_WEIGHT)?;
    }
    for wd in wdev {
        if let Some(w) = wd.weight().filter(|w| *w != 0) {
            need_file(wdfile, BLKIO_WEIGHT_DEVICE)?;
            let v = format!("{}:{} {w}", wd.major(), wd.minor());
            set(dir, wdfile, &v, BLKIO_WEIGHT_DEVICE)?;
        }
        if let Some(l) = wd.leaf_weight().filter(|l| *l != 0) {
            need_file("blkio.leaf_weight_device", BLKIO_LEAF_WEIGHT)?;
            let v = format!("{}:{} {l}", wd.major(), wd.minor());
            set(dir, "blkio.leaf_weight_device", &v, BLKIO_LEAF_WEIGHT)?;
        }
    }
    for ((field, list), file) in BLKIO_THROTTLE.iter().zip(throttles).zip([
        "blkio.throttle.read_bps_device",
        "blkio.throttle.write_bps_device",
        "blkio.throttle.read_iops_device",
        "blkio.throttle.write_iops_device",
    ]) {
        for t in list {
            let v = format!("{}:{} {}", t.major(), t.minor(), t.rate());
            set(dir, file, &v, field)?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// hugetlb, network, rdma, unified

const HUGETLB: &str = "linux.resources.hugepageLimits";

fn hugetlb(cg: &Cgroup, limits: &[LinuxHugepageLimit]) -> Result<()> {
    if limits.is_empty() {
        return Ok(());
    }
    let d = need(cg, "hugetlb", HUGETLB)?;
    for l in limits {
        let size = l.page_size();
        if size.is_empty() || size.contains(['/', '.', '\0']) {
            return Err(invalid(HUGETLB, size, "not a page size such as \"2MB\""));
        }
        if l.limit() < 0 {
            return Err(invalid(HUGETLB, l.limit(), "a hugepage limit is a byte count"));
        }
        let value = l.limit().to_string();
        let file = if d.h.v2 {
            format!("hugetlb.{size}.max")
        } else {
            format!("hugetlb.{size}.limit_in_bytes")
        };
        if !fsio::exists(&d.path, &file) {
            return Err(invalid(HUGETLB, size, "the host has no hugepages of this size"));
        }
        set(&d.path, &file, &value, HUGETLB)?;
        if d.h.v2 {
            // As runc: the reservation limit too, where the kernel has it.
            let rsvd = format!("hugetlb.{size}.rsvd.max");
            if fsio::exists(&d.path, &rsvd) {
                set(&d.path, &rsvd, &value, HUGETLB)?;
            }
        }
    }
    Ok(())
}

const NET_CLASSID: &str = "linux.resources.network.classID";
const NET_PRIORITIES: &str = "linux.resources.network.priorities";

fn network(cg: &Cgroup, n: &LinuxNetwork) -> Result<()> {
    let prios = n.priorities().as_deref().unwrap_or_default();
    if n.class_id().is_none() && prios.is_empty() {
        return Ok(());
    }
    if cg.layout == Layout::V2 {
        let field = if n.class_id().is_some() {
            NET_CLASSID
        } else {
            NET_PRIORITIES
        };
        return Err(unsupported(field, "cgroup v2 has no net_cls or net_prio controller"));
    }
    if let Some(id) = n.class_id() {
        let d = need(cg, "net_cls", NET_CLASSID)?;
        set(&d.path, "net_cls.classid", &id.to_string(), NET_CLASSID)?;
    }
    if !prios.is_empty() {
        let d = need(cg, "net_prio", NET_PRIORITIES)?;
        for p in prios {
            if p.name().is_empty() || p.name().contains([' ', '\n', '\0']) {
                return Err(invalid(NET_PRIORITIES, p.name(), "not an interface name"));
            }
            let v = format!("{} {}", p.name(), p.priority());
            set(&d.path, "net_prio.ifpriomap", &v, NET_PRIORITIES)?;
        }
    }
    Ok(())
}

const RDMA: &str = "linux.resources.rdma";

fn rdma(cg: &Cgroup, list: &[(&String, &LinuxRdma)]) -> Result<()> {
    if list.is_empty() {
        return Ok(());
    }
    let d = need(cg, "rdma", RDMA)?;
    for (dev, l) in list {
        if dev.is_empty() || dev.contains([' ', '\n', '\0']) {
            return Err(invalid(RDMA, dev, "not an RDMA device name"));
        }
        // As runc: only the limits given; the same format on v1 and v2.
        let mut v = (*dev).clone();
        if let Some(h) = l.hca_handles() {
            v.push_str(&format!(" hca_handle={h}"));
        }
        if let Some(o) = l.hca_objects() {
            v.push_str(&format!(" hca_object={o}"));
        }
        set(&d.path, "rdma.max", &v, RDMA)?;
    }
    Ok(())
}

const UNIFIED: &str = "linux.resources.unified";

fn unified(cg: &Cgroup, list: &[(&String, &String)]) -> Result<()> {
    if list.is_empty() {
        return Ok(());
    }
    let Some(d) = cg.v2_dir() else {
        return Err(unsupported(UNIFIED, "cgroup v1 has no unified hierarchy"));
    };
    for (key, value) in list {
        let field = format!("{UNIFIED}.{key}");
        if key.is_empty() || key.contains(['/', '\0']) || key.starts_with('.') {
            return Err(CgroupError::Unsupported {
                field,
                reason: "a unified key is a file name in the cgroup directory",
            });
        }
        let controller = key.split('.').next().unwrap_or_default();
        if controller != "cgroup" && !d.h.has(controller) {
            let reason = if cg.layout == Layout::Hybrid && cg.dir_for(controller).is_some() {
                "the controller is bound to a v1 hierarchy on this hybrid host"
            } else {
                "the controller is not available in the cgroup v2 hierarchy"
            };
            return Err(CgroupError::Unsupported { field, reason });
        }
        let path = d.path.join(key.as_str());
        fsio::write_path(&path, value).map_err(|source| CgroupError::Apply {
            field: UNIFIED,
            path,
            value: (*value).clone(),
            source,
        })?;
    }
    Ok(())
}
