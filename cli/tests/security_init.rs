//! Attacks on the container's init through the real `ocirun` binary, each named after the
//! CVE whose class it belongs to, each asserting on the host that it failed: no host fd in
//! the init once the container's filesystem is in place (CVE-2024-21626), procfs writes that
//! a container mount cannot redirect (CVE-2025-52881), nothing to read in a created init
//! (CVE-2016-9962), and a console bind that follows no image symlink (CVE-2025-52565).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

mod common;

use common::{Guard, ocirun, run_detached, run_status};
use serde_json::json;
use test_support::{Bundle, ConsoleSocket, require_prerequisites, unique_id};

/// A host temp file with known content, and that content.
fn host_file(dir: &Path, name: &str) -> (PathBuf, &'static str) {
    let content = "host file: must stay exactly as it is\n";
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    (path, content)
}

#[test]
fn cve_2025_52881_oom_score_adj_write_is_not_redirected_by_a_bind_mount() {
    require_prerequisites();
    let mut b = Bundle::new(&["sleep", "1000"]);
    let host_dir = tempfile::tempdir().unwrap();
    let (target, content) = host_file(host_dir.path(), "oom-target");
    b.spec["process"]["oomScoreAdj"] = json!(789);
    b.spec["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/proc/1/oom_score_adj",
        "type": "bind",
        "source": target,
        "options": ["bind", "rw"]
    }));
    b.write();
    let root = b.state_root();
    let id = unique_id("sec52881");
    let _g = Guard(root.clone(), id.clone());
    let (created, err) = run_status(ocirun(&root).args(["create", "--bundle"]).arg(b.path()).arg(&id));
    assert_eq!(
        std::fs::read_to_string(&target).unwrap(),
        content,
        "the oom_score_adj write landed in the host file (create ok: {created}, {err})"
    );
    if created {
        let pid = common::state(&root, &id)["pid"].as_i64().unwrap();
        let adj = std::fs::read_to_string(format!("/proc/{pid}/oom_score_adj")).unwrap();
        assert_eq!(adj.trim(), "789", "the init's own oom_score_adj");
    }
}

#[test]
fn cve_2025_52881_sysctl_write_is_not_redirected_by_a_bind_mount() {
    require_prerequisites();
    let mut b = Bundle::new(&["sleep", "1000"]);
    let host_dir = tempfile::tempdir().unwrap();
    let (target, content) = host_file(host_dir.path(), "sysctl-target");
    b.spec["linux"]["sysctl"] = json!({"kernel.shmmax": "7654321"});
    b.spec["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/proc/sys/kernel/shmmax",
        "type": "bind",
        "source": target,
        "options": ["bind", "rw"]
    }));
    b.write();
    let root = b.state_root();
    let id = unique_id("sec52881s");
    let _g = Guard(root.clone(), id.clone());
    let (created, err) = run_status(ocirun(&root).args(["create", "--bundle"]).arg(b.path()).arg(&id));
    assert_eq!(
        std::fs::read_to_string(&target).unwrap(),
        content,
        "the sysctl write landed in the host file (create ok: {created}, {err})"
    );
    if created {
        // The container's ipc namespace has the value (read through the init's ipc namespace).
        let pid = common::state(&root, &id)["pid"].as_i64().unwrap();
        let out = Command::new("nsenter")
            .args(["--ipc", &format!("--target={pid}"), "cat", "/proc/sys/kernel/shmmax"])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "7654321");
    }
}

/// Runs `cmd` with null stdin; returns whether it succeeded, its stdout and its stderr.
fn run_output(cmd: &mut Command) -> (bool, String, String) {
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A shell script that reports, from a working directory of `/proc/self/fd/N`, whether it
/// reached the host's procfs: the test process's own pid exists only there (the container has
/// its own pid namespace), and the host's core_pattern.
fn host_probe() -> String {
    format!(
        "test -d ../../{me} && echo REACHED-HOST-PROC; cat ../../1/comm; \
         test -w ../../sys/kernel/core_pattern && echo WRITABLE; pwd",
        me = std::process::id()
    )
}

/// Asserts that the output of [`host_probe`] shows no sign of the host.
fn assert_no_host(what: &str, out: &str, err: &str) {
    let host_comm = std::fs::read_to_string("/proc/1/comm").unwrap();
    let host_comm = host_comm.trim();
    assert!(
        !out.contains("REACHED-HOST-PROC") && !out.contains("WRITABLE"),
        "{what}: the container reached the host's procfs:\n{out}\n{err}"
    );
    // The container's pid 1 is its own shell; the host's pid 1 has another name here.
    if host_comm != "sh" {
        assert!(
            !out.lines().any(|l| l == host_comm),
            "{what}: the container read the host's pid 1 name {host_comm:?}:\n{out}\n{err}"
        );
    }
}

/// The init's fd numbers that may lead out of it.
const FDS_TO_TRY: std::ops::RangeInclusive<u32> = 3..=10;

#[test]
fn cve_2024_21626_cwd_through_leaked_proc_fd_does_not_reach_the_host() {
    require_prerequisites();
    let probe = host_probe();
    for n in FDS_TO_TRY {
        let mut b = Bundle::new(&["sh", "-c", &probe]);
        b.spec["process"]["cwd"] = json!(format!("/proc/self/fd/{n}"));
        b.write();
        let root = b.state_root();
        let id = unique_id("sec21626");
        let _g = Guard(root.clone(), id.clone());
        let (ok, out, err) = run_output(ocirun(&root).args(["run", "--bundle"]).arg(b.path()).arg(&id));
        assert_no_host(&format!("cwd /proc/self/fd/{n}"), &out, &err);
        if !ok {
            assert!(err.contains("process.cwd"), "cwd /proc/self/fd/{n}: {err}");
        }
    }
}

/// Every fd of `pid`, with where it leads and what the host says it is, minus the fds a
/// process may hold with no way out of a container: stdio, /dev/null, pipes, sockets,
/// and the exec fifo (a fifo is no directory: nothing resolves through it).
fn fds_leading_out(pid: i64, exec_fifo: &Path) -> Vec<String> {
    let dir = PathBuf::from(format!("/proc/{pid}/fd"));
    let mut bad = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("list {}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        // 0, 1 and 2 are the stdio ocirun was given, which the container gets.
        if path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.parse::<u32>().ok())
            <= Some(2)
        {
            continue;
        }
        let Ok(target) = std::fs::read_link(&path) else {
            continue;
        };
        let t = target.to_string_lossy();
        let kind = std::fs::metadata(&path).map(|m| {
            use std::os::unix::fs::FileTypeExt;
            let ft = m.file_type();
            if ft.is_dir() {
                "directory"
            } else if ft.is_fifo() {
                "fifo"
            } else if ft.is_socket() {
                "socket"
            } else if ft.is_char_device() {
                "char device"
            } else {
                "file"
            }
        });
        let fine = t == "/dev/null"
            || t.starts_with("pipe:[")
            || t.starts_with("socket:[")
            || (target == exec_fifo && matches!(kind, Ok("fifo")));
        if !fine {
            bad.push(format!("{} -> {t} ({kind:?})", path.display()));
        }
    }
    bad
}

#[test]
fn cve_2024_21626_created_init_holds_no_host_fd() {
    require_prerequisites();
    let mut b = Bundle::new(&["true"]);
    // Everything that makes the init open something of the host's: a namespace joined by
    // path, procfs writes (sysctl, oom_score_adj).
    let ns = b.spec["linux"]["namespaces"].as_array_mut().unwrap();
    ns.retain(|n| n["type"] != "uts");
    // ocirun's own, resolved by ocirun: the host's uts namespace.
    ns.push(json!({"type": "uts", "path": "/proc/self/ns/uts"}));
    b.spec["hostname"] = json!(null);
    b.spec["linux"]["sysctl"] = json!({"kernel.shmmax": "7654321"});
    b.spec["process"]["oomScoreAdj"] = json!(321);
    b.write();
    let root = b.state_root();
    let id = unique_id("sec21626");
    let _g = Guard(root.clone(), id.clone());
    run_detached(ocirun(&root).args(["create", "--bundle"]).arg(b.path()).arg(&id));
    let pid = common::state(&root, &id)["pid"].as_i64().unwrap();
    let fifo = root.join(&id).join("exec.fifo");
    let bad = fds_leading_out(pid, &fifo);
    assert!(
        bad.is_empty(),
        "the created init holds fds that lead out:\n{}",
        bad.join("\n")
    );
}

#[test]
fn cve_2024_21626_exec_cwd_through_leaked_fd_does_not_reach_the_host() {
    require_prerequisites();
    let b = Bundle::new(&["sleep", "1000"]);
    b.write();
    let root = b.state_root();
    let id = unique_id("sec21626x");
    let _g = Guard(root.clone(), id.clone());
    run_detached(
        ocirun(&root)
            .args(["run", "--detach", "--bundle"])
            .arg(b.path())
            .arg(&id),
    );
    let probe = host_probe();
    for n in FDS_TO_TRY {
        // A process.json with an oomScoreAdj: the exec'd process's init then writes to procfs.
        let process = json!({
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh", "-c", &probe],
            "env": ["PATH=/bin"],
            "cwd": format!("/proc/self/fd/{n}"),
            "oomScoreAdj": 222,
        });
        let process_file = b.path().join(format!("process-{n}.json"));
        std::fs::write(&process_file, process.to_string()).unwrap();
        let (ok, out, err) = run_output(ocirun(&root).arg("exec").arg("--process").arg(&process_file).arg(&id));
        assert_no_host(&format!("exec with cwd /proc/self/fd/{n}"), &out, &err);
        if !ok {
            assert!(err.contains("process.cwd"), "exec with cwd /proc/self/fd/{n}: {err}");
        }
        // The same through the flag.
        let (ok, out, err) = run_output(
            ocirun(&root)
                .args(["exec", "--cwd"])
                .arg(format!("/proc/self/fd/{n}"))
                .args([&id, "sh", "-c", &probe]),
        );
        assert_no_host(&format!("exec --cwd /proc/self/fd/{n}"), &out, &err);
        if !ok {
            assert!(err.contains("process.cwd"), "exec --cwd /proc/self/fd/{n}: {err}");
        }
    }
}

#[test]
fn cve_2016_9962_exec_into_a_created_container_cannot_read_the_init() {
    require_prerequisites();
    let b = Bundle::new(&["true"]);
    b.write();
    let root = b.state_root();
    let id = unique_id("sec9962");
    let _g = Guard(root.clone(), id.clone());
    run_detached(ocirun(&root).args(["create", "--bundle"]).arg(b.path()).arg(&id));
    // Each probe prints its marker only when it reached something of the init; none blocks
    // (nothing is read from the init's fds, which include a fifo and a socket).
    let script = "\
        for f in /proc/1/fd/*; do l=$(readlink $f) && echo \"FD-READ $f -> $l\"; done; \
        for f in /proc/1/fd/*; do t=$(stat -L -c %F $f 2>/dev/null) && echo \"FD-STAT $f: $t\"; done; \
        ls /proc/1/fd/*/ >/dev/null 2>&1 && echo FD-DIR-WALKED; \
        cat /proc/1/environ >/dev/null 2>&1 && echo ENVIRON-READ; \
        (exec 3</proc/1/mem) 2>/dev/null && echo MEM-OPENED; \
        ls /proc/1/root/ >/dev/null 2>&1 && echo ROOT-WALKED; \
        ls /proc/1/cwd/ >/dev/null 2>&1 && echo CWD-WALKED; \
        cat /proc/1/maps >/dev/null 2>&1 && echo MAPS-READ; \
        readlink /proc/1/exe && echo EXE-READ; \
        for f in /proc/self/fd/*; do echo \"SELF $f -> $(readlink $f)\"; done; \
        echo DONE";
    let (ok, out, err) = run_output(ocirun(&root).args(["exec", &id, "sh", "-c", script]));
    assert!(ok && out.contains("DONE"), "exec failed: {err}\n{out}");
    for marker in [
        "FD-READ",
        "FD-STAT",
        "FD-DIR-WALKED",
        "ENVIRON-READ",
        "MEM-OPENED",
        "ROOT-WALKED",
        "CWD-WALKED",
        "MAPS-READ",
        "EXE-READ",
    ] {
        assert!(
            !out.contains(marker),
            "the exec'd process read the created init ({marker}):\n{out}"
        );
    }
    // The exec'd process's own fds: its stdio, the pipes of the shell's command substitutions
    // and the directory its glob opened, none of the host's (readlink of an fd the shell no
    // longer has prints nothing).
    for line in out.lines().filter(|l| l.starts_with("SELF ")) {
        let target = line.split(" -> ").nth(1).unwrap_or_default();
        let fd: u32 = line
            .trim_start_matches("SELF /proc/self/fd/")
            .split(' ')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(99);
        assert!(
            fd <= 2
                || target.is_empty()
                || target.starts_with("pipe:[")
                || target.starts_with("/proc/") && target.ends_with("/fd"),
            "the exec'd process holds fd {fd} -> {target}:\n{out}"
        );
    }
    // Nothing of the host's is left in the init for the exec'd process to find.
    let pid = common::state(&root, &id)["pid"].as_i64().unwrap();
    let bad = fds_leading_out(pid, &root.join(&id).join("exec.fifo"));
    assert!(
        bad.is_empty(),
        "the created init holds fds that lead out:\n{}",
        bad.join("\n")
    );
}

#[test]
fn cve_2025_52565_console_bind_refuses_an_image_symlink() {
    require_prerequisites();
    let mut b = Bundle::new(&["sleep", "1000"]);
    b.spec["process"]["terminal"] = json!(true);
    b.spec["root"]["readonly"] = json!(false);
    // No /dev tmpfs: the image's /dev is the container's, with its console a symlink to procfs.
    b.spec["mounts"]
        .as_array_mut()
        .unwrap()
        .retain(|m| m["destination"] != "/dev");
    std::fs::create_dir_all(b.rootfs().join("dev/pts")).unwrap();
    std::os::unix::fs::symlink("/proc/sys/kernel/core_pattern", b.rootfs().join("dev/console")).unwrap();
    b.write();
    let core_pattern = std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap();
    let root = b.state_root();
    let id = unique_id("sec52565");
    let _g = Guard(root.clone(), id.clone());
    let console = ConsoleSocket::new();
    let (created, err) = run_status(
        ocirun(&root)
            .args(["create", "--console-socket"])
            .arg(console.path())
            .arg("--bundle")
            .arg(b.path())
            .arg(&id),
    );
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap(),
        core_pattern
    );
    if created {
        let _master = console.accept_master();
        let pid = common::state(&root, &id)["pid"].as_i64().unwrap();
        let mountinfo = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
        let mounts: Vec<&str> = mountinfo
            .lines()
            .filter(|l| {
                l.split(' ')
                    .nth(4)
                    .is_some_and(|m| m.starts_with("/proc/sys/kernel") || m == "/dev/console")
            })
            .collect();
        panic!(
            "create accepted the image's /dev/console symlink and bound the pty:\n{}",
            mounts.join("\n")
        );
    }
    assert!(
        err.contains("/dev/console"),
        "create failed without naming /dev/console: {err}"
    );
}
