//! Syscall name tables for the architectures this crate compiles for.

mod aarch64;
mod arm;
mod x32;
mod x86;
mod x86_64;

use crate::arch::ScmpArch;

/// The bit the x32 ABI sets in every syscall number.
pub const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// One architecture's syscalls: every name in one string, and (offset, length, number) for
/// each, sorted by name. Offsets rather than `&str`s keep two thousand pointers out of the
/// data a static-pie binary relocates (and so copies page by page) at every start.
#[derive(Clone, Copy)]
struct Table {
    /// The names, concatenated.
    names: &'static str,
    /// (offset in `names`, length, number), sorted by name.
    entries: &'static [(u16, u8, u32)],
}

impl Table {
    /// The name of an entry.
    fn name(&self, &(offset, len, _): &(u16, u8, u32)) -> &'static str {
        let start = usize::from(offset);
        self.names.get(start..start + usize::from(len)).unwrap_or("")
    }

    /// Every (name, number), sorted by name.
    fn iter(self) -> impl Iterator<Item = (&'static str, u32)> {
        self.entries.iter().map(move |e| (self.name(e), e.2))
    }
}

fn table(arch: ScmpArch) -> Table {
    let (names, entries) = match arch {
        ScmpArch::X86_64 => (x86_64::NAMES, x86_64::TABLE),
        ScmpArch::X86 => (x86::NAMES, x86::TABLE),
        ScmpArch::X32 => (x32::NAMES, x32::TABLE),
        ScmpArch::Aarch64 => (aarch64::NAMES, aarch64::TABLE),
        ScmpArch::Arm => (arm::NAMES, arm::TABLE),
    };
    Table { names, entries }
}

/// The number of syscall `name` on `arch` as the kernel sees it in `seccomp_data.nr`
/// (x32 numbers include [`X32_SYSCALL_BIT`]), or `None` if `arch` has no such syscall.
pub fn syscall_number(arch: ScmpArch, name: &str) -> Option<u32> {
    let t = table(arch);
    let idx = t.entries.binary_search_by(|e| t.name(e).cmp(name)).ok()?;
    let &(_, _, nr) = t.entries.get(idx)?;
    Some(if arch == ScmpArch::X32 {
        nr | X32_SYSCALL_BIT
    } else {
        nr
    })
}

/// Every syscall name known for `arch`, sorted, with its number (as [`syscall_number`]).
pub fn syscall_names(arch: ScmpArch) -> impl Iterator<Item = (&'static str, u32)> {
    let x32 = if arch == ScmpArch::X32 { X32_SYSCALL_BIT } else { 0 };
    table(arch).iter().map(move |(n, nr)| (n, nr | x32))
}

/// Whether `name` is a syscall on at least one supported architecture.
pub fn is_known_syscall(name: &str) -> bool {
    ScmpArch::ALL.iter().any(|a| syscall_number(*a, name).is_some())
}

/// A socket syscall that 32-bit x86 also reaches through `socketcall(call, args)`.
/// Returns the `call` number (SYS_SOCKET = 1 ...), as `<linux/net.h>` numbers them.
pub(crate) fn x86_socketcall(name: &str) -> Option<u32> {
    const CALLS: [&str; 20] = [
        "socket",
        "bind",
        "connect",
        "listen",
        "accept",
        "getsockname",
        "getpeername",
        "socketpair",
        "send",
        "recv",
        "sendto",
        "recvfrom",
        "shutdown",
        "setsockopt",
        "getsockopt",
        "sendmsg",
        "recvmsg",
        "accept4",
        "recvmmsg",
        "sendmmsg",
    ];
    let idx = CALLS.iter().position(|c| *c == name)?;
    u32::try_from(idx + 1).ok()
}

/// A SysV IPC syscall that 32-bit x86 also reaches through `ipc(call, ...)`.
/// Returns the `call` number (SEMOP = 1 ...), as `<linux/ipc.h>` numbers them.
pub(crate) fn x86_ipc(name: &str) -> Option<u32> {
    Some(match name {
        "semop" => 1,
        "semget" => 2,
        "semctl" => 3,
        "semtimedop" => 4,
        "msgsnd" => 11,
        "msgrcv" => 12,
        "msgget" => 13,
        "msgctl" => 14,
        "shmat" => 21,
        "shmdt" => 22,
        "shmget" => 23,
        "shmctl" => 24,
        _ => return None,
    })
}

/// `socketcall` on 32-bit x86.
pub(crate) const X86_SOCKETCALL: u32 = 102;
/// `ipc` on 32-bit x86.
pub(crate) const X86_IPC: u32 = 117;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_sorted_and_unique() {
        for arch in ScmpArch::ALL {
            let names: Vec<(&str, u32)> = table(arch).iter().collect();
            assert!(names.len() > 300, "{arch:?}: {} names", names.len());
            for w in names.windows(2) {
                if let [a, b] = w {
                    assert!(a.0 < b.0, "{arch:?}: {} before {}", a.0, b.0);
                }
            }
            // Every name is a whole, well-formed entry of the string: the offsets tile it.
            let t = table(arch);
            let total: usize = t.entries.iter().map(|e| usize::from(e.1)).sum();
            assert_eq!(total, t.names.len(), "{arch:?}: the entries do not cover the names");
            assert!(
                names
                    .iter()
                    .all(|(n, _)| !n.is_empty() && n.bytes().all(|b| b == b'_' || b.is_ascii_alphanumeric()))
            );
        }
    }

    #[test]
    fn host_numbers_match_libc() {
        #[cfg(target_arch = "x86_64")]
        {
            let host = ScmpArch::X86_64;
            assert_eq!(syscall_number(host, "read"), Some(libc::SYS_read as u32));
            assert_eq!(syscall_number(host, "futex"), Some(libc::SYS_futex as u32));
            assert_eq!(syscall_number(host, "epoll_wait"), Some(libc::SYS_epoll_wait as u32));
            assert_eq!(syscall_number(host, "clone3"), Some(libc::SYS_clone3 as u32));
            assert_eq!(syscall_number(host, "mseal"), Some(462));
        }
        assert_eq!(syscall_number(ScmpArch::X32, "read"), Some(X32_SYSCALL_BIT));
        assert_eq!(syscall_number(ScmpArch::X86, "socketcall"), Some(102));
        assert_eq!(syscall_number(ScmpArch::Arm, "set_tls"), Some(0x0f_0005));
        assert_eq!(syscall_number(ScmpArch::Aarch64, "open"), None);
        assert_eq!(x86_socketcall("sendmmsg"), Some(20));
        assert_eq!(x86_ipc("shmctl"), Some(24));
    }
}
