//! Seccomp return values for the OCI actions, and their precedence.

use oci_spec::runtime::LinuxSeccompAction;

use crate::error::SeccompError;

/// `SECCOMP_RET_KILL_PROCESS`.
pub const RET_KILL_PROCESS: u32 = 0x8000_0000;
/// `SECCOMP_RET_KILL_THREAD` (also `SCMP_ACT_KILL`).
pub const RET_KILL_THREAD: u32 = 0x0000_0000;
/// `SECCOMP_RET_TRAP`.
pub const RET_TRAP: u32 = 0x0003_0000;
/// `SECCOMP_RET_ERRNO`.
pub const RET_ERRNO: u32 = 0x0005_0000;
/// `SECCOMP_RET_USER_NOTIF`.
pub const RET_USER_NOTIF: u32 = 0x7fc0_0000;
/// `SECCOMP_RET_TRACE`.
pub const RET_TRACE: u32 = 0x7ff0_0000;
/// `SECCOMP_RET_LOG`.
pub const RET_LOG: u32 = 0x7ffc_0000;
/// `SECCOMP_RET_ALLOW`.
pub const RET_ALLOW: u32 = 0x7fff_0000;
/// `SECCOMP_RET_ACTION_FULL`: the action part of a return value.
pub const RET_ACTION_FULL: u32 = 0xffff_0000;

/// What an ERRNO or TRACE action returns when the profile gives no errnoRet (runc: EPERM).
pub const DEFAULT_ERRNO: u32 = libc::EPERM as u32;

/// The return value of `SCMP_ACT_ERRNO(ENOSYS)`, for syscalls newer than the profile.
pub const RET_ENOSYS: u32 = RET_ERRNO | libc::ENOSYS as u32;

/// The filter's return value for `action` with the optional errno.
/// `field` names the errno field for error messages.
pub(crate) fn action_value(
    action: LinuxSeccompAction,
    errno_ret: Option<u32>,
    field: &str,
) -> Result<u32, SeccompError> {
    let with_data = |base: u32| -> Result<u32, SeccompError> {
        let data = errno_ret.unwrap_or(DEFAULT_ERRNO);
        if data > 0xffff {
            return Err(SeccompError::ErrnoTooLarge {
                field: field.to_owned(),
                value: data,
            });
        }
        Ok(base | data)
    };
    let no_data = |base: u32| -> Result<u32, SeccompError> {
        if errno_ret.is_some() {
            return Err(SeccompError::ErrnoWithoutErrnoAction {
                field: field.to_owned(),
                action: action.to_string(),
            });
        }
        Ok(base)
    };
    match action {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => no_data(RET_KILL_THREAD),
        LinuxSeccompAction::ScmpActKillProcess => no_data(RET_KILL_PROCESS),
        LinuxSeccompAction::ScmpActTrap => no_data(RET_TRAP),
        LinuxSeccompAction::ScmpActErrno => with_data(RET_ERRNO),
        LinuxSeccompAction::ScmpActTrace => with_data(RET_TRACE),
        LinuxSeccompAction::ScmpActNotify => no_data(RET_USER_NOTIF),
        LinuxSeccompAction::ScmpActLog => no_data(RET_LOG),
        LinuxSeccompAction::ScmpActAllow => no_data(RET_ALLOW),
    }
}

/// Precedence key as the kernel orders actions across filters: smaller wins
/// (KILL_PROCESS, KILL_THREAD, TRAP, ERRNO, USER_NOTIF, TRACE, LOG, ALLOW).
pub(crate) fn precedence(ret: u32) -> i32 {
    (ret & RET_ACTION_FULL) as i32
}

/// Whether runc leaves out its ENOSYS stub for this default action (permissive defaults).
pub(crate) fn is_permissive(ret: u32) -> bool {
    matches!(ret & RET_ACTION_FULL, RET_ALLOW | RET_LOG | RET_TRACE)
}
