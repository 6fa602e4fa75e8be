//! What the init writes to procfs, through the runtime's own verified /proc: sysctls,
//! `oom_score_adj` and the LSM exec labels.

use std::ffi::CString;

use oci_spec::runtime::{Linux, Process};

use super::cstring;
use super::step::{At, Failed, InitStep};
use crate::sys;
use crate::{Error, Result, lsm, sysctl};

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
                i if i == sys::ProcFsStep::Verify as u32 => {
                    "check that the runtime's /proc is the root of a procfs (it is written through)".into()
                }
                i if i == sys::ProcFsStep::ReadSelf as u32 => "read the runtime's /proc/self".into(),
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
    pub(crate) fn write(&self, procfs: &sys::ProcFs) -> Result<(), Failed> {
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
