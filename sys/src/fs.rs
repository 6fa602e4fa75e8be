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

/// The working directory as a directory fd (`AT_FDCWD`), for the `*at` calls and openat2: a
/// relative name is looked up from the cwd, an absolute one from the root.
// SAFETY: AT_FDCWD is not -1, and the kernel takes it wherever a directory fd is read as
// "the working directory"; nothing closes it (it is no fd), as rustix's `CWD`.
pub const CWD: BorrowedFd<'static> = unsafe { BorrowedFd::borrow_raw(libc::AT_FDCWD) };

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

/// open(2) of an absolute or cwd-relative path: [`openat`] from the cwd, retried on EINTR.
pub fn open(path: &CStr, flags: c_int) -> SysResult<OwnedFd> {
    openat(CWD, path, flags, 0)
}

/// openat(2) of a single name below `dirfd`, with a creation mode; retried on EINTR, which a
/// blocking open (a fifo with no peer yet, some devices) answers when a signal comes.
pub fn openat(dirfd: BorrowedFd<'_>, name: &CStr, flags: c_int, mode: libc::mode_t) -> SysResult<OwnedFd> {
    loop {
        // SAFETY: `name` is NUL-terminated and outlives the call; `dirfd` is open.
        match check(unsafe { libc::openat(dirfd.as_raw_fd(), name.as_ptr(), flags, mode) }) {
            Err(libc::EINTR) => continue,
            other => return other.map(owned),
        }
    }
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

/// fchown(2) of what `fd` itself is, as fchownat(2) with `AT_EMPTY_PATH`: an `O_PATH` fd will do.
pub fn fchown(fd: BorrowedFd<'_>, uid: libc::uid_t, gid: libc::gid_t) -> SysResult<()> {
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
/// `PROC_ROOT_INO` in the kernel: the inode number of the root of every procfs.
const PROC_ROOT_INO: u64 = 1;

/// Whether `fd` is the root directory of a procfs (fstatfs, then fstat).
///
/// Allocation-free.
pub fn is_procfs_root(fd: BorrowedFd<'_>) -> SysResult<bool> {
    Ok(fstatfs(fd)?.magic == PROC_SUPER_MAGIC && fstat(fd)?.st_ino == PROC_ROOT_INO)
}

/// `SYSFS_MAGIC` from `linux/magic.h`: the `f_type` of sysfs.
pub const SYSFS_MAGIC: i64 = 0x6265_6572;
/// `DEVPTS_SUPER_MAGIC` from `linux/magic.h`: the `f_type` of devpts.
pub const DEVPTS_SUPER_MAGIC: i64 = 0x1cd1;

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
    // `f_type` is a signed word on glibc (`__fsword_t`) and an unsigned one on musl; every
    // file system magic fits in 32 bits, so the cast keeps its value.
    #[allow(clippy::unnecessary_cast)]
    let magic = st.f_type as i64;
    Ok(FsStat {
        magic,
        flags: c_ulong::try_from(st.f_flags).unwrap_or(0),
    })
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

/// The `stat` of what `fd` itself is: fstatat(2) with `AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW`,
/// so an `O_PATH` fd will do, one of a symlink (`O_PATH | O_NOFOLLOW`) included.
pub fn fstat(fd: BorrowedFd<'_>) -> SysResult<libc::stat> {
    let mut buf = std::mem::MaybeUninit::<libc::stat>::zeroed();
    // SAFETY: `buf` is a writable `struct stat`; the empty path names `fd` itself, which is open.
    check(unsafe {
        libc::fstatat(
            fd.as_raw_fd(),
            c"".as_ptr(),
            buf.as_mut_ptr(),
            libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW,
        )
    })?;
    // SAFETY: fstat succeeded, so it filled `buf` (which was zeroed before anyway).
    Ok(unsafe { buf.assume_init() })
}

/// getdents64(2) into `buf`; returns the number of bytes filled (0 at the end).
pub fn getdents64(fd: BorrowedFd<'_>, buf: &mut [u8]) -> SysResult<usize> {
    // SAFETY: `buf` is writable for its length (the kernel copies with no alignment needs).
    let n = check_long(unsafe { libc::syscall(libc::SYS_getdents64, fd.as_raw_fd(), buf.as_mut_ptr(), buf.len()) })?;
    usize::try_from(n).map_err(|_| libc::EIO)
}

/// read(2), retried on EINTR.
pub fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> SysResult<usize> {
    loop {
        // SAFETY: `buf` is writable for its length; `fd` is open.
        let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        match check_size(n) {
            Err(libc::EINTR) => continue,
            other => return other,
        }
    }
}

/// write(2), retried on EINTR.
pub fn write(fd: BorrowedFd<'_>, buf: &[u8]) -> SysResult<usize> {
    loop {
        // SAFETY: `buf` is readable for its length; `fd` is open.
        let n = unsafe { libc::write(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len()) };
        match check_size(n) {
            Err(libc::EINTR) => continue,
            other => return other,
        }
    }
}

/// All of `buf` in one write(2), as procfs, cgroup files and fifos take a value; a short write
/// is EIO.
pub fn write_whole(fd: BorrowedFd<'_>, buf: &[u8]) -> SysResult<()> {
    if write(fd, buf)? == buf.len() {
        Ok(())
    } else {
        Err(libc::EIO)
    }
}

/// readlinkat(2) into `buf`; returns the length (not NUL-terminated). A target that fills
/// `buf` may have been cut short: ENAMETOOLONG. An empty `name` reads the link `dirfd` is (an
/// `O_PATH | O_NOFOLLOW` fd).
pub fn readlinkat(dirfd: BorrowedFd<'_>, name: &CStr, buf: &mut [u8]) -> SysResult<usize> {
    // SAFETY: `buf` is writable for its length; `name` is NUL-terminated; `dirfd` is open.
    let n = unsafe { libc::readlinkat(dirfd.as_raw_fd(), name.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    let n = check_size(n)?;
    if n >= buf.len() { Err(libc::ENAMETOOLONG) } else { Ok(n) }
}

/// fchmod(2).
pub fn fchmod(fd: BorrowedFd<'_>, mode: libc::mode_t) -> SysResult<()> {
    // SAFETY: `fd` is open.
    check(unsafe { libc::fchmod(fd.as_raw_fd(), mode) }).map(drop)
}

/// Whether `path` names a regular file this process may execute, by its effective ids and
/// capabilities as execve judges (`faccessat(X_OK, AT_EACCESS)`, after a stat(2): access(2)
/// would take the real ids and drop the capabilities of a non-root user, refusing a program
/// only CAP_DAC_OVERRIDE reaches). Not a regular file is EACCES. Runs in the child: no
/// allocation, no locks.
pub fn is_executable(path: &CStr) -> SysResult<()> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::zeroed();
    // SAFETY: `path` is NUL-terminated and `st` a writable `struct stat`.
    check(unsafe { libc::stat(path.as_ptr(), st.as_mut_ptr()) })?;
    // SAFETY: stat succeeded, so it filled `st` (which was zeroed before anyway).
    let st = unsafe { st.assume_init() };
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err(libc::EACCES);
    }
    // SAFETY: `path` is NUL-terminated; faccessat only checks.
    check(unsafe { libc::faccessat(libc::AT_FDCWD, path.as_ptr(), libc::X_OK, libc::AT_EACCESS) }).map(drop)
}

/// The working directory as the kernel's getcwd(2) reports it, into `buf`; returns its length
/// without the NUL. A directory outside this process's root comes back as "(unreachable)/...",
/// one that is gone as ENOENT (the raw system call: glibc's wrapper turns "(unreachable)" into
/// ENOENT, and allocates when asked to). Runs in the child: no allocation, no locks.
pub fn getcwd(buf: &mut [u8]) -> SysResult<usize> {
    // SAFETY: the kernel writes at most buf.len() bytes into `buf`.
    let n = check_long(unsafe { libc::syscall(libc::SYS_getcwd, buf.as_mut_ptr(), buf.len()) })?;
    Ok(usize::try_from(n).map_err(|_| libc::EIO)?.saturating_sub(1))
}

/// `path` made absolute with every symlink, `.` and `..` resolved (realpath(3)), as
/// `std::fs::canonicalize`, but into a buffer of Rust's allocator: asked for a new string,
/// the C library's realpath allocates it itself, which in the musl build starts musl's own
/// allocator beside Rust's (a brk, mmaps and their page faults) for that one string. Runs in
/// the parent.
pub fn canonicalize(path: &Path) -> std::io::Result<std::path::PathBuf> {
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    let path = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    let mut buf = vec![0u8; libc::PATH_MAX as usize];
    // SAFETY: `path` is NUL-terminated; realpath writes at most PATH_MAX bytes, its NUL
    // included, and `buf` holds PATH_MAX.
    let resolved = unsafe { libc::realpath(path.as_ptr(), buf.as_mut_ptr().cast()) };
    if resolved.is_null() {
        return Err(std::io::Error::last_os_error());
    }
    let len = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    buf.truncate(len);
    Ok(std::ffi::OsString::from_vec(buf).into())
}

/// mkfifo(3) of `path` with `mode` (the umask applies). Runs in the parent.
pub fn mkfifo(path: &CStr, mode: libc::mode_t) -> std::io::Result<()> {
    // SAFETY: `path` is NUL-terminated and outlives the call; mkfifo only makes a node.
    check(unsafe { libc::mkfifo(path.as_ptr(), mode) })
        .map(drop)
        .map_err(crate::io_err)
}

/// memfd_create(2) of a file named `name`, with `flags` (`MFD_CLOEXEC` is added).
pub fn memfd_create(name: &CStr, flags: libc::c_uint) -> SysResult<OwnedFd> {
    // SAFETY: `name` is NUL-terminated; the kernel returns a new fd or -1.
    owned_long(check_long(unsafe {
        libc::syscall(libc::SYS_memfd_create, name.as_ptr(), flags | libc::MFD_CLOEXEC)
    })?)
}

/// fcntl(2) `F_ADD_SEALS` of the `F_SEAL_*` bits `seals` to a memfd.
pub fn add_seals(fd: BorrowedFd<'_>, seals: c_int) -> SysResult<()> {
    // SAFETY: F_ADD_SEALS takes an integer; `fd` is open.
    check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, seals) }).map(drop)
}

/// fcntl(2) `F_GET_SEALS`: the seals of a memfd (EINVAL for other files).
pub fn get_seals(fd: BorrowedFd<'_>) -> SysResult<c_int> {
    // SAFETY: F_GET_SEALS takes no argument; `fd` is open.
    check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) })
}

/// statx(2) of what `fd` itself is (`AT_EMPTY_PATH`), for the `STATX_*` fields of `mask`.
pub fn statx_fd(fd: BorrowedFd<'_>, mask: libc::c_uint) -> SysResult<libc::statx> {
    let mut buf = std::mem::MaybeUninit::<libc::statx>::zeroed();
    // SAFETY: `buf` is a writable `struct statx`; the empty path names `fd`, which is open.
    check(unsafe {
        libc::statx(
            fd.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            mask,
            buf.as_mut_ptr(),
        )
    })?;
    // SAFETY: statx succeeded, so it filled `buf` (which was zeroed before anyway).
    Ok(unsafe { buf.assume_init() })
}

/// Whether the file behind `fd` has an access ACL (the `system.posix_acl_access` xattr; a
/// filesystem without xattrs has none).
pub fn has_access_acl(fd: BorrowedFd<'_>) -> SysResult<bool> {
    // SAFETY: a size query: with a null buffer and size 0 nothing is written.
    let n = unsafe {
        libc::fgetxattr(
            fd.as_raw_fd(),
            c"system.posix_acl_access".as_ptr(),
            std::ptr::null_mut(),
            0,
        )
    };
    match check_size(n) {
        Ok(_) => Ok(true),
        Err(libc::ENODATA | libc::EOPNOTSUPP) => Ok(false),
        Err(e) => Err(e),
    }
}

/// flock(2) of `fd` with `operation` (`LOCK_EX`, `LOCK_SH`, `| LOCK_NB`, `LOCK_UN`), waiting
/// through EINTR. Runs in the parent.
pub fn flock(fd: BorrowedFd<'_>, operation: c_int) -> std::io::Result<()> {
    loop {
        // SAFETY: flock takes an open fd and an integer; it only takes an advisory lock.
        match check(unsafe { libc::flock(fd.as_raw_fd(), operation) }) {
            Err(libc::EINTR) => continue,
            other => return other.map(drop).map_err(crate::io_err),
        }
    }
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

    #[test]
    fn canonicalize_resolves_as_std_does() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        std::fs::create_dir_all(real.join("inner")).unwrap();
        std::os::unix::fs::symlink("real/inner", dir.path().join("link")).unwrap();
        let tricky = dir.path().join("link/../inner/./");
        let ours = canonicalize(&tricky).unwrap();
        assert_eq!(ours, std::fs::canonicalize(&tricky).unwrap());
        assert_eq!(ours, std::fs::canonicalize(real.join("inner")).unwrap());
        let missing = canonicalize(&dir.path().join("missing")).unwrap_err();
        assert_eq!(missing.raw_os_error(), Some(libc::ENOENT));
        let nul = canonicalize(Path::new("a\0b")).unwrap_err();
        assert_eq!(nul.raw_os_error(), Some(libc::EINVAL));
    }

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

    #[test]
    fn cwd_names_the_working_directory() {
        let here = std::env::current_dir().unwrap();
        let by_name = openat(CWD, c".", libc::O_PATH | libc::O_CLOEXEC, 0).unwrap();
        let by_path = open(&c_path(&here), libc::O_PATH | libc::O_CLOEXEC).unwrap();
        assert_eq!(place(by_name.as_fd()), place(by_path.as_fd()));
        let root = openat2(CWD, c"/", libc::O_PATH | libc::O_CLOEXEC, 0).unwrap();
        assert_eq!(
            place(root.as_fd()),
            place(open(c"/", libc::O_PATH | libc::O_CLOEXEC).unwrap().as_fd())
        );
    }

    fn c_path(p: &Path) -> CString {
        CString::new(p.as_os_str().as_bytes()).unwrap()
    }

    /// A signal whose handler does not restart system calls makes a blocked open of a fifo
    /// return EINTR; openat opens it all the same once the writer comes.
    #[test]
    fn a_blocking_fifo_open_survives_a_signal() {
        extern "C" fn handler(_: libc::c_int) {}
        let dir = tempfile::tempdir().unwrap();
        let fifo = c_path(&dir.path().join("fifo"));
        mkfifo(&fifo, 0o600).unwrap();
        assert_eq!(mkfifo(&fifo, 0o600).unwrap_err().raw_os_error(), Some(libc::EEXIST));
        let parent = open(&c_path(dir.path()), libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC).unwrap();
        // SAFETY: fork; the child makes system calls only and _exit()s.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: a zeroed sigaction with a handler and no SA_RESTART, for this child only.
            let installed = unsafe {
                let mut act: libc::sigaction = std::mem::zeroed();
                act.sa_sigaction = handler as *const () as libc::sighandler_t;
                libc::sigaction(libc::SIGUSR1, &act, std::ptr::null_mut()) == 0
            };
            let opened = openat(parent.as_fd(), c"fifo", libc::O_RDONLY | libc::O_CLOEXEC, 0).is_ok();
            crate::process::exit_now(i32::from(!(installed && opened)));
        }
        assert!(pid > 0);
        // Once the child sleeps in the open with no signal pending (or has exited), signal it
        // and wait so again.
        let settled = || {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let state = stat.rfind(')').and_then(|i| stat.get(i + 2..i + 3));
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            let pending = status
                .lines()
                .filter(|l| l.starts_with("SigPnd:") || l.starts_with("ShdPnd:"))
                .any(|l| l.trim_end().ends_with(|c| c != '0'));
            (state == Some("S") && !pending) || matches!(state, Some("Z" | "X") | None)
        };
        while !settled() {
            std::thread::yield_now();
        }
        crate::process::kill(pid, libc::SIGUSR1).unwrap();
        while !settled() {
            std::thread::yield_now();
        }
        // Non-blocking: a reader still in its open takes it; with none (the child gave up), ENXIO.
        let writer = openat(
            parent.as_fd(),
            c"fifo",
            libc::O_WRONLY | libc::O_NONBLOCK | libc::O_CLOEXEC,
            0,
        );
        let mut status = 0;
        // SAFETY: waits for our own child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        assert!(writer.is_ok(), "{writer:?}");
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "status {status:#x}"
        );
    }

    #[test]
    fn files_memfds_and_links() {
        let dir = tempfile::tempdir().unwrap();
        let d = open(&c_path(dir.path()), libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC).unwrap();
        // A whole write, a symlink read back, and one whose target does not fit.
        let f = openat(d.as_fd(), c"f", libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC, 0o755).unwrap();
        assert_eq!(write_whole(f.as_fd(), b"#!/bin/sh\n"), Ok(()));
        symlinkat(c"f", d.as_fd(), c"link").unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(readlinkat(d.as_fd(), c"link", &mut buf), Ok(1));
        assert_eq!(readlinkat(d.as_fd(), c"link", &mut buf[..1]), Err(libc::ENAMETOOLONG));
        // fstat of an O_PATH fd of the symlink is the symlink's.
        let link = openat(d.as_fd(), c"link", libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC, 0).unwrap();
        assert_eq!(fstat(link.as_fd()).unwrap().st_mode & libc::S_IFMT, libc::S_IFLNK);
        assert_eq!(readlinkat(link.as_fd(), c"", &mut buf), Ok(1));
        // Executable: a regular file with an x bit; a directory is not.
        assert_eq!(is_executable(&c_path(&dir.path().join("f"))), Ok(()));
        assert_eq!(is_executable(&c_path(dir.path())), Err(libc::EACCES));
        assert_eq!(is_executable(c"/nonexistent"), Err(libc::ENOENT));
        let st = statx_fd(f.as_fd(), libc::STATX_MODE | libc::STATX_SIZE).unwrap();
        assert_eq!((st.stx_mode & 0o777, st.stx_size), (0o755, 10));
        assert_eq!(has_access_acl(f.as_fd()), Ok(false));
        assert_eq!(get_seals(f.as_fd()), Err(libc::EINVAL));
        // A sealed memfd.
        let m = memfd_create(c"ocirun-sys-test", libc::MFD_ALLOW_SEALING).unwrap();
        assert_eq!(get_seals(m.as_fd()), Ok(0));
        add_seals(m.as_fd(), libc::F_SEAL_WRITE).unwrap();
        assert_eq!(get_seals(m.as_fd()), Ok(libc::F_SEAL_WRITE));
        assert_eq!(write(m.as_fd(), b"x"), Err(libc::EPERM));
        // A lock a second open file description cannot take.
        let a = open(
            &c_path(dir.path()),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
        .unwrap();
        let b = open(
            &c_path(dir.path()),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
        .unwrap();
        flock(a.as_fd(), libc::LOCK_EX).unwrap();
        let busy = flock(b.as_fd(), libc::LOCK_EX | libc::LOCK_NB).unwrap_err();
        assert_eq!(busy.raw_os_error(), Some(libc::EWOULDBLOCK));
        flock(a.as_fd(), libc::LOCK_UN).unwrap();
        flock(b.as_fd(), libc::LOCK_EX | libc::LOCK_NB).unwrap();
    }

    #[test]
    fn getcwd_shows_a_cwd_outside_the_root_as_unreachable() {
        let dir = tempfile::tempdir().unwrap();
        let root = c_path(dir.path());
        if crate::process::geteuid() != 0 {
            eprintln!("skipped: chroot needs root");
            return;
        }
        crate::fd::tests::in_forked_child(|| {
            let mut buf = [0u8; 4096];
            let inside = getcwd(&mut buf).is_ok_and(|n| buf.get(..1) == Some(b"/") && n > 0);
            let chrooted = chroot(&root).is_ok();
            let outside =
                getcwd(&mut buf).is_ok_and(|n| buf.get(..n).is_some_and(|p| p.starts_with(b"(unreachable)/")));
            inside && chrooted && outside
        });
    }
}
