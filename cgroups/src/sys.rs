//! The few system calls this crate makes outside the filesystem API.

use std::fs::OpenOptions;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Opens a directory with `O_PATH|O_DIRECTORY|O_CLOEXEC`, as clone3's cgroup field takes it.
pub(crate) fn open_dir_path(dir: &Path) -> std::io::Result<OwnedFd> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(dir)?;
    Ok(OwnedFd::from(file))
}

/// Opens a file for writing (`O_WRONLY|O_CLOEXEC`), as a cgroup's `tasks` file.
pub(crate) fn open_write(path: &Path) -> std::io::Result<OwnedFd> {
    let file = OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)?;
    Ok(OwnedFd::from(file))
}

/// Writes "0" to `fd` with one write(2); returns the errno on failure.
/// Runs in the child: no allocation, no locks.
pub(crate) fn write_zero(fd: BorrowedFd<'_>) -> Result<(), i32> {
    use std::os::fd::AsRawFd as _;
    loop {
        // SAFETY: writes one byte from a static buffer to an fd the caller owns.
        let n = unsafe { libc::write(fd.as_raw_fd(), b"0".as_ptr().cast(), 1) };
        if n == 1 {
            return Ok(());
        }
        // Reading errno allocates nothing (an io::Error of the Os kind is a plain integer).
        let errno = if n < 0 {
            std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO)
        } else {
            libc::EIO
        };
        if errno != libc::EINTR {
            return Err(errno);
        }
    }
}

/// Opens a directory read-only (`O_RDONLY|O_DIRECTORY|O_CLOEXEC`), as bpf(2) attach takes it.
pub(crate) fn open_dir(dir: &Path) -> std::io::Result<OwnedFd> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(dir)?;
    Ok(OwnedFd::from(file))
}

/// Sends `sig` to `pid`.
pub(crate) fn kill(pid: i32, sig: i32) -> std::io::Result<()> {
    // SAFETY: kill takes two integers and touches no memory of ours.
    let ret = unsafe { libc::kill(pid, sig) };
    if ret < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

use std::os::fd::{AsRawFd, FromRawFd};

use crate::devices::Insn;

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_DETACH: libc::c_long = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_PROG_QUERY: libc::c_long = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

/// union bpf_attr as BPF_PROG_LOAD reads it.
#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// union bpf_attr as BPF_PROG_ATTACH and BPF_PROG_DETACH read it.
#[repr(C)]
#[derive(Default)]
struct AttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
    pad: u32,
}

/// union bpf_attr as BPF_PROG_QUERY reads it.
#[repr(C)]
#[derive(Default)]
struct QueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    pad: u32,
}

/// union bpf_attr as BPF_PROG_GET_FD_BY_ID reads it.
#[repr(C)]
#[derive(Default)]
struct GetFdAttr {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
    pad: u32,
}

/// bpf(2) with an attribute struct of type `T`.
fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> std::io::Result<libc::c_long> {
    // SAFETY: `attr` is a live, initialised repr(C) bpf_attr variant of the given size for the
    // duration of the call; the pointers inside it, if any, are set by callers to live buffers.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            std::ptr::from_mut(attr).cast::<libc::c_void>(),
            std::mem::size_of::<T>(),
        )
    };
    if ret < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn owned_fd(ret: libc::c_long) -> std::io::Result<OwnedFd> {
    let fd = i32::try_from(ret).map_err(|_| std::io::Error::from_raw_os_error(libc::EBADF))?;
    // SAFETY: the kernel just returned this fd to us and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn fd_u32(fd: &OwnedFd) -> u32 {
    u32::try_from(fd.as_raw_fd()).unwrap_or(u32::MAX)
}

/// Loads a BPF_PROG_TYPE_CGROUP_DEVICE program; on failure returns the verifier log too.
pub(crate) fn bpf_prog_load_cgroup_device(insns: &[Insn]) -> Result<OwnedFd, (std::io::Error, String)> {
    let license = c"Apache";
    let mut log = vec![0u8; 0];
    for attempt in 0..2 {
        if attempt == 1 {
            log = vec![0u8; 64 * 1024];
        }
        let mut attr = ProgLoadAttr {
            prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
            insn_cnt: u32::try_from(insns.len()).unwrap_or(u32::MAX),
            insns: insns.as_ptr() as u64,
            license: license.as_ptr() as u64,
            log_level: u32::from(attempt == 1),
            log_size: u32::try_from(log.len()).unwrap_or(0),
            log_buf: if log.is_empty() { 0 } else { log.as_mut_ptr() as u64 },
            expected_attach_type: BPF_CGROUP_DEVICE,
            ..ProgLoadAttr::default()
        };
        attr.prog_name[..6].copy_from_slice(b"ocirun");
        match bpf(BPF_PROG_LOAD, &mut attr) {
            Ok(fd) => return owned_fd(fd).map_err(|e| (e, String::new())),
            Err(e) if attempt == 1 => {
                let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
                let text = String::from_utf8_lossy(log.get(..end).unwrap_or_default());
                return Err((e, text.into_owned()));
            }
            Err(_) => {}
        }
    }
    Err((std::io::Error::from_raw_os_error(libc::EINVAL), String::new()))
}

/// Attaches a device program to a cgroup with BPF_F_ALLOW_MULTI.
pub(crate) fn bpf_prog_attach_cgroup_device(cgroup: &OwnedFd, prog: &OwnedFd) -> std::io::Result<()> {
    let mut attr = AttachAttr {
        target_fd: fd_u32(cgroup),
        attach_bpf_fd: fd_u32(prog),
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        ..AttachAttr::default()
    };
    bpf(BPF_PROG_ATTACH, &mut attr).map(drop)
}

/// Detaches a device program from a cgroup.
pub(crate) fn bpf_prog_detach_cgroup_device(cgroup: &OwnedFd, prog: &OwnedFd) -> std::io::Result<()> {
    let mut attr = AttachAttr {
        target_fd: fd_u32(cgroup),
        attach_bpf_fd: fd_u32(prog),
        attach_type: BPF_CGROUP_DEVICE,
        ..AttachAttr::default()
    };
    bpf(BPF_PROG_DETACH, &mut attr).map(drop)
}

/// The ids of the device programs attached directly to a cgroup.
pub(crate) fn bpf_prog_query_cgroup_device(cgroup: &OwnedFd) -> std::io::Result<Vec<u32>> {
    let mut ids = vec![0u32; 64];
    let mut attr = QueryAttr {
        target_fd: fd_u32(cgroup),
        attach_type: BPF_CGROUP_DEVICE,
        prog_ids: ids.as_mut_ptr() as u64,
        prog_cnt: u32::try_from(ids.len()).unwrap_or(0),
        ..QueryAttr::default()
    };
    bpf(BPF_PROG_QUERY, &mut attr)?;
    ids.truncate(usize::try_from(attr.prog_cnt).unwrap_or(0));
    Ok(ids)
}

/// An fd for the program with this id.
pub(crate) fn bpf_prog_get_fd_by_id(id: u32) -> std::io::Result<OwnedFd> {
    let mut attr = GetFdAttr {
        prog_id: id,
        ..GetFdAttr::default()
    };
    owned_fd(bpf(BPF_PROG_GET_FD_BY_ID, &mut attr)?)
}

/// A new eventfd (`EFD_CLOEXEC`), counter 0.
pub(crate) fn eventfd() -> std::io::Result<OwnedFd> {
    // SAFETY: eventfd takes two integers and returns a new fd or -1.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd is new and owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Reads an eventfd's 8-byte counter (and resets it).
pub(crate) fn eventfd_read(fd: &OwnedFd) -> std::io::Result<u64> {
    let mut value = 0u64;
    // SAFETY: reads at most 8 bytes into a u64 on our stack from an fd we own.
    let n = unsafe { libc::read(fd.as_raw_fd(), (&raw mut value).cast(), 8) };
    if n != 8 {
        return Err(if n < 0 {
            std::io::Error::last_os_error()
        } else {
            std::io::Error::from(std::io::ErrorKind::UnexpectedEof)
        });
    }
    Ok(value)
}

/// Waits up to `timeout_ms` for `events` on `fd`; returns the revents (0 on timeout).
pub(crate) fn poll_one(fd: &impl AsRawFd, events: i16, timeout_ms: i32) -> std::io::Result<i16> {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events,
        revents: 0,
    };
    loop {
        // SAFETY: pfd is one valid pollfd on our stack.
        let n = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
        if n >= 0 {
            return Ok(pfd.revents);
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// What [`statmount`] tells about one mount: its filesystem's magic, its root within the
/// filesystem (for cgroupfs, the cgroup path it shows), where it is mounted and the
/// filesystem's own options ("cpu,cpuacct", "name=systemd"), none of them escaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MountFacts {
    /// `statfs`'s `f_type` of the mount's superblock.
    pub(crate) magic: u64,
    /// The mount's root, relative to the filesystem's root.
    pub(crate) root: String,
    /// The mount point, relative to the caller's root.
    pub(crate) point: String,
    /// The filesystem-specific options, comma-separated.
    pub(crate) options: String,
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
pub(crate) fn statmount(path: &Path) -> Option<MountFacts> {
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

/// Whether this process is not root (euid != 0): the systemd driver then asks the caller's
/// own systemd, over the user bus, as runc's rootless systemd driver does.
pub(crate) fn unprivileged() -> bool {
    // SAFETY: geteuid cannot fail and touches no memory.
    unsafe { libc::geteuid() != 0 }
}
