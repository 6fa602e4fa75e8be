//! `tmpcopyup`: copy a directory tree into a freshly mounted tmpfs, without allocation.
//!
//! Runs in the child: no allocation, no locks. Directory entries are read with getdents64 into
//! a stack buffer per level, names are used in place (they are NUL-terminated in the buffer),
//! and every operation is relative to an fd, so nothing in the tree is followed. Each entry
//! is opened once, `O_PATH|O_NOFOLLOW` (which opens no device and no FIFO and follows no
//! symlink), and what it is comes from fstat of that fd: the copy acts on that inode only,
//! whatever a process sharing the directory (a volume) renames in meanwhile. Regular files
//! and directories are read through that fd, symlinks copied as symlinks, device nodes,
//! FIFOs and sockets made as nodes (never opened), each with its owner and mode; the depth is
//! bounded by [`MAX_DEPTH`].

use std::ffi::CStr;
use std::os::fd::{AsFd, BorrowedFd};

use crate::child::{ProcFdPath, open_nofollow, reopen_dir};
use crate::sys::{self, SysResult};

/// Deepest directory nesting copied; deeper trees fail with ELOOP.
pub(crate) const MAX_DEPTH: u32 = 32;

/// Size of the per-level getdents64 buffer.
const DIRENT_BUF: usize = 2048;

/// Offset of `d_reclen` in `struct linux_dirent64`.
const RECLEN_OFFSET: usize = 16;
/// Offset of `d_name` in `struct linux_dirent64`.
const NAME_OFFSET: usize = 19;

/// Copies the contents and the owner/mode of directory `src` into directory `dst`.
///
/// Runs in the child: no allocation, no locks.
pub(crate) fn copy_tree(src: BorrowedFd<'_>, dst: BorrowedFd<'_>) -> SysResult<()> {
    let st = sys::fstat(src)?;
    copy_dir(src, dst, 0)?;
    sys::fchown(dst, st.st_uid, st.st_gid)?;
    sys::fchmod(dst, st.st_mode & 0o7777)
}

/// Copies every entry of `src` into `dst`.
///
/// Runs in the child: no allocation, no locks.
fn copy_dir(src: BorrowedFd<'_>, dst: BorrowedFd<'_>, depth: u32) -> SysResult<()> {
    if depth >= MAX_DEPTH {
        return Err(libc::ELOOP);
    }
    let mut bytes = [0u8; DIRENT_BUF];
    loop {
        let filled = sys::getdents64(src, &mut bytes)?;
        if filled == 0 {
            return Ok(());
        }
        let mut off = 0usize;
        while off < filled {
            let reclen = bytes
                .get(off + RECLEN_OFFSET..off + RECLEN_OFFSET + 2)
                .and_then(|b| <[u8; 2]>::try_from(b).ok())
                .map(u16::from_ne_bytes)
                .ok_or(libc::EIO)?;
            let reclen = usize::from(reclen);
            let record = bytes.get(off..off + reclen).ok_or(libc::EIO)?;
            if reclen <= NAME_OFFSET {
                return Err(libc::EIO);
            }
            let name = record
                .get(NAME_OFFSET..)
                .and_then(|n| CStr::from_bytes_until_nul(n).ok())
                .ok_or(libc::EIO)?;
            let raw = name.to_bytes();
            if raw != b"." && raw != b".." {
                copy_entry(src, dst, name, depth)?;
            }
            off += reclen;
        }
    }
}

/// Copies one entry `name` of `src` into `dst`.
///
/// Runs in the child: no allocation, no locks.
fn copy_entry(src: BorrowedFd<'_>, dst: BorrowedFd<'_>, name: &CStr, depth: u32) -> SysResult<()> {
    let entry = open_nofollow(src, name)?;
    let st = sys::fstat(entry.as_fd())?;
    let kind = st.st_mode & libc::S_IFMT;
    match kind {
        libc::S_IFDIR => {
            sys::mkdirat(dst, name, 0o700)?;
            // `.` of the entry's fd is that directory itself.
            let s = reopen_dir(entry.as_fd())?;
            let d = sys::openat(
                dst,
                name,
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
                0,
            )?;
            copy_dir(s.as_fd(), d.as_fd(), depth + 1)?;
        }
        libc::S_IFREG => copy_file(entry.as_fd(), dst, name)?,
        libc::S_IFLNK => copy_symlink(entry.as_fd(), dst, name)?,
        libc::S_IFCHR | libc::S_IFBLK | libc::S_IFIFO | libc::S_IFSOCK => {
            sys::mknodat(dst, name, st.st_mode, st.st_rdev)?;
        }
        _ => return Err(libc::EINVAL),
    }
    sys::fchownat(dst, name, st.st_uid, st.st_gid)?;
    if kind != libc::S_IFLNK {
        sys::fchmodat(dst, name, st.st_mode & 0o7777)?;
    }
    Ok(())
}

/// Copies the bytes of the regular file `entry` (an `O_PATH` fd) into a new file `name` of
/// `dst` through a stack buffer (its own frame, not per level). The file is opened for
/// reading through `/proc/self/fd/<entry>`, which leads to exactly that inode (a regular file
/// stays one): the host's procfs, as tmpcopyup runs before the root switch.
///
/// Runs in the child: no allocation, no locks.
#[inline(never)]
fn copy_file(entry: BorrowedFd<'_>, dst: BorrowedFd<'_>, name: &CStr) -> SysResult<()> {
    let input = sys::open(
        ProcFdPath::new(entry).as_cstr(),
        libc::O_RDONLY | libc::O_NOCTTY | libc::O_NONBLOCK | libc::O_CLOEXEC,
    )?;
    let output = sys::openat(
        dst,
        name,
        libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        0o600,
    )?;
    let mut buf = [0u8; 8192];
    loop {
        let n = match sys::read(input.as_fd(), &mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) => return Err(e),
        };
        let mut chunk = buf.get(..n).ok_or(libc::EIO)?;
        while !chunk.is_empty() {
            match sys::write(output.as_fd(), chunk) {
                Ok(0) => return Err(libc::EIO),
                Ok(w) => chunk = chunk.get(w..).ok_or(libc::EIO)?,
                Err(e) => return Err(e),
            }
        }
    }
}

/// Copies the symlink `entry` (an `O_PATH|O_NOFOLLOW` fd: its target, not what it points to)
/// as `name` in `dst`.
///
/// Runs in the child: no allocation, no locks.
#[inline(never)]
fn copy_symlink(entry: BorrowedFd<'_>, dst: BorrowedFd<'_>, name: &CStr) -> SysResult<()> {
    let mut buf = [0u8; libc::PATH_MAX as usize + 1];
    // An empty path reads the link the fd itself is.
    let n = sys::readlinkat(entry, c"", &mut buf)?;
    if n >= buf.len() - 1 {
        return Err(libc::ENAMETOOLONG);
    }
    // The buffer was zeroed, so byte `n` terminates the target.
    let target = CStr::from_bytes_until_nul(&buf).map_err(|_| libc::EIO)?;
    sys::symlinkat(target, dst, name)
}
