//! `linux.sysctl`: which keys a container may set, given its namespaces (runc's
//! validator), and the file of each key under the procfs root (`sys/...`).

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use namespaces::NamespaceKind;
use oci_spec::runtime::Linux;

use crate::{Error, Result};

/// The IPC sysctls outside `fs.mqueue.*` that an ipc namespace owns.
const IPC_KEYS: [&str; 8] = [
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];

/// A key in the dotted form sysctl(8) prints: the slash form (`net/ipv4/conf/eth0.1/rp_filter`)
/// swaps dots and slashes, so a dot inside a component is written as a slash.
fn dotted(key: &str) -> String {
    match key.find(['.', '/']) {
        Some(i) if key.as_bytes()[i] == b'/' => key
            .chars()
            .map(|c| match c {
                '.' => '/',
                '/' => '.',
                c => c,
            })
            .collect(),
        _ => key.to_string(),
    }
}

/// The file that holds `key` (either form), relative to the procfs root: `sys/kernel/shmmax`.
pub(crate) fn proc_path(key: &str) -> String {
    let path: String = dotted(key)
        .chars()
        .map(|c| match c {
            '.' => '/',
            '/' => '.',
            c => c,
        })
        .collect();
    format!("sys/{path}")
}

/// Whether `path` is the network namespace this process is in.
fn is_current_netns(path: &Path) -> Result<bool> {
    let field = "linux.namespaces";
    let me = std::fs::metadata("/proc/self/ns/net")
        .map_err(|e| Error::spec(field, format!("stat /proc/self/ns/net: {e}")))?;
    let other = std::fs::metadata(path).map_err(|e| Error::spec(field, format!("stat {}: {e}", path.display())))?;
    Ok(me.dev() == other.dev() && me.ino() == other.ino())
}

/// Refuses a key that is not namespaced by a namespace of the container, as runc does.
pub(crate) fn check(linux: &Linux, key: &str) -> Result<()> {
    let field = "linux.sysctl";
    let components_ok = !key.is_empty()
        && !key.starts_with(['/', '.'])
        && !key.contains('\0')
        && dotted(key).split('.').all(|c| !c.is_empty() && c != "..");
    if !components_ok {
        return Err(Error::spec(field, format!("invalid key {key:?}")));
    }
    let key = dotted(key);
    let ns = |kind: NamespaceKind| {
        linux
            .namespaces()
            .iter()
            .flatten()
            .find(|n| NamespaceKind::from(n.typ()) == kind)
    };
    if IPC_KEYS.contains(&key.as_str()) || key.starts_with("fs.mqueue.") {
        return match ns(NamespaceKind::Ipc) {
            Some(_) => Ok(()),
            None => Err(Error::spec(
                field,
                format!("{key:?} is not allowed in the host's ipc namespace"),
            )),
        };
    }
    if key.starts_with("net.") {
        let host = match ns(NamespaceKind::Network) {
            None => true,
            Some(n) => match n.path() {
                None => false,
                // "Host" means the runtime's own namespace, as in runc.
                Some(p) => is_current_netns(p)?,
            },
        };
        if host {
            return Err(Error::spec(
                field,
                format!("{key:?} is not allowed in the host's network namespace"),
            ));
        }
        return Ok(());
    }
    if ns(NamespaceKind::Uts).is_some() {
        match key.as_str() {
            "kernel.domainname" => return Ok(()),
            "kernel.hostname" => {
                return Err(Error::spec(
                    field,
                    "\"kernel.hostname\" conflicts with the hostname field; set that instead",
                ));
            }
            _ => {}
        }
    }
    Err(Error::spec(
        field,
        format!("{key:?} is not namespaced: it would change the host"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn linux(ns: &str) -> Linux {
        serde_json::from_str(&format!(r#"{{"namespaces": {ns}}}"#)).unwrap()
    }

    #[test]
    fn keys_need_their_namespace() {
        let all = linux(r#"[{"type": "ipc"}, {"type": "network"}, {"type": "uts"}, {"type": "mount"}]"#);
        for key in [
            "kernel.shmmax",
            "fs.mqueue.msg_max",
            "net.ipv4.ip_forward",
            "kernel.domainname",
        ] {
            check(&all, key).unwrap();
        }
        let none = linux(r#"[{"type": "mount"}]"#);
        for key in [
            "kernel.shmmax",
            "fs.mqueue.msg_max",
            "net.ipv4.ip_forward",
            "kernel.domainname",
        ] {
            let err = check(&none, key).unwrap_err().to_string();
            assert!(err.contains("linux.sysctl") && err.contains(key), "{err}");
        }
        let err = check(&all, "vm.swappiness").unwrap_err().to_string();
        assert!(err.contains("not namespaced"), "{err}");
        assert!(
            check(&all, "kernel.hostname")
                .unwrap_err()
                .to_string()
                .contains("hostname")
        );
        assert!(check(&all, "net..x").is_err());
        assert!(check(&all, "../x").is_err());
    }

    #[test]
    fn joining_the_host_network_namespace_is_the_host() {
        let joined = linux(r#"[{"type": "network", "path": "/proc/self/ns/net"}, {"type": "mount"}]"#);
        let err = check(&joined, "net.ipv4.ip_forward").unwrap_err().to_string();
        assert!(err.contains("host's network namespace"), "{err}");
    }

    #[test]
    fn slash_form_keeps_dots_in_components() {
        assert_eq!(
            proc_path("net/ipv4/conf/eno2.100/rp_filter"),
            "sys/net/ipv4/conf/eno2.100/rp_filter"
        );
        assert_eq!(
            proc_path("net.ipv4.conf.eno2/100.rp_filter"),
            "sys/net/ipv4/conf/eno2.100/rp_filter"
        );
        assert_eq!(proc_path("kernel.shmmax"), "sys/kernel/shmmax");
    }
}
