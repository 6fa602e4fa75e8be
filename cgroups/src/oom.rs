//! OOM notifications, as `runc events` streams them: on v1 an eventfd registered for
//! memory.oom_control through cgroup.event_control; on v2 memory.events, whose change the kernel
//! signals with POLLPRI, and its "oom" counter.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{CgroupError, Result};
use crate::{Cgroup, fsio};

/// Reports the OOM events of one cgroup.
#[derive(Debug)]
pub struct OomNotifier {
    watch: Watch,
    /// The cgroup directory, to tell removal from an OOM event.
    dir: PathBuf,
}

#[derive(Debug)]
enum Watch {
    V1 {
        eventfd: OwnedFd,
        /// Registered with the eventfd: kept open for as long as the registration.
        _oom_control: File,
    },
    V2 {
        events: File,
        seen: u64,
    },
}

fn open_err(path: &Path) -> impl FnOnce(std::io::Error) -> CgroupError + '_ {
    move |source| CgroupError::Open {
        path: path.to_path_buf(),
        source,
    }
}

fn read_oom_v2(events: &File, path: &Path) -> Result<u64> {
    let mut buf = vec![0u8; 4096];
    let n = events.read_at(&mut buf, 0).map_err(|source| CgroupError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let text = String::from_utf8_lossy(&buf[..n]);
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("oom ") {
            return fsio::parse_u64(path, v);
        }
    }
    Ok(0)
}

impl OomNotifier {
    pub(crate) fn new(cg: &Cgroup) -> Result<OomNotifier> {
        let d = cg.dir_for("memory").ok_or(CgroupError::MissingController {
            field: "OOM notification",
            controller: "memory",
        })?;
        let dir = d.path.clone();
        let watch = if d.h.v2 {
            let path = dir.join("memory.events");
            let events = File::options()
                .read(true)
                .custom_flags(libc::O_CLOEXEC)
                .open(&path)
                .map_err(open_err(&path))?;
            let seen = read_oom_v2(&events, &path)?;
            Watch::V2 { events, seen }
        } else {
            let path = dir.join("memory.oom_control");
            let oom_control = File::options()
                .read(true)
                .custom_flags(libc::O_CLOEXEC)
                .open(&path)
                .map_err(open_err(&path))?;
            let eventfd = ocirun_sys::io::eventfd().map_err(|source| CgroupError::Open {
                path: PathBuf::from("eventfd"),
                source,
            })?;
            let registration = format!("{} {}", eventfd.as_raw_fd(), oom_control.as_raw_fd());
            fsio::write(&dir, "cgroup.event_control", &registration)?;
            Watch::V1 {
                eventfd,
                _oom_control: oom_control,
            }
        };
        Ok(OomNotifier { watch, dir })
    }

    /// Waits up to `timeout` for OOM events; returns how many happened (0 when none did in
    /// time). Once the cgroup is removed it only waits out the timeout.
    pub fn wait(&mut self, timeout: Duration) -> Result<u64> {
        let start = Instant::now();
        let poll_err = |source| CgroupError::Read {
            path: PathBuf::from("poll of the OOM notification"),
            source,
        };
        let gone = |dir: &Path| !dir.join("cgroup.procs").exists();
        if gone(&self.dir) {
            std::thread::sleep(timeout);
            return Ok(0);
        }
        let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
        match &mut self.watch {
            Watch::V1 { eventfd, .. } => {
                let revents = ocirun_sys::io::poll_one(eventfd.as_fd(), libc::POLLIN, ms)
                    .map_err(|e| poll_err(std::io::Error::from_raw_os_error(e)))?;
                if revents & libc::POLLIN == 0 {
                    return Ok(0);
                }
                let n = ocirun_sys::io::eventfd_read(eventfd.as_fd()).map_err(poll_err)?;
                // The kernel signals the eventfd when the cgroup goes away, too.
                if gone(&self.dir) {
                    std::thread::sleep(timeout.saturating_sub(start.elapsed()));
                    return Ok(0);
                }
                Ok(n)
            }
            Watch::V2 { events, seen } => {
                ocirun_sys::io::poll_one(events.as_fd(), libc::POLLPRI, ms)
                    .map_err(|e| poll_err(std::io::Error::from_raw_os_error(e)))?;
                let path = self.dir.join("memory.events");
                let now = read_oom_v2(events, &path)?;
                let new = now.saturating_sub(*seen);
                *seen = now;
                Ok(new)
            }
        }
    }
}
