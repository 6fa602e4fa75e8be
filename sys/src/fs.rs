//! Files and directories: open, openat2, stat, read and write, ownership and modes, links,
//! the working and root directory.
//!
//! Runs in the child: no allocation, no locks (the `open_dir*`/`open_write` helpers excepted,
//! which the parent uses).

use std::ffi::CStr;
use std::fs::OpenOptions;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use libc::{c_int, c_ulong};

use crate::{SysResult, check, check_long, check_size, owned, owned_long};

/// `STATX_MNT_ID` from `linux/stat.h`.
const STATX_MNT_ID: libc::c_uint = 0x1000;

/// `struct open_how` from `linux/openat2.h` (libc's is `#[non_exhaustive]`).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// How many times openat2 is tried while the kernel answers EAGAIN: with RESOLVE_IN_ROOT or
/// RESOLVE_BENEATH it does when a rename or mount anywhere on the system raced a ".." of the
/// walk, and openat2(2) says to retry. runc's securejoin retries too.
pub const OPENAT2_ATTEMPTS: usize = 128;

/// openat2(2) relative to `dirfd`, retried on EINTR and, [`OPENAT2_ATTEMPTS`] times, EAGAIN.
pub fn openat2(dirfd: BorrowedFd<'_>, path: &CStr, flags: c_int, resolve: u64) -> SysResult<OwnedFd> {
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
    owned_long(fd)
}

/// open(2) of an absolute or cwd-relative path.
pub fn open(path: &CStr, flags: c_int) -> SysResult<OwnedFd> {
    // SAFETY: `path` is NUL-terminated and outlives the call.
    check(unsafe { libc::open(path.as_ptr(), flags) }).map(owned)
}

/// openat(2) of a single name below `dirfd`, with a creation mode.
pub fn openat(dirfd: BorrowedFd<'_>, name: &CStr, flags: c_int, mode: libc::mode_t) -> SysResult<OwnedFd> {
    // SAFETY: `name` is NUL-terminated and outlives the call; `dirfd` is open.
    check(unsafe { libc::openat(dirfd.as_raw_fd(), name.as_ptr(), flags, mode) }).map(owned)
}

/// mkdirat(2).
pub fn mkdirat(dirfd: BorrowedFd<'_>, name: &CStr, mode: libc::mode_t) -> SysResult<()> {
    // SAFETY: `name` is NUL-terminated and outlives the call; `dirfd` is open.
    check(unsafe { libc::mkdirat(dirfd.as_raw_fd(), name.as_ptr(), mode) }).map(drop)
}

/// mknodat(2).
pub fn mknodat(dirfd: BorrowedFd<'_>, name: &CStr, mode: libc::mode_t, dev: libc::dev_t) -> SysResult<()> {
    // SAFETY: `name` is NUL-terminated and outlives the call; `dirfd` is open.
    check(unsafe { libc::mknodat(dirfd.as_raw_fd(), name.as_ptr(), mode, dev) }).map(drop)
}

/// fchownat(2) without following a final symlink.
pub fn fchownat(dirfd: BorrowedFd<'_>, name: &CStr, uid: libc::uid_t, gid: libc::gid_t) -> SysResult<()> {
    // SAFETY: `name` is NUL-terminated and outlives the call; `dirfd` is open.
    check(unsafe { libc::fchownat(dirfd.as_raw_fd(), name.as_ptr(), uid, gid, libc::AT_SYMLINK_NOFOLLOW) }).map(drop)
}

/// fchownat(2) of what `fd` itself is (`AT_EMPTY_PATH`; an `O_PATH` fd will do).
pub fn fchown_fd(fd: BorrowedFd<'_>, uid: libc::uid_t, gid: libc::gid_t) -> SysResult<()> {
    // SAFETY: the path is the empty C string; `fd` is open.
    check(unsafe { libc::fchownat(fd.as_raw_fd(), c"".as_ptr(), uid, gid, libc::AT_EMPTY_PATH) }).map(drop)
}

/// chmod(2) of an absolute path.
pub fn chmod(path: &CStr, mode: libc::mode_t) -> SysResult<()> {
    // SAFETY: `path` is NUL-terminated and outlives the call.
    check(unsafe { libc::chmod(path.as_ptr(), mode) }).map(drop)
}

/// fchmodat(2) (follows a final symlink: only in a directory no other process can reach).
pub fn fchmodat(dirfd: BorrowedFd<'_>, name: &CStr, mode: libc::mode_t) -> SysResult<()> {
    // SAFETY: `name` is NUL-terminated and outlives the call; `dirfd` is open.
    check(unsafe { libc::fchmodat(dirfd.as_raw_fd(), name.as_ptr(), mode, 0) }).map(drop)
}

/// symlinkat(2).
pub fn symlinkat(target: &CStr, dirfd: BorrowedFd<'_>, name: &CStr) -> SysResult<()> {
    // SAFETY: both strings are NUL-terminated and outlive the call; `dirfd` is open.
    check(unsafe { libc::symlinkat(target.as_ptr(), dirfd.as_raw_fd(), name.as_ptr()) }).map(drop)
}

/// unlinkat(2) of a non-directory.
pub fn unlinkat(dirfd: BorrowedFd<'_>, name: &CStr) -> SysResult<()> {
    // SAFETY: `name` is NUL-terminated and outlives the call; `dirfd` is open.
    check(unsafe { libc::unlinkat(dirfd.as_raw_fd(), name.as_ptr(), 0) }).map(drop)
}

/// fchdir(2).
pub fn fchdir(fd: BorrowedFd<'_>) -> SysResult<()> {
    // SAFETY: `fd` is an open descriptor.
    check(unsafe { libc::fchdir(fd.as_raw_fd()) }).map(drop)
}

/// chdir(2).
pub fn chdir(path: &CStr) -> SysResult<()> {
    // SAFETY: `path` is NUL-terminated and outlives the call.
    check(unsafe { libc::chdir(path.as_ptr()) }).map(drop)
}

/// chroot(2).
pub fn chroot(path: &CStr) -> SysResult<()> {
    // SAFETY: `path` is NUL-terminated and outlives the call.
    check(unsafe { libc::chroot(path.as_ptr()) }).map(drop)
}

/// `PROC_SUPER_MAGIC` from `linux/magic.h`: the `f_type` of procfs.
pub const PROC_SUPER_MAGIC: i64 = 0x9fa0;
/// `SYSFS_MAGIC` from `linux/magic.h`: the `f_type` of sysfs.
pub const SYSFS_MAGIC: i64 = 0x6265_6572;

/// What fstatfs says of the filesystem mounted where an fd lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsStat {
    /// `f_type`: the filesystem's magic number ([`PROC_SUPER_MAGIC`], ...).
    pub magic: i64,
    /// `f_flags`: the ST_* mount flags.
    pub flags: c_ulong,
}

/// fstatfs64(3) (a direct syscall in glibc) of the filesystem mounted where `fd` lives.
pub fn fstatfs(fd: BorrowedFd<'_>) -> SysResult<FsStat> {
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

/// fcntl(2) `F_DUPFD_CLOEXEC`: a second, close-on-exec fd for what `fd` refers to.
pub fn dup_cloexec(fd: BorrowedFd<'_>) -> SysResult<OwnedFd> {
    // SAFETY: `fd` is open; the kernel returns a new fd or -1.
    check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 0) }).map(owned)
}

/// fcntl(2) `F_DUPFD_CLOEXEC` of the raw fd `fd`, which the caller keeps open (the kernel
/// answers EBADF for one that is not).
pub fn dup_raw_cloexec(fd: c_int) -> SysResult<OwnedFd> {
    // SAFETY: fcntl only reads the fd number; the kernel returns a new fd or -1.
    check(unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) }).map(owned)
}

/// Where an fd is: its mount and its inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    /// The mount id (`STATX_MNT_ID`); 0 where the kernel does not report one (before 5.8).
    pub mnt: u64,
    /// The filesystem's device number (major, minor).
    pub dev: (u32, u32),
    /// The inode number.
    pub ino: u64,
}

/// The [`Place`] of what `fd` refers to (statx with `AT_EMPTY_PATH`).
pub fn place(fd: BorrowedFd<'_>) -> SysResult<Place> {
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
pub fn umask(mask: libc::mode_t) -> libc::mode_t {
    // SAFETY: umask takes a mask and cannot fail.
    unsafe { libc::umask(mask) }
}

/// fstatat(2) without following a final symlink.
pub fn fstatat_nofollow(dirfd: BorrowedFd<'_>, name: &CStr) -> SysResult<libc::stat> {
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
pub fn fstat(fd: BorrowedFd<'_>) -> SysResult<libc::stat> {
    let mut buf = std::mem::MaybeUninit::<libc::stat>::zeroed();
    // SAFETY: `buf` is a writable `struct stat`; `fd` is open.
    check(unsafe { libc::fstat(fd.as_raw_fd(), buf.as_mut_ptr()) })?;
    // SAFETY: fstat succeeded, so it filled `buf` (which was zeroed before anyway).
    Ok(unsafe { buf.assume_init() })
}

/// getdents64(2) into `buf`; returns the number of bytes filled (0 at the end).
pub fn getdents64(fd: BorrowedFd<'_>, buf: &mut [u8]) -> SysResult<usize> {
    // SAFETY: `buf` is writable for its length (the kernel copies with no alignment needs).
    let n = check_long(unsafe { libc::syscall(libc::SYS_getdents64, fd.as_raw_fd(), buf.as_mut_ptr(), buf.len()) })?;
    usize::try_from(n).map_err(|_| libc::EIO)
}

/// read(2).
pub fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> SysResult<usize> {
    // SAFETY: `buf` is writable for its length; `fd` is open.
    let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    check_size(n)
}

/// write(2).
pub fn write(fd: BorrowedFd<'_>, buf: &[u8]) -> SysResult<usize> {
    // SAFETY: `buf` is readable for its length; `fd` is open.
    let n = unsafe { libc::write(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len()) };
    check_size(n)
}

/// readlinkat(2) into `buf`; returns the length (not NUL-terminated).
pub fn readlinkat(dirfd: BorrowedFd<'_>, name: &CStr, buf: &mut [u8]) -> SysResult<usize> {
    // SAFETY: `buf` is writable for its length; `name` is NUL-terminated; `dirfd` is open.
    let n = unsafe { libc::readlinkat(dirfd.as_raw_fd(), name.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    check_size(n)
}

/// fchown(2).
pub fn fchown(fd: BorrowedFd<'_>, uid: libc::uid_t, gid: libc::gid_t) -> SysResult<()> {
    // SAFETY: `fd` is open.
    check(unsafe { libc::fchown(fd.as_raw_fd(), uid, gid) }).map(drop)
}

/// fchmod(2).
pub fn fchmod(fd: BorrowedFd<'_>, mode: libc::mode_t) -> SysResult<()> {
    // SAFETY: `fd` is open.
    check(unsafe { libc::fchmod(fd.as_raw_fd(), mode) }).map(drop)
}

/// Opens a directory with `O_PATH|O_DIRECTORY|O_CLOEXEC`, as clone3's cgroup field takes it.
/// Runs in the parent.
pub fn open_dir_path(dir: &Path) -> std::io::Result<OwnedFd> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(dir)?;
    Ok(OwnedFd::from(file))
}

/// Opens a directory read-only (`O_RDONLY|O_DIRECTORY|O_CLOEXEC`), as bpf(2) attach takes it.
/// Runs in the parent.
pub fn open_dir(dir: &Path) -> std::io::Result<OwnedFd> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(dir)?;
    Ok(OwnedFd::from(file))
}

/// Opens a file for writing (`O_WRONLY|O_CLOEXEC`), as a cgroup's `tasks` file. Runs in the
/// parent.
pub fn open_write(path: &Path) -> std::io::Result<OwnedFd> {
    let file = OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)?;
    Ok(OwnedFd::from(file))
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
