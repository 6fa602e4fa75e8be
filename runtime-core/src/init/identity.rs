//! Who the container process is: its uid, gid and groups, umask, capabilities and
//! no_new_privileges.

use std::os::fd::BorrowedFd;

use oci_spec::runtime::Process;
use ocirun_sys::{fs, process, socket};

use super::step::{At, Failed, InitStep};
use crate::sync::{Msg, Tag};
use crate::{Error, Result, caps};

/// Capability sets as bit masks.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CapSets {
    pub bounding: u64,
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
    pub ambient: u64,
}

/// The process's identity, compiled in the parent.
pub(crate) struct IdentityPlan {
    pub uid: libc::uid_t,
    gid: libc::gid_t,
    groups: Vec<libc::gid_t>,
    /// `setgroups` is `deny` in the user namespace (rootless, a single-id gid map): the
    /// process keeps the caller's supplementary groups, as with runc.
    skip_setgroups: bool,
    umask: Option<libc::mode_t>,
    pub caps: Option<CapSets>,
    last_cap: u32,
    pub no_new_privileges: bool,
}

impl IdentityPlan {
    /// `process.user`, `process.capabilities` and `process.noNewPrivileges`; `setgroups_denied`
    /// says `setgroups` is (or will be) `deny` in the container's user namespace.
    pub(crate) fn compile(process: &Process, setgroups_denied: bool) -> Result<IdentityPlan> {
        let user = process.user();
        let groups = user.additional_gids().clone().unwrap_or_default();
        if setgroups_denied && !groups.is_empty() {
            return Err(Error::spec(
                "process.user.additionalGids",
                "setgroups is denied in the rootless container's user namespace (its gid map is the \
                 caller's gid alone); map a range of gids (newgidmap, /etc/subgid) to set groups",
            ));
        }
        let caps = match process.capabilities() {
            Some(c) => {
                let set = |field: &str, s: &Option<oci_spec::runtime::Capabilities>| {
                    caps::mask(field, s.iter().flatten().map(|c| c.to_string()))
                };
                Some(CapSets {
                    bounding: set("process.capabilities.bounding", c.bounding())?,
                    effective: set("process.capabilities.effective", c.effective())?,
                    permitted: set("process.capabilities.permitted", c.permitted())?,
                    inheritable: set("process.capabilities.inheritable", c.inheritable())?,
                    ambient: set("process.capabilities.ambient", c.ambient())?,
                })
            }
            None => None,
        };
        Ok(IdentityPlan {
            uid: user.uid(),
            gid: user.gid(),
            groups,
            skip_setgroups: setgroups_denied,
            umask: user.umask(),
            caps,
            last_cap: caps::last_cap(),
            no_new_privileges: process.no_new_privileges().unwrap_or(false),
        })
    }

    /// Whether the process keeps CAP_SYS_ADMIN in its effective set.
    pub(crate) fn keeps_sys_admin(&self) -> bool {
        match &self.caps {
            Some(c) => caps::number("CAP_SYS_ADMIN").is_some_and(|n| c.effective & (1 << n) != 0),
            // Without a capabilities object only root keeps its capabilities.
            None => self.uid == 0,
        }
    }

    /// What a failed step of this plan was doing, for the parent's error.
    pub(crate) fn describe(&self, step: InitStep, index: u32) -> Option<String> {
        Some(match step {
            InitStep::BoundingSet => format!(
                "drop capability {} from the bounding set",
                caps::name(index).unwrap_or("?")
            ),
            InitStep::SetGroups => format!("setgroups {:?}", self.groups),
            InitStep::SetGid => format!("setgid {}", self.gid),
            InitStep::SetUid => format!("setuid {}", self.uid),
            InitStep::Capabilities => "set capabilities".into(),
            InitStep::Ambient => format!("raise ambient capability {}", caps::name(index).unwrap_or("?")),
            InitStep::NoNewPrivileges => "set no_new_privs".into(),
            _ => return None,
        })
    }

    /// Drops from the bounding set what the spec does not keep, and keeps the permitted
    /// capabilities across the user switch.
    ///
    /// Runs in the child: no allocation, no locks.
    pub(crate) fn drop_bounding_set(&self) -> Result<(), Failed> {
        let Some(caps) = &self.caps else { return Ok(()) };
        for cap in 0..=self.last_cap {
            if caps.bounding & (1 << cap) == 0 {
                process::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong).at_index(InitStep::BoundingSet, cap)?;
            }
        }
        process::prctl(libc::PR_SET_KEEPCAPS, 1).at(InitStep::Prctl)
    }

    /// Gives the process's user its pty (runc's fixStdioPermissions): the uid changes, the
    /// group stays what devpts gave it.
    ///
    /// Runs in the child: no allocation, no locks.
    pub(crate) fn own_terminal(&self, pty: Option<BorrowedFd<'_>>) -> Result<(), Failed> {
        let Some(pty) = pty else { return Ok(()) };
        match fs::fchown(pty, self.uid, libc::gid_t::MAX) {
            Ok(()) | Err(libc::EINVAL | libc::EPERM | libc::EROFS) => Ok(()),
            Err(e) => Err(e).at_index(InitStep::Console, super::terminal::ConsoleStep::Chown as u32),
        }
    }

    /// Becomes the spec's user: groups, gid, uid; then non-dumpable again, and the umask.
    ///
    /// Runs in the child: no allocation, no locks.
    pub(crate) fn switch_user(&self) -> Result<(), Failed> {
        if !self.skip_setgroups {
            process::setgroups(&self.groups).at(InitStep::SetGroups)?;
        }
        process::setresgid(self.gid).at(InitStep::SetGid)?;
        process::setresuid(self.uid).at(InitStep::SetUid)?;
        // A change of user sets dumpable to fs.suid_dumpable, which a host may have at 1.
        process::prctl(libc::PR_SET_DUMPABLE, 0).at(InitStep::Prctl)?;
        if let Some(mask) = self.umask {
            fs::umask(mask);
        }
        Ok(())
    }

    /// Sets the capability sets and raises the ambient ones; one that cannot be raised is a
    /// warning to the runtime, as the runtime spec asks.
    ///
    /// Runs in the child: no allocation, no locks.
    pub(crate) fn set_capabilities(&self, sync: BorrowedFd<'_>) -> Result<(), Failed> {
        let Some(caps) = &self.caps else { return Ok(()) };
        process::prctl(libc::PR_SET_KEEPCAPS, 0).at(InitStep::Prctl)?;
        process::capset(caps.effective, caps.permitted, caps.inheritable).at(InitStep::Capabilities)?;
        for cap in 0..=self.last_cap {
            if caps.ambient & (1 << cap) == 0 {
                continue;
            }
            match process::ambient_raise(cap) {
                Ok(()) => {}
                // The runtime spec: a capability that cannot be granted is logged as a
                // warning, and the runtime carries on (runc spec 1.1 writes ambient
                // capabilities that are not inheritable).
                Err(errno @ (libc::EPERM | libc::EINVAL)) => {
                    socket::send_whole(
                        sync,
                        &Msg::new(Tag::Warning, InitStep::Ambient as u32, cap, errno).encode(),
                    )
                    .at_index(InitStep::Ambient, cap)?;
                }
                Err(errno) => return Err(errno).at_index(InitStep::Ambient, cap),
            }
        }
        Ok(())
    }

    /// Sets no_new_privs when the spec asks for it.
    ///
    /// Runs in the child: no allocation, no locks.
    pub(crate) fn set_no_new_privileges(&self) -> Result<(), Failed> {
        if self.no_new_privileges {
            process::prctl(libc::PR_SET_NO_NEW_PRIVS, 1).at(InitStep::NoNewPrivileges)?;
        }
        Ok(())
    }
}
