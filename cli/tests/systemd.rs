//! `--systemd-cgroup` against a stand-in for systemd's D-Bus Manager on a private bus: the
//! driver's calls, the cgroup it writes, and its errors. systemd does not run on these hosts,
//! so this checks ocirun's side of the protocol, not systemd's.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::{ocirun, run_status};
use serde_json::{Value, json};
use test_support::{Bundle, cgroup_mounts, require_prerequisites, unique_id};

/// A private bus and the fake systemd on it; both are killed, by pid, when dropped.
struct FakeSystemd {
    dir: tempfile::TempDir,
    address: String,
    children: Vec<Child>,
}

impl Drop for FakeSystemd {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The first line a child prints.
fn first_line(child: &mut Child) -> String {
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().expect("piped stdout"))
        .read_line(&mut line)
        .expect("read the child's first line");
    line.trim().to_string()
}

impl FakeSystemd {
    fn start() -> FakeSystemd {
        let dir = tempfile::Builder::new().prefix("ocirun-sd-").tempdir().unwrap();
        let conf = dir.path().join("bus.conf");
        std::fs::write(
            &conf,
            format!(
                r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={}/bus</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
"#,
                dir.path().display()
            ),
        )
        .unwrap();
        let mut children = Vec::new();
        let mut bus = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", conf.display()))
            .args(["--nofork", "--print-address"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start dbus-daemon (.ci/run installs it)");
        let address = first_line(&mut bus);
        children.push(bus);
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/systemd/fake_systemd.py");
        let mut fake = Command::new("/usr/bin/python3")
            .arg(script)
            .arg(&address)
            .arg(dir.path().join("calls.jsonl"))
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the fake systemd (python3-dbus, python3-gi)");
        let ready = first_line(&mut fake);
        children.push(fake);
        assert_eq!(ready, "ready", "the fake systemd did not start");
        FakeSystemd { dir, address, children }
    }

    /// The calls it has received, in order.
    fn calls(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.path().join("calls.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn ocirun(&self, root: &Path) -> Command {
        let mut c = ocirun(root);
        c.env("DBUS_SYSTEM_BUS_ADDRESS", &self.address).arg("--systemd-cgroup");
        c
    }
}

/// Removes a test slice's cgroup directories (what systemd would keep) when dropped.
struct Slice(String);

impl Drop for Slice {
    fn drop(&mut self) {
        for m in cgroup_mounts() {
            let _ = std::fs::remove_dir(m.join(&self.0));
        }
    }
}

fn scope_dirs(path: &str) -> Vec<PathBuf> {
    cgroup_mounts()
        .into_iter()
        .map(|m| m.join(path.trim_start_matches('/')))
        .collect()
}

#[test]
fn the_systemd_driver_starts_and_stops_a_delegated_scope_holding_the_init() {
    require_prerequisites();
    let fake = FakeSystemd::start();
    let slice = format!("ocirunsd{}.slice", std::process::id());
    let _s = Slice(slice.clone());
    let id = unique_id("sd");
    let scope_path = format!("/{slice}/ocirun-{id}.scope");
    let mut b = Bundle::new(&["cat", "/proc/self/cgroup"]);
    // Without a cgroup namespace the container shows its cgroup's full path.
    b.spec["linux"]["namespaces"] = json!([{"type": "pid"}, {"type": "mount"}, {"type": "uts"}]);
    b.spec["mounts"] = json!([{"destination": "/proc", "type": "proc", "source": "proc"}]);
    b.spec["linux"]["cgroupsPath"] = json!(format!("{slice}:ocirun:{id}"));
    b.spec["linux"]["resources"]["pids"] = json!({"limit": 77});
    b.write();
    let out = fake
        .ocirun(&b.state_root())
        .args(["run", "--bundle"])
        .arg(b.path())
        .arg(&id)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stderr}");
    // In the scope's cgroup in every hierarchy.
    for line in stdout.lines() {
        assert!(
            line.ends_with(&format!(":{scope_path}")),
            "{line} is not in {scope_path}: {stdout}"
        );
    }
    let calls = fake.calls();
    assert_eq!(calls.len(), 2, "{calls:?}");
    let start = &calls[0];
    assert_eq!(start["call"], "start");
    assert_eq!(start["unit"], format!("ocirun-{id}.scope"));
    assert_eq!(start["mode"], "replace");
    assert_eq!(start["props"]["Slice"], slice.as_str());
    assert_eq!(start["props"]["Delegate"], true);
    let pids = start["props"]["PIDs"].as_array().expect("PIDs");
    assert!(pids.len() == 1 && pids[0].as_i64().is_some_and(|p| p > 1), "{start}");
    assert_eq!(
        calls[1],
        json!({"call": "stop", "unit": format!("ocirun-{id}.scope"), "mode": "replace"})
    );
    assert!(
        scope_dirs(&scope_path).iter().all(|d| !d.exists()),
        "the scope's cgroup was left"
    );
}

#[test]
fn a_scope_systemd_fails_to_start_is_a_clear_error_and_leaves_nothing() {
    require_prerequisites();
    let fake = FakeSystemd::start();
    let slice = format!("ocirunsdf{}.slice", std::process::id());
    let _s = Slice(slice.clone());
    let id = unique_id("sdfail");
    let mut b = Bundle::new(&["true"]);
    b.spec["linux"]["cgroupsPath"] = json!(format!("{slice}:ocirun:fail-{id}"));
    b.write();
    let (ok, err) = run_status(
        fake.ocirun(&b.state_root())
            .args(["create", "--bundle"])
            .arg(b.path())
            .arg(&id),
    );
    assert!(!ok);
    assert!(
        err.contains(&format!("systemd cgroup driver: start ocirun-fail-{id}.scope")) && err.contains("failed"),
        "{err}"
    );
    assert!(!b.state_root().join(&id).exists(), "a state directory was left");
    let scope_path = format!("/{slice}/ocirun-fail-{id}.scope");
    assert!(scope_dirs(&scope_path).iter().all(|d| !d.exists()), "a cgroup was left");
}

/// Issue 17: `create` killed after systemd started its scope and before the state naming the
/// init was written (SIGKILL injected by strace at its second rename; the first is its
/// intent's) leaves nothing `delete --force` cannot find: the intent create wrote before it
/// made anything names the unit, which delete stops, and the cgroup, which it removes.
#[test]
fn a_create_killed_after_its_scope_started_is_removed_by_delete_force() {
    require_prerequisites();
    let fake = FakeSystemd::start();
    let slice = format!("ocirunsdk{}.slice", std::process::id());
    let _s = Slice(slice.clone());
    let id = unique_id("sdkill");
    let mut b = Bundle::new(&["sleep", "100"]);
    b.spec["linux"]["cgroupsPath"] = json!(format!("{slice}:ocirun:{id}"));
    b.write();
    let root = b.state_root();
    let _ = Command::new("timeout")
        .args(["-s", "KILL", "60", "strace", "-f", "-o", "/dev/null"])
        .args(["-e", "trace=rename", "-e", "inject=rename:signal=SIGKILL:when=2"])
        .env("DBUS_SYSTEM_BUS_ADDRESS", &fake.address)
        .arg(env!("CARGO_BIN_EXE_ocirun"))
        .arg("--root")
        .arg(&root)
        .args(["--systemd-cgroup", "create", "--bundle"])
        .arg(b.path())
        .arg(&id)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run strace (.ci/run installs it)");
    let unit = format!("ocirun-{id}.scope");
    let calls = fake.calls();
    assert!(
        calls.iter().any(|c| c["call"] == "start" && c["unit"] == unit.as_str()),
        "create was killed before it started the scope: {calls:?}"
    );
    // Killed before the state naming the init: what is recorded is the intent (no init yet),
    // shown as stopped, its creator being gone.
    let state: Value = serde_json::from_slice(&run_ok_stdout(&fake, &root, &["state", &id])).unwrap();
    assert_eq!(state["status"], "stopped", "{state}");
    assert_eq!(state["pid"], 0, "{state}");
    let (ok, err) = run_status(fake.ocirun(&root).args(["delete", "--force", &id]));
    assert!(ok, "{err}");
    let calls = fake.calls();
    assert_eq!(
        calls.last(),
        Some(&json!({"call": "stop", "unit": unit, "mode": "replace"})),
        "{calls:?}"
    );
    let scope_path = format!("/{slice}/{unit}");
    assert!(scope_dirs(&scope_path).iter().all(|d| !d.exists()), "a cgroup was left");
    assert!(!root.join(&id).exists(), "the state directory was left");
}

/// The stdout of `ocirun <args>` with the systemd driver, which must succeed.
fn run_ok_stdout(fake: &FakeSystemd, root: &Path, args: &[&str]) -> Vec<u8> {
    let out = fake.ocirun(root).args(args).stdin(Stdio::null()).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}
