//! The container's seccomp filter: compiled in the parent, loaded by the init last (or before
//! the user switch when only CAP_SYS_ADMIN could load it), its notify listener sent to the
//! runtime.

use std::os::fd::{AsFd, BorrowedFd};

use ocirun_sys::socket;

use oci_spec::runtime::Linux;

use super::identity::IdentityPlan;
use super::step::{At, Failed, InitStep};
use crate::sync::{FdKind, Msg, Tag};
use crate::{Error, Result};

/// The seccomp filter of the init, compiled in the parent.
pub(crate) struct SeccompPlan {
    program: Option<seccomp::SeccompProgram>,
    /// Load the filter before the user switch: without no_new_privs, loading it
    /// needs CAP_SYS_ADMIN, which the process does not keep (runc's order).
    pub early: bool,
    /// Where the notify listener fd goes, and the profile's listenerMetadata.
    pub listener: Option<(std::path::PathBuf, Option<String>)>,
}

impl SeccompPlan {
    /// `linux.seccomp`, loaded in the order `identity` allows.
    pub(crate) fn compile(linux: &Linux, identity: &IdentityPlan) -> Result<SeccompPlan> {
        let Some(profile) = linux.seccomp() else {
            return Ok(SeccompPlan {
                program: None,
                early: false,
                listener: None,
            });
        };
        let program = seccomp::SeccompProgram::compile(profile).map_err(Error::Seccomp)?;
        // Loading last needs no_new_privs or CAP_SYS_ADMIN in the final effective set.
        let listener = match profile.listener_path() {
            Some(path) if program.needs_listener() => Some((path.clone(), profile.listener_metadata().clone())),
            _ => None,
        };
        Ok(SeccompPlan {
            program: Some(program),
            early: !identity.no_new_privileges && !identity.keeps_sys_admin(),
            listener,
        })
    }

    /// Loads the filter, if any, when `early` is when it loads, and hands its notify listener
    /// to the parent.
    ///
    /// Runs in the child: no allocation, no locks.
    pub(crate) fn load(&self, sync: BorrowedFd<'_>, early: bool) -> Result<(), Failed> {
        if early != self.early {
            return Ok(());
        }
        self.load_now(sync).at(InitStep::Seccomp)
    }

    /// Runs in the child: no allocation, no locks.
    fn load_now(&self, sync: BorrowedFd<'_>) -> Result<(), i32> {
        let Some(program) = &self.program else {
            return Ok(());
        };
        if let Some(listener) = program.load()? {
            let msg = Msg::new(Tag::Fd, FdKind::SeccompListener as u32, 0, 0).encode();
            let sent = socket::send_whole_with_fds(sync, &msg, &[listener.as_fd()]);
            // The container process must never hold the listener.
            drop(listener);
            sent?;
        }
        Ok(())
    }
}
