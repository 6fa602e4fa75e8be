//! The systemd cgroup driver's calls: a transient scope unit per container, started with
//! the init in it (`Delegate=yes`, so the runtime writes the resources itself, as runc does)
//! and stopped on delete, each waited for through systemd's JobRemoved signal. The limits are
//! unit properties too (MemoryMax, TasksMax, CPUQuotaPerSecUSec, ...), as runc sets them:
//! systemd owns the scope's own cgroup files and rewrites them from the unit on every reload.

use std::time::Duration;

use oci_spec::runtime::LinuxResources;

use crate::dbus::{Connection, Kind, Reader, Value, Writer, system_bus_path, user_bus_path};
use crate::error::{CgroupError, Result};

const SYSTEMD: &str = "org.freedesktop.systemd1";
const MANAGER_PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";

/// How long one call or job may take before the driver gives up.
const TIMEOUT: Duration = Duration::from_secs(30);

fn failed(op: &'static str, unit: &str, reason: impl Into<String>) -> CgroupError {
    CgroupError::SystemdCall {
        op,
        unit: unit.to_string(),
        reason: reason.into(),
    }
}

/// The bus the driver talks to: the system bus, or with `user` the caller's user bus (its
/// own systemd, as runc's rootless driver). An error names the missing user bus.
fn bus_path(op: &'static str, unit: &str, user: bool) -> Result<String> {
    if !user {
        return Ok(system_bus_path());
    }
    user_bus_path().ok_or_else(|| {
        failed(
            op,
            unit,
            "no user bus: neither DBUS_SESSION_BUS_ADDRESS nor XDG_RUNTIME_DIR is set (a rootless \
             --systemd-cgroup needs the user's systemd: a login session or `loginctl enable-linger`)",
        )
    })
}

/// Connects to the system bus (or with `user` the user bus) and says Hello.
fn open(op: &'static str, unit: &str, user: bool) -> Result<Connection> {
    let path = bus_path(op, unit, user)?;
    let which = if user { "user bus" } else { "system bus" };
    Connection::open(&path, TIMEOUT).map_err(|e| failed(op, unit, format!("{which} {path}: {e}")))
}

/// Connects to the bus and asks systemd to send its job signals.
fn connect(op: &'static str, unit: &str, user: bool) -> Result<Connection> {
    let mut c = open(op, unit, user)?;
    let io = |e: std::io::Error| failed(op, unit, e.to_string());
    let mut rule = Writer::default();
    rule.str("type='signal',sender='org.freedesktop.systemd1',interface='org.freedesktop.systemd1.Manager',member='JobRemoved'");
    let m = c
        .call(
            "org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus",
            "AddMatch",
            "s",
            rule,
        )
        .map_err(io)?;
    check(op, unit, &m)?;
    let m = c
        .call(SYSTEMD, MANAGER_PATH, MANAGER, "Subscribe", "", Writer::default())
        .map_err(io)?;
    check(op, unit, &m)?;
    Ok(c)
}

/// The cgroup of the user's systemd itself (its Manager's ControlGroup property, e.g.
/// "/user.slice/user-1000.slice/user@1000.service"): its units' cgroups are below it, as
/// runc's rootless driver finds them.
pub(crate) fn user_manager_cgroup(unit: &str) -> Result<String> {
    let mut c = open("resolve", unit, true)?;
    let mut body = Writer::default();
    body.str(MANAGER);
    body.str("ControlGroup");
    let m = c
        .call(
            SYSTEMD,
            MANAGER_PATH,
            "org.freedesktop.DBus.Properties",
            "Get",
            "ss",
            body,
        )
        .map_err(|e| failed("resolve", unit, format!("user manager's ControlGroup: {e}")))?;
    check("resolve", unit, &m)?;
    let cg = Reader::new(&m.body)
        .variant_str()
        .filter(|p| p.starts_with('/') && !p.split('/').any(|c| c == ".."))
        .ok_or_else(|| failed("resolve", unit, "the user manager's ControlGroup is not a cgroup path"))?;
    Ok(cg)
}

/// The error of an error reply: its name and message.
fn check(op: &'static str, unit: &str, m: &crate::dbus::Message) -> Result<()> {
    if m.kind != Kind::Error {
        return Ok(());
    }
    let text = Reader::new(&m.body).str().unwrap_or_default();
    Err(failed(
        op,
        unit,
        format!("{}: {text}", m.error_name.as_deref().unwrap_or("error")),
    ))
}

/// Waits for the JobRemoved signal of `job`; an error unless its result is "done".
fn wait_job(c: &mut Connection, op: &'static str, unit: &str, job: &str) -> Result<()> {
    loop {
        let m = c
            .next_signal()
            .map_err(|e| failed(op, unit, format!("waiting for job {job}: {e}")))?;
        if m.member.as_deref() != Some("JobRemoved") {
            continue;
        }
        let mut r = Reader::new(&m.body);
        let (_id, path, _unit, result) = (r.u32(), r.str(), r.str(), r.str());
        if path.as_deref() == Some(job) {
            return match result.as_deref() {
                Some("done") => Ok(()),
                other => Err(failed(op, unit, format!("job {job} ended {:?}", other.unwrap_or("?")))),
            };
        }
    }
}

/// Starts `unit` (a scope) in `slice` with `pid` in it, delegated to the runtime; with `user`
/// by the caller's own systemd.
/// `limits` are the unit properties of the container's resources ([`properties`]).
pub(crate) fn start_scope(
    unit: &str,
    slice: &str,
    pid: u32,
    description: &str,
    limits: Vec<(&'static str, Value)>,
    user: bool,
) -> Result<()> {
    let mut c = connect("start", unit, user)?;
    let mut props = vec![
        ("Description", Value::Str(description.into())),
        ("Slice", Value::Str(slice.into())),
        ("Delegate", Value::Bool(true)),
        ("DefaultDependencies", Value::Bool(false)),
        ("PIDs", Value::U32Array(vec![pid])),
    ];
    props.extend(limits);
    let mut body = Writer::default();
    body.str(unit);
    body.str("replace");
    write_properties(&mut body, &props);
    body.array(8, |_| {});
    let m = c
        .call(
            SYSTEMD,
            MANAGER_PATH,
            MANAGER,
            "StartTransientUnit",
            "ssa(sv)a(sa(sv))",
            body,
        )
        .map_err(|e| failed("start", unit, e.to_string()))?;
    check("start", unit, &m)?;
    let job = Reader::new(&m.body)
        .str()
        .ok_or_else(|| failed("start", unit, "no job in the reply"))?;
    wait_job(&mut c, "start", unit, &job)
}

/// Sets the unit properties `props` of the running `unit` (runtime only, as runc's update);
/// `user` as for [`start_scope`].
pub(crate) fn set_properties(unit: &str, props: &[(&'static str, Value)], user: bool) -> Result<()> {
    if props.is_empty() {
        return Ok(());
    }
    let mut c = connect("update", unit, user)?;
    let mut body = Writer::default();
    body.str(unit);
    body.u32(1);
    write_properties(&mut body, props);
    let m = c
        .call(SYSTEMD, MANAGER_PATH, MANAGER, "SetUnitProperties", "sba(sv)", body)
        .map_err(|e| failed("update", unit, e.to_string()))?;
    check("update", unit, &m)
}

/// An `a(sv)` of unit properties.
fn write_properties(body: &mut Writer, props: &[(&'static str, Value)]) {
    body.array(8, |w| {
        for (name, v) in props {
            w.struct_start();
            w.str(name);
            w.variant(v);
        }
    });
}

/// The unit properties runc sets for `res` (its genV1/genV2ResourcesProperties): what systemd
/// writes into the scope's cgroup whenever it reloads. Values the cgroup files would refuse
/// are refused here too, naming the field.
pub(crate) fn properties(res: &LinuxResources, v2: bool) -> Result<Vec<(&'static str, Value)>> {
    /// A limit as the cgroup files take it (checked as they check it): -1 is unlimited
    /// (systemd's infinity), 0 "not set".
    fn limit(field: &'static str, v: i64) -> Result<Option<u64>> {
        Ok(match crate::resources::check_bytes(field, Some(v))? {
            0 => None,
            -1 => Some(u64::MAX),
            v => Some(v as u64),
        })
    }
    let mut props = Vec::new();
    if let Some(m) = res.memory() {
        let mem = limit(crate::resources::MEM_LIMIT, m.limit().unwrap_or(0))?;
        if let Some(v) = mem {
            props.push((if v2 { "MemoryMax" } else { "MemoryLimit" }, Value::U64(v)));
        }
        if v2 {
            if let Some(v) = limit(crate::resources::MEM_RESERVATION, m.reservation().unwrap_or(0))? {
                props.push(("MemoryLow", Value::U64(v)));
            }
            let swap = m.swap().unwrap_or(0);
            if swap != 0 {
                // Swap alone in v2 (0 when the spec's swap equals its limit: no swap).
                let v = crate::resources::swap_to_v2(swap, m.limit().unwrap_or(0))?;
                let v = limit(crate::resources::MEM_SWAP, v)?.unwrap_or(0);
                props.push(("MemorySwapMax", Value::U64(v)));
            }
        }
    }
    if let Some(p) = res.pids()
        && let Some(v) = limit(crate::resources::PIDS_LIMIT, p.limit())?
    {
        props.push(("TasksMax", Value::U64(v)));
    }
    if let Some(c) = res.cpu() {
        if let Some(shares) = c.shares().filter(|s| *s != 0) {
            let v = if v2 {
                crate::resources::shares_to_weight(shares)
            } else {
                shares
            };
            props.push((if v2 { "CPUWeight" } else { "CPUShares" }, Value::U64(v)));
        }
        let quota = c.quota().unwrap_or(0);
        let period = c.period().unwrap_or(0);
        if period != 0 {
            props.push(("CPUQuotaPeriodUSec", Value::U64(period)));
        }
        if quota != 0 || period != 0 {
            let mut per_sec = u64::MAX;
            if quota > 0 {
                let period = if period == 0 { 100_000 } else { period };
                per_sec = (quota as u64).saturating_mul(1_000_000) / period;
                // systemd keeps the quota in steps of 1% of a CPU (10 ms a second): round up.
                per_sec = per_sec.div_ceil(10_000) * 10_000;
            }
            props.push(("CPUQuotaPerSecUSec", Value::U64(per_sec)));
        }
        if v2 {
            if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
                props.push((
                    "AllowedCPUs",
                    Value::Bytes(list_mask("linux.resources.cpu.cpus", cpus)?),
                ));
            }
            if let Some(mems) = c.mems().as_deref().filter(|s| !s.is_empty()) {
                props.push((
                    "AllowedMemoryNodes",
                    Value::Bytes(list_mask("linux.resources.cpu.mems", mems)?),
                ));
            }
        }
    }
    Ok(props)
}

/// A cpuset list ("0-3,6") as systemd's bitmask: bit `n % 8` of byte `n / 8` for each `n`.
fn list_mask(field: &'static str, list: &str) -> Result<Vec<u8>> {
    let bad = |reason| CgroupError::InvalidValue {
        field,
        value: list.to_string(),
        reason,
    };
    let mut mask = Vec::new();
    for part in list.split(',').map(str::trim) {
        let (lo, hi) = part.split_once('-').unwrap_or((part, part));
        let (Ok(lo), Ok(hi)) = (lo.trim().parse::<usize>(), hi.trim().parse::<usize>()) else {
            return Err(bad("not a list of numbers and ranges"));
        };
        if lo > hi || hi >= 8192 {
            return Err(bad("a range runs backwards or past 8191"));
        }
        for n in lo..=hi {
            if mask.len() <= n / 8 {
                mask.resize(n / 8 + 1, 0);
            }
            mask[n / 8] |= 1 << (n % 8);
        }
    }
    Ok(mask)
}

/// Stops `unit`; a unit systemd no longer knows counts as stopped.
pub(crate) fn stop_unit(unit: &str, user: bool) -> Result<()> {
    let mut c = connect("stop", unit, user)?;
    let mut body = Writer::default();
    body.str(unit);
    body.str("replace");
    let m = c
        .call(SYSTEMD, MANAGER_PATH, MANAGER, "StopUnit", "ss", body)
        .map_err(|e| failed("stop", unit, e.to_string()))?;
    if m.kind == Kind::Error && m.error_name.as_deref() == Some("org.freedesktop.systemd1.NoSuchUnit") {
        return Ok(());
    }
    check("stop", unit, &m)?;
    let job = Reader::new(&m.body)
        .str()
        .ok_or_else(|| failed("stop", unit, "no job in the reply"))?;
    wait_job(&mut c, "stop", unit, &job)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(json: &str) -> LinuxResources {
        serde_json::from_str(json).expect("resources")
    }

    fn names_and_values(p: &[(&'static str, Value)]) -> Vec<(&'static str, String)> {
        p.iter()
            .map(|(n, v)| {
                let v = match v {
                    Value::U64(n) => n.to_string(),
                    Value::Bytes(b) => format!("{b:?}"),
                    _ => "?".into(),
                };
                (*n, v)
            })
            .collect()
    }

    #[test]
    fn resources_become_the_unit_properties_runc_sets() {
        let r = res(r#"{"memory":{"limit":67108864,"reservation":1048576,"swap":134217728},
            "pids":{"limit":-1},
            "cpu":{"shares":1024,"quota":25000,"period":100000,"cpus":"0-2,9","mems":"0"}}"#);
        assert_eq!(
            names_and_values(&properties(&r, true).unwrap()),
            [
                ("MemoryMax", "67108864".into()),
                ("MemoryLow", "1048576".into()),
                ("MemorySwapMax", "67108864".into()),
                ("TasksMax", u64::MAX.to_string()),
                ("CPUWeight", "39".into()),
                ("CPUQuotaPeriodUSec", "100000".into()),
                ("CPUQuotaPerSecUSec", "250000".into()),
                ("AllowedCPUs", "[7, 2]".into()),
                ("AllowedMemoryNodes", "[1]".into()),
            ]
        );
        // A quota of 1.5% of a CPU is rounded up to systemd's 1% steps; v1 names.
        let r = res(r#"{"memory":{"limit":-1},"cpu":{"shares":512,"quota":1500}}"#);
        assert_eq!(
            names_and_values(&properties(&r, false).unwrap()),
            [
                ("MemoryLimit", u64::MAX.to_string()),
                ("CPUShares", "512".into()),
                ("CPUQuotaPerSecUSec", "20000".into()),
            ]
        );
        assert!(properties(&res(r#"{"memory":{"limit":-5}}"#), true).is_err());
        assert!(properties(&res(r#"{"cpu":{"cpus":"3-1"}}"#), true).is_err());
        assert!(properties(&res(r#"{}"#), true).unwrap().is_empty());
    }
}
