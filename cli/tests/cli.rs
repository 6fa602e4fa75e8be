//! End-to-end tests of the `ocirun` binary: runc's commands, flags, output and exit codes.

mod common;

use std::process::{Command, Stdio};

use common::{Guard, ocirun, run_detached, run_ok, state};
use serde_json::{Value, json};
use test_support::{Bundle, require_prerequisites, unique_id};

#[test]
fn run_prints_output_and_returns_the_exit_code() {
    require_prerequisites();
    let b = Bundle::new(&["sh", "-c", "echo hello from $(hostname); exit 7"]);
    b.write();
    let id = unique_id("clirun");
    let _g = Guard(b.state_root(), id.clone());
    let out = ocirun(&b.state_root())
        .args(["run", "--bundle"])
        .arg(b.path())
        .arg(&id)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello from ocirun\n");
    assert_eq!(out.status.code(), Some(7));
    // run deletes the container after it exits.
    assert!(!b.state_root().join(&id).exists());
}

#[test]
fn create_start_state_kill_delete() {
    require_prerequisites();
    let b = Bundle::new(&["sleep", "1000"]);
    b.write();
    let root = b.state_root();
    let id = unique_id("clilife");
    let _g = Guard(root.clone(), id.clone());
    let pid_file = b.path().join("pid");
    run_detached(
        ocirun(&root)
            .args(["create", "-b"])
            .arg(b.path())
            .arg("--pid-file")
            .arg(&pid_file)
            .arg(&id),
    );
    let st = state(&root, &id);
    assert_eq!(st["status"], "created");
    assert_eq!(st["id"], json!(id));
    assert_eq!(st["bundle"], json!(b.path().canonicalize().unwrap()));
    let pid: i64 = std::fs::read_to_string(&pid_file).unwrap().parse().unwrap();
    assert_eq!(st["pid"], json!(pid));

    let out = ocirun(&root).args(["delete", &id]).output().unwrap();
    assert!(out.status.success(), "a created container can be deleted");
    run_detached(ocirun(&root).args(["create", "-b"]).arg(b.path()).arg(&id));
    run_detached(ocirun(&root).args(["start", &id]));
    assert_eq!(state(&root, &id)["status"], "running");
    let out = ocirun(&root).args(["start", &id]).output().unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("running"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = ocirun(&root).args(["delete", &id]).output().unwrap();
    assert!(!out.status.success(), "a running container needs --force");

    let list = run_ok(ocirun(&root).args(["list", "--format", "json"]));
    let list: Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(list[0]["id"], json!(id));
    assert_eq!(list[0]["status"], "running");

    run_ok(ocirun(&root).args(["kill", &id, "KILL"]));
    for _ in 0..200 {
        if state(&root, &id)["status"] == "stopped" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(state(&root, &id)["status"], "stopped");
    let out = ocirun(&root).args(["kill", &id, "TERM"]).output().unwrap();
    assert!(!out.status.success(), "kill of a stopped container fails");
    run_ok(ocirun(&root).args(["delete", &id]));
    let out = ocirun(&root).args(["state", &id]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
}

#[test]
fn errors_are_logged_as_runc_json_lines() {
    require_prerequisites();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log.json");
    let out = ocirun(dir.path())
        .arg("--log")
        .arg(&log)
        .args(["--log-format", "json", "state", "nope"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = std::fs::read_to_string(&log).unwrap();
    let line: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(line["level"], "error");
    assert!(line["msg"].as_str().unwrap().contains("nope"));
    assert!(line["time"].as_str().is_some());
}

#[test]
fn spec_writes_a_config_the_runtime_accepts() {
    require_prerequisites();
    let dir = tempfile::tempdir().unwrap();
    run_ok(ocirun(dir.path()).args(["spec", "--bundle"]).arg(dir.path()));
    let spec: Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join("config.json")).unwrap()).unwrap();
    assert_eq!(spec["process"]["args"], json!(["sh"]));
    assert_eq!(spec["root"]["path"], "rootfs");
    let out = ocirun(dir.path())
        .args(["spec", "--bundle"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success(), "spec must not overwrite config.json");
}

#[test]
fn preserve_fds_passes_exactly_the_extra_fds() {
    require_prerequisites();
    let b = Bundle::new(&["sh", "-c", "ls /proc/self/fd | sort -n | tr '\\n' ' '; cat <&3"]);
    b.write();
    let id = unique_id("clifds");
    let _g = Guard(b.state_root(), id.clone());
    let payload = b.path().join("payload");
    std::fs::write(&payload, "via-fd-3").unwrap();
    // The shell opens the payload as fd 3 for ocirun, which passes it on.
    let script = format!(
        "exec 3<{} 4</dev/null; exec {} --root {} run --preserve-fds 1 -b {} {}",
        payload.display(),
        env!("CARGO_BIN_EXE_ocirun"),
        b.state_root().display(),
        b.path().display(),
        id
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(script)
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    // 0, 1, 2, 3 and the fd ls itself opens for /proc/self/fd.
    assert!(text.starts_with("0 1 2 3 4 "), "unexpected fds: {text}");
    assert!(!text.contains(" 5 "), "a runtime fd leaked: {text}");
    assert!(text.ends_with("via-fd-3"), "{text}");
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn systemd_cgroup_driver_without_systemd_is_a_clear_error() {
    require_prerequisites();
    if std::path::Path::new("/run/systemd/system").exists() {
        // This host runs systemd: the driver's error path is not reachable here.
        return;
    }
    let mut b = Bundle::new(&["true"]);
    b.spec["linux"]["cgroupsPath"] = json!("system.slice:ocirun:test");
    b.write();
    let id = unique_id("clisysd");
    let (ok, err) = common::run_status(
        ocirun(&b.state_root())
            .args(["--systemd-cgroup", "run", "--bundle"])
            .arg(b.path())
            .arg(&id),
    );
    assert!(!ok);
    assert!(
        err.contains("system.slice:ocirun:test") && err.contains("systemd is not running"),
        "{err}"
    );
    assert!(!b.state_root().join(&id).exists());
}

#[test]
fn version_is_printed_in_runcs_form() {
    // dockerd parses `<runtime> --version` for `docker info`: "<name> version <v>", then "spec: <v>".
    for flag in ["--version", "-v"] {
        let out = ocirun(std::path::Path::new("/nonexistent")).arg(flag).output().unwrap();
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        let mut lines = text.lines();
        assert_eq!(
            lines.next(),
            Some(concat!("ocirun version ", env!("CARGO_PKG_VERSION")))
        );
        assert_eq!(
            lines.next(),
            Some(format!("spec: {}", runtime_core::OCI_VERSION_MAX).as_str())
        );
    }
}

#[test]
fn go_flag_forms_and_usage_errors_work_through_the_binary() {
    require_prerequisites();
    let b = Bundle::new(&["sh", "-c", "echo forms; exit 4"]);
    b.write();
    let root = b.state_root();
    let id = unique_id("cliforms");
    let _g = Guard(root.clone(), id.clone());
    // runc's urfave/cli takes single-dash long names and `=` values; the flag may follow the id.
    let out = Command::new(env!("CARGO_BIN_EXE_ocirun"))
        .arg(format!("-root={}", root.display()))
        .args(["run", &id, "-bundle"])
        .arg(b.path())
        .arg("--detach=false")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "forms\n");
    assert_eq!(out.status.code(), Some(4));
    assert!(!root.join(&id).exists());

    // A mistake is named, exits 2 and creates nothing.
    for (args, needle) in [
        (vec!["run", "--bundel", "/x", "id"], "unknown flag --bundel for run"),
        (vec!["kill"], "kill: missing container id"),
        (
            vec!["list", "--format", "yaml"],
            "invalid value \"yaml\" for list --format",
        ),
        (vec!["frobnicate"], "unknown command \"frobnicate\""),
    ] {
        let out = ocirun(&root).args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    let help = ocirun(&root).args(["exec", "--help"]).output().unwrap();
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("-t, --tty"));
}
