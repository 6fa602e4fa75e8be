//! systemd socket activation through `ocirun run`: `LISTEN_FDS` fds reach the container
//! at 3.., before the `--preserve-fds` ones, with `LISTEN_FDS` and `LISTEN_PID=1` in its env.

use std::process::{Command, Stdio};

use test_support::{Bundle, require_prerequisites, unique_id};

/// Runs `ocirun run` from a shell that opened fd 3 and 4 on two files and exported
/// `LISTEN_FDS=1` with `LISTEN_PID` set to `pid` (`$$` is ocirun's own pid after exec).
fn run_with_listen_env(pid: &str, preserve: u32) -> (Option<i32>, String) {
    let b = Bundle::new(&[
        "sh",
        "-c",
        "echo env=$LISTEN_FDS,$LISTEN_PID; ls /proc/self/fd | sort -n | tr '\\n' ' '; echo; \
         cat <&3 2>/dev/null; cat <&4 2>/dev/null; true",
    ]);
    b.write();
    let id = unique_id("listen");
    std::fs::write(b.path().join("socket"), "listen-fd-3\n").unwrap();
    std::fs::write(b.path().join("extra"), "preserved-fd-4\n").unwrap();
    let script = format!(
        "exec 3<{dir}/socket 4<{dir}/extra; export LISTEN_FDS=1 LISTEN_PID={pid}; \
         exec {bin} --root {root} run --preserve-fds {preserve} -b {dir} {id}",
        dir = b.path().display(),
        bin = env!("CARGO_BIN_EXE_ocirun"),
        root = b.state_root().display(),
    );
    let out = Command::new("sh")
        .arg("-c")
        .arg(script)
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    let _ = Command::new(env!("CARGO_BIN_EXE_ocirun"))
        .arg("--root")
        .arg(b.state_root())
        .args(["delete", "--force", &id])
        .output();
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn listen_fds_come_first_and_preserve_fds_after_them() {
    require_prerequisites();
    let (code, out) = run_with_listen_env("$$", 1);
    assert_eq!(code, Some(0), "{out}");
    // fd 3 is the socket, fd 4 the preserved fd, 5 the directory ls reads.
    assert_eq!(out, "env=1,1\n0 1 2 3 4 5 \nlisten-fd-3\npreserved-fd-4\n");

    let (code, out) = run_with_listen_env("$$", 0);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(out, "env=1,1\n0 1 2 3 4 \nlisten-fd-3\n");
}

#[test]
fn listen_fds_for_another_process_are_ignored() {
    require_prerequisites();
    // LISTEN_PID names another process: the fds are not ours to pass on (go-systemd's rule).
    let (code, out) = run_with_listen_env("1", 0);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(out, "env=,\n0 1 2 3 \n");
}
