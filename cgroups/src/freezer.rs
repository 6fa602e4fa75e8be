//! Freezing and thawing: the v1 freezer hierarchy where there is one, else cgroup v2's cgroup.freeze.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::{CgroupError, Result};
use crate::{Cgroup, fsio};

/// How long [`freeze`] waits for the kernel to report the cgroup frozen.
const FREEZE_WAIT: Duration = Duration::from_secs(5);

/// The freezer state of a cgroup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FreezerState {
    /// Running.
    Thawed,
    /// Asked to freeze; some tasks are not frozen yet.
    Freezing,
    /// Every task is frozen.
    Frozen,
}

enum Freezer<'a> {
    V1(&'a Path),
    V2(&'a Path),
}

fn freezer(cg: &Cgroup) -> Result<Freezer<'_>> {
    if let Some(d) = cg.dirs.iter().find(|d| !d.h.v2 && d.h.has("freezer")) {
        return Ok(Freezer::V1(&d.path));
    }
    if let Some(d) = cg.v2_dir() {
        return Ok(Freezer::V2(&d.path));
    }
    Err(CgroupError::NoFreezer)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Freezes and waits until frozen; past the bounded wait, thaws again and errors.
pub(crate) fn freeze(cg: &Cgroup) -> Result<()> {
    let f = freezer(cg)?;
    let (dir, file, value) = match f {
        Freezer::V1(d) => (d, "freezer.state", "FROZEN"),
        Freezer::V2(d) => (d, "cgroup.freeze", "1"),
    };
    fsio::write(dir, file, value)?;
    let start = Instant::now();
    let mut pause = Duration::from_micros(100);
    let mut polls = 0u32;
    loop {
        if read_state(&f)? == FreezerState::Frozen {
            return Ok(());
        }
        if start.elapsed() > FREEZE_WAIT {
            let _ = thaw(cg);
            return Err(CgroupError::FreezeTimeout {
                path: dir.to_path_buf(),
                waited_ms: millis(start.elapsed()),
            });
        }
        polls += 1;
        if polls.is_multiple_of(10) {
            // v1 can stay in FREEZING while a task sleeps uninterruptibly: ask again, as runc does.
            fsio::write(dir, file, value)?;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(10));
    }
}

/// Thaws.
pub(crate) fn thaw(cg: &Cgroup) -> Result<()> {
    match freezer(cg)? {
        Freezer::V1(d) => fsio::write(d, "freezer.state", "THAWED"),
        Freezer::V2(d) => fsio::write(d, "cgroup.freeze", "0"),
    }
}

/// Whether the cgroup exists already and is frozen or freezing (a new process would stop in
/// it); false when it does not exist or there is no freezer. One read where it is missing.
pub(crate) fn frozen_already(cg: &Cgroup) -> Result<bool> {
    let Ok(f) = freezer(cg) else {
        return Ok(false);
    };
    Ok(match f {
        Freezer::V1(d) => fsio::read_opt(d, "freezer.state")?.is_some_and(|s| s.trim() != "THAWED"),
        Freezer::V2(d) => fsio::read_opt(d, "cgroup.freeze")?.is_some_and(|s| s.trim() == "1"),
    })
}

/// Reads the freezer state.
pub(crate) fn state(cg: &Cgroup) -> Result<FreezerState> {
    read_state(&freezer(cg)?)
}

fn read_state(f: &Freezer<'_>) -> Result<FreezerState> {
    match f {
        Freezer::V1(d) => {
            let s = fsio::read(d, "freezer.state")?;
            match s.trim() {
                "THAWED" => Ok(FreezerState::Thawed),
                "FREEZING" => Ok(FreezerState::Freezing),
                "FROZEN" => Ok(FreezerState::Frozen),
                _ => Err(CgroupError::Parse {
                    path: d.join("freezer.state"),
                    content: s,
                }),
            }
        }
        Freezer::V2(d) => {
            let want = fsio::read(d, "cgroup.freeze")?;
            if want.trim() == "0" {
                return Ok(FreezerState::Thawed);
            }
            let events = fsio::read_keyed(d, "cgroup.events")?;
            if fsio::key(&events, "frozen") == 1 {
                Ok(FreezerState::Frozen)
            } else {
                Ok(FreezerState::Freezing)
            }
        }
    }
}

/// Before killing: a task in a frozen v1 cgroup does not die until thawed. Best effort.
pub(crate) fn thaw_v1_for_kill(cg: &Cgroup) {
    if let Some(d) = cg.dirs.iter().find(|d| !d.h.v2 && d.h.has("freezer")) {
        let frozen = fsio::read_opt(&d.path, "freezer.state")
            .ok()
            .flatten()
            .is_some_and(|s| s.trim() != "THAWED");
        if frozen {
            let _ = fsio::write(&d.path, "freezer.state", "THAWED");
        }
    }
}
