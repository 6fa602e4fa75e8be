//! Checkpoint and restore through CRIU's command line (`criu dump` / `criu restore`),
//! on hosts where CRIU works; everywhere else a clear error from `criu check`.

use std::path::{Path, PathBuf};
use std::process::Command;

use oci_spec::runtime::Spec;

use crate::builder::ContainerBuilder;
use crate::container::Container;
use crate::state::Status;
use crate::{Error, Result};

/// How to checkpoint or restore; every field has runc's default.
#[derive(Debug, Clone)]
pub struct CriuOptions {
    /// The CRIU binary (runc's global `--criu`).
    pub criu: PathBuf,
    /// Where the images go (`--image-path`).
    pub image_path: PathBuf,
    /// Where CRIU writes its logs (`--work-path`; default: the image path).
    pub work_path: Option<PathBuf>,
    /// Leave the container running after the checkpoint (`--leave-running`).
    pub leave_running: bool,
    /// Dump the memory only and leave the container running (`--pre-dump`): the images a
    /// later checkpoint names as its `parent_path`.
    pub pre_dump: bool,
    /// A previous pre-dump's images, relative to `image_path` (`--parent-path`): the dump then
    /// writes only the memory changed since.
    pub parent_path: Option<PathBuf>,
    /// Checkpoint established TCP connections (`--tcp-established`).
    pub tcp_established: bool,
    /// Allow external unix sockets (`--ext-unix-sk`).
    pub ext_unix_sk: bool,
    /// Allow a shell job (`--shell-job`).
    pub shell_job: bool,
    /// Handle file locks (`--file-locks`).
    pub file_locks: bool,
}

impl CriuOptions {
    /// runc's defaults with images in `image_path`.
    pub fn new(image_path: impl Into<PathBuf>) -> CriuOptions {
        CriuOptions {
            criu: PathBuf::from("criu"),
            image_path: image_path.into(),
            work_path: None,
            leave_running: false,
            pre_dump: false,
            parent_path: None,
            tcp_established: false,
            ext_unix_sk: false,
            shell_job: false,
            file_locks: false,
        }
    }

    fn work_path(&self) -> &Path {
        self.work_path.as_deref().unwrap_or(&self.image_path)
    }

    /// The flags dump and restore share.
    fn common(&self, cmd: &mut Command, log: &str) {
        cmd.arg("--images-dir")
            .arg(&self.image_path)
            .arg("--work-dir")
            .arg(self.work_path())
            .args(["--log-file", log, "-v4", "--manage-cgroups=soft"]);
        for (yes, flag) in [
            (self.tcp_established, "--tcp-established"),
            (self.ext_unix_sk, "--ext-unix-sk"),
            (self.shell_job, "--shell-job"),
            (self.file_locks, "--file-locks"),
        ] {
            if yes {
                cmd.arg(flag);
            }
        }
    }
}

fn criu_error(op: &'static str, reason: String) -> Error {
    Error::Criu { op, reason }
}

/// Runs `cmd`; on failure the error holds the last lines CRIU printed or logged.
fn run(op: &'static str, mut cmd: Command, log: Option<PathBuf>) -> Result<()> {
    let out = cmd.output().map_err(|e| {
        criu_error(
            op,
            format!("run {:?}: {e} (install Debian's criu package)", cmd.get_program()),
        )
    })?;
    if out.status.success() {
        return Ok(());
    }
    let mut text = String::from_utf8_lossy(&out.stderr).into_owned();
    if let Some(log) = &log
        && let Ok(logged) = std::fs::read_to_string(log)
    {
        text.push_str(&logged);
    }
    let tail: Vec<&str> = text.lines().filter(|l| l.contains("Error")).collect();
    let tail = if tail.is_empty() {
        text.lines().rev().take(3).collect()
    } else {
        tail
    };
    let shown = tail.iter().rev().take(4).rev().copied().collect::<Vec<_>>().join("; ");
    Err(criu_error(
        op,
        match &log {
            Some(log) => format!("criu failed ({}): {shown}; see {}", out.status, log.display()),
            None => format!("criu failed ({}): {shown}", out.status),
        },
    ))
}

/// `criu check`: whether CRIU can checkpoint on this host at all.
pub fn check(criu: &Path) -> Result<()> {
    let mut cmd = Command::new(criu);
    cmd.arg("check");
    run("check", cmd, None).map_err(|e| match e {
        Error::Criu { reason, .. } => criu_error("check", format!("CRIU cannot work on this host: {reason}")),
        other => other,
    })
}

/// The bind mounts of `spec`, as CRIU's external mount map: destination, then host source.
fn external_mounts(spec: &Spec) -> Vec<(PathBuf, PathBuf)> {
    spec.mounts()
        .iter()
        .flatten()
        .filter(|m| {
            m.typ().as_deref() == Some("bind") || m.options().iter().flatten().any(|o| o == "bind" || o == "rbind")
        })
        .filter_map(|m| Some((m.destination().clone(), m.source().clone()?)))
        .collect()
}

/// Refuses to checkpoint or restore (`op`) a container with an id-mapped mount: CRIU would
/// restore it as a plain bind of its source, without the mapping.
pub(crate) fn refuse_id_mapped_mounts(op: &str, spec: &Spec) -> Result<()> {
    let named = |o: &String| o == "idmap" || o == "ridmap";
    match spec.mounts().iter().flatten().position(|m| {
        m.uid_mappings().is_some() || m.gid_mappings().is_some() || m.options().iter().flatten().any(named)
    }) {
        Some(i) => Err(Error::spec(
            format!("mounts[{i}]"),
            format!(
                "{op} of a container with an id-mapped mount is not supported (CRIU would restore it as a plain bind)"
            ),
        )),
        None => Ok(()),
    }
}

/// The key under which masked files go into CRIU's images, as runc names it: they are binds
/// of the runtime's null device, whose source CRIU cannot find in the container.
const NULL_DEVICE: &str = "/dev/null";

/// The masked paths of `spec` that the init at `pid` masked with the null device (files:
/// a masked directory is a tmpfs, which CRIU dumps itself), read from its mountinfo.
fn masked_files(pid: i32, spec: &Spec) -> Result<Vec<String>> {
    let masked = spec
        .linux()
        .as_ref()
        .and_then(|l| l.masked_paths().clone())
        .unwrap_or_default();
    if masked.is_empty() {
        return Ok(Vec::new());
    }
    let path = PathBuf::from(format!("/proc/{pid}/mountinfo"));
    let info = std::fs::read(&path).map_err(|e| Error::io("read", &path, e))?;
    Ok(ocirun_sys::mountinfo::lines(&info)
        .filter(|m| m.fstype != b"tmpfs")
        .filter_map(|m| {
            let point = m.mount_point();
            masked.iter().find(|path| path.as_bytes() == point.as_slice()).cloned()
        })
        .collect())
}

impl Container {
    /// Checkpoints the running container into `opts.image_path` with CRIU; unless
    /// `leave_running` or `pre_dump`, the container is stopped afterwards, as with runc.
    pub fn checkpoint(&self, opts: &CriuOptions) -> Result<()> {
        let status = self.status()?;
        if status != Status::Running {
            return Err(Error::BadStatus {
                op: "checkpoint",
                id: self.id().to_string(),
                status,
            });
        }
        let spec = self.spec()?;
        refuse_id_mapped_mounts("checkpoint", &spec)?;
        check(&opts.criu)?;
        if crate::spec::shares_mount_namespace(&spec) {
            return Err(Error::spec(
                "linux.namespaces",
                "checkpointing a container without a mount namespace of its own is not supported",
            ));
        }
        for dir in [&opts.image_path, &opts.work_path().to_path_buf()] {
            std::fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
        }
        let (op, log) = if opts.pre_dump {
            ("pre-dump", "pre-dump.log")
        } else {
            ("dump", "dump.log")
        };
        let mut cmd = Command::new(&opts.criu);
        cmd.arg(op).arg("--tree").arg(self.pid().to_string());
        cmd.arg("--root").arg(&self.record().rootfs);
        opts.common(&mut cmd, log);
        // A pre-dump always leaves the container running.
        if opts.leave_running && !opts.pre_dump {
            cmd.arg("--leave-running");
        }
        if opts.pre_dump || opts.parent_path.is_some() {
            cmd.arg("--track-mem");
        }
        if let Some(parent) = &opts.parent_path {
            cmd.arg("--prev-images-dir").arg(parent);
        }
        for (dest, _) in external_mounts(&spec) {
            cmd.arg("--ext-mount-map").arg(format!("{0}:{0}", dest.display()));
        }
        for file in masked_files(self.pid(), &spec)? {
            cmd.arg("--ext-mount-map").arg(format!("{file}:{NULL_DEVICE}"));
        }
        run(op, cmd, Some(opts.work_path().join(log)))
    }
}

impl ContainerBuilder {
    /// Restores a container from CRIU images instead of starting its process anew
    /// (runc's `restore`): the state and the cgroup are made from the spec as for create,
    /// CRIU recreates the processes, namespaces and mounts, and the container is left running.
    pub fn restore(self, opts: &CriuOptions) -> Result<Container> {
        check(&opts.criu)?;
        self.create_with(|spec, rootfs, cgroup_path| {
            let mut cmd = Command::new(&opts.criu);
            cmd.arg("restore").arg("--restore-detached");
            cmd.arg("--root").arg(rootfs);
            let pidfile = opts.work_path().join("restore.pid");
            cmd.arg("--pidfile").arg(&pidfile);
            cmd.arg("--cgroup-root").arg(cgroup_path);
            opts.common(&mut cmd, "restore.log");
            for (dest, source) in external_mounts(spec) {
                cmd.arg("--ext-mount-map")
                    .arg(format!("{}:{}", dest.display(), source.display()));
            }
            if spec
                .linux()
                .as_ref()
                .is_some_and(|l| l.masked_paths().as_ref().is_some_and(|m| !m.is_empty()))
            {
                cmd.arg("--ext-mount-map").arg(format!("{NULL_DEVICE}:{NULL_DEVICE}"));
            }
            run("restore", cmd, Some(opts.work_path().join("restore.log")))?;
            let text = std::fs::read_to_string(&pidfile).map_err(|e| Error::io("read", &pidfile, e))?;
            text.trim()
                .parse::<i32>()
                .map_err(|_| criu_error("restore", format!("{} holds no pid", pidfile.display())))
        })
    }
}
