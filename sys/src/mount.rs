//! Mounts: mount(2) and umount2(2), the new mount API (open_tree, move_mount, fsopen,
//! fsconfig, fsmount), mount_setattr, pivot_root, and statmount for one mount's facts.
//!
//! Runs in the child: no allocation, no locks ([`has_mount_setattr`] and [`statmount`]
//! excepted, which the parent uses).

use std::ffi::CStr;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

use libc::{c_int, c_ulong, c_void};

use crate::{SysResult, check, check_long, errno, owned_long};

/// `MOUNT_ATTR_RDONLY` from `linux/mount.h`.
pub const MOUNT_ATTR_RDONLY: u64 = 0x0000_0001;
/// `MOUNT_ATTR_NOSUID` from `linux/mount.h`.
pub const MOUNT_ATTR_NOSUID: u64 = 0x0000_0002;
/// `MOUNT_ATTR_NODEV` from `linux/mount.h`.
pub const MOUNT_ATTR_NODEV: u64 = 0x0000_0004;
/// `MOUNT_ATTR_NOEXEC` from `linux/mount.h`.
pub const MOUNT_ATTR_NOEXEC: u64 = 0x0000_0008;
/// `MOUNT_ATTR__ATIME` (the atime field mask) from `linux/mount.h`.
pub const MOUNT_ATTR_ATIME_MASK: u64 = 0x0000_0070;
/// `MOUNT_ATTR_RELATIME` from `linux/mount.h` (the value 0 of the atime field).
pub const MOUNT_ATTR_RELATIME: u64 = 0x0000_0000;
/// `MOUNT_ATTR_NOATIME` from `linux/mount.h`.
pub const MOUNT_ATTR_NOATIME: u64 = 0x0000_0010;
/// `MOUNT_ATTR_STRICTATIME` from `linux/mount.h`.
pub const MOUNT_ATTR_STRICTATIME: u64 = 0x0000_0020;
/// `MOUNT_ATTR_NODIRATIME` from `linux/mount.h`.
pub const MOUNT_ATTR_NODIRATIME: u64 = 0x0000_0080;
/// `MOUNT_ATTR_NOSYMFOLLOW` from `linux/mount.h`.
pub const MOUNT_ATTR_NOSYMFOLLOW: u64 = 0x0020_0000;
/// `MOUNT_ATTR_IDMAP` from `linux/mount.h`: map the mount's ids through `userns_fd`.
pub const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;

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
/// `struct mount_attr` from `linux/mount.h` (`MOUNT_ATTR_SIZE_VER0`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MountAttr {
    /// Attributes to set.
    pub attr_set: u64,
    /// Attributes to clear.
    pub attr_clr: u64,
    /// Propagation type (`MS_PRIVATE`, `MS_SLAVE`, ...), 0 to keep it.
    pub propagation: u64,
    /// User namespace fd for id-mapped mounts (`MOUNT_ATTR_IDMAP`).
    pub userns_fd: u64,
}

/// Converts an optional C string to a possibly-null pointer.
fn opt_ptr(s: Option<&CStr>) -> *const libc::c_char {
    s.map_or(std::ptr::null(), CStr::as_ptr)
}

/// mount(2).
pub fn mount(
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
pub fn umount2(target: &CStr, flags: c_int) -> SysResult<()> {
    // SAFETY: `target` is a NUL-terminated string that outlives the call.
    check(unsafe { libc::umount2(target.as_ptr(), flags) }).map(drop)
}

/// pivot_root(2).
pub fn pivot_root(new_root: &CStr, put_old: &CStr) -> SysResult<()> {
    // SAFETY: both strings are NUL-terminated and outlive the call.
    check_long(unsafe { libc::syscall(libc::SYS_pivot_root, new_root.as_ptr(), put_old.as_ptr()) }).map(drop)
}

/// mount_setattr(2) on the mount `fd` refers to (`AT_EMPTY_PATH`), optionally recursive.
pub fn mount_setattr(fd: BorrowedFd<'_>, recursive: bool, attr: &MountAttr) -> SysResult<()> {
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
pub fn has_mount_setattr() -> bool {
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

/// open_tree(2) with `OPEN_TREE_CLONE` (and `AT_RECURSIVE` with `recursive`) of the host path
/// `path`: a detached bind (rbind), not attached anywhere yet.
pub fn clone_mount(path: &CStr, recursive: bool) -> SysResult<OwnedFd> {
    let mut flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    // SAFETY: `path` is NUL-terminated; the kernel returns a new fd or -1.
    let fd = check_long(unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, path.as_ptr(), flags) })?;
    owned_long(fd)
}

/// open_tree(2) with `OPEN_TREE_CLONE | AT_EMPTY_PATH` (and `AT_RECURSIVE` with `recursive`) of
/// what `fd` refers to: a detached bind (rbind) of exactly that place, with no path walked.
pub fn clone_mount_fd(fd: BorrowedFd<'_>, recursive: bool) -> SysResult<OwnedFd> {
    let mut flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | libc::AT_EMPTY_PATH as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    // SAFETY: the path is the empty C string; `fd` is open; the kernel returns a new fd or -1.
    let ret = check_long(unsafe { libc::syscall(libc::SYS_open_tree, fd.as_raw_fd(), c"".as_ptr(), flags) })?;
    owned_long(ret)
}

/// move_mount(2) of the mount whose root `tree` is (detached or not) onto exactly what `target`
/// refers to: both by fd, no path walked.
pub fn move_mount_onto(tree: BorrowedFd<'_>, target: BorrowedFd<'_>) -> SysResult<()> {
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

/// fsopen(2) of the filesystem type `fstype`: a new filesystem context, close-on-exec.
pub fn fsopen(fstype: &CStr) -> SysResult<OwnedFd> {
    // SAFETY: `fstype` is NUL-terminated; the kernel returns a new fd or -1.
    let fd = check_long(unsafe { libc::syscall(libc::SYS_fsopen, fstype.as_ptr(), FSOPEN_CLOEXEC) })?;
    owned_long(fd)
}

/// fsconfig(2) of one parameter of the context `fs`: `key=value`, or the flag `key`.
pub fn fsconfig_set(fs: BorrowedFd<'_>, key: &CStr, value: Option<&CStr>) -> SysResult<()> {
    let (cmd, value) = match value {
        Some(v) => (FSCONFIG_SET_STRING, v.as_ptr()),
        None => (FSCONFIG_SET_FLAG, std::ptr::null()),
    };
    // SAFETY: `key` and `value` (when not null) are NUL-terminated and outlive the call; `fs`
    // is open; aux is 0 for these commands.
    check_long(unsafe { libc::syscall(libc::SYS_fsconfig, fs.as_raw_fd(), cmd, key.as_ptr(), value, 0) }).map(drop)
}

/// fsconfig(2) of one parameter of the context `fs` that takes an fd: `key` is `fd`.
pub fn fsconfig_set_fd(fs: BorrowedFd<'_>, key: &CStr, fd: c_int) -> SysResult<()> {
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
pub fn fsconfig_create(fs: BorrowedFd<'_>) -> SysResult<()> {
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
pub fn fsmount(fs: BorrowedFd<'_>, attr: u64) -> SysResult<OwnedFd> {
    let attr = libc::c_uint::try_from(attr).map_err(|_| libc::EINVAL)?;
    // SAFETY: no pointers; `fs` is open; the kernel returns a new fd or -1.
    let fd = check_long(unsafe { libc::syscall(libc::SYS_fsmount, fs.as_raw_fd(), FSMOUNT_CLOEXEC, attr) })?;
    owned_long(fd)
}

/// move_mount(2) of the detached tree `tree` onto `name` below `dirfd` (a final symlink is not
/// followed).
pub fn attach_tree(tree: BorrowedFd<'_>, dirfd: BorrowedFd<'_>, name: &CStr) -> SysResult<()> {
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

/// What [`statmount`] tells about one mount: its filesystem's magic, its root within the
/// filesystem (for cgroupfs, the cgroup path it shows), where it is mounted and the
/// filesystem's own options ("cpu,cpuacct", "name=systemd"), none of them escaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountFacts {
    /// `statfs`'s `f_type` of the mount's superblock.
    pub magic: u64,
    /// The mount's root, relative to the filesystem's root.
    pub root: String,
    /// The mount point, relative to the caller's root.
    pub point: String,
    /// The filesystem-specific options, comma-separated.
    pub options: String,
}

/// `statmount(2)`'s number, the same on every architecture (Linux 6.8).
const SYS_STATMOUNT: libc::c_long = 457;
/// The request masks: superblock basics, root, mount point, options (Linux 6.8, 6.8, 6.8, 6.10).
const STATMOUNT_SB_BASIC: u64 = 0x1;
const STATMOUNT_MNT_ROOT: u64 = 0x8;
const STATMOUNT_MNT_POINT: u64 = 0x10;
const STATMOUNT_MNT_OPTS: u64 = 0x80;
/// Where `struct statmount`'s strings start, and the offsets of the fields read.
const STATMOUNT_STR: usize = 512;
const OFF_MNT_OPTS: usize = 4;
const OFF_MASK: usize = 8;
const OFF_SB_MAGIC: usize = 24;
const OFF_MNT_ROOT: usize = 104;
const OFF_MNT_POINT: usize = 108;

/// The mount that `path` (not followed if a symlink) is on, by `statx(STATX_MNT_ID_UNIQUE)`
/// and `statmount(2)`: one mount, whatever the number of mounts on the host, where
/// /proc/self/mountinfo lists them all. `None` when the kernel lacks either (before 6.8), the
/// options (before 6.10), or `path` does not exist.
pub fn statmount(path: &Path) -> Option<MountFacts> {
    use std::os::unix::ffi::OsStrExt as _;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: statx is all plain integers; zeroed is a valid value.
    let mut stx: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: a NUL-terminated path and a statx buffer that live across the call.
    let ret = unsafe {
        libc::statx(
            libc::AT_FDCWD,
            c_path.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
            libc::STATX_MNT_ID_UNIQUE,
            &mut stx,
        )
    };
    if ret != 0 || stx.stx_mask & libc::STATX_MNT_ID_UNIQUE == 0 {
        return None;
    }
    // struct mnt_id_req, version 0: size, spare, mnt_id, param.
    let req: [u64; 3] = [
        24,
        stx.stx_mnt_id,
        STATMOUNT_SB_BASIC | STATMOUNT_MNT_ROOT | STATMOUNT_MNT_POINT | STATMOUNT_MNT_OPTS,
    ];
    let mut buf = [0u64; 1024];
    let len = std::mem::size_of_val(&buf);
    // SAFETY: the request and an 8 KiB, 8-aligned buffer live across the call; the kernel
    // writes at most `len` bytes.
    let ret = unsafe { libc::syscall(SYS_STATMOUNT, req.as_ptr(), buf.as_mut_ptr(), len, 0u32) };
    if ret != 0 {
        return None;
    }
    // SAFETY: the u64 buffer viewed as its bytes: same memory, alignment 1, same length.
    let bytes = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), len) };
    let u32_at = |off: usize| {
        bytes
            .get(off..off + 4)
            .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
    };
    let u64_at = |off: usize| {
        let b = bytes.get(off..off + 8)?;
        Some(u64::from_ne_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
    };
    let want = STATMOUNT_SB_BASIC | STATMOUNT_MNT_ROOT | STATMOUNT_MNT_POINT | STATMOUNT_MNT_OPTS;
    let mask = u64_at(OFF_MASK)?;
    let string = |off: usize| {
        let start = STATMOUNT_STR + usize::try_from(u32_at(off)?).ok()?;
        let rest = bytes.get(start..)?;
        let end = rest.iter().position(|b| *b == 0)?;
        String::from_utf8(rest[..end].to_vec()).ok()
    };
    // MNT_OPTS is left out of the mask when the filesystem shows no options at all.
    if mask & (want & !STATMOUNT_MNT_OPTS) != want & !STATMOUNT_MNT_OPTS {
        return None;
    }
    Some(MountFacts {
        magic: u64_at(OFF_SB_MAGIC)?,
        root: string(OFF_MNT_ROOT)?,
        point: string(OFF_MNT_POINT)?,
        options: if mask & STATMOUNT_MNT_OPTS != 0 {
            string(OFF_MNT_OPTS)?
        } else {
            String::new()
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CString;
    use std::os::fd::AsFd;
    use std::os::unix::ffi::OsStrExt;

    /// A bind of a directory fd takes the mounts below it only when recursive.
    #[test]
    fn a_bind_by_fd_is_recursive_only_when_asked() {
        if crate::process::geteuid() != 0 {
            eprintln!("skipped: mounting needs root");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        for d in ["a/sub", "plain/sub", "rec/sub"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        let c = |p: &str| CString::new(dir.path().join(p).as_os_str().as_bytes()).unwrap();
        let (a, sub, plain, rec) = (c("a"), c("a/sub"), c("plain"), c("rec"));
        crate::fd::tests::in_forked_child(|| {
            let private = crate::ns::unshare(libc::CLONE_NEWNS as u64).is_ok()
                && mount(None, c"/", None, libc::MS_REC | libc::MS_PRIVATE, None).is_ok();
            let mounted = mount(Some(c"tmpfs"), &a, Some(c"tmpfs"), 0, None).is_ok()
                && crate::fs::mkdirat(
                    crate::fs::open(&a, libc::O_PATH | libc::O_CLOEXEC).unwrap().as_fd(),
                    c"sub",
                    0o755,
                )
                .is_ok()
                && mount(Some(c"tmpfs"), &sub, Some(c"tmpfs"), 0, None).is_ok();
            let open = |p: &CStr| crate::fs::open(p, libc::O_PATH | libc::O_CLOEXEC).unwrap();
            let bind = |target: &CStr, recursive: bool| {
                clone_mount_fd(open(&a).as_fd(), recursive)
                    .and_then(|tree| move_mount_onto(tree.as_fd(), open(target).as_fd()))
                    .is_ok()
            };
            let bound = bind(&plain, false) && bind(&rec, true);
            // Below the plain bind, sub is the first tmpfs's directory; below the rbind, a mount.
            let mnt = |p: &CStr, name: &CStr| {
                let dirfd = open(p);
                let f = crate::fs::openat(dirfd.as_fd(), name, libc::O_PATH | libc::O_CLOEXEC, 0).unwrap();
                crate::fs::place(f.as_fd()).map(|p| p.mnt).unwrap_or(0)
            };
            let (plain_top, plain_sub) = (mnt(&plain, c"."), mnt(&plain, c"sub"));
            let (rec_top, rec_sub) = (mnt(&rec, c"."), mnt(&rec, c"sub"));
            private && mounted && bound && plain_top == plain_sub && rec_top != rec_sub
        });
    }
}
