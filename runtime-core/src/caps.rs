//! Capability names and sets, as the spec writes them.

use crate::{Error, Result};

/// Capability names in kernel order: the index is the capability number.
const NAMES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// Every capability name ocirun knows, in kernel order.
pub fn names() -> &'static [&'static str] {
    &NAMES
}

/// The highest capability number this kernel knows.
pub fn last_cap() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(NAMES.len() as u32 - 1)
}

/// The number of a capability name (`CAP_CHOWN` or `chown`, any case).
pub fn number(name: &str) -> Option<u32> {
    let upper = name.to_ascii_uppercase();
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    NAMES.iter().position(|n| *n == full).map(|i| i as u32)
}

/// The name of capability `n`.
pub fn name(n: u32) -> Option<&'static str> {
    NAMES.get(n as usize).copied()
}

/// A set of capabilities as a bit mask; an unknown name is an error naming `field`.
pub fn mask<S: AsRef<str>>(field: &str, names: impl IntoIterator<Item = S>) -> Result<u64> {
    let last = last_cap();
    let mut mask = 0u64;
    for n in names {
        let n = n.as_ref();
        let bit = number(n).ok_or_else(|| Error::spec(field, format!("unknown capability {n:?}")))?;
        // A capability newer than the running kernel cannot be granted; runc skips it too.
        if bit <= last {
            mask |= 1 << bit;
        }
    }
    Ok(mask)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(number("CAP_SYS_ADMIN"), Some(21));
        assert_eq!(number("net_raw"), Some(13));
        assert_eq!(name(40), Some("CAP_CHECKPOINT_RESTORE"));
        assert_eq!(number("CAP_NOPE"), None);
    }

    #[test]
    fn unknown_capability_names_the_field() {
        let names = vec!["CAP_KILL".to_string(), "CAP_FLY".to_string()];
        let err = mask("process.capabilities.bounding", &names).unwrap_err();
        assert!(err.to_string().contains("process.capabilities.bounding"), "{err}");
        assert!(err.to_string().contains("CAP_FLY"), "{err}");
        assert_eq!(mask("x", &names[..1]).unwrap(), 1 << 5);
    }
}
