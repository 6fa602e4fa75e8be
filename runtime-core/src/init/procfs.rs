//! What the init writes to procfs, through the runtime's own verified /proc ([`ProcFs`]):
//! sysctls, `oom_score_adj` and the LSM exec labels.

use std::ffi::{CStr, CString};
use std::os::fd::{AsFd, OwnedFd};

use ocirun_sys::fs;

use oci_spec::runtime::{Linux, Process};

use super::cstring;
use super::step::{At, Failed, InitStep};
use crate::{Error, Result, lsm, sysctl};

/// The procfs the init writes through: the runtime's own `/proc`, opened and verified (the
/// root of a procfs) before any container mount exists, so that no mount of the container's
/// can redirect a write (CVE-2025-52881). Every file is opened beneath it with `openat2`,
/// following no symlink, magic link or mount; `self` is read once, as the number it stands
/// for. It is the only way the init writes to procfs, and it is closed before the container's
/// filesystem is in place (CVE-2024-21626).
///
/// Runs in the child: no allocation, no locks.
pub(crate) struct ProcFs {
    fd: OwnedFd,
    /// This process's pid in this procfs's pid namespace, as `self` reads.
    pid: [u8; 12],
    pid_len: usize,
}

/// Why [`ProcFs::open`] failed: the part that did, and the errno.
pub(crate) type ProcFsError = (ProcFsStep, i32);

/// The parts of [`ProcFs::open`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum ProcFsStep {
    /// Opening `/proc`.
    Open,
    /// Checking that it is a procfs (fstatfs), and its root (inode 1).
    Verify,
    /// Reading its `self` link.
    ReadSelf,
}

impl ProcFs {
    /// Where `/proc` is: the runtime's own mount namespace's, before any container mount.
    const PATH: &CStr = c"/proc";
    /// What every lookup beneath it refuses: leaving it, crossing a mount, any symlink.
    const RESOLVE: u64 =
        libc::RESOLVE_BENEATH | libc::RESOLVE_NO_XDEV | libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS;

    /// Opens `/proc` and checks that it is the root of a procfs.
    ///
    /// Runs in the child: no allocation, no locks.
    pub(crate) fn open() -> Result<ProcFs, ProcFsError> {
        let flags = libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
        let fd = fs::openat(fs::CWD, Self::PATH, flags, 0).map_err(|e| (ProcFsStep::Open, e))?;
        if !fs::is_procfs_root(fd.as_fd()).map_err(|e| (ProcFsStep::Verify, e))? {
            return Err((ProcFsStep::Verify, libc::EXDEV));
        }
        let mut pid = [0u8; 12];
        let pid_len = fs::readlinkat(fd.as_fd(), c"self", &mut pid).map_err(|e| (ProcFsStep::ReadSelf, e))?;
        // A pid is digits: anything else would make its paths lead elsewhere.
        match pid.get(..pid_len) {
            Some(digits) if !digits.is_empty() && digits.iter().all(u8::is_ascii_digit) => {}
            _ => return Err((ProcFsStep::ReadSelf, libc::EINVAL)),
        }
        Ok(ProcFs { fd, pid, pid_len })
    }

    /// Writes `content` in one write(2) to `path`, relative to the procfs root
    /// (`sys/kernel/shmmax`).
    ///
    /// Runs in the child: no allocation, no locks.
    pub(crate) fn write(&self, path: &CStr, content: &[u8]) -> Result<(), i32> {
        let flags = libc::O_WRONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
        let fd = fs::openat2(self.fd.as_fd(), path, flags, Self::RESOLVE)?;
        fs::write_whole(fd.as_fd(), content)
    }

    /// Writes `content` in one write(2) to `name` in this process's own directory, what
    /// `/proc/self/<name>` is (`oom_score_adj`, `attr/exec`).
    ///
    /// Runs in the child: no allocation, no locks.
    pub(crate) fn write_self(&self, name: &CStr, content: &[u8]) -> Result<(), i32> {
        let mut buf = [0u8; 128];
        let pid = self.pid.get(..self.pid_len).unwrap_or_default();
        let name = name.to_bytes_with_nul();
        let path = buf.get_mut(..pid.len() + 1 + name.len()).ok_or(libc::ENAMETOOLONG)?;
        let (head, tail) = path.split_at_mut(pid.len());
        head.copy_from_slice(pid);
        let Some((slash, rest)) = tail.split_first_mut() else {
            return Err(libc::EINVAL);
        };
        *slash = b'/';
        rest.copy_from_slice(name);
        self.write(CStr::from_bytes_with_nul(path).map_err(|_| libc::EINVAL)?, content)
    }
}

/// The procfs writes of the init, compiled in the parent.
pub(crate) struct ProcfsWrites {
    /// Each sysctl: its file relative to the procfs root, the value, the key.
    sysctl: Vec<(CString, Vec<u8>, String)>,
    /// What the init writes to its `oom_score_adj`.
    oom_score_adj: Option<Vec<u8>>,
    exec_labels: Vec<lsm::ExecLabel>,
}

impl ProcfsWrites {
    /// `linux.sysctl`, `process.oomScoreAdj` and the process's LSM labels.
    pub(crate) fn compile(linux: &Linux, process: &Process) -> Result<ProcfsWrites> {
        let mut sysctl = Vec::new();
        for (key, value) in linux.sysctl().iter().flatten() {
            sysctl::check(linux, key)?;
            let path = sysctl::proc_path(key);
            sysctl.push((cstring("linux.sysctl", path)?, value.clone().into_bytes(), key.clone()));
        }
        let oom_score_adj = match process.oom_score_adj() {
            Some(v) if !(-1000..=1000).contains(&v) => {
                return Err(Error::spec(
                    "process.oomScoreAdj",
                    format!("{v} is outside -1000..1000"),
                ));
            }
            Some(v) => Some(v.to_string().into_bytes()),
            None => None,
        };
        Ok(ProcfsWrites {
            sysctl,
            oom_score_adj,
            exec_labels: lsm::exec_labels(process)?,
        })
    }

    /// Whether there is anything to write.
    pub(crate) fn any(&self) -> bool {
        !self.sysctl.is_empty() || self.oom_score_adj.is_some() || !self.exec_labels.is_empty()
    }

    /// What a failed step of this plan was doing, for the parent's error.
    pub(crate) fn describe(&self, step: InitStep, index: u32) -> Option<String> {
        Some(match step {
            InitStep::ProcFs => match index {
                i if i == ProcFsStep::Verify as u32 => {
                    "check that the runtime's /proc is the root of a procfs (it is written through)".into()
                }
                i if i == ProcFsStep::ReadSelf as u32 => "read the runtime's /proc/self".into(),
                _ => "open the runtime's /proc (it is written through)".into(),
            },
            InitStep::Sysctl => match self.sysctl.get(index as usize) {
                Some((_, value, key)) => {
                    format!("set linux.sysctl {key}={}", String::from_utf8_lossy(value))
                }
                None => "set sysctl".into(),
            },
            InitStep::OomScoreAdj => match &self.oom_score_adj {
                Some(v) => format!(
                    "set process.oomScoreAdj {} (write /proc/self/oom_score_adj)",
                    String::from_utf8_lossy(v)
                ),
                None => "write /proc/self/oom_score_adj".into(),
            },
            InitStep::ExecLabel => match self.exec_labels.get(index as usize) {
                Some(l) => format!(
                    "set {} {:?} (write /proc/self/{})",
                    l.field,
                    String::from_utf8_lossy(&l.content),
                    l.name.to_string_lossy()
                ),
                None => "set the exec label".into(),
            },
            _ => return None,
        })
    }

    /// Writes through `procfs`, the runtime's /proc, in the container's namespaces (a sysctl
    /// file is the one of the namespace of the process that opens it): the rootfs may make
    /// the container's /proc/sys read-only, and its mounts could redirect the writes. The
    /// labels the exec takes (and only the exec: they change nothing before it) are written
    /// before no_new_privs, as runc applies AppArmor's.
    ///
    /// Runs in the child: no allocation, no locks.
    pub(crate) fn write(&self, procfs: &ProcFs) -> Result<(), Failed> {
        for (i, (path, value, _)) in self.sysctl.iter().enumerate() {
            procfs.write(path, value).at_index(InitStep::Sysctl, i as u32)?;
        }
        if let Some(value) = &self.oom_score_adj {
            procfs.write_self(c"oom_score_adj", value).at(InitStep::OomScoreAdj)?;
        }
        for (i, label) in self.exec_labels.iter().enumerate() {
            procfs
                .write_self(&label.name, &label.content)
                .at_index(InitStep::ExecLabel, i as u32)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::init::tests::{in_forked_child, in_private_mounts};

    #[test]
    fn procfs_writes_this_process_s_own_files() {
        in_forked_child(|| {
            let Ok(procfs) = ProcFs::open() else { return false };
            let written = procfs.write_self(c"oom_score_adj", b"17").is_ok();
            let now = std::fs::read_to_string("/proc/self/oom_score_adj").unwrap_or_default();
            written && now.trim() == "17"
        });
    }

    #[test]
    fn procfs_follows_no_symlink() {
        in_forked_child(|| {
            let Ok(procfs) = ProcFs::open() else { return false };
            // `self` and `mounts` are symlinks in every procfs.
            procfs.write(c"self/oom_score_adj", b"17") == Err(libc::ELOOP)
                && procfs.write(c"mounts", b"x") == Err(libc::ELOOP)
                && procfs.write(c"../etc/passwd", b"x") == Err(libc::EXDEV)
        });
    }

    #[test]
    fn procfs_writes_are_not_redirected_by_a_mount_over_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let decoy = dir.path().join("decoy");
        std::fs::write(&decoy, "unchanged").unwrap();
        let decoy = std::ffi::CString::new(decoy.as_os_str().as_encoded_bytes()).unwrap();
        in_private_mounts(|| {
            // A bind mount in this child's own mount namespace.
            let bound =
                ocirun_sys::mount::mount(Some(&decoy), c"/proc/self/oom_score_adj", None, libc::MS_BIND, None).is_ok();
            let Ok(procfs) = ProcFs::open() else { return false };
            bound && procfs.write_self(c"oom_score_adj", b"17") == Err(libc::EXDEV)
        });
        assert_eq!(std::fs::read_to_string(dir.path().join("decoy")).unwrap(), "unchanged");
    }

    #[test]
    fn procfs_is_refused_where_proc_is_not_a_procfs_root() {
        in_private_mounts(|| {
            // Mounts in this child's own mount namespace.
            let tmpfs = ocirun_sys::mount::mount(Some(c"tmpfs"), c"/proc", Some(c"tmpfs"), 0, None).is_ok();
            let refused = matches!(ProcFs::open(), Err((ProcFsStep::Verify, libc::EXDEV)));
            // A procfs directory bound on /proc is a procfs, but not its root.
            let sys = ocirun_sys::mount::umount2(c"/proc", libc::MNT_DETACH).is_ok()
                && ocirun_sys::mount::mount(Some(c"/proc/sys"), c"/proc", None, libc::MS_BIND, None).is_ok();
            tmpfs && refused && sys && matches!(ProcFs::open(), Err((ProcFsStep::Verify, libc::EXDEV)))
        });
    }
}
