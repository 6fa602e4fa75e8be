//! The runtime binary's seal against CVE-2019-5736, written to run before the C library starts.
//!
//! A container process starts as a clone of the runtime, so until it execs the user's program
//! its `/proc/self/exe` is the runtime's binary; the runtime must run from a view of that
//! binary no container process can write (runtime-core's `exe` module says why and when).
//! This crate holds the two pieces of that defence which must not depend on the C library:
//! [`seal_of`], whether the running binary is sealed already, and [`reexec_from_overlay`],
//! the re-execution from a detached, lower-only overlayfs view of it. runtime-core's `exe`
//! calls them once the program runs; the `ocirun` binary also calls them as its very first
//! instructions (its ELF entry point, `ocirun_entry`, on x86_64), so that a `create`, `run` or
//! `exec` whose binary is on a writable file system re-executes before the C library has
//! started at all.
//!
//! Why: starting the C library is most of what the re-execution cost. On a 2-vCPU AMD EPYC VM
//! (2026-12-07) a `cpuid` instruction traps to the hypervisor and costs 5 to 6 µs, glibc's
//! start-up runs 41 of them (its CPU feature and cache probing), and from the kernel's exec to
//! `main` the static ocirun took 0.47 ms, before anything of ocirun ran. That was paid twice per
//! `run` (once before the re-execution, once after); now the first process makes 19 system
//! calls and re-executes (see the README's spawn latency section for the measured gain).
//!
//! The rules for code here, since the entry runs before the static-pie binary has relocated
//! itself and before the C library set up a thread pointer:
//! - no read of data that holds an address (no tables of pointers, no `static` references):
//!   literals and code are reached RIP-relative, data with addresses is not relocated yet;
//! - no call into the C library, including the `memcpy`/`memset`/`memcmp` the compiler may
//!   emit (`#![no_builtins]`, byte loops, buffers left uninitialised, no slice `==`);
//! - no allocation, no panic (no indexing that can fail), no thread-local state.
#![no_std]
#![no_builtins]
// `contains` on bytes calls core's `memchr`, which the entry must not reach (and which this
// crate, linked outside the link-time optimisation, cannot: the link fails, as it does for
// any call out of this crate that was not inlined).
#![allow(clippy::manual_contains)]

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod entry;
mod raw;

use core::ffi::{CStr, c_char};
use core::mem::MaybeUninit;

use raw::Fd;

/// The environment variable a sealed re-execution carries: the unique id of the overlay mount
/// its binary lies on (`u<id>`; the reusable id before Linux 6.8). It only ever confirms what
/// the file system says.
pub const MARKER: &str = "_OCIRUN_SEALED_EXE";

/// The seals that make a memfd unwritable for good.
pub const SEALS: i32 = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;

/// `OVERLAYFS_SUPER_MAGIC`.
const OVERLAYFS: i64 = 0x794c_7630;

/// Whether `magic` is a file system with no write support at all (squashfs, erofs, cramfs,
/// romfs, iso9660): nothing can open a file of theirs for writing.
fn read_only_file_system(magic: i64) -> bool {
    matches!(magic, 0x7371_7368 | 0xE0F5_E1E2 | 0x28cd_3d45 | 0x7275 | 0x0000_9660)
}

/// Why the running binary is sealed already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seal {
    /// It runs from a sealed memfd: nothing can write it.
    SealedMemfd,
    /// Its file system has no write support (squashfs, erofs, cramfs, romfs, iso9660).
    ReadOnlyFileSystem,
    /// It runs from this runtime's detached, lower-only overlayfs mount (named by the marker).
    ReadOnlyOverlay,
}

/// How the binary open at `exe` is sealed already, if it is; `marker` is the value of
/// [`MARKER`] in the environment, if set.
pub fn seal_of(exe: i32, marker: Option<&[u8]>) -> Option<Seal> {
    check_seal(exe, marker)
}

/// [`seal_of`]. The entry calls the functions of this crate that are not public: public
/// ones are called through the global offset table, whose addresses are not relocated yet
/// when the entry runs.
fn check_seal(exe: i32, marker: Option<&[u8]>) -> Option<Seal> {
    if raw::fcntl(exe, libc::F_GET_SEALS).is_ok_and(|s| s & SEALS == SEALS) {
        return Some(Seal::SealedMemfd);
    }
    let mut st = MaybeUninit::uninit();
    let st = raw::fstatfs(exe, &mut st).ok()?;
    // Signed words on glibc (`__fsword_t`), unsigned ones on musl; every file system magic
    // and mount flag fits in 32 bits, so the casts keep their values.
    #[allow(clippy::unnecessary_cast)]
    let (magic, flags) = (st.f_type as i64, st.f_flags as i64);
    if read_only_file_system(magic) {
        return Some(Seal::ReadOnlyFileSystem);
    }
    let overlay = magic == OVERLAYFS && flags & libc::ST_RDONLY as i64 != 0;
    if overlay && marker.is_some_and(|m| MountId::of(exe).is_some_and(|id| id.is_written(m))) {
        return Some(Seal::ReadOnlyOverlay);
    }
    None
}

/// The id of the mount a file lies on: the unique one (Linux 6.8), else the reusable one
/// (5.8), which cannot be reused while the mount is alive (it is: the binary lies on it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct MountId {
    id: u64,
    unique: bool,
}

impl MountId {
    /// The mount id of the file open at `fd`.
    fn of(fd: i32) -> Option<MountId> {
        let mut st = MaybeUninit::uninit();
        MountId::from_statx(raw::statx(fd, libc::STATX_MNT_ID_UNIQUE | libc::STATX_MNT_ID, &mut st).ok()?)
    }

    /// The mount id in `st`, if the kernel gave one.
    fn from_statx(st: &libc::statx) -> Option<MountId> {
        if st.stx_mask & libc::STATX_MNT_ID_UNIQUE != 0 {
            Some(MountId {
                id: st.stx_mnt_id,
                unique: true,
            })
        } else if st.stx_mask & libc::STATX_MNT_ID != 0 {
            Some(MountId {
                id: st.stx_mnt_id,
                unique: false,
            })
        } else {
            None
        }
    }

    /// Appends the id as the marker writes it, `u<decimal>` for a unique id, else
    /// `<decimal>`; false when it did not fit.
    fn write<const N: usize>(self, out: &mut Buf<u8, N>) -> bool {
        (!self.unique || out.push(b'u')) && write_decimal(self.id, out)
    }

    /// Whether `m` is this id as the marker writes it.
    fn is_written(self, m: &[u8]) -> bool {
        let mut w = Buf::<u8, 24>::new();
        self.write(&mut w) && bytes_eq(w.as_slice(), m)
    }
}

/// Re-executes the running program from a new detached overlayfs mount, never attached
/// anywhere, with no upper layer and two lower ones (the binary's directory, then /dev:
/// overlayfs mounts with none on top only when it has two), read-only, nosuid and nodev: its
/// superblock is read-only and can never be made writable (runc 1.2's `exeseal` does the
/// same), no copy is made, and the page cache is shared. `exe_fd` is open on the running binary
/// and `exe` is its absolute path as `/proc/self/exe` reads (no NUL); the path's directory is
/// opened once, the file in it must be the file `exe_fd` is open on (device and inode),
/// overlayfs takes that directory by fd, and the file in the mount must have its inode number.
/// `argv` is passed on as it is, `envp` without any [`MARKER`] entry and with
/// `MARKER=<the mount's id>` added. The file is executed by its name
/// in the mount, so the process keeps its name. Returns only when it failed, with the errno
/// (E2BIG for more than 1,022 environment entries, ESTALE when `exe` no longer names the
/// running binary).
///
/// # Safety
/// `argv` and `envp` are null-terminated arrays of pointers to NUL-terminated strings that
/// stay alive for the call. Not public: the entry calls it, and public functions are called
/// through the global offset table, whose addresses are not relocated yet when the entry runs
/// (see [`check_seal`]).
unsafe fn reexec(exe_fd: i32, exe: &[u8], argv: *const *const c_char, envp: *const *const c_char) -> i32 {
    let mut env = Buf::<*const c_char, 1024>::new();
    let mut entry = envp;
    loop {
        // SAFETY: `envp` is a null-terminated array (this function's contract), and `entry`
        // has not passed its null.
        let s = unsafe { *entry };
        if s.is_null() {
            break;
        }
        // SAFETY: each entry is a NUL-terminated string (this function's contract).
        if !is_marker_entry(unsafe { c_bytes(s) }) && !env.push(s) {
            return libc::E2BIG;
        }
        // SAFETY: the array goes on until its null, which `entry` has not reached.
        entry = unsafe { entry.add(1) };
    }
    let mut name = Buf::<u8, 256>::new();
    let (mount, id) = match mount_overlay(exe_fd, exe, &mut name) {
        Ok(view) => view,
        Err(errno) => return errno,
    };
    let mut marker = Buf::<u8, 64>::new();
    if !(marker.extend(MARKER.as_bytes()) && marker.push(b'=') && id.write(&mut marker) && marker.push(0)) {
        return libc::E2BIG;
    }
    if !(env.push(marker.as_ptr().cast()) && env.push(core::ptr::null())) {
        return libc::E2BIG;
    }
    match name.as_cstr() {
        // SAFETY: `argv` as this function's contract says; `env` holds `envp`'s pointers
        // (alive), the marker (alive in this frame) and a final null.
        Some(name) => unsafe { raw::execveat(&mount, name, argv, env.as_ptr()) },
        None => libc::EINVAL,
    }
}

/// Re-executes the running program from a detached, lower-only overlayfs view of its binary,
/// as the `ocirun` binary's entry does (see `reexec` for the view and its checks): `exe_fd`
/// is open on the running binary, `exe` is its path as `/proc/self/exe` reads, `args` and
/// `env` as slices (at most 4,095 arguments and 1,022 environment entries, else E2BIG); `env`
/// gets `MARKER=<the mount's id>` instead of any [`MARKER`] entry. Returns only when it failed,
/// with the errno.
pub fn reexec_from_overlay(exe_fd: i32, exe: &[u8], args: &[&CStr], env: &[&CStr]) -> i32 {
    let mut argv = Buf::<*const c_char, 4096>::new();
    let mut envp = Buf::<*const c_char, 4096>::new();
    let filled = |to: &mut Buf<*const c_char, 4096>, from: &[&CStr]| {
        from.iter().all(|s| to.push(s.as_ptr())) && to.push(core::ptr::null())
    };
    if !(filled(&mut argv, args) && filled(&mut envp, env)) {
        return libc::E2BIG;
    }
    // SAFETY: both arrays end in a null and point at the callers' C strings, alive for the call.
    unsafe { reexec(exe_fd, exe, argv.as_ptr(), envp.as_ptr()) }
}

/// Whether the environment entry `text` sets [`MARKER`].
fn is_marker_entry(text: &[u8]) -> bool {
    let key = MARKER.as_bytes();
    text.len() > key.len()
        && bytes_eq(text.get(..key.len()).unwrap_or_default(), key)
        && text.get(key.len()) == Some(&b'=')
}

/// Whether the null-terminated environment `envp` sets [`MARKER`].
///
/// # Safety
/// `envp` is a null-terminated array of pointers to NUL-terminated strings.
#[cfg_attr(not(all(target_arch = "x86_64", target_os = "linux")), allow(dead_code))]
unsafe fn has_marker(envp: *const *const c_char) -> bool {
    let mut entry = envp;
    loop {
        // SAFETY: the array goes on until its null, which `entry` has not passed.
        let s = unsafe { *entry };
        if s.is_null() {
            return false;
        }
        // SAFETY: each entry is a NUL-terminated string.
        if is_marker_entry(unsafe { c_bytes(s) }) {
            return true;
        }
        // SAFETY: not at the null yet.
        entry = unsafe { entry.add(1) };
    }
}

/// Whether an `ocirun` command line (the arguments after the program's name) runs `create`,
/// `run` or `exec`, the commands that make a process in a container: runc's grammar, global
/// flags (`--root`, `--log`, `--log-format`, `--rootless` and `--criu` with a value, `--debug`
/// and `--systemd-cgroup` without; one dash or two, `=value` or the next argument) before the
/// command. Anything else (help, version, an unknown flag) is no.
pub fn runs_container_process(args: &[&[u8]]) -> bool {
    scan_command(args)
}

/// [`runs_container_process`], not public (see [`check_seal`]; nor generic: generic code may be
/// shared, hence public, too).
fn scan_command(args: &[&[u8]]) -> bool {
    let mut args = args.iter();
    while let Some(&arg) = args.next() {
        let Some(body) = strip_dashes(arg) else {
            return bytes_eq(arg, b"create") || bytes_eq(arg, b"run") || bytes_eq(arg, b"exec");
        };
        if body.iter().any(|&b| b == b'=') {
            continue;
        }
        // Compared one by one: a table of strings would be a table of addresses, which the
        // entry cannot read before the binary has relocated itself.
        let takes_value = bytes_eq(body, b"root")
            || bytes_eq(body, b"log")
            || bytes_eq(body, b"log-format")
            || bytes_eq(body, b"rootless")
            || bytes_eq(body, b"criu");
        if takes_value {
            args.next();
        } else if !(bytes_eq(body, b"debug") || bytes_eq(body, b"systemd-cgroup")) {
            return false;
        }
    }
    false
}

/// A flag's name without its one or two leading dashes; `None` for an argument that is not
/// a flag.
fn strip_dashes(arg: &[u8]) -> Option<&[u8]> {
    let body = match arg {
        [b'-', b'-', rest @ ..] => rest,
        [b'-', rest @ ..] => rest,
        _ => return None,
    };
    Some(body)
}

/// Mounts the overlay view of the binary `exe_fd` is open on, whose path is `exe` (see
/// `reexec`); writes the binary's name in it (NUL-terminated) into `name` and returns the
/// mount and its id.
fn mount_overlay(exe_fd: i32, exe: &[u8], name: &mut Buf<u8, 256>) -> Result<(Fd, MountId), i32> {
    let deleted = b" (deleted)";
    if exe.len() >= deleted.len() && bytes_eq(exe.get(exe.len() - deleted.len()..).unwrap_or_default(), deleted) {
        return Err(libc::ENOENT);
    }
    let slash = exe.iter().rposition(|&b| b == b'/').ok_or(libc::EINVAL)?;
    let (dir, file) = exe.split_at(slash);
    let file = file.get(1..).unwrap_or_default();
    let dir: &[u8] = if dir.is_empty() { b"/" } else { dir };
    let mut dir_path = Buf::<u8, 4097>::new();
    if file.is_empty() || !name.extend(file) || !name.push(0) || !dir_path.extend(dir) || !dir_path.push(0) {
        return Err(libc::EINVAL);
    }
    // The path is looked up again here, in this process's root, and could name another file
    // (a process that chroots and runs the binary by fd, a directory mounted over, a rename):
    // its directory is opened once, the file in it must be the running binary, and overlayfs
    // gets that directory by fd, not by path.
    let running = FileId::of(exe_fd)?;
    let flags = libc::O_PATH | libc::O_CLOEXEC;
    let dir = raw::openat(
        libc::AT_FDCWD,
        dir_path.as_cstr().ok_or(libc::EINVAL)?,
        flags | libc::O_DIRECTORY,
    )?;
    let file_name = name.as_cstr().ok_or(libc::EINVAL)?;
    if FileId::of(raw::openat(dir.raw(), file_name, flags | libc::O_NOFOLLOW)?.raw())? != running {
        return Err(libc::ESTALE);
    }
    // /dev exists everywhere and holds no binary directory (when it overlaps the binary's, the
    // mount fails and the caller falls back to its memfd copy).
    let mut lower = Buf::<u8, 64>::new();
    if !(lower.extend(b"/proc/self/fd/") && write_decimal(dir.raw() as u64, &mut lower) && lower.extend(b":/dev\0")) {
        return Err(libc::E2BIG);
    }
    let ctx = raw::fsopen(c"overlay")?;
    raw::fsconfig_set(&ctx, c"lowerdir", lower.as_slice())?;
    // Inode numbers need no remapping here (so the binary keeps its own); on hosts where xino
    // would turn itself on, this also keeps overlayfs from logging about it.
    let _ = raw::fsconfig_set(&ctx, c"xino", b"off\0");
    raw::fsconfig_create(&ctx)?;
    drop(dir);
    let attr = libc::MOUNT_ATTR_RDONLY | libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR_NODEV;
    let mount = raw::fsmount(&ctx, attr as u32)?;
    let file = raw::openat(
        mount.raw(),
        file_name,
        libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC,
    )?;
    let mut st = MaybeUninit::uninit();
    let mask = libc::STATX_TYPE | libc::STATX_INO | libc::STATX_MNT_ID_UNIQUE | libc::STATX_MNT_ID;
    let st = raw::statx(file.raw(), mask, &mut st)?;
    if u32::from(st.stx_mode) & libc::S_IFMT != libc::S_IFREG {
        return Err(libc::ENOEXEC);
    }
    // overlayfs shows a lower file with its own inode number (xino off) on a device of its own.
    if st.stx_ino != running.ino {
        return Err(libc::ESTALE);
    }
    let id = MountId::from_statx(st).ok_or(libc::ENOSYS)?;
    Ok((mount, id))
}

/// Which file an fd is open on: its device and inode numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileId {
    dev: (u32, u32),
    ino: u64,
}

impl FileId {
    /// The file `fd` is open on.
    fn of(fd: i32) -> Result<FileId, i32> {
        let mut st = MaybeUninit::uninit();
        let st = raw::statx(fd, libc::STATX_INO, &mut st)?;
        Ok(FileId {
            dev: (st.stx_dev_major, st.stx_dev_minor),
            ino: st.stx_ino,
        })
    }
}

/// Appends `n` in decimal; false when it did not fit.
fn write_decimal<const N: usize>(mut n: u64, out: &mut Buf<u8, N>) -> bool {
    let mut digits = Buf::<u8, 20>::new();
    loop {
        digits.push(b'0' + (n % 10) as u8);
        n /= 10;
        if n == 0 {
            break;
        }
    }
    digits.as_slice().iter().rev().all(|&d| out.push(d))
}

/// The bytes of the NUL-terminated string at `s`, without the NUL (counted by hand: `strlen`
/// is the C library's).
///
/// # Safety
/// `s` points at a NUL-terminated string that outlives the returned slice.
unsafe fn c_bytes<'a>(s: *const c_char) -> &'a [u8] {
    let mut len = 0;
    // SAFETY: the string goes on until its NUL, which the loop has not passed.
    while unsafe { *s.add(len) } != 0 {
        len += 1;
    }
    // SAFETY: `len` bytes from `s` are the string's, alive as long as the caller says.
    unsafe { core::slice::from_raw_parts(s.cast::<u8>(), len) }
}

/// A fixed-capacity buffer on the stack: left uninitialised (no `memset`) and filled in place
/// (never returned or moved once filled, which could call `memcpy`).
struct Buf<T: Copy, const N: usize> {
    data: MaybeUninit<[T; N]>,
    len: usize,
}

impl<T: Copy, const N: usize> Buf<T, N> {
    /// An empty buffer.
    #[inline(always)]
    const fn new() -> Self {
        Buf {
            data: MaybeUninit::uninit(),
            len: 0,
        }
    }

    /// Appends `v`; false when full.
    fn push(&mut self, v: T) -> bool {
        if self.len >= N {
            return false;
        }
        // SAFETY: len < N, so the slot is inside the array.
        unsafe { self.data.as_mut_ptr().cast::<T>().add(self.len).write(v) };
        self.len += 1;
        true
    }

    /// Appends all of `s`; false when it did not fit.
    fn extend(&mut self, s: &[T]) -> bool {
        s.iter().all(|&v| self.push(v))
    }

    /// The elements pushed so far.
    fn as_slice(&self) -> &[T] {
        // SAFETY: the first `len` elements were written by `push`.
        unsafe { core::slice::from_raw_parts(self.data.as_ptr().cast::<T>(), self.len) }
    }

    /// A pointer to the first element.
    fn as_ptr(&self) -> *const T {
        self.data.as_ptr().cast::<T>()
    }
}

impl<const N: usize> Buf<u8, N> {
    /// The contents as a C string, when they end in their only NUL (callers push it last);
    /// checked byte by byte (`CStr`'s own checks call core's `memchr`, which this crate,
    /// linked outside the link-time optimisation, cannot reach).
    fn as_cstr(&self) -> Option<&CStr> {
        let (last, body) = self.as_slice().split_last()?;
        if *last != 0 || body.iter().any(|&b| b == 0) {
            return None;
        }
        // SAFETY: the bytes end in a NUL and hold no other (checked above).
        Some(unsafe { CStr::from_bytes_with_nul_unchecked(self.as_slice()) })
    }
}

/// Whether two byte strings are equal, compared byte by byte (slice `==` calls `memcmp`).
fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;

    #[test]
    fn the_command_is_found_after_global_flags() {
        let yes: [&[&[u8]]; 6] = [
            &[b"run", b"id"],
            &[b"--root", b"/run/x", b"create", b"--bundle", b"b", b"id"],
            &[
                b"-root=/r",
                b"--log",
                b"l.json",
                b"--log-format",
                b"json",
                b"exec",
                b"id",
                b"sh",
            ],
            &[
                b"--debug",
                b"--systemd-cgroup",
                b"--rootless",
                b"true",
                b"--criu",
                b"c",
                b"run",
            ],
            &[b"--root", b"run", b"run"],
            &[b"--systemd-cgroup=true", b"exec"],
        ];
        for args in yes {
            assert!(runs_container_process(args), "{args:?}");
        }
        let no: [&[&[u8]]; 8] = [
            &[],
            &[b"--root", b"run"],
            &[b"state", b"run"],
            &[b"--version", b"run"],
            &[b"--help"],
            &[b"--unknown", b"run"],
            &[b"--", b"run"],
            &[b"delete", b"create"],
        ];
        for args in no {
            assert!(!runs_container_process(args), "{args:?}");
        }
    }

    #[test]
    fn mount_ids_are_written_as_the_marker_has_them() {
        let mut out = Buf::<u8, 24>::new();
        assert!(
            MountId {
                id: 1_234_567,
                unique: true
            }
            .write(&mut out)
        );
        assert_eq!(out.as_slice(), b"u1234567");
        assert!(MountId { id: 0, unique: false }.is_written(b"0"));
        assert!(!MountId { id: 10, unique: true }.is_written(b"10"));
        assert!(
            MountId {
                id: u64::MAX,
                unique: true
            }
            .is_written(b"u18446744073709551615")
        );
    }

    #[test]
    fn only_marker_entries_are_markers() {
        assert!(is_marker_entry(b"_OCIRUN_SEALED_EXE=u5"));
        assert!(!is_marker_entry(b"_OCIRUN_SEALED_EXE"));
        assert!(!is_marker_entry(b"_OCIRUN_SEALED_EXEX=1"));
        assert!(!is_marker_entry(b"PATH=/bin"));
    }

    #[test]
    fn c_strings_need_their_one_final_nul() {
        let mut b = Buf::<u8, 8>::new();
        assert!(b.extend(b"ab\0"));
        assert_eq!(b.as_cstr(), Some(c"ab"));
        let mut inner = Buf::<u8, 8>::new();
        assert!(inner.extend(b"a\0b\0"));
        assert_eq!(inner.as_cstr(), None);
        assert_eq!(Buf::<u8, 8>::new().as_cstr(), None);
    }

    #[test]
    fn a_deleted_or_relative_binary_gets_no_overlay() {
        let mut name = Buf::<u8, 256>::new();
        assert_eq!(
            mount_overlay(-1, b"/usr/bin/ocirun (deleted)", &mut name).err(),
            Some(libc::ENOENT)
        );
        let mut name = Buf::<u8, 256>::new();
        assert_eq!(mount_overlay(-1, b"ocirun", &mut name).err(), Some(libc::EINVAL));
        let mut name = Buf::<u8, 256>::new();
        assert_eq!(mount_overlay(-1, b"/usr/bin/", &mut name).err(), Some(libc::EINVAL));
    }
}
