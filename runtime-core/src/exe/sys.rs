//! The system calls of [`super`]: one each, on raw fds, with the errno as the error.

use std::ffi::{CStr, c_char};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// `FSOPEN_CLOEXEC` from `linux/mount.h`.
const FSOPEN_CLOEXEC: libc::c_uint = 0x1;
/// `FSCONFIG_SET_STRING` from `linux/mount.h`.
const FSCONFIG_SET_STRING: libc::c_uint = 1;
/// `FSCONFIG_CMD_CREATE` from `linux/mount.h`.
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
/// `FSMOUNT_CLOEXEC` from `linux/mount.h`.
const FSMOUNT_CLOEXEC: libc::c_uint = 0x1;
/// `MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV` from `linux/mount.h`.
const MOUNT_ATTR_RDONLY_NOSUID_NODEV: libc::c_uint = 0x1 | 0x2 | 0x4;

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO)
}

/// An fd a system call just returned, owned.
fn owned(ret: libc::c_long) -> Result<OwnedFd, i32> {
    if ret < 0 {
        return Err(errno());
    }
    let fd = libc::c_int::try_from(ret).map_err(|_| libc::EBADF)?;
    // SAFETY: the kernel returned this fd just now and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// fsopen(2) of file system type `fs`, close-on-exec.
pub(super) fn fsopen(fs: &CStr) -> Result<OwnedFd, i32> {
    // SAFETY: fs is NUL-terminated.
    owned(unsafe { libc::syscall(libc::SYS_fsopen, fs.as_ptr(), FSOPEN_CLOEXEC) })
}

/// fsconfig(2) `FSCONFIG_SET_STRING` of `key` to `value`.
pub(super) fn fsconfig_string(fs: BorrowedFd<'_>, key: &CStr, value: &CStr) -> Result<(), i32> {
    // SAFETY: key and value are NUL-terminated; aux is unused for this command.
    let r = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            FSCONFIG_SET_STRING,
            key.as_ptr(),
            value.as_ptr(),
            0,
        )
    };
    if r < 0 { Err(errno()) } else { Ok(()) }
}

/// fsconfig(2) `FSCONFIG_CMD_CREATE`: makes the superblock.
pub(super) fn fsconfig_create(fs: BorrowedFd<'_>) -> Result<(), i32> {
    // SAFETY: this command takes no pointers.
    let r = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<c_char>(),
            std::ptr::null::<c_char>(),
            0,
        )
    };
    if r < 0 { Err(errno()) } else { Ok(()) }
}

/// fsmount(2): a detached mount of `fs`, read-only, nosuid and nodev, close-on-exec.
pub(super) fn fsmount_read_only(fs: BorrowedFd<'_>) -> Result<OwnedFd, i32> {
    // SAFETY: integer arguments only.
    owned(unsafe {
        libc::syscall(
            libc::SYS_fsmount,
            fs.as_raw_fd(),
            FSMOUNT_CLOEXEC,
            MOUNT_ATTR_RDONLY_NOSUID_NODEV,
        )
    })
}

/// openat(2) of `name` below `dir`, `O_PATH | O_NOFOLLOW`, close-on-exec.
pub(super) fn open_path(dir: BorrowedFd<'_>, name: &CStr) -> Result<OwnedFd, i32> {
    // SAFETY: name is NUL-terminated; no mode without O_CREAT.
    owned(
        unsafe {
            libc::openat(
                dir.as_raw_fd(),
                name.as_ptr(),
                libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            )
        }
        .into(),
    )
}

/// memfd_create(2) with `flags` (close-on-exec is added).
pub(super) fn memfd_create(name: &CStr, flags: libc::c_uint) -> Result<OwnedFd, i32> {
    // SAFETY: name is NUL-terminated.
    owned(unsafe { libc::syscall(libc::SYS_memfd_create, name.as_ptr(), flags | libc::MFD_CLOEXEC) })
}

/// fcntl(2) `F_ADD_SEALS`.
pub(super) fn add_seals(fd: BorrowedFd<'_>, seals: libc::c_int) -> Result<(), i32> {
    // SAFETY: F_ADD_SEALS takes an integer.
    let r = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, seals) };
    if r < 0 { Err(errno()) } else { Ok(()) }
}

/// fcntl(2) `F_GET_SEALS`: the seals of a memfd (an error for other files).
pub(super) fn get_seals(fd: BorrowedFd<'_>) -> Result<libc::c_int, i32> {
    // SAFETY: F_GET_SEALS takes no argument.
    let r = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) };
    if r < 0 { Err(errno()) } else { Ok(r) }
}

// glibc's `statfs` in the libc crate hides f_flags; its statfs64 shows it. musl's shows it.
#[cfg(not(target_env = "gnu"))]
use libc::{fstatfs as fstatfs_call, statfs as StatFs};
#[cfg(target_env = "gnu")]
use libc::{fstatfs64 as fstatfs_call, statfs64 as StatFs};

/// fstatfs(2): the file system type and its mount flags.
pub(super) fn fstatfs(fd: BorrowedFd<'_>) -> Result<(i64, u64), i32> {
    // SAFETY: a zeroed statfs is a valid out-parameter.
    let mut st: StatFs = unsafe { std::mem::zeroed() };
    // SAFETY: st is writable and fd is open.
    if unsafe { fstatfs_call(fd.as_raw_fd(), &mut st) } < 0 {
        return Err(errno());
    }
    #[allow(clippy::unnecessary_cast)] // the field types differ between architectures
    Ok((st.f_type as i64, st.f_flags as u64))
}

/// statx(2) of the file behind `fd` (`AT_EMPTY_PATH`) for `mask`.
pub(super) fn fstatx(fd: BorrowedFd<'_>, mask: libc::c_uint) -> Result<libc::statx, i32> {
    // SAFETY: a zeroed statx is a valid out-parameter.
    let mut st: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: the path is an empty NUL-terminated string, st is writable and fd is open.
    let r = unsafe { libc::statx(fd.as_raw_fd(), c"".as_ptr(), libc::AT_EMPTY_PATH, mask, &mut st) };
    if r < 0 { Err(errno()) } else { Ok(st) }
}

/// Whether the file behind `fd` has an access ACL (`system.posix_acl_access`).
pub(super) fn has_access_acl(fd: BorrowedFd<'_>) -> Result<bool, i32> {
    // SAFETY: a size query: no buffer is written with a null pointer and size 0.
    let r = unsafe {
        libc::fgetxattr(
            fd.as_raw_fd(),
            c"system.posix_acl_access".as_ptr(),
            std::ptr::null_mut(),
            0,
        )
    };
    match r {
        n if n >= 0 => Ok(true),
        _ => match errno() {
            libc::ENODATA | libc::EOPNOTSUPP => Ok(false),
            e => Err(e),
        },
    }
}

/// execveat(2) of `name` below `dir` (not following a final symlink), or of `dir` itself
/// when `name` is empty; returns only on failure, with the errno. `argv` and `envp` are
/// null-terminated arrays of pointers to NUL-terminated strings.
pub(super) fn execveat(dir: BorrowedFd<'_>, name: &CStr, argv: &[*const c_char], envp: &[*const c_char]) -> i32 {
    if argv.last().is_none_or(|p| !p.is_null()) || envp.last().is_none_or(|p| !p.is_null()) {
        return libc::EINVAL;
    }
    let flags = if name.is_empty() {
        libc::AT_EMPTY_PATH
    } else {
        libc::AT_SYMLINK_NOFOLLOW
    };
    // SAFETY: both arrays end in a null pointer (checked above) and point at NUL-terminated
    // strings the caller keeps alive; name is NUL-terminated.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            dir.as_raw_fd(),
            name.as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
            flags,
        )
    };
    errno()
}
