//! Thin wrappers, one syscall each, used by the child-side executor.
//!
//! Runs in the child: no allocation, no locks. Every wrapper returns the raw errno on failure
//! so the caller can build a `Copy` [`crate::StepFailure`].

use std::ffi::CStr;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use libc::{c_int, c_ulong, c_void};

/// Result of a raw syscall: the errno on failure.
pub(crate) type SysResult<T> = Result<T, i32>;

/// `MOUNT_ATTR_RDONLY` from `linux/mount.h`.
pub(crate) const MOUNT_ATTR_RDONLY: u64 = 0x0000_0001;
/// `MOUNT_ATTR_NOSUID` from `linux/mount.h`.
pub(crate) const MOUNT_ATTR_NOSUID: u64 = 0x0000_0002;
/// `MOUNT_ATTR_NODEV` from `linux/mount.h`.
pub(crate) const MOUNT_ATTR_NODEV: u64 = 0x0000_0004;
/// `MOUNT_ATTR_NOEXEC` from `linux/mount.h`.
pub(crate) const MOUNT_ATTR_NOEXEC: u64 = 0x0000_0008;
/// `MOUNT_ATTR__ATIME` (the atime field mask) from `linux/mount.h`.
pub(crate) const MOUNT_ATTR_ATIME_MASK: u64 = 0x0000_0070;
/// `MOUNT_ATTR_RELATIME` from `linux/mount.h` (the value 0 of the atime field).
pub(crate) const MOUNT_ATTR_RELATIME: u64 = 0x0000_0000;
/// `MOUNT_ATTR_NOATIME` from `linux/mount.h`.
pub(crate) const MOUNT_ATTR_NOATIME: u64 = 0x0000_0010;
/// `MOUNT_ATTR_STRICTATIME` from `linux/mount.h`.
pub(crate) const MOUNT_ATTR_STRICTATIME: u64 = 0x0000_0020;
/// `MOUNT_ATTR_NODIRATIME` from `linux/mount.h`.
pub(crate) const MOUNT_ATTR_NODIRATIME: u64 = 0x0000_0080;
/// `MOUNT_ATTR_NOSYMFOLLOW` from `linux/mount.h`.
pub(crate) const MOUNT_ATTR_NOSYMFOLLOW: u64 = 0x0020_0000;
/// `MOUNT_ATTR_IDMAP` from `linux/mount.h`: map the mount's ids through `userns_fd`.
pub(crate) const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;

/// `OPEN_TREE_CLONE` from `linux/mount.h`.
const OPEN_TREE_CLONE: libc::c_uint = 1;
/// `OPEN_TREE_CLOEXEC` from `linux/mount.h`.
const OPEN_TREE_CLOEXEC: libc::c_uint = libc::O_CLOEXEC as libc::c_uint;
/// `MOVE_MOUNT_F_EMPTY_PATH` from `linux/mount.h`.
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
/// `MOVE_MOUNT_T_EMPTY_PATH` from `linux/mount.h`.
const MOVE_MOUNT_T_EMPTY_PATH: libc::c_uint = 0x40;
/// `FSOPEN_CLOEXEC` from `linux/mount.h`.
const FSOPEN_CLOEXEC: libc::c_uint = 0x1;
/// `FSMOUNT_CLOEXEC` from `linux/mount.h`.
const FSMOUNT_CLOEXEC: libc::c_uint = 0x1;
/// `FSCONFIG_SET_FLAG` from `linux/mount.h`.
const FSCONFIG_SET_FLAG: libc::c_uint = 0;
/// `FSCONFIG_SET_STRING` from `linux/mount.h`.
const FSCONFIG_SET_STRING: libc::c_uint = 1;
/// `FSCONFIG_SET_FD` from `linux/mount.h`.
const FSCONFIG_SET_FD: libc::c_uint = 5;
/// `FSCONFIG_CMD_CREATE` from `linux/mount.h`.
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
/// `STATX_MNT_ID` from `linux/stat.h`.
const STATX_MNT_ID: libc::c_uint = 0x1000;

/// `struct mount_attr` from `linux/mount.h` (`MOUNT_ATTR_SIZE_VER0`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct MountAttr {
    /// Attributes to set.
    pub attr_set: u64,
    /// Attributes to clear.
    pub attr_clr: u64,
    /// Propagation type (`MS_PRIVATE`, `MS_SLAVE`, ...), 0 to keep it.
    pub propagation: u64,
    /// User namespace fd for id-mapped mounts (`MOUNT_ATTR_IDMAP`).
    pub userns_fd: u64,
}

/// `struct open_how` from `linux/openat2.h` (libc's is `#[non_exhaustive]`).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// The errno of the last failed libc call.
fn errno() -> i32 {
    // `last_os_error` only reads errno; it does not allocate.
    std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO)
}

/// Turns a `-1`-on-error return value into a `SysResult`.
fn check(ret: c_int) -> SysResult<c_int> {
    if ret < 0 { Err(errno()) } else { Ok(ret) }
}

/// Turns a `-1`-on-error `syscall(2)` return value into a `SysResult`.
fn check_long(ret: libc::c_long) -> SysResult<libc::c_long> {
    if ret < 0 { Err(errno()) } else { Ok(ret) }
}

/// Takes ownership of a freshly returned file descriptor.
fn owned(fd: c_int) -> OwnedFd {
    // SAFETY: `fd` was just returned by a successful open-like syscall; nobody else owns it.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// Converts an optional C string to a possibly-null pointer.
fn opt_ptr(s: Option<&CStr>) -> *const libc::c_char {
    s.map_or(std::ptr::null(), CStr::as_ptr)
}

/// mount(2).
pub(crate) fn mount(
    source: Option<&CStr>,
    target: &CStr,
    fstype: Option<&CStr>,
    flags: c_ulong,
    data: Option<&CStr>,
) -> SysResult<()> {
    let data_ptr = data.map_or(std::ptr::null(), |d| d.as_ptr().cast::<c_void>());
    // SAFETY: all pointers are null or point to NUL-terminated strings that outlive the call.
    check(unsafe { libc::mount(opt_ptr(source), target.as_ptr(), opt_ptr(fstype), flags, data_ptr) }).map(drop)
}

/// umount2(2).
pub(crate) fn umount2(target: &CStr, flags: c_int) -> SysResult<()> {
    // SAFETY: `target` is a NUL-terminated string that outlives the call.
    check(unsafe { libc::umount2(target.as_ptr(), flags) }).map(drop)
}

/// How many times openat2 is tried while the kernel answers EAGAIN: with RESOLVE_IN_ROOT or
/// RESOLVE_BENEATH it does when a rename or mount anywhere on the system raced a ".." of the
/// walk, and openat2(2) says to retry. runc's securejoin retries too.
pub(crate) const OPENAT2_ATTEMPTS: usize = 128;

/// openat2(2) relative to `dirfd`, retried on EINTR and, [`OPENAT2_ATTEMPTS`] times, EAGAIN.
pub(crate) fn openat2(dirfd: BorrowedFd<'_>, path: &CStr, flags: c_int, resolve: u64) -> SysResult<OwnedFd> {
    let how = OpenHow {
        // The flags are non-negative bit masks; the kernel takes them as u64.
        flags: u64::try_from(flags).map_err(|_| libc::EINVAL)?,
        mode: 0,
        resolve,
    };
    let mut attempts = 0;
    let fd = loop {
        // SAFETY: `path` is NUL-terminated, `how` is a valid `struct open_how` whose size is passed.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dirfd.as_raw_fd(),
                path.as_ptr(),
                &raw const how,
                std::mem::size_of::<OpenHow>(),
            )
        };
        attempts += 1;
        match check_long(ret) {
            Err(libc::EINTR) => continue,
            Err(libc::EAGAIN) if attempts < OPENAT2_ATTEMPTS => continue,
            other => break other?,
        }
    };
    Ok(owned(c_int::try_from(fd).map_err(|_| libc::EBADF)?))
}

/// open(2) of an absolute or cwd-relative path.
pub(crate) fn open(path: &CStr, flags: c_int) -> SysResult<OwnedFd> {
    // SAFETY: `path` is NUL-terminated and outlives the call.
    check(unsafe { libc::open(path.as_ptr(), flags) }).map(owned)
}

/// openat(2) of a single name below `dirfd`, with a creation mode.
pub(crate) fn openat(dirfd: BorrowedFd<'_>, name: &CStr, flags: c_int, mode: libc::mode_t) -> SysResult<OwnedFd> {
    // SAFETY: `name` is NUL-terminated and outlives the call; `dirfd` is open.
    check(unsafe { libc::openat(dirfd.as_raw_fd(), name.as_ptr(), flags, mode) }).map(owned)
}

/// mkdirat(2).
pub(crate) fn mkdirat(dirfd: BorrowedFd<'_>, name: &CStr, mode: libc::mode_t) -> SysResult<()> {
    // SAFETY: `name` is NUL-terminated and outlives the call; `dirfd` is open.
    check(unsafe { libc::mkdirat(dirfd.as_raw_fd(), name.as_ptr(), mode) }).map(drop)
}

/// mknodat(2).
pub(crate) fn mknodat(dirfd: BorrowedFd<'_>, name: &CStr, mode: libc::mode_t, dev: libc::dev_t) -> SysResult<()> {
    // SAFETY: `name` is NUL-terminated and outlives the call; `dirfd` is open.
    check(unsafe { libc::mknodat(dirfd.as_raw_fd(), name.as_ptr(), mode, dev) }).map(drop)
}

/// fchownat(2) without following a final symlink.
pub(crate) fn fchownat(dirfd: BorrowedFd<'_>, name: &CStr, uid: libc::uid_t, gid: libc::gid_t) -> SysResult<()> {
    // SAFETY: `name` is NUL-terminated and outlives the call; `dirfd` is open.
    check(unsafe { libc::fchownat(dirfd.as_raw_fd(), name.as_ptr(), uid, gid, libc::AT_SYMLINK_NOFOLLOW) }).map(drop)
}

/// fchownat(2) of what `fd` itself is (`AT_EMPTY_PATH`; an `O_PATH` fd will do).
pub(crate) fn fchown_fd(fd: BorrowedFd<'_>, uid: libc::uid_t, gid: libc::gid_t) -> SysResult<()> {
    // SAFETY: the path is the empty C string; `fd` is open.
    check(unsafe { libc::fchownat(fd.as_raw_fd(), c"".as_ptr(), uid, gid, libc::AT_EMPTY_PATH) }).map(drop)
}

/// chmod(2) of an absolute path.
pub(crate) fn chmod(path: &CStr, mode: libc::mode_t) -> SysResult<()> {
    // SAFETY: `path` is NUL-terminated and outlives the call.
    check(unsafe { libc::chmod(path.as_ptr(), mode) }).map(drop)
}

/// fchmodat(2) (follows a final symlink: only in a directory no other process can reach).
pub(crate) fn fchmodat(dirfd: BorrowedFd<'_>, name: &CStr, mode: libc::mode_t) -> SysResult<()> {
    // SAFETY: `name` is NUL-terminated and outlives the call; `dirfd` is open.
    check(unsafe { libc::fchmodat(dirfd.as_raw_fd(), name.as_ptr(), mode, 0) }).map(drop)
}

/// symlinkat(2).
pub(crate) fn symlinkat(target: &CStr, dirfd: BorrowedFd<'_>, name: &CStr) -> SysResult<()> {
    // SAFETY: both strings are NUL-terminated and outlive the call; `dirfd` is open.
    check(unsafe { libc::symlinkat(target.as_ptr(), dirfd.as_raw_fd(), name.as_ptr()) }).map(drop)
}

/// unlinkat(2) of a non-directory.
pub(crate) fn unlinkat(dirfd: BorrowedFd<'_>, name: &CStr) -> SysResult<()> {
    // SAFETY: `name` is NUL-terminated and outlives the call; `dirfd` is open.
    check(unsafe { libc::unlinkat(dirfd.as_raw_fd(), name.as_ptr(), 0) }).map(drop)
}

/// fchdir(2).
pub(crate) fn fchdir(fd: BorrowedFd<'_>) -> SysResult<()> {
    // SAFETY: `fd` is an open descriptor.
    check(unsafe { libc::fchdir(fd.as_raw_fd()) }).map(drop)
}

/// chdir(2).
pub(crate) fn chdir(path: &CStr) -> SysResult<()> {
    // SAFETY: `path` is NUL-terminated and outlives the call.
    check(unsafe { libc::chdir(path.as_ptr()) }).map(drop)
}

/// chroot(2).
pub(crate) fn chroot(path: &CStr) -> SysResult<()> {
    // SAFETY: `path` is NUL-terminated and outlives the call.
    check(unsafe { libc::chroot(path.as_ptr()) }).map(drop)
}

/// pivot_root(2).
pub(crate) fn pivot_root(new_root: &CStr, put_old: &CStr) -> SysResult<()> {
    // SAFETY: both strings are NUL-terminated and outlive the call.
    check_long(unsafe { libc::syscall(libc::SYS_pivot_root, new_root.as_ptr(), put_old.as_ptr()) }).map(drop)
}

/// `PROC_SUPER_MAGIC` from `linux/magic.h`: the `f_type` of procfs.
pub(crate) const PROC_SUPER_MAGIC: i64 = 0x9fa0;
/// `SYSFS_MAGIC` from `linux/magic.h`: the `f_type` of sysfs.
pub(crate) const SYSFS_MAGIC: i64 = 0x6265_6572;

/// What fstatfs says of the filesystem mounted where an fd lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FsStat {
    /// `f_type`: the filesystem's magic number ([`PROC_SUPER_MAGIC`], ...).
    pub magic: i64,
    /// `f_flags`: the ST_* mount flags.
    pub flags: c_ulong,
}

/// fstatfs64(3) (a direct syscall in glibc) of the filesystem mounted where `fd` lives.
pub(crate) fn fstatfs(fd: BorrowedFd<'_>) -> SysResult<FsStat> {
    let mut buf = std::mem::MaybeUninit::<libc::statfs64>::zeroed();
    // SAFETY: `buf` is a writable `struct statfs64`; `fd` is open.
    check(unsafe { libc::fstatfs64(fd.as_raw_fd(), buf.as_mut_ptr()) })?;
    // SAFETY: fstatfs succeeded, so it filled `buf` (which was zeroed before anyway).
    let st = unsafe { buf.assume_init() };
    // `__fsword_t` is a signed word: i64 here, i32 on 32-bit targets.
    #[allow(clippy::useless_conversion)]
    let magic = i64::from(st.f_type);
    Ok(FsStat {
        magic,
        flags: c_ulong::try_from(st.f_flags).unwrap_or(0),
    })
}

/// mount_setattr(2) on the mount `fd` refers to (`AT_EMPTY_PATH`), optionally recursive.
pub(crate) fn mount_setattr(fd: BorrowedFd<'_>, recursive: bool, attr: &MountAttr) -> SysResult<()> {
    let mut flags = libc::AT_EMPTY_PATH;
    if recursive {
        flags |= libc::AT_RECURSIVE;
    }
    // SAFETY: the path is the empty C string, `attr` is a valid `struct mount_attr` whose size
    // is passed; `fd` is open.
    check_long(unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            flags,
            std::ptr::from_ref(attr),
            std::mem::size_of::<MountAttr>(),
        )
    })
    .map(drop)
}

/// Whether this kernel has mount_setattr(2) (Linux 5.12); probed once, in the parent.
pub(crate) fn has_mount_setattr() -> bool {
    static HAS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *HAS.get_or_init(|| {
        // SAFETY: invalid arguments on purpose (no fd, no attr): the kernel answers EBADF or
        // EINVAL where the syscall exists, ENOSYS where it does not; nothing is changed.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_mount_setattr,
                -1,
                c"".as_ptr(),
                0,
                std::ptr::null::<c_void>(),
                0,
            )
        };
        ret == 0 || errno() != libc::ENOSYS
    })
}

/// open_tree(2) with `OPEN_TREE_CLONE | AT_RECURSIVE`: a detached copy of the mount tree at
/// `path`, an rbind not attached anywhere yet.
pub(crate) fn clone_tree(path: &CStr) -> SysResult<OwnedFd> {
    clone_mount(path, true)
}

/// open_tree(2) with `OPEN_TREE_CLONE` (and `AT_RECURSIVE` with `recursive`) of the host path
/// `path`: a detached bind (rbind), not attached anywhere yet.
pub(crate) fn clone_mount(path: &CStr, recursive: bool) -> SysResult<OwnedFd> {
    let mut flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    // SAFETY: `path` is NUL-terminated; the kernel returns a new fd or -1.
    let fd = check_long(unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, path.as_ptr(), flags) })?;
    c_int::try_from(fd).map(owned).map_err(|_| libc::EBADF)
}

/// fcntl(2) `F_DUPFD_CLOEXEC`: a second, close-on-exec fd for what `fd` refers to.
pub(crate) fn dup_cloexec(fd: BorrowedFd<'_>) -> SysResult<OwnedFd> {
    // SAFETY: `fd` is open; the kernel returns a new fd or -1.
    check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 0) }).map(owned)
}

/// fcntl(2) `F_DUPFD_CLOEXEC` of the raw fd `fd`, which the caller keeps open (the kernel
/// answers EBADF for one that is not).
pub(crate) fn dup_raw_cloexec(fd: c_int) -> SysResult<OwnedFd> {
    // SAFETY: fcntl only reads the fd number; the kernel returns a new fd or -1.
    check(unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) }).map(owned)
}

/// open_tree(2) with `OPEN_TREE_CLONE | AT_RECURSIVE | AT_EMPTY_PATH` of what `fd` refers to:
/// a detached rbind of exactly that place, with no path walked.
pub(crate) fn clone_mount_fd(fd: BorrowedFd<'_>) -> SysResult<OwnedFd> {
    let flags =
        OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | libc::AT_RECURSIVE as libc::c_uint | libc::AT_EMPTY_PATH as libc::c_uint;
    // SAFETY: the path is the empty C string; `fd` is open; the kernel returns a new fd or -1.
    let ret = check_long(unsafe { libc::syscall(libc::SYS_open_tree, fd.as_raw_fd(), c"".as_ptr(), flags) })?;
    c_int::try_from(ret).map(owned).map_err(|_| libc::EBADF)
}

/// move_mount(2) of the mount whose root `tree` is (detached or not) onto exactly what `target`
/// refers to: both by fd, no path walked.
pub(crate) fn move_mount_onto(tree: BorrowedFd<'_>, target: BorrowedFd<'_>) -> SysResult<()> {
    // SAFETY: both paths are the empty C string, both fds open; the kernel only moves a mount.
    check_long(unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            c"".as_ptr(),
            target.as_raw_fd(),
            c"".as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    })
    .map(drop)
}

/// move_mount(2) of the mount whose root `tree` is onto the process's root `/` (what
/// `mount(path, "/", NULL, MS_MOVE)` does, with the mount named by fd instead of a path).
pub(crate) fn move_mount_to_root(tree: BorrowedFd<'_>) -> SysResult<()> {
    // SAFETY: both paths are NUL-terminated constants, `tree` is open; the kernel only moves a mount.
    check_long(unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_FDCWD,
            c"/".as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    })
    .map(drop)
}

/// fsopen(2) of the filesystem type `fstype`: a new filesystem context, close-on-exec.
pub(crate) fn fsopen(fstype: &CStr) -> SysResult<OwnedFd> {
    // SAFETY: `fstype` is NUL-terminated; the kernel returns a new fd or -1.
    let fd = check_long(unsafe { libc::syscall(libc::SYS_fsopen, fstype.as_ptr(), FSOPEN_CLOEXEC) })?;
    c_int::try_from(fd).map(owned).map_err(|_| libc::EBADF)
}

/// fsconfig(2) of one parameter of the context `fs`: `key=value`, or the flag `key`.
pub(crate) fn fsconfig_set(fs: BorrowedFd<'_>, key: &CStr, value: Option<&CStr>) -> SysResult<()> {
    let (cmd, value) = match value {
        Some(v) => (FSCONFIG_SET_STRING, v.as_ptr()),
        None => (FSCONFIG_SET_FLAG, std::ptr::null()),
    };
    // SAFETY: `key` and `value` (when not null) are NUL-terminated and outlive the call; `fs`
    // is open; aux is 0 for these commands.
    check_long(unsafe { libc::syscall(libc::SYS_fsconfig, fs.as_raw_fd(), cmd, key.as_ptr(), value, 0) }).map(drop)
}

/// fsconfig(2) of one parameter of the context `fs` that takes an fd: `key` is `fd`.
pub(crate) fn fsconfig_set_fd(fs: BorrowedFd<'_>, key: &CStr, fd: c_int) -> SysResult<()> {
    // SAFETY: `key` is NUL-terminated and outlives the call; `fs` is open; the value pointer
    // is null and aux is the fd, as FSCONFIG_SET_FD takes them (the kernel checks the fd).
    check_long(unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            FSCONFIG_SET_FD,
            key.as_ptr(),
            std::ptr::null::<c_void>(),
            fd,
        )
    })
    .map(drop)
}

/// fsconfig(2) `FSCONFIG_CMD_CREATE`: makes the superblock of the context `fs`.
pub(crate) fn fsconfig_create(fs: BorrowedFd<'_>) -> SysResult<()> {
    // SAFETY: no pointers (null key and value); `fs` is open.
    check_long(unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<c_void>(),
            0,
        )
    })
    .map(drop)
}

/// fsmount(2) of the context `fs` with the `MOUNT_ATTR_*` flags `attr`: the root of a new,
/// detached mount, close-on-exec.
pub(crate) fn fsmount(fs: BorrowedFd<'_>, attr: u64) -> SysResult<OwnedFd> {
    let attr = libc::c_uint::try_from(attr).map_err(|_| libc::EINVAL)?;
    // SAFETY: no pointers; `fs` is open; the kernel returns a new fd or -1.
    let fd = check_long(unsafe { libc::syscall(libc::SYS_fsmount, fs.as_raw_fd(), FSMOUNT_CLOEXEC, attr) })?;
    c_int::try_from(fd).map(owned).map_err(|_| libc::EBADF)
}

/// Where an fd is: its mount and its inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Place {
    /// The mount id (`STATX_MNT_ID`); 0 where the kernel does not report one (before 5.8).
    pub mnt: u64,
    /// The filesystem's device number (major, minor).
    pub dev: (u32, u32),
    /// The inode number.
    pub ino: u64,
}

/// The [`Place`] of what `fd` refers to (statx with `AT_EMPTY_PATH`).
pub(crate) fn place(fd: BorrowedFd<'_>) -> SysResult<Place> {
    let mut buf = std::mem::MaybeUninit::<libc::statx>::zeroed();
    // SAFETY: `buf` is a writable `struct statx`; the path is the empty C string; `fd` is open.
    check(unsafe {
        libc::statx(
            fd.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW,
            libc::STATX_INO | STATX_MNT_ID,
            buf.as_mut_ptr(),
        )
    })?;
    // SAFETY: statx succeeded, so it filled `buf` (which was zeroed before anyway).
    let st = unsafe { buf.assume_init() };
    Ok(Place {
        mnt: if st.stx_mask & STATX_MNT_ID != 0 {
            st.stx_mnt_id
        } else {
            0
        },
        dev: (st.stx_dev_major, st.stx_dev_minor),
        ino: st.stx_ino,
    })
}

/// umask(2); returns the previous mask.
pub(crate) fn umask(mask: libc::mode_t) -> libc::mode_t {
    // SAFETY: umask takes a mask and cannot fail.
    unsafe { libc::umask(mask) }
}

/// move_mount(2) of the detached tree `tree` onto `name` below `dirfd` (a final symlink is not
/// followed).
pub(crate) fn attach_tree(tree: BorrowedFd<'_>, dirfd: BorrowedFd<'_>, name: &CStr) -> SysResult<()> {
    // SAFETY: both paths are NUL-terminated, both fds open; the kernel only attaches a mount.
    check_long(unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            c"".as_ptr(),
            dirfd.as_raw_fd(),
            name.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    })
    .map(drop)
}

/// fstatat(2) without following a final symlink.
pub(crate) fn fstatat_nofollow(dirfd: BorrowedFd<'_>, name: &CStr) -> SysResult<libc::stat> {
    let mut buf = std::mem::MaybeUninit::<libc::stat>::zeroed();
    // SAFETY: `buf` is a writable `struct stat`; `name` is NUL-terminated; `dirfd` is open.
    check(unsafe {
        libc::fstatat(
            dirfd.as_raw_fd(),
            name.as_ptr(),
            buf.as_mut_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })?;
    // SAFETY: fstatat succeeded, so it filled `buf` (which was zeroed before anyway).
    Ok(unsafe { buf.assume_init() })
}

/// fstat(2).
pub(crate) fn fstat(fd: BorrowedFd<'_>) -> SysResult<libc::stat> {
    let mut buf = std::mem::MaybeUninit::<libc::stat>::zeroed();
    // SAFETY: `buf` is a writable `struct stat`; `fd` is open.
    check(unsafe { libc::fstat(fd.as_raw_fd(), buf.as_mut_ptr()) })?;
    // SAFETY: fstat succeeded, so it filled `buf` (which was zeroed before anyway).
    Ok(unsafe { buf.assume_init() })
}

/// getdents64(2) into `buf`; returns the number of bytes filled (0 at the end).
pub(crate) fn getdents64(fd: BorrowedFd<'_>, buf: &mut [u8]) -> SysResult<usize> {
    // SAFETY: `buf` is writable for its length (the kernel copies with no alignment needs).
    let n = check_long(unsafe { libc::syscall(libc::SYS_getdents64, fd.as_raw_fd(), buf.as_mut_ptr(), buf.len()) })?;
    usize::try_from(n).map_err(|_| libc::EIO)
}

/// read(2).
pub(crate) fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> SysResult<usize> {
    // SAFETY: `buf` is writable for its length; `fd` is open.
    let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        return Err(errno());
    }
    usize::try_from(n).map_err(|_| libc::EIO)
}

/// write(2).
pub(crate) fn write(fd: BorrowedFd<'_>, buf: &[u8]) -> SysResult<usize> {
    // SAFETY: `buf` is readable for its length; `fd` is open.
    let n = unsafe { libc::write(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len()) };
    if n < 0 {
        return Err(errno());
    }
    usize::try_from(n).map_err(|_| libc::EIO)
}

/// readlinkat(2) into `buf`; returns the length (not NUL-terminated).
pub(crate) fn readlinkat(dirfd: BorrowedFd<'_>, name: &CStr, buf: &mut [u8]) -> SysResult<usize> {
    // SAFETY: `buf` is writable for its length; `name` is NUL-terminated; `dirfd` is open.
    let n = unsafe { libc::readlinkat(dirfd.as_raw_fd(), name.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        return Err(errno());
    }
    usize::try_from(n).map_err(|_| libc::EIO)
}

/// fchown(2).
pub(crate) fn fchown(fd: BorrowedFd<'_>, uid: libc::uid_t, gid: libc::gid_t) -> SysResult<()> {
    // SAFETY: `fd` is open.
    check(unsafe { libc::fchown(fd.as_raw_fd(), uid, gid) }).map(drop)
}

/// fchmod(2).
pub(crate) fn fchmod(fd: BorrowedFd<'_>, mode: libc::mode_t) -> SysResult<()> {
    // SAFETY: `fd` is open.
    check(unsafe { libc::fchmod(fd.as_raw_fd(), mode) }).map(drop)
}

#[cfg(test)]
mod tests {
    use std::ffi::CString;
    use std::os::fd::AsFd;
    use std::os::unix::ffi::OsStrExt;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    /// A rename anywhere on the system while openat2 walks a ".." in RESOLVE_IN_ROOT makes the
    /// kernel refuse the walk with EAGAIN; images have such paths (/var/run -> ../run).
    #[test]
    fn openat2_in_root_survives_concurrent_renames() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::create_dir(dir.path().join("x")).unwrap();
        let root_fd = open(
            &CString::new(root.as_os_str().as_bytes()).unwrap(),
            libc::O_PATH | libc::O_CLOEXEC,
        )
        .unwrap();
        let stop = AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                let (x, y) = (dir.path().join("x"), dir.path().join("y"));
                while !stop.load(Ordering::Relaxed) {
                    std::fs::rename(&x, &y).unwrap();
                    std::fs::rename(&y, &x).unwrap();
                }
            });
            let failed = (0..20_000)
                .filter(|_| {
                    openat2(
                        root_fd.as_fd(),
                        c"a/../a/../a/b",
                        libc::O_PATH | libc::O_CLOEXEC,
                        libc::RESOLVE_IN_ROOT,
                    )
                    .is_err()
                })
                .count();
            stop.store(true, Ordering::Relaxed);
            assert_eq!(failed, 0, "openat2 failed {failed} times in 20000");
        });
    }
}
