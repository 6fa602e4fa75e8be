use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;

use crate::NamespaceError;

/// One line of a uid_map or gid_map: `size` ids from `container_id` map to `host_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdMap {
    /// First id inside the user namespace.
    pub container_id: u32,
    /// First id on the host it maps to.
    pub host_id: u32,
    /// How many ids the range holds.
    pub size: u32,
}

impl From<&oci_spec::runtime::LinuxIdMapping> for IdMap {
    fn from(m: &oci_spec::runtime::LinuxIdMapping) -> Self {
        IdMap {
            container_id: m.container_id(),
            host_id: m.host_id(),
            size: m.size(),
        }
    }
}

/// Renders maps in the kernel's format, one `container host size` line each.
fn render(maps: &[IdMap]) -> String {
    let mut out = String::new();
    for m in maps {
        // Writing into a String cannot fail.
        let _ = writeln!(out, "{} {} {}", m.container_id, m.host_id, m.size);
    }
    out
}

fn write_proc_file(path: PathBuf, content: String) -> Result<(), NamespaceError> {
    // The kernel takes a map in a single write(2); File::write_all on a short
    // string is one call.
    let result = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .and_then(|mut f| f.write_all(content.as_bytes()));
    result.map_err(|source| NamespaceError::WriteMap { path, content, source })
}

/// Writes the uid and gid maps of the user namespace of `pid`, from the parent.
///
/// With `deny_setgroups`, `setgroups` is set to `deny` first, which the kernel
/// requires when the writer lacks CAP_SETGID over the parent namespace.
pub fn write_id_maps(
    pid: i32,
    uid_maps: &[IdMap],
    gid_maps: &[IdMap],
    deny_setgroups: bool,
) -> Result<(), NamespaceError> {
    let proc = PathBuf::from(format!("/proc/{pid}"));
    if deny_setgroups {
        write_proc_file(proc.join("setgroups"), "deny".to_string())?;
    }
    if !uid_maps.is_empty() {
        write_proc_file(proc.join("uid_map"), render(uid_maps))?;
    }
    if !gid_maps.is_empty() {
        write_proc_file(proc.join("gid_map"), render(gid_maps))?;
    }
    Ok(())
}

/// Whether this process is in a user namespace other than the initial one (runc's
/// `userns.RunningInUserNS`): its uid_map is not the identity over every id.
pub fn running_in_user_namespace() -> bool {
    match std::fs::read_to_string("/proc/self/uid_map") {
        Ok(map) => map.split_whitespace().collect::<Vec<_>>() != ["0", "0", "4294967295"],
        Err(_) => false,
    }
}

/// Whether an unprivileged writer can write `maps` itself: a single id mapped to its own
/// effective id (`own`), as the kernel allows. Anything else needs the setuid
/// `newuidmap`/`newgidmap` and the ranges `/etc/subuid` and `/etc/subgid` grant.
pub fn maps_need_tool(maps: &[IdMap], own: u32) -> bool {
    !matches!(maps, [IdMap { host_id, size: 1, .. }] if *host_id == own)
}

/// Writes the uid and gid maps of the user namespace of `pid` as an unprivileged user
/// (rootless, as runc and crun): a map of the caller's own id alone is written directly,
/// gid_map after `setgroups` is set to `deny` (the kernel requires it); any other map is
/// written by `newuidmap`/`newgidmap` (Debian's `uidmap`), which check it against
/// `/etc/subuid` and `/etc/subgid`. Returns whether `setgroups` was denied.
pub fn write_id_maps_unprivileged(
    pid: i32,
    uid_maps: &[IdMap],
    gid_maps: &[IdMap],
    euid: u32,
    egid: u32,
) -> Result<bool, NamespaceError> {
    let proc = PathBuf::from(format!("/proc/{pid}"));
    if !uid_maps.is_empty() {
        if maps_need_tool(uid_maps, euid) {
            run_map_tool("newuidmap", pid, uid_maps)?;
        } else {
            write_proc_file(proc.join("uid_map"), render(uid_maps))?;
        }
    }
    let mut denied = false;
    if !gid_maps.is_empty() {
        if maps_need_tool(gid_maps, egid) {
            run_map_tool("newgidmap", pid, gid_maps)?;
        } else {
            write_proc_file(proc.join("setgroups"), "deny".to_string())?;
            denied = true;
            write_proc_file(proc.join("gid_map"), render(gid_maps))?;
        }
    }
    Ok(denied)
}

/// Runs `tool` (newuidmap or newgidmap) for `pid` with `maps` as its arguments.
fn run_map_tool(tool: &'static str, pid: i32, maps: &[IdMap]) -> Result<(), NamespaceError> {
    let mut cmd = std::process::Command::new(tool);
    cmd.arg(pid.to_string());
    for m in maps {
        cmd.args([m.container_id.to_string(), m.host_id.to_string(), m.size.to_string()]);
    }
    let maps = render(maps);
    let out = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|source| NamespaceError::MapTool {
            tool,
            maps: maps.clone(),
            reason: format!("cannot run it: {source} (Debian package uidmap)"),
        })?;
    if out.status.success() {
        return Ok(());
    }
    Err(NamespaceError::MapTool {
        tool,
        maps,
        reason: format!("{}: {}", out.status, String::from_utf8_lossy(&out.stderr).trim()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_render_in_kernel_format() {
        let maps = [
            IdMap {
                container_id: 0,
                host_id: 100000,
                size: 65536,
            },
            IdMap {
                container_id: 65536,
                host_id: 5,
                size: 1,
            },
        ];
        assert_eq!(render(&maps), "0 100000 65536\n65536 5 1\n");
    }

    #[test]
    fn writing_maps_of_a_missing_process_names_the_file() {
        let err = write_id_maps(
            i32::MAX,
            &[IdMap {
                container_id: 0,
                host_id: 0,
                size: 1,
            }],
            &[],
            false,
        )
        .unwrap_err();
        assert!(err.to_string().contains("/proc/2147483647/uid_map"), "{err}");
    }

    #[test]
    fn only_a_single_own_id_is_written_without_the_tool() {
        let one = |host_id, size| IdMap {
            container_id: 0,
            host_id,
            size,
        };
        assert!(!maps_need_tool(&[one(1000, 1)], 1000));
        assert!(maps_need_tool(&[one(1001, 1)], 1000));
        assert!(maps_need_tool(&[one(1000, 2)], 1000));
        assert!(maps_need_tool(&[one(1000, 1), one(100000, 65536)], 1000));
    }
}
