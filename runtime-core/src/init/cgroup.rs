//! How the init joins the container's cgroup: the parent's Go brings each v1 `tasks` file
//! open (and the detached binds the mount plan left for later), and the init writes "0" to
//! each.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use ocirun_sys::{fd, socket};

use super::step::{Failed, InitStep};
use crate::sync::{Tag, wait_for};
use crate::{Error, Result};

/// The cgroup join of the init, compiled in the parent.
pub(crate) struct CgroupJoin {
    /// Each v1 hierarchy's `tasks` file, for errors: the parent's Go brings them open, in
    /// this order, and the init writes "0" to each.
    tasks: Vec<String>,
    /// How many detached cgroup binds follow the `tasks` files in Go, for the binds the
    /// mount plan leaves for later (0 when it leaves none).
    pub late_binds: usize,
    /// Wait for Go (the cgroup made) before any other work: a cgroup namespace is rooted
    /// where the init is, the create hooks expect it in its cgroup, or the mount plan binds
    /// the cgroup directories in place.
    pub first: bool,
}

impl CgroupJoin {
    /// A join of the `tasks` files named, with `late_binds` binds after them; refused when
    /// they would not fit one message.
    pub(crate) fn compile(
        tasks: Vec<String>,
        late_binds: usize,
        first: bool,
        hierarchies: usize,
    ) -> Result<CgroupJoin> {
        if tasks.len() + late_binds > socket::MAX_MSG_FDS {
            return Err(Error::spec(
                "linux.cgroupsPath",
                format!(
                    "this host has {hierarchies} cgroup hierarchies: more than ocirun hands to the init ({} fds at most)",
                    socket::MAX_MSG_FDS
                ),
            ));
        }
        Ok(CgroupJoin {
            tasks,
            late_binds,
            first,
        })
    }

    /// What a failed step of this plan was doing, for the parent's error.
    pub(crate) fn describe(&self, step: InitStep, index: u32) -> Option<String> {
        match step {
            InitStep::JoinCgroup => Some(match self.tasks.get(index as usize) {
                Some(path) => format!("join cgroup: write 0 to {path}"),
                None => "join cgroup".into(),
            }),
            _ => None,
        }
    }

    /// Waits for the parent's Go (the cgroup is made) and the fds it brings into `fds`: each v1
    /// `tasks` file, then the detached binds for the late cgroup binds; then writes "0" to each
    /// `tasks` file, which moves this process's one thread, skipping the global lock (and its
    /// RCU wait) that a pid in cgroup.procs takes, and closes them: the host's cgroup files are
    /// no business of the container's.
    ///
    /// Runs in the child: no allocation, no locks.
    pub(crate) fn join(&self, sync: BorrowedFd<'_>, fds: &mut [Option<OwnedFd>]) -> Result<(), Failed> {
        self.wait_go(sync, fds).map_err(|errno| Failed {
            step: InitStep::WaitStart,
            index: 0,
            errno,
        })?;
        let tasks = self.tasks.len();
        let joined = cgroups::join_self(fds.iter().take(tasks).flatten().map(|f| f.as_fd()));
        if let Err((i, errno)) = joined {
            return Err(Failed {
                step: InitStep::JoinCgroup,
                index: i as u32,
                errno,
            });
        }
        fd::close_fds(fds.get_mut(..tasks).unwrap_or_default());
        Ok(())
    }

    /// The detached binds Go brought, after the `tasks` files.
    pub(crate) fn late_binds<'a>(&self, fds: &'a [Option<OwnedFd>]) -> impl Iterator<Item = BorrowedFd<'a>> {
        fds.iter().skip(self.tasks.len()).flatten().map(|f| f.as_fd())
    }

    /// Runs in the child: no allocation, no locks.
    fn wait_go(&self, sync: BorrowedFd<'_>, fds: &mut [Option<OwnedFd>]) -> Result<(), i32> {
        if wait_for(sync, Tag::Go, fds)? == self.tasks.len() + self.late_binds {
            Ok(())
        } else {
            Err(libc::EPROTO)
        }
    }
}
