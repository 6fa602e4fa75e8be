//! The program the init execs and how it runs: argv, env and the executable's lookup, cwd,
//! rlimits, I/O priority, scheduler, CPU affinity, personality and memory policy.

use std::ffi::{CString, c_char};

use oci_spec::runtime::{Linux, PosixRlimitType, Process};

use super::cstring;
use super::step::{At, Failed, InitStep};
use ocirun_sys::process::{self, CpuSet, SchedAttr};
use ocirun_sys::{fd, fs};

use crate::{Error, Result, mempolicy, sched};

/// The PATH used to find process.args[0] when process.env has none (runc's default).
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The index of [`InitStep::Chdir`] that says the cwd is outside the container's root.
const CWD_OUTSIDE_ROOT: u32 = 1;

/// The process the init becomes, compiled in the parent.
pub(crate) struct ProcessPlan {
    _argv: Vec<CString>,
    argv_ptrs: Vec<*const c_char>,
    _envp: Vec<CString>,
    envp_ptrs: Vec<*const c_char>,
    exe_candidates: Vec<CString>,
    arg0: String,
    cwd: CString,
    rlimits: Vec<(libc::c_int, u64, u64, String)>,
    io_priority: Option<libc::c_int>,
    scheduler: Option<SchedAttr>,
    /// `process.execCPUAffinity.initial`, which the parent applies to the init before its cgroup join.
    pub affinity_initial: Option<CpuSet>,
    affinity_final: CpuSet,
    personality: Option<libc::c_ulong>,
    /// `linux.memoryPolicy`, with the spec's mode and nodes for errors.
    memory_policy: Option<(mempolicy::MemPolicy, String)>,
}

fn rlimit_resource(t: PosixRlimitType) -> libc::c_int {
    (match t {
        PosixRlimitType::RlimitCpu => libc::RLIMIT_CPU,
        PosixRlimitType::RlimitFsize => libc::RLIMIT_FSIZE,
        PosixRlimitType::RlimitData => libc::RLIMIT_DATA,
        PosixRlimitType::RlimitStack => libc::RLIMIT_STACK,
        PosixRlimitType::RlimitCore => libc::RLIMIT_CORE,
        PosixRlimitType::RlimitRss => libc::RLIMIT_RSS,
        PosixRlimitType::RlimitNproc => libc::RLIMIT_NPROC,
        PosixRlimitType::RlimitNofile => libc::RLIMIT_NOFILE,
        PosixRlimitType::RlimitMemlock => libc::RLIMIT_MEMLOCK,
        PosixRlimitType::RlimitAs => libc::RLIMIT_AS,
        PosixRlimitType::RlimitLocks => libc::RLIMIT_LOCKS,
        PosixRlimitType::RlimitSigpending => libc::RLIMIT_SIGPENDING,
        PosixRlimitType::RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        PosixRlimitType::RlimitNice => libc::RLIMIT_NICE,
        PosixRlimitType::RlimitRtprio => libc::RLIMIT_RTPRIO,
        PosixRlimitType::RlimitRttime => libc::RLIMIT_RTTIME,
    }) as libc::c_int
}

impl ProcessPlan {
    /// `process` (args, env, cwd, rlimits, scheduling) and the process fields of `linux`;
    /// `listen_fds` adds systemd's socket-activation variables.
    pub(crate) fn compile(process: &Process, linux: &Linux, listen_fds: u32) -> Result<ProcessPlan> {
        let mut rlimits: Vec<(libc::c_int, u64, u64, String)> = Vec::new();
        for r in process.rlimits().iter().flatten() {
            let name = serde_json::to_value(r.typ())
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default();
            if rlimits.iter().any(|(res, ..)| *res == rlimit_resource(r.typ())) {
                return Err(Error::spec("process.rlimits", format!("{name} appears twice")));
            }
            if r.soft() > r.hard() {
                return Err(Error::spec(
                    "process.rlimits",
                    format!("{name}: soft limit {} is above hard limit {}", r.soft(), r.hard()),
                ));
            }
            rlimits.push((rlimit_resource(r.typ()), r.soft(), r.hard(), name));
        }

        let args = process
            .args()
            .as_ref()
            .ok_or_else(|| Error::spec("process.args", "missing"))?;
        let argv: Vec<CString> = args
            .iter()
            .map(|a| cstring("process.args", a.as_str()))
            .collect::<Result<_>>()?;
        let mut env: Vec<String> = process.env().clone().unwrap_or_default();
        if listen_fds > 0 {
            // systemd socket activation, as runc passes it on: the fds are 3.., and the
            // container process is pid 1 of its namespace.
            env.retain(|e| !e.starts_with("LISTEN_FDS=") && !e.starts_with("LISTEN_PID="));
            env.push(format!("LISTEN_FDS={listen_fds}"));
            env.push("LISTEN_PID=1".into());
        }
        if !env.iter().any(|e| e.starts_with("HOME=")) {
            env.push(format!(
                "HOME={}",
                if process.user().uid() == 0 { "/root" } else { "/" }
            ));
        }
        let envp: Vec<CString> = env
            .iter()
            .map(|e| cstring("process.env", e.as_str()))
            .collect::<Result<_>>()?;
        let arg0 = args[0].clone();
        let exe_candidates = if arg0.contains('/') {
            vec![cstring("process.args", arg0.as_str())?]
        } else {
            let path = env.iter().find_map(|e| e.strip_prefix("PATH=")).unwrap_or(DEFAULT_PATH);
            path.split(':')
                .map(|dir| if dir.is_empty() { "." } else { dir })
                .map(|dir| cstring("process.env", format!("{dir}/{arg0}")))
                .collect::<Result<_>>()?
        };
        let argv_ptrs = argv.iter().map(|a| a.as_ptr()).chain([std::ptr::null()]).collect();
        let envp_ptrs = envp.iter().map(|e| e.as_ptr()).chain([std::ptr::null()]).collect();

        let (affinity_initial, affinity_final) = sched::cpu_affinity(process.exec_cpu_affinity().as_ref())?;
        let memory_policy = match linux.memory_policy() {
            Some(p) => Some((
                mempolicy::compile(p)?,
                format!(
                    "mode {} nodes {:?}",
                    mempolicy::mode_name(p.mode()),
                    p.nodes().as_deref().unwrap_or("")
                ),
            )),
            None => None,
        };
        Ok(ProcessPlan {
            _argv: argv,
            argv_ptrs,
            _envp: envp,
            envp_ptrs,
            exe_candidates,
            arg0,
            cwd: cstring("process.cwd", process.cwd().as_os_str().as_encoded_bytes())?,
            rlimits,
            io_priority: process.io_priority().as_ref().map(sched::io_priority).transpose()?,
            scheduler: process.scheduler().as_ref().map(sched::scheduler).transpose()?,
            affinity_initial,
            affinity_final,
            personality: linux.personality().as_ref().map(sched::personality).transpose()?,
            memory_policy,
        })
    }

    /// Executes `path`, an absolute path in the container, instead of `args[0]` looked up in
    /// `PATH` (a hook's `path`, whose `args[0]` may be any name).
    pub(crate) fn set_executable(&mut self, path: &str) -> Result<()> {
        if !path.starts_with('/') {
            return Err(Error::spec("path", format!("{path:?} is not absolute")));
        }
        self.exe_candidates = vec![cstring("path", path)?];
        self.arg0 = path.to_string();
        Ok(())
    }

    /// What a failed step of this plan was doing, for the parent's error.
    pub(crate) fn describe(&self, step: InitStep, index: u32) -> Option<String> {
        Some(match step {
            InitStep::Rlimit => match self.rlimits.get(index as usize) {
                Some((_, soft, hard, name)) => format!("set process.rlimits {name} soft {soft} hard {hard}"),
                None => "set rlimit".into(),
            },
            InitStep::Chdir if index == CWD_OUTSIDE_ROOT => format!(
                "process.cwd {:?} is outside the container's root: possible container breakout",
                self.cwd
            ),
            InitStep::Chdir => format!("chdir to process.cwd {:?}", self.cwd),
            InitStep::Lookup => format!(
                "exec {:?}: executable file not found in $PATH or not executable",
                self.arg0
            ),
            InitStep::IoPriority => format!("set process.ioPriority (ioprio {:#x})", self.io_priority.unwrap_or(0)),
            InitStep::Scheduler => match &self.scheduler {
                Some(s) => format!(
                    "set process.scheduler (policy {} nice {} priority {})",
                    sched::policy_name(s.policy),
                    s.nice,
                    s.priority
                ),
                None => "set process.scheduler".into(),
            },
            InitStep::CpuAffinity => "set the CPU affinity (process.execCPUAffinity.final)".into(),
            InitStep::InitialCpuAffinity => "set process.execCPUAffinity.initial".into(),
            InitStep::Personality => format!("set linux.personality {:#x}", self.personality.unwrap_or(0)),
            InitStep::MemoryPolicy => format!(
                "set linux.memoryPolicy ({}; a node must exist and be in the container's cpuset)",
                self.memory_policy.as_ref().map_or("", |(_, d)| d.as_str())
            ),
            _ => return None,
        })
    }

    /// Sets the I/O priority, while the init still has every capability (an RT class needs
    /// CAP_SYS_ADMIN).
    ///
    /// Runs in the child: no allocation, no locks.
    pub(crate) fn set_io_priority(&self) -> Result<(), Failed> {
        match self.io_priority {
            Some(prio) => process::ioprio_set(prio).at(InitStep::IoPriority),
            None => Ok(()),
        }
    }

    /// Sets the final CPU affinity, once in the cgroup: `final`, or every CPU of the cgroup's
    /// cpuset, whatever affinity the runtime or `initial` gave.
    ///
    /// Runs in the child: no allocation, no locks.
    pub(crate) fn set_final_affinity(&self) -> Result<(), Failed> {
        process::sched_setaffinity(0, &self.affinity_final).at(InitStep::CpuAffinity)
    }

    /// Sets the rlimits.
    ///
    /// Runs in the child: no allocation, no locks.
    pub(crate) fn set_rlimits(&self) -> Result<(), Failed> {
        for (i, (res, soft, hard, _)) in self.rlimits.iter().enumerate() {
            process::setrlimit(*res, *soft, *hard).at_index(InitStep::Rlimit, i as u32)?;
        }
        Ok(())
    }

    /// Changes into the cwd, which resolves in the container and must stay in its root.
    ///
    /// Runs in the child: no allocation, no locks.
    pub(crate) fn enter_cwd(&self) -> Result<(), Failed> {
        fs::chdir(&self.cwd).at(InitStep::Chdir)?;
        verify_cwd().at_index(InitStep::Chdir, CWD_OUTSIDE_ROOT)
    }

    /// Sets the scheduler while the init still has every capability (an RT policy and a
    /// negative nice need CAP_SYS_NICE), in its cgroup (a v1 cpu cgroup without RT runtime
    /// refuses an RT task); then the memory policy, which the cgroup's cpuset limits, inherited
    /// across exec.
    ///
    /// Runs in the child: no allocation, no locks.
    pub(crate) fn set_scheduling(&self) -> Result<(), Failed> {
        if let Some(attr) = &self.scheduler {
            process::sched_setattr(attr).at(InitStep::Scheduler)?;
        }
        if let Some((policy, _)) = &self.memory_policy {
            process::set_mempolicy(policy.mode, &policy.nodes, mempolicy::MemPolicy::MAX_NODE)
                .at(InitStep::MemoryPolicy)?;
        }
        Ok(())
    }

    /// The first candidate for `args[0]` that is an executable file, as its index for
    /// [`ProcessPlan::exec`].
    ///
    /// Runs in the child: no allocation, no locks.
    pub(crate) fn find_executable(&self) -> Result<usize, Failed> {
        self.exe_candidates
            .iter()
            .position(|c| fs::is_executable(c).is_ok())
            .ok_or(libc::ENOENT)
            .at(InitStep::Lookup)
    }

    /// Sets the personality.
    ///
    /// Runs in the child: no allocation, no locks.
    pub(crate) fn set_personality(&self) -> Result<(), Failed> {
        match self.personality {
            Some(persona) => process::personality(persona).map(drop).at(InitStep::Personality),
            None => Ok(()),
        }
    }

    /// Executes the candidate `exe` ([`ProcessPlan::find_executable`]); returns only the exit
    /// code of a failure.
    ///
    /// Runs in the child: no allocation, no locks.
    pub(crate) fn exec(&self, exe: usize) -> i32 {
        let errno = match self.exe_candidates.get(exe) {
            Some(path) => process::execve(path, &self.argv_ptrs, &self.envp_ptrs),
            None => libc::ENOENT,
        };
        let _ = fs::write_whole(fd::Stdio::Err.fd(), b"ocirun: exec of the container process failed\n");
        if errno == libc::ENOENT { 127 } else { 126 }
    }
}

/// Checks that the working directory is inside this process's root, as runc's verifyCwd: the
/// kernel's getcwd reports one outside it as "(unreachable)/..." and one that is gone as
/// ENOENT. Either is ENOENT here.
///
/// Runs in the child: no allocation, no locks.
fn verify_cwd() -> Result<(), i32> {
    let mut buf = [0u8; libc::PATH_MAX as usize];
    let len = fs::getcwd(&mut buf)?;
    match buf.get(..len) {
        Some([b'/', ..]) => Ok(()),
        _ => Err(libc::ENOENT),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::init::tests::in_forked_child;

    #[test]
    fn a_cwd_outside_the_root_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::ffi::CString::new(dir.path().as_os_str().as_encoded_bytes()).unwrap();
        in_forked_child(|| {
            let inside = verify_cwd().is_ok();
            // A chroot to a directory of this test while the cwd stays where it was, in this
            // forked child only.
            let chrooted = fs::chroot(&root).is_ok();
            inside && chrooted && verify_cwd() == Err(libc::ENOENT)
        });
    }
}
