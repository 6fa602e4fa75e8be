//! Scheduling attributes of the container process, compiled in the parent:
//! `process.ioPriority`, `process.scheduler`, `process.execCPUAffinity` and
//! `linux.personality`.

use oci_spec::runtime::{
    ExecCPUAffinity, IOPriorityClass, LinuxIOPriority, LinuxPersonality, LinuxPersonalityDomain, LinuxSchedulerFlag,
    LinuxSchedulerPolicy, Scheduler,
};

use ocirun_sys::process::{CpuSet, SchedAttr};

use crate::{Error, Result};

/// `ioprio_set`'s value for `process.ioPriority`: the class shifted by 13, or'ed with the level.
pub(crate) fn io_priority(p: &LinuxIOPriority) -> Result<libc::c_int> {
    let class = match p.class() {
        IOPriorityClass::IoprioClassRt => 1,
        IOPriorityClass::IoprioClassBe => 2,
        IOPriorityClass::IoprioClassIdle => 3,
    };
    if !(0..=7).contains(&p.priority()) {
        return Err(Error::spec(
            "process.ioPriority.priority",
            format!("{} is outside 0..7", p.priority()),
        ));
    }
    Ok((class << 13) | p.priority() as libc::c_int)
}

/// The kernel's `sched_attr` for `process.scheduler`, validated as runc does.
pub(crate) fn scheduler(s: &Scheduler) -> Result<SchedAttr> {
    let policy = match s.policy() {
        LinuxSchedulerPolicy::SchedOther => libc::SCHED_OTHER,
        LinuxSchedulerPolicy::SchedFifo => libc::SCHED_FIFO,
        LinuxSchedulerPolicy::SchedRr => libc::SCHED_RR,
        LinuxSchedulerPolicy::SchedBatch => libc::SCHED_BATCH,
        LinuxSchedulerPolicy::SchedIdle => libc::SCHED_IDLE,
        LinuxSchedulerPolicy::SchedDeadline => 6,
        LinuxSchedulerPolicy::SchedIso => {
            return Err(Error::spec(
                "process.scheduler.policy",
                "SCHED_ISO is not implemented by Linux",
            ));
        }
    };
    let nice = s.nice().unwrap_or(0);
    if !(-20..=19).contains(&nice) {
        return Err(Error::spec(
            "process.scheduler.nice",
            format!("{nice} is outside -20..19"),
        ));
    }
    let priority = s.priority().unwrap_or(0);
    let realtime = matches!(
        *s.policy(),
        LinuxSchedulerPolicy::SchedFifo | LinuxSchedulerPolicy::SchedRr
    );
    if priority != 0 && !realtime {
        return Err(Error::spec(
            "process.scheduler.priority",
            "can only be set for SCHED_FIFO or SCHED_RR",
        ));
    }
    if realtime && !(1..=99).contains(&priority) {
        return Err(Error::spec(
            "process.scheduler.priority",
            format!("{priority} is outside 1..99, the range of SCHED_FIFO and SCHED_RR"),
        ));
    }
    let (runtime, deadline, period) = (
        s.runtime().unwrap_or(0),
        s.deadline().unwrap_or(0),
        s.period().unwrap_or(0),
    );
    if *s.policy() != LinuxSchedulerPolicy::SchedDeadline && (runtime != 0 || deadline != 0 || period != 0) {
        return Err(Error::spec(
            "process.scheduler",
            "runtime, deadline and period can only be set for SCHED_DEADLINE",
        ));
    }
    let mut flags = 0u64;
    for f in s.flags().iter().flatten() {
        flags |= match f {
            LinuxSchedulerFlag::SchedResetOnFork => 0x01,
            LinuxSchedulerFlag::SchedFlagReclaim => 0x02,
            LinuxSchedulerFlag::SchedFlagDLOverrun => 0x04,
            LinuxSchedulerFlag::SchedFlagKeepPolicy => 0x08,
            LinuxSchedulerFlag::SchedFlagKeepParams => 0x10,
            LinuxSchedulerFlag::SchedFlagUtilClampMin => 0x20,
            LinuxSchedulerFlag::SchedFlagUtilClampMax => 0x40,
        };
    }
    Ok(SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        policy: policy as u32,
        flags,
        nice,
        priority: priority as u32,
        runtime,
        deadline,
        period,
        util_min: 0,
        util_max: 0,
    })
}

/// The name of a scheduling policy number, for errors.
pub(crate) fn policy_name(policy: u32) -> &'static str {
    match policy as libc::c_int {
        libc::SCHED_OTHER => "SCHED_OTHER",
        libc::SCHED_FIFO => "SCHED_FIFO",
        libc::SCHED_RR => "SCHED_RR",
        libc::SCHED_BATCH => "SCHED_BATCH",
        libc::SCHED_IDLE => "SCHED_IDLE",
        6 => "SCHED_DEADLINE",
        _ => "?",
    }
}

/// The CPUs this host can ever have, from `/sys/devices/system/cpu/possible`.
fn possible_cpus() -> Option<Vec<usize>> {
    let text = std::fs::read_to_string("/sys/devices/system/cpu/possible").ok()?;
    parse_list(text.trim(), "CPU").ok()
}

/// Parses a list such as `0-3,7` (of CPUs, of NUMA nodes: `what`) into the numbers it names.
pub(crate) fn parse_list(list: &str, what: &str) -> std::result::Result<Vec<usize>, String> {
    let mut cpus = Vec::new();
    for part in list.split(',') {
        let num = |s: &str| {
            s.parse::<usize>()
                .map_err(|_| format!("{s:?} in {list:?} is not a {what} number"))
        };
        match part.split_once('-') {
            Some((lo, hi)) => {
                let (lo, hi) = (num(lo)?, num(hi)?);
                if lo > hi {
                    return Err(format!("range {part:?} in {list:?} is backwards"));
                }
                cpus.extend(lo..=hi);
            }
            None => cpus.push(num(part)?),
        }
    }
    Ok(cpus)
}

/// A cpu list of `process.execCPUAffinity` as a CPU set; an empty list is `None`.
fn cpu_set(field: &str, list: Option<&str>) -> Result<Option<CpuSet>> {
    let Some(list) = list.filter(|l| !l.is_empty()) else {
        return Ok(None);
    };
    let cpus = parse_list(list, "CPU").map_err(|e| Error::spec(field, e))?;
    let possible = possible_cpus();
    let mut set = CpuSet::empty();
    for cpu in cpus {
        let exists = possible.as_ref().is_none_or(|p| p.contains(&cpu));
        // A CPU beyond the set's capacity is EINVAL.
        if !exists || set.add(cpu).is_err() {
            return Err(Error::spec(field, format!("CPU {cpu} does not exist on this host")));
        }
    }
    Ok(Some(set))
}

/// The `initial` CPU set of `process.execCPUAffinity`, and the set the process runs on
/// once in its cgroup: `final`, else every CPU of its cpuset (runc resets it too, since
/// the kernel keeps an affinity across a cgroup move; [`CpuSet::all`], which the kernel
/// narrows to the CPUs of the task's cpuset).
pub(crate) fn cpu_affinity(a: Option<&ExecCPUAffinity>) -> Result<(Option<CpuSet>, CpuSet)> {
    let Some(a) = a else {
        return Ok((None, CpuSet::all()));
    };
    Ok((
        cpu_set("process.execCPUAffinity.initial", a.initial().as_deref())?,
        cpu_set("process.execCPUAffinity.final", a.cpu_affinity_final().as_deref())?.unwrap_or_else(CpuSet::all),
    ))
}

/// The `personality(2)` value for `linux.personality`.
pub(crate) fn personality(p: &LinuxPersonality) -> Result<libc::c_ulong> {
    if let Some(flag) = p.flags().iter().flatten().next() {
        return Err(Error::spec(
            "linux.personality.flags",
            format!("{flag:?}: the runtime spec defines no personality flags"),
        ));
    }
    Ok(match p.domain() {
        LinuxPersonalityDomain::PerLinux => 0x0000,
        LinuxPersonalityDomain::PerLinux32 => 0x0008,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_parse_ranges_and_singles() {
        assert_eq!(parse_list("0-3,7", "CPU").unwrap(), vec![0, 1, 2, 3, 7]);
        assert_eq!(parse_list("1", "CPU").unwrap(), vec![1]);
        assert!(parse_list("3-1", "CPU").unwrap_err().contains("backwards"));
        assert!(parse_list("a", "CPU").is_err());
        assert!(parse_list("1,,2", "CPU").is_err());
    }

    #[test]
    fn cpu_that_does_not_exist_names_the_field() {
        let err = cpu_set("process.execCPUAffinity.final", Some("100000")).unwrap_err();
        assert!(err.to_string().contains("process.execCPUAffinity.final"), "{err}");
        assert!(cpu_set("x", Some("")).unwrap().is_none());
        let set = cpu_set("x", Some("0")).unwrap().unwrap();
        assert!(set.contains(0) && !set.contains(1));
    }

    #[test]
    fn scheduler_is_validated_as_runc_does() {
        let s: Scheduler = serde_json::from_str(r#"{"policy": "SCHED_OTHER", "priority": 5}"#).unwrap();
        assert!(
            scheduler(&s)
                .unwrap_err()
                .to_string()
                .contains("process.scheduler.priority")
        );
        let s: Scheduler = serde_json::from_str(r#"{"policy": "SCHED_BATCH", "runtime": 5}"#).unwrap();
        assert!(scheduler(&s).unwrap_err().to_string().contains("SCHED_DEADLINE"));
        let s: Scheduler = serde_json::from_str(r#"{"policy": "SCHED_OTHER", "nice": 20}"#).unwrap();
        assert!(
            scheduler(&s)
                .unwrap_err()
                .to_string()
                .contains("process.scheduler.nice")
        );
        let s: Scheduler =
            serde_json::from_str(r#"{"policy": "SCHED_RR", "priority": 10, "flags": ["SCHED_RESET_ON_FORK"]}"#)
                .unwrap();
        let a = scheduler(&s).unwrap();
        assert_eq!((a.policy, a.priority, a.flags, a.size), (2, 10, 1, 56));
    }

    #[test]
    fn io_priority_packs_class_and_level() {
        let p: LinuxIOPriority = serde_json::from_str(r#"{"class": "IOPRIO_CLASS_BE", "priority": 5}"#).unwrap();
        assert_eq!(io_priority(&p).unwrap(), (2 << 13) | 5);
        let p: LinuxIOPriority = serde_json::from_str(r#"{"class": "IOPRIO_CLASS_RT", "priority": 8}"#).unwrap();
        assert!(
            io_priority(&p)
                .unwrap_err()
                .to_string()
                .contains("process.ioPriority.priority")
        );
    }
}
