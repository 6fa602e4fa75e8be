//! The runtime's own binary, out of a container's reach (CVE-2019-5736).
//!
//! ocirun never re-executes itself to make a container process: the container's init, every
//! `exec`'d process and the startContainer and createContainer hooks are clones of the runtime,
//! so until they execve() the user's program their `/proc/self/exe` is the runtime's binary on
//! the host. An image whose entrypoint is
//! `#!/proc/self/exe` (or `args: ["/proc/self/exe"]`) makes the kernel run that binary inside
//! the container as the container's root; another container process opens it through
//! `/proc/<pid>/exe` while it runs and, once no process runs it any more (ETXTBSY ends),
//! reopens it for writing through `/proc/self/fd/N` and replaces the host's runtime.
//!
//! [`protect`] closes this before any container process exists: unless the binary is already
//! one no container process can write, it re-executes the runtime from a read-only view of
//! its binary, so every clone (and whatever a container execs through their
//! `/proc/self/exe`) runs a file that cannot be opened for writing:
//! - a detached overlayfs mount (fsopen/fsmount, never attached anywhere) whose lower layers
//!   are the binary's directory and /dev, with no upper layer: its superblock is read-only and
//!   can never be made writable, and no mount flag or remount reaches it (runc 1.2's `exeseal`
//!   does the same); no copy is made, the page cache is shared;
//! - else a sealed memfd copy (F_SEAL_WRITE, SHRINK, GROW, SEAL), as runc before 1.2 did.
//!
//! No re-execution is needed when the binary is a sealed memfd (an earlier re-execution, or
//! one an administrator bound there), lies on a file system that has no write support at all
//! (squashfs, erofs, cramfs, romfs, iso9660), or when the container has its own user
//! namespace that maps neither the binary's owner nor, if it is group-writable, its group,
//! and the binary is not writable by others and has no ACL: a container process has no
//! capability over an unmapped owner's file. A read-only *mount* of a writable file system is
//! not enough (crun accepts it): an attacker holding the binary through `/proc/<pid>/exe`
//! would write it as soon as an administrator remounts that file system read-write.
//!
//! The checks and the overlay re-execution are ocirun-exeseal's, written to run before the C
//! library starts: the `ocirun` binary's ELF entry (x86_64) makes them for `create`, `run` and
//! `exec` before anything else, so that in the static binary to ship the C library and `main`
//! start once per command, not twice; [`protect`] then confirms the seal (or does all of it,
//! for an embedder, another architecture, or a command line or environment the entry left
//! alone). The entry cannot read the spec, so it re-executes even when the container's own
//! user namespace would protect the binary; [`protect`], called by an embedder, still spares
//! that case.
//!
//! Cost, measured (AMD EPYC, 2 vCPUs, kernel 6.18, 2026-12-07): `ocirun run` of
//! scripts/true-bundle.sh, the static release build, 400 to 600 interleaved rounds in random
//! order against the build before this defence: median +0.8 to +1.2 ms, 13% to 18% (6.00 ms
//! -> 6.76 ms in the last run). Nearly all of it is the re-execution itself (one execveat of
//! the static binary, about 0.5 to 0.8 ms here) and the overlay (fsopen, 3 fsconfig, fsmount,
//! openat, statx: ~75 us; its teardown at exec and exit ~190 us); the checks on a binary
//! that is protected already (open, fcntl, fstatfs, statx) and the spec read are within the
//! noise. That is well over the 3% budget, and paid on every `create`, `run` and `exec` whose
//! binary is on a writable file system (the benchmark's case). An administrator avoids it by
//! installing ocirun on squashfs or erofs, or by binding a sealed memfd copy over its path
//! (runc's contrib/memfd-bind does that): either is detected, and nothing is re-executed.
//! Most of the re-execution's cost was the C library starting a second time: on that machine
//! a `cpuid` instruction traps to the hypervisor (5-6 us) and glibc's start-up runs 41 of
//! them, 0.47 ms from the kernel's exec to `main`. Since the re-execution moved into the
//! binary's entry, the first process makes 19 system calls and no more: interleaved, 400
//! rounds, `run` went from 8.97 to 8.22 ms (floor+chroot 5.97 ms in that sitting).
//! A detached read-only *bind* of the binary (open_tree +
//! mount_setattr, ~0.14 ms) would be cheaper but is not sound: a container process without
//! capabilities can make a user and mount namespace, clear the read-only flag of that
//! detached mount with mount_setattr and write the binary as its owner (tried on this kernel).

use std::ffi::{CStr, CString, OsStr, c_char};
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use oci_spec::runtime::{Hooks, LinuxIdMapping, Spec};
use ocirun_exeseal::{MARKER, SEALS, Seal};
use ocirun_sys::{fs, process};

use crate::{Error, Result};

/// Why the running binary is out of a container's reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Protection {
    /// It runs from a sealed memfd: nothing can write it.
    SealedMemfd,
    /// It runs from this runtime's detached, lower-only overlayfs mount: nothing can write it.
    ReadOnlyOverlay,
    /// Its file system has no write support (squashfs, erofs, cramfs, romfs, iso9660).
    ReadOnlyFileSystem,
    /// The container's own user namespace maps neither its owner nor a group that may write it.
    UserNamespace,
}

/// Makes sure no process of the container can write the running program's binary
/// (CVE-2019-5736) before any container process exists: returns how it is protected, or
/// re-executes the program (same arguments and environment) from a read-only view of its
/// binary and does not return. `spec` (the container's spec: for `exec`, the one it was
/// created with) is read only when the binary is not protected already.
///
/// Call it first thing in a program that creates or execs into containers, before any thread
/// starts and before anything that must not happen twice: the `ocirun` binary does, for
/// `create`, `run` and `exec`, and for `start` when [`start_spawns`]. A program that embeds this crate is the binary the container
/// could reach: it needs the same call.
pub fn protect(spec: impl FnOnce() -> Result<Spec>) -> Result<Protection> {
    let exe = File::open("/proc/self/exe").map_err(|e| Error::io("open the runtime's binary", "/proc/self/exe", e))?;
    let marker = std::env::var_os(MARKER);
    if let Some(p) = protection_of(exe.as_fd(), marker.as_deref()) {
        return Ok(p);
    }
    if marker.is_some() {
        // Re-executed from a sealed view that does not check as one: never loop.
        return Err(Error::Sys {
            op: "re-execute the runtime from a sealed copy of its binary: the copy does not check as sealed",
            source: std::io::Error::from_raw_os_error(libc::EINVAL),
        });
    }
    if user_namespace_cannot_write(exe.as_fd(), &spec()?)? {
        return Ok(Protection::UserNamespace);
    }
    reexec_sealed(&exe)
}

/// Whether `start` of a container whose hooks are `hooks` makes a process in the container's
/// namespaces (a startContainer hook, a clone of the runtime until it execs the hook), so the
/// program running `start` needs [`protect`] too.
pub fn start_spawns(hooks: Option<&Hooks>) -> bool {
    hooks.is_some_and(|h| h.start_container().as_ref().is_some_and(|l| !l.is_empty()))
}

/// How the binary behind `exe` is protected already, if it is (the check the `ocirun` binary's
/// entry makes too: one implementation, in ocirun-exeseal).
fn protection_of(exe: BorrowedFd<'_>, marker: Option<&OsStr>) -> Option<Protection> {
    Some(
        match ocirun_exeseal::seal_of(exe.as_raw_fd(), marker.map(OsStrExt::as_bytes))? {
            Seal::SealedMemfd => Protection::SealedMemfd,
            Seal::ReadOnlyFileSystem => Protection::ReadOnlyFileSystem,
            Seal::ReadOnlyOverlay => Protection::ReadOnlyOverlay,
        },
    )
}

/// Whether `spec` gives the container a user namespace of its own in which no process can
/// write the binary behind `exe`: its owner unmapped, its group unmapped or not allowed to
/// write, not writable by others, no ACL.
fn user_namespace_cannot_write(exe: BorrowedFd<'_>, spec: &Spec) -> Result<bool> {
    let Some(linux) = spec.linux() else {
        return Ok(false);
    };
    // A namespace joined by path has mappings this spec does not show.
    if !crate::creates_namespace(spec, namespaces::NamespaceKind::User) {
        return Ok(false);
    }
    let uids = linux.uid_mappings().as_deref().unwrap_or_default();
    let gids = linux.gid_mappings().as_deref().unwrap_or_default();
    let st = fs::statx_fd(exe, libc::STATX_UID | libc::STATX_GID | libc::STATX_MODE).map_err(|e| Error::Sys {
        op: "stat the runtime's binary",
        source: std::io::Error::from_raw_os_error(e),
    })?;
    let mapped = |maps: &[LinuxIdMapping], id: u32| {
        maps.iter()
            .any(|m| id.checked_sub(m.host_id()).is_some_and(|offset| offset < m.size()))
    };
    let mode = u32::from(st.stx_mode);
    let writable = mapped(uids, st.stx_uid) || mode & 0o002 != 0 || (mode & 0o020 != 0 && mapped(gids, st.stx_gid));
    if writable {
        return Ok(false);
    }
    let acl = fs::has_access_acl(exe).map_err(|e| Error::Sys {
        op: "read the ACL of the runtime's binary",
        source: std::io::Error::from_raw_os_error(e),
    })?;
    Ok(!acl)
}

/// This process's own argv, whatever started it (`/proc/self/cmdline`): std's argument list is
/// empty in a `#![no_main]` program on musl, such as the ocirun binary.
fn own_args() -> Result<Vec<CString>> {
    let cmdline = std::fs::read("/proc/self/cmdline").map_err(|source| Error::Sys {
        op: "read the runtime's arguments (/proc/self/cmdline) to re-execute it",
        source,
    })?;
    // Each argument ends with a NUL; an empty argument is an empty string between two.
    let args = cmdline.strip_suffix(&[0]).unwrap_or(&cmdline);
    Ok(args.split(|&b| b == 0).filter_map(|a| CString::new(a).ok()).collect())
}

/// Re-executes the running program from its lower-only overlay view
/// ([`ocirun_exeseal::reexec_from_overlay`]), else from a sealed memfd copy; returns only the
/// error when neither works.
fn reexec_sealed(exe: &File) -> Result<Protection> {
    let args = own_args()?;
    let env = environment_without_marker();
    // Each exec returns only when it failed; then the next way is tried.
    if let Ok(path) = std::fs::read_link("/proc/self/exe") {
        let args: Vec<&CStr> = args.iter().map(CString::as_c_str).collect();
        let env: Vec<&CStr> = env.iter().map(CString::as_c_str).collect();
        ocirun_exeseal::reexec_from_overlay(exe.as_raw_fd(), path.as_os_str().as_bytes(), &args, &env);
    }
    let memfd = match memfd_copy(exe) {
        Ok(fd) => {
            let marker = CString::new(format!("{MARKER}=memfd")).unwrap_or_default();
            let argv: Vec<*const c_char> = args.iter().map(|a| a.as_ptr()).chain([std::ptr::null()]).collect();
            let envp: Vec<*const c_char> = env
                .iter()
                .chain([&marker])
                .map(|e| e.as_ptr())
                .chain([std::ptr::null()])
                .collect();
            process::execveat(fd.as_fd(), c"", &argv, &envp)
        }
        Err(errno) => errno,
    };
    Err(Error::Sys {
        op: "re-execute the runtime from a read-only overlay or a sealed memfd copy of its binary (CVE-2019-5736)",
        source: std::io::Error::from_raw_os_error(memfd),
    })
}

/// The runtime's environment as `KEY=value` strings, without the marker of its own sealed
/// re-execution: what a program it runs inherits (a hook without `env`, its re-execution),
/// since an ocirun started with a marker that does not name its binary refuses to run.
pub(crate) fn environment_without_marker() -> Vec<CString> {
    std::env::vars_os()
        .filter(|(k, _)| k != MARKER)
        .filter_map(|(k, v)| CString::new([k.as_bytes(), b"=", v.as_bytes()].concat()).ok())
        .collect()
}

/// A sealed memfd copy of the binary behind `exe`.
fn memfd_copy(exe: &File) -> Result<OwnedFd, i32> {
    let fd = match fs::memfd_create(c"ocirun", libc::MFD_ALLOW_SEALING | libc::MFD_EXEC) {
        // Before Linux 6.3 there is no MFD_EXEC (and every memfd may be executed).
        Err(libc::EINVAL) => fs::memfd_create(c"ocirun", libc::MFD_ALLOW_SEALING)?,
        other => other?,
    };
    let mut copy = File::from(fd);
    let size = exe.metadata().map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))?.len();
    let copied = std::io::copy(&mut &*exe, &mut copy).map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))?;
    if copied != size {
        return Err(libc::EIO);
    }
    // F_SEAL_EXEC (Linux 6.3) keeps the mode as it is; older kernels refuse it.
    let _ = fs::add_seals(copy.as_fd(), libc::F_SEAL_EXEC);
    fs::add_seals(copy.as_fd(), SEALS)?;
    Ok(copy.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_with_user_namespace(host_uid: u32, path: Option<&str>) -> Spec {
        let mut userns = serde_json::json!({"type": "user"});
        if let Some(p) = path {
            userns["path"] = p.into();
        }
        serde_json::from_value(serde_json::json!({
            "ociVersion": "1.2.0",
            "root": {"path": "rootfs"},
            "linux": {
                "namespaces": [{"type": "mount"}, userns],
                "uidMappings": [{"containerID": 0, "hostID": host_uid, "size": 65536}],
                "gidMappings": [{"containerID": 0, "hostID": host_uid, "size": 65536}]
            }
        }))
        .expect("a valid spec")
    }

    #[test]
    fn only_a_user_namespace_without_the_owner_protects_the_binary() {
        let exe = File::open("/proc/self/exe").expect("open /proc/self/exe");
        let st = fs::statx_fd(exe.as_fd(), libc::STATX_UID | libc::STATX_MODE).expect("statx");
        let owner = st.stx_uid;
        let no_userns: Spec =
            serde_json::from_value(serde_json::json!({"ociVersion": "1.2.0", "root": {"path": "rootfs"}}))
                .expect("a valid spec");
        assert!(!user_namespace_cannot_write(exe.as_fd(), &no_userns).expect("checked"));
        // Mapped owner, or a namespace joined by path (its mappings unknown): not protected.
        assert!(!user_namespace_cannot_write(exe.as_fd(), &spec_with_user_namespace(owner, None)).expect("checked"));
        let far = owner.wrapping_add(1_000_000);
        assert!(
            !user_namespace_cannot_write(exe.as_fd(), &spec_with_user_namespace(far, Some("/proc/1/ns/user")))
                .expect("checked")
        );
        // Owner unmapped: protected unless others (or, mapped, the group) may write.
        let writable_by_others = u32::from(st.stx_mode) & 0o022 != 0;
        assert_eq!(
            user_namespace_cannot_write(exe.as_fd(), &spec_with_user_namespace(far, None)).expect("checked"),
            !writable_by_others && !fs::has_access_acl(exe.as_fd()).expect("acl")
        );
    }

    #[test]
    fn own_args_are_this_process_s_argv() {
        // The test harness is a Rust main, so std has the arguments to compare with.
        let std_args: Vec<CString> = std::env::args_os()
            .map(|a| CString::new(a.as_bytes()).expect("no NUL in an argument"))
            .collect();
        assert!(!std_args.is_empty());
        assert_eq!(own_args().expect("read /proc/self/cmdline"), std_args);
    }

    #[test]
    fn a_sealed_memfd_checks_as_sealed_and_cannot_be_written() {
        let exe = File::open("/proc/self/exe").expect("open /proc/self/exe");
        let copy = memfd_copy(&exe).expect("memfd copy");
        assert_eq!(protection_of(copy.as_fd(), None), Some(Protection::SealedMemfd));
        let path = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&copy));
        let write = std::fs::OpenOptions::new().write(true).open(&path).and_then(|mut f| {
            use std::io::Write;
            f.write_all(b"x")
        });
        assert!(write.is_err(), "a sealed memfd was written");
        // The test binary itself is on a writable file system and not sealed.
        assert_eq!(protection_of(exe.as_fd(), None), None);
    }
}
