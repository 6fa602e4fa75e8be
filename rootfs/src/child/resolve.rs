//! Resolving container paths inside the rootfs (`openat2(RESOLVE_IN_ROOT)`), creating what
//! is missing one component at a time, and naming an fd by `/proc/self/fd/<n>`.
//!
//! Runs in the child: no allocation, no locks.

use std::ffi::CStr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use crate::plan::ops::{Leaf, Target};
use crate::sys::{self, SysResult};

/// How every container path is resolved: inside the rootfs, no magic links.
const RESOLVE: u64 = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;

/// [`RESOLVE`], and `RESOLVE_NO_SYMLINKS` with `no_symlinks`.
///
/// Runs in the child: no allocation, no locks.
fn resolve_flags(no_symlinks: bool) -> u64 {
    if no_symlinks {
        RESOLVE | libc::RESOLVE_NO_SYMLINKS
    } else {
        RESOLVE
    }
}

/// `/proc/self/fd/<n>` in a stack buffer. Only for steps before the root switch, where
/// `/proc` is the host's procfs; after it, `/proc` is the container's, and every step there
/// acts on fds (mount_setattr, move_mount, the fd as the current directory).
///
/// Runs in the child: no allocation, no locks.
pub(crate) struct ProcFdPath {
    /// NUL-terminated path.
    buf: [u8; 32],
}

impl ProcFdPath {
    /// Formats the path of `fd`.
    ///
    /// Runs in the child: no allocation, no locks.
    pub(crate) fn new(fd: BorrowedFd<'_>) -> Self {
        const PREFIX: &[u8] = b"/proc/self/fd/";
        let mut buf = [0u8; 32];
        let mut len = 0;
        for (dst, src) in buf.iter_mut().zip(PREFIX) {
            *dst = *src;
            len += 1;
        }
        let mut digits = [0u8; 10];
        let mut n = fd.as_raw_fd().unsigned_abs();
        let mut count = 0;
        loop {
            if let Some(d) = digits.get_mut(count) {
                // n % 10 < 10, so the cast cannot truncate.
                *d = b'0' + (n % 10) as u8;
            }
            count += 1;
            n /= 10;
            if n == 0 || count >= digits.len() {
                break;
            }
        }
        for i in (0..count).rev() {
            if let (Some(dst), Some(src)) = (buf.get_mut(len), digits.get(i)) {
                *dst = *src;
            }
            len += 1;
        }
        // The buffer was zeroed, so it stays NUL-terminated (at most 14 + 10 < 32 bytes used).
        ProcFdPath { buf }
    }

    /// The path as a C string.
    ///
    /// Runs in the child: no allocation, no locks.
    pub(crate) fn as_cstr(&self) -> &CStr {
        CStr::from_bytes_until_nul(&self.buf).unwrap_or(c"/proc/self/fd/")
    }
}

/// Opens `rel` inside the root with `RESOLVE_IN_ROOT`, and `RESOLVE_NO_SYMLINKS` when
/// `no_symlinks`.
///
/// Runs in the child: no allocation, no locks.
pub(super) fn open_in_root(root: BorrowedFd<'_>, rel: &CStr, dir: bool, no_symlinks: bool) -> SysResult<OwnedFd> {
    let mut flags = libc::O_PATH | libc::O_CLOEXEC;
    if dir {
        flags |= libc::O_DIRECTORY;
    }
    sys::openat2(root, rel, flags, resolve_flags(no_symlinks))
}

/// Resolves `target` inside the root, creating missing directories one component at a time
/// (mkdirat in the already-resolved parent, never a multi-component mkdir) and, for
/// `Some(Leaf::File)`, an empty file at the end. `None` creates nothing.
///
/// Runs in the child: no allocation, no locks.
pub(super) fn resolve(root: BorrowedFd<'_>, target: &Target, leaf: Option<Leaf>) -> SysResult<OwnedFd> {
    let Some(full) = target.prefixes.last() else {
        return open_in_root(root, c".", true, false);
    };
    let leaf_is_dir = leaf != Some(Leaf::File);
    let strict = target.no_symlinks;
    match open_in_root(root, full, leaf == Some(Leaf::Dir), strict) {
        Ok(fd) => return Ok(fd),
        Err(libc::ENOENT) if leaf.is_some() => {}
        Err(e) => return Err(e),
    }
    let count = target.prefixes.len();
    // A single component: its parent is the base directory itself.
    if let (1, Some(name)) = (count, target.names.first()) {
        create_entry(root, name, leaf_is_dir)?;
        return open_in_root(root, full, leaf_is_dir, strict);
    }
    // Usually only the last component is missing: open its parent directly (resolved in the
    // root like every other open) and create it there, instead of walking from the root.
    if let (Some(parent_path), Some(name)) = (
        count.checked_sub(2).and_then(|i| target.prefixes.get(i)),
        target.names.last(),
    ) {
        match open_in_root(root, parent_path, true, strict) {
            Ok(dir) => {
                create_entry(dir.as_fd(), name, leaf_is_dir)?;
                return open_in_root(root, full, leaf_is_dir, strict);
            }
            Err(libc::ENOENT) => {}
            Err(e) => return Err(e),
        }
    }
    let mut parent: Option<OwnedFd> = None;
    for (i, (prefix, name)) in target.prefixes.iter().zip(&target.names).enumerate() {
        let last = i + 1 == count;
        let want_dir = !last || leaf_is_dir;
        let fd = match open_in_root(root, prefix, want_dir, strict) {
            Ok(fd) => fd,
            Err(libc::ENOENT) => {
                create_entry(parent.as_ref().map_or(root, AsFd::as_fd), name, want_dir)?;
                open_in_root(root, prefix, want_dir, strict)?
            }
            Err(e) => return Err(e),
        };
        parent = Some(fd);
    }
    parent.ok_or(libc::ENOENT)
}

/// Creates the directory (or, with `dir` false, the empty file) `name` in `parent`; an existing
/// entry is fine: a lost race, or a dangling symlink, which the caller's reopen then refuses.
///
/// Runs in the child: no allocation, no locks.
pub(super) fn create_entry(parent: BorrowedFd<'_>, name: &CStr, dir: bool) -> SysResult<()> {
    let created = if dir {
        sys::mkdirat(parent, name, 0o755)
    } else {
        sys::openat(
            parent,
            name,
            libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            0o644,
        )
        .map(drop)
    };
    match created {
        Ok(()) | Err(libc::EEXIST) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Opens the directory `name` (one component) in `dir` without following a symlink: a mount
/// point there yields the root of what is mounted on it.
///
/// Runs in the child: no allocation, no locks.
pub(super) fn open_subdir(dir: BorrowedFd<'_>, name: &CStr) -> SysResult<OwnedFd> {
    sys::openat(
        dir,
        name,
        libc::O_PATH | libc::O_NOFOLLOW | libc::O_DIRECTORY | libc::O_CLOEXEC,
        0,
    )
}

/// Opens `name` (one component) in `dir` as an `O_PATH` fd without following a symlink (a
/// symlink there is opened itself).
///
/// Runs in the child: no allocation, no locks.
pub(crate) fn open_nofollow(dir: BorrowedFd<'_>, name: &CStr) -> SysResult<OwnedFd> {
    sys::openat(dir, name, libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC, 0)
}

/// Opens the directory `dir` is (any fd of it, `O_PATH` too) again, for reading its entries:
/// `.` of the fd is that directory itself, no path is looked up.
///
/// Runs in the child: no allocation, no locks.
pub(crate) fn reopen_dir(dir: BorrowedFd<'_>) -> SysResult<OwnedFd> {
    sys::openat(dir, c".", libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC, 0)
}

/// Whether the file of `fd` is on a procfs or a sysfs.
///
/// Runs in the child: no allocation, no locks.
pub(super) fn on_proc_or_sys(fd: BorrowedFd<'_>) -> SysResult<bool> {
    let magic = sys::fstatfs(fd)?.magic;
    Ok(magic == sys::PROC_SUPER_MAGIC || magic == sys::SYSFS_MAGIC)
}

/// Creates the empty file `name` in `dir` when nothing is there and opens what is there
/// (`O_PATH|O_NOFOLLOW`) for a bind mount onto it: a symlink is refused (ELOOP), and so is a
/// directory (EISDIR).
///
/// Runs in the child: no allocation, no locks.
pub(super) fn open_bind_target(dir: BorrowedFd<'_>, name: &CStr) -> SysResult<OwnedFd> {
    create_entry(dir, name, false)?;
    let fd = open_nofollow(dir, name)?;
    match sys::fstat(fd.as_fd())?.st_mode & libc::S_IFMT {
        libc::S_IFLNK => Err(libc::ELOOP),
        libc::S_IFDIR => Err(libc::EISDIR),
        _ => Ok(fd),
    }
}

/// Refuses (EACCES) a directory on procfs or sysfs as the place of the runtime's own entries.
///
/// Runs in the child: no allocation, no locks.
pub(super) fn check_runtime_dir(dir: BorrowedFd<'_>) -> SysResult<()> {
    if on_proc_or_sys(dir)? {
        return Err(libc::EACCES);
    }
    Ok(())
}
