//! The systemd cgroup driver's calls: a transient scope unit per container, started with
//! the init in it (`Delegate=yes`, so the runtime writes the resources itself, as runc does)
//! and stopped on delete, each waited for through systemd's JobRemoved signal.

use std::time::Duration;

use crate::dbus::{Connection, Kind, Reader, Value, Writer, system_bus_path};
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

/// Connects to the system bus and asks systemd to send its job signals.
fn connect(op: &'static str, unit: &str) -> Result<Connection> {
    let io = |e: std::io::Error| failed(op, unit, format!("system bus {}: {e}", system_bus_path()));
    let mut c = Connection::system(&system_bus_path(), TIMEOUT).map_err(io)?;
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

/// Starts `unit` (a scope) in `slice` with `pid` in it, delegated to the runtime.
pub(crate) fn start_scope(unit: &str, slice: &str, pid: u32, description: &str) -> Result<()> {
    let mut c = connect("start", unit)?;
    let props = [
        ("Description", Value::Str(description.into())),
        ("Slice", Value::Str(slice.into())),
        ("Delegate", Value::Bool(true)),
        ("DefaultDependencies", Value::Bool(false)),
        ("PIDs", Value::U32Array(vec![pid])),
    ];
    let mut body = Writer::default();
    body.str(unit);
    body.str("replace");
    body.array(8, |w| {
        for (name, v) in &props {
            w.struct_start();
            w.str(name);
            w.variant(v);
        }
    });
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

/// Stops `unit`; a unit systemd no longer knows counts as stopped.
pub(crate) fn stop_unit(unit: &str) -> Result<()> {
    let mut c = connect("stop", unit)?;
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
