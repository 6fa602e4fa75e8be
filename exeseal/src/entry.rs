//! The `ocirun` binary's ELF entry point (x86_64): before the C library starts, a `create`,
//! `run` or `exec` whose binary is not sealed re-executes from the overlay view, so that the C
//! library starts once per command instead of twice (in a static build: in a dynamic one the
//! loader has started it before any entry runs). Anything it cannot do here (an unusual
//! command line, no /proc, a failed mount, an environment of over 1,022 entries) it leaves to
//! runtime-core's `exe::protect`, which the program runs after start-up in every case and
//! which alone decides: this entry only saves time, it never skips the check.

use core::ffi::c_char;
use core::mem::MaybeUninit;

// The entry: the initial stack pointer (argc, argv, null, envp, null, auxv) goes to
// `preflight`; rdx, which the ABI says holds a function for atexit (the dynamic loader's, or 0),
// is kept for `_start`; the stack is aligned for the call and left as it was for `_start`.
core::arch::global_asm!(
    ".globl ocirun_entry",
    ".type ocirun_entry, @function",
    "ocirun_entry:",
    "xor ebp, ebp",
    "mov rdi, rsp",
    "push rdx",
    "sub rsp, 8",
    "call {preflight}",
    "add rsp, 8",
    "pop rdx",
    "jmp _start",
    ".size ocirun_entry, . - ocirun_entry",
    preflight = sym preflight,
);

/// Re-executes from the overlay view when the command line runs a container process and the
/// binary is not sealed; returns otherwise (and when that failed).
///
/// # Safety
/// Called only by `ocirun_entry`, with the kernel's initial stack pointer.
unsafe extern "C" fn preflight(sp: *const usize) {
    // SAFETY: the initial stack starts with argc, then argc argument pointers and a null, then
    // the environment's pointers and a null.
    let (argc, argv) = unsafe { (*sp, sp.add(1).cast::<*const c_char>()) };
    // SAFETY: as above: the environment starts after the arguments' null.
    let envp = unsafe { argv.add(argc + 1) };
    // The command comes within the first few arguments (after global flags): 32 are plenty.
    let mut args = crate::Buf::<&[u8], 32>::new();
    for i in 1..argc {
        // SAFETY: argv[1..argc] are NUL-terminated strings alive for the whole program.
        if !args.push(unsafe { crate::c_bytes(*argv.add(i)) }) {
            break;
        }
    }
    if !crate::scan_command(args.as_slice()) {
        return;
    }
    // SAFETY: envp is a null-terminated array of NUL-terminated strings.
    if unsafe { crate::has_marker(envp) } {
        // A re-executed process: the check after start-up compares the marker with the mount.
        return;
    }
    let Ok(exe) = crate::raw::openat(libc::AT_FDCWD, c"/proc/self/exe", libc::O_RDONLY | libc::O_CLOEXEC) else {
        return;
    };
    if crate::check_seal(exe.raw(), None).is_some() {
        return;
    }
    let mut path = [MaybeUninit::<u8>::uninit(); 4096];
    let Ok(len) = crate::raw::readlink(c"/proc/self/exe", &mut path) else {
        return;
    };
    if len >= path.len() {
        return;
    }
    // SAFETY: readlink wrote the first `len` bytes.
    let exe_path = unsafe { core::slice::from_raw_parts(path.as_ptr().cast::<u8>(), len) };
    // SAFETY: argv and envp are the kernel's null-terminated arrays, alive for the program.
    // It returns only when the re-execution failed: start-up goes on, and the check after it
    // tries again.
    let _ = unsafe { crate::reexec(exe.raw(), exe_path, argv, envp) };
}
