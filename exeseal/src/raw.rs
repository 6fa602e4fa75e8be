//! The system calls the seal makes, without the C library: on x86_64 the `syscall`
//! instruction itself, since before the C library starts there is no thread pointer for
//! `errno` and its wrappers must not run; elsewhere through `libc::syscall`, for use once the C
//! library runs (the pre-libc entry exists on x86_64 only). Each returns the result or the
//! errno.

use core::ffi::{CStr, c_char, c_int};
use core::mem::MaybeUninit;

/// One system call: the kernel's return value, `-errno` on failure.
///
/// # Safety
/// Every pointer among `args` is valid for what system call `nr` reads or writes through it.
#[cfg(target_arch = "x86_64")]
unsafe fn syscall(nr: libc::c_long, args: [usize; 5]) -> isize {
    let ret: isize;
    // SAFETY: the x86_64 Linux system-call convention: the number in rax, arguments in rdi,
    // rsi, rdx, r10, r8; the kernel clobbers rcx and r11 and touches no user stack. The
    // memory the call reads or writes is valid by this function's contract.
    unsafe {
        core::arch::asm!(
            "syscall",
            inlateout("rax") nr as isize => ret,
            in("rdi") args[0],
            in("rsi") args[1],
            in("rdx") args[2],
            in("r10") args[3],
            in("r8") args[4],
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    ret
}

/// One system call: the kernel's return value, `-errno` on failure.
///
/// # Safety
/// Every pointer among `args` is valid for what system call `nr` reads or writes through it.
#[cfg(not(target_arch = "x86_64"))]
unsafe fn syscall(nr: libc::c_long, args: [usize; 5]) -> isize {
    // SAFETY: the memory the call reads or writes is valid by this function's contract; errno
    // is read right after the call, on this thread.
    unsafe {
        let ret = libc::syscall(nr, args[0], args[1], args[2], args[3], args[4]);
        if ret == -1 {
            -(*libc::__errno_location()) as isize
        } else {
            ret as isize
        }
    }
}

/// The result of a call returning a number, or its errno.
fn check(ret: isize) -> Result<usize, i32> {
    if ret < 0 { Err(-ret as i32) } else { Ok(ret as usize) }
}

/// The result of a call returning a file descriptor, or its errno.
fn check_fd(ret: isize) -> Result<c_int, i32> {
    check(ret).map(|fd| fd as c_int)
}

/// An owned file descriptor, closed on drop (no std here for `OwnedFd`).
pub(crate) struct Fd(c_int);

impl Fd {
    /// The descriptor's number, still owned by `self`.
    pub(crate) fn raw(&self) -> c_int {
        self.0
    }
}

impl Drop for Fd {
    fn drop(&mut self) {
        close(self.0);
    }
}

/// close(2); an error leaves nothing to do.
pub(crate) fn close(fd: c_int) {
    // SAFETY: close reads no memory.
    unsafe { syscall(libc::SYS_close, [fd as usize, 0, 0, 0, 0]) };
}

/// openat(2) of `path` below `dir`.
pub(crate) fn openat(dir: c_int, path: &CStr, flags: c_int) -> Result<Fd, i32> {
    // SAFETY: the kernel reads the NUL-terminated path.
    let ret = unsafe {
        syscall(
            libc::SYS_openat,
            [dir as usize, path.as_ptr() as usize, flags as usize, 0, 0],
        )
    };
    check_fd(ret).map(Fd)
}

/// readlink(2) of `path` into `buf`: the length written (it was cut when it fills `buf`).
pub(crate) fn readlink(path: &CStr, buf: &mut [MaybeUninit<u8>]) -> Result<usize, i32> {
    let args = [
        libc::AT_FDCWD as usize,
        path.as_ptr() as usize,
        buf.as_mut_ptr() as usize,
        buf.len(),
        0,
    ];
    // SAFETY: the kernel reads the NUL-terminated path and writes at most buf.len() bytes.
    let ret = unsafe { syscall(libc::SYS_readlinkat, args) };
    check(ret)
}

/// fcntl(2) with an integer argument.
pub(crate) fn fcntl(fd: c_int, cmd: c_int) -> Result<c_int, i32> {
    // SAFETY: the commands used here (F_GET_SEALS) take and touch no memory.
    check(unsafe { syscall(libc::SYS_fcntl, [fd as usize, cmd as usize, 0, 0, 0]) }).map(|v| v as c_int)
}

/// fstatfs(2), into `out` (filled in place: the struct is not moved, which could call
/// `memcpy`). On 64-bit targets the kernel's struct statfs is laid out as `statfs64`.
#[cfg(target_pointer_width = "64")]
pub(crate) fn fstatfs(fd: c_int, out: &mut MaybeUninit<libc::statfs64>) -> Result<&libc::statfs64, i32> {
    // SAFETY: the kernel writes one struct statfs (statfs64's layout here) into `out`.
    check(unsafe { syscall(libc::SYS_fstatfs, [fd as usize, out.as_mut_ptr() as usize, 0, 0, 0]) })?;
    // SAFETY: the call succeeded, so the kernel wrote every field.
    Ok(unsafe { out.assume_init_ref() })
}

/// fstatfs64(2), into `out` (filled in place).
#[cfg(target_pointer_width = "32")]
pub(crate) fn fstatfs(fd: c_int, out: &mut MaybeUninit<libc::statfs64>) -> Result<&libc::statfs64, i32> {
    let args = [
        fd as usize,
        core::mem::size_of::<libc::statfs64>(),
        out.as_mut_ptr() as usize,
        0,
        0,
    ];
    // SAFETY: the kernel writes one struct statfs64, of the size given, into `out`.
    check(unsafe { syscall(libc::SYS_fstatfs64, args) })?;
    // SAFETY: the call succeeded, so the kernel wrote every field.
    Ok(unsafe { out.assume_init_ref() })
}

/// statx(2) of the file `fd` is open on, asking for `mask`, into `out` (filled in place).
pub(crate) fn statx(fd: c_int, mask: u32, out: &mut MaybeUninit<libc::statx>) -> Result<&libc::statx, i32> {
    let args = [
        fd as usize,
        c"".as_ptr() as usize,
        libc::AT_EMPTY_PATH as usize,
        mask as usize,
        out.as_mut_ptr() as usize,
    ];
    // SAFETY: the kernel reads the empty NUL-terminated path and writes one struct statx into
    // `out` (the fields `mask` did not get zeroed).
    check(unsafe { syscall(libc::SYS_statx, args) })?;
    // SAFETY: the call succeeded, so the kernel wrote every field.
    Ok(unsafe { out.assume_init_ref() })
}

/// fsopen(2) with FSOPEN_CLOEXEC.
pub(crate) fn fsopen(fs: &CStr) -> Result<Fd, i32> {
    // SAFETY: the kernel reads the NUL-terminated name.
    check_fd(unsafe {
        syscall(
            libc::SYS_fsopen,
            [fs.as_ptr() as usize, libc::FSOPEN_CLOEXEC as usize, 0, 0, 0],
        )
    })
    .map(Fd)
}

/// fsconfig(2) FSCONFIG_SET_STRING of `key` to the NUL-terminated `value`.
pub(crate) fn fsconfig_set(ctx: &Fd, key: &CStr, value: &[u8]) -> Result<(), i32> {
    if value.last() != Some(&0) {
        return Err(libc::EINVAL);
    }
    let args = [
        ctx.raw() as usize,
        libc::FSCONFIG_SET_STRING as usize,
        key.as_ptr() as usize,
        value.as_ptr() as usize,
        0,
    ];
    // SAFETY: the kernel reads the NUL-terminated key and value (checked above).
    check(unsafe { syscall(libc::SYS_fsconfig, args) }).map(drop)
}

/// fsconfig(2) FSCONFIG_CMD_CREATE.
pub(crate) fn fsconfig_create(ctx: &Fd) -> Result<(), i32> {
    // SAFETY: FSCONFIG_CMD_CREATE reads no memory.
    check(unsafe {
        syscall(
            libc::SYS_fsconfig,
            [ctx.raw() as usize, libc::FSCONFIG_CMD_CREATE as usize, 0, 0, 0],
        )
    })
    .map(drop)
}

/// fsmount(2) with FSMOUNT_CLOEXEC and the mount attributes `attr`.
pub(crate) fn fsmount(ctx: &Fd, attr: u32) -> Result<Fd, i32> {
    let args = [ctx.raw() as usize, libc::FSMOUNT_CLOEXEC as usize, attr as usize, 0, 0];
    // SAFETY: fsmount reads no memory.
    check_fd(unsafe { syscall(libc::SYS_fsmount, args) }).map(Fd)
}

/// execveat(2) of `name` below `dir`, a final symlink not followed; returns only the errno.
///
/// # Safety
/// `argv` and `envp` are null-terminated arrays of pointers to NUL-terminated strings that
/// stay alive for the call.
pub(crate) unsafe fn execveat(dir: &Fd, name: &CStr, argv: *const *const c_char, envp: *const *const c_char) -> i32 {
    let args = [
        dir.raw() as usize,
        name.as_ptr() as usize,
        argv as usize,
        envp as usize,
        libc::AT_SYMLINK_NOFOLLOW as usize,
    ];
    // SAFETY: the kernel reads the NUL-terminated name and the two arrays, valid by this
    // function's contract.
    match check(unsafe { syscall(libc::SYS_execveat, args) }) {
        Err(errno) => errno,
        // execveat returns only on failure.
        Ok(_) => libc::EINVAL,
    }
}
