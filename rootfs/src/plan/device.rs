//! The runtime's entries in the container's /dev: the spec's device nodes and runc's
//! defaults, the default symlinks and `/dev/ptmx`, and the console.

use std::path::Path;

use oci_spec::runtime::LinuxDeviceType;

use super::builder::Builder;
use super::ops::{ConsoleOp, DeviceOp, Leaf, Mknod, Op, SymlinkOp};
use super::path::{absolute_from, container_components, cstring, invalid, runtime_dir};
use crate::RootfsError;

/// runc's default device nodes: path, major, minor (all character devices, mode 0666).
const DEFAULT_DEVICES: [(&str, u32, u32); 6] = [
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
];

impl Builder<'_> {
    /// Adds the devices of the spec plus runc's defaults, then the default symlinks and ptmx.
    pub(super) fn push_devices(&mut self, devpts_at_dev_pts: bool) -> Result<(), RootfsError> {
        let cfg = self.cfg;
        let mut named: Vec<Vec<Vec<u8>>> = Vec::new();
        for (i, d) in cfg.devices.iter().enumerate() {
            let field = format!("devices[{i}]");
            named.push(container_components(&format!("{field}.path"), d.path())?);
            self.push_device(
                &field,
                d.path(),
                d.typ(),
                d.major(),
                d.minor(),
                d.file_mode(),
                d.uid(),
                d.gid(),
            )?;
        }
        for (path, major, minor) in DEFAULT_DEVICES {
            let p = Path::new(path);
            let parts = container_components("devices", p)?;
            if named.contains(&parts) {
                continue;
            }
            self.push_device(
                &format!("default device {path}"),
                p,
                LinuxDeviceType::C,
                i64::from(major),
                i64::from(minor),
                Some(0o666),
                Some(0),
                Some(0),
            )?;
        }
        // runc's setupPtmx: /dev/ptmx -> pts/ptmx, replacing what is there.
        if devpts_at_dev_pts {
            self.push_symlink("/dev/ptmx", &[b"dev".to_vec(), b"ptmx".to_vec()], b"pts/ptmx", true)?;
        }
        // runc's setupDevSymlinks.
        let mut links: Vec<(&[u8], &[u8])> = vec![
            (b"fd", b"/proc/self/fd"),
            (b"stdin", b"/proc/self/fd/0"),
            (b"stdout", b"/proc/self/fd/1"),
            (b"stderr", b"/proc/self/fd/2"),
        ];
        if Path::new("/proc/kcore").exists() {
            links.push((b"core", b"/proc/kcore"));
        }
        for (name, link) in links {
            let parts = [b"dev".to_vec(), name.to_vec()];
            self.push_symlink("default symlinks", &parts, link, false)?;
        }
        Ok(())
    }

    /// Adds one device node.
    #[allow(clippy::too_many_arguments)]
    fn push_device(
        &mut self,
        field: &str,
        path: &Path,
        kind: LinuxDeviceType,
        major: i64,
        minor: i64,
        file_mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
    ) -> Result<(), RootfsError> {
        let parts = container_components(&format!("{field}.path"), path)?;
        let Some((name, parent_parts)) = parts.split_last() else {
            return Err(invalid(
                format!("{field}.path"),
                path.display().to_string(),
                "a device cannot be the container's root",
            ));
        };
        let file_type = match kind {
            LinuxDeviceType::C | LinuxDeviceType::U => libc::S_IFCHR,
            LinuxDeviceType::B => libc::S_IFBLK,
            LinuxDeviceType::P => libc::S_IFIFO,
            LinuxDeviceType::A => {
                return Err(invalid(
                    format!("{field}.type"),
                    kind.as_str(),
                    "not a device node type (expected c, u, b or p)",
                ));
            }
        };
        let major =
            u32::try_from(major).map_err(|_| invalid(format!("{field}.major"), major.to_string(), "out of range"))?;
        let minor =
            u32::try_from(minor).map_err(|_| invalid(format!("{field}.minor"), minor.to_string(), "out of range"))?;
        let perm = file_mode.unwrap_or(0o666);
        if perm & !0o7777 != 0 && perm & libc::S_IFMT != file_type {
            return Err(invalid(
                format!("{field}.fileMode"),
                format!("{perm:#o}"),
                "file type bits do not match the device type",
            ));
        }
        let perm = perm & 0o7777;
        let dev = if file_type == libc::S_IFIFO {
            0
        } else {
            libc::makedev(major, minor)
        };
        let place = self.where_(&parts);
        let parent = runtime_dir(field, parent_parts)?;
        let parent_step = self.resolve_step(parent_parts, Some(Leaf::Dir), true);
        let check_step = self.runtime_dir_check_step(parent_parts);
        // A device node cannot be made in a new user namespace: the host's is bound instead. A
        // fifo can, and is always made: a host's fifo is nothing to share with a container.
        let mknod = if self.cfg.new_user_namespace && file_type != libc::S_IFIFO {
            None
        } else {
            let mknod_step = step!(
                self,
                "mknod {place} (type {}, {major}:{minor}, mode {perm:#o})",
                kind.as_str()
            );
            let (uid, gid) = (uid.unwrap_or(0), gid.unwrap_or(0));
            let chown_step = step!(self, "chown {place} to {uid}:{gid}");
            let chmod_step = step!(self, "chmod {place} to {perm:#o}");
            Some(Mknod {
                mode: file_type | perm,
                dev,
                uid,
                gid,
                mknod_step,
                chown_step,
                chmod_step,
            })
        };
        let open_step = step!(
            self,
            "create (when missing) and open {place}, not following a symlink, to bind the host's device onto"
        );
        let host = absolute_from(&parts);
        let bind_step = step!(
            self,
            "bind mount host device {} on {place}",
            String::from_utf8_lossy(&host)
        );
        self.ops.push(Op::Device(DeviceOp {
            parent,
            parent_step,
            check_step,
            name: cstring(field, name)?,
            mknod,
            open_step,
            host: cstring(field, &host)?,
            bind_step,
        }));
        Ok(())
    }

    /// Adds a symlink at `parts` (inside the rootfs) pointing to `link`.
    fn push_symlink(&mut self, field: &str, parts: &[Vec<u8>], link: &[u8], replace: bool) -> Result<(), RootfsError> {
        let Some((name, parent_parts)) = parts.split_last() else {
            return Err(invalid(field, "/", "cannot make the root a symlink"));
        };
        let parent = runtime_dir(field, parent_parts)?;
        let parent_step = self.resolve_step(parent_parts, Some(Leaf::Dir), true);
        let check_step = self.runtime_dir_check_step(parent_parts);
        let place = self.where_(parts);
        let unlink_step = step!(self, "remove {place} to replace it with a symlink");
        let step = step!(self, "create symlink {place} -> {}", String::from_utf8_lossy(link));
        self.ops.push(Op::Symlink(SymlinkOp {
            parent,
            parent_step,
            check_step,
            name: cstring(field, name)?,
            link: cstring(field, link)?,
            replace,
            unlink_step,
            step,
        }));
        Ok(())
    }

    /// The step that checks a directory the runtime makes entries in (`/dev`) is on neither
    /// procfs nor sysfs.
    fn runtime_dir_check_step(&mut self, parts: &[Vec<u8>]) -> u32 {
        step!(
            self,
            "check that {} is on neither procfs nor sysfs before making entries in it",
            self.where_(parts)
        )
    }

    /// Adds the console op: the container's /dev and its `console`, found before the root
    /// switch for the pty bound there after it. The console goes in the /dev the runtime made
    /// its entries in (a /dev that is not the runtime's gets nothing new), by the same fd.
    pub(super) fn push_console(&mut self) {
        let dev = [b"dev".to_vec()];
        let place = self.where_(&dev);
        let dev_step = step!(
            self,
            "open the container's /dev for the console: the /dev the plan mounted, or {place} without \
             following symlinks"
        );
        let check_step = step!(
            self,
            "check that {place} is on neither procfs nor sysfs before making /dev/console in it"
        );
        let open_step = step!(
            self,
            "open {} for the console (created when missing in the runtime's own /dev) without following \
             a symlink: it must be a regular file or a character device on neither procfs nor sysfs",
            self.where_(&[b"dev".to_vec(), b"console".to_vec()])
        );
        self.ops.push(Op::Console(ConsoleOp {
            dev_step,
            check_step,
            open_step,
        }));
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use oci_spec::runtime::LinuxDeviceBuilder;

    use super::*;
    use crate::MountPlan;
    use crate::plan::testing::{cfg, mount};

    #[test]
    fn device_type_a_and_bad_numbers_are_rejected() {
        let dev = |typ, major| {
            LinuxDeviceBuilder::default()
                .path("/dev/x")
                .typ(typ)
                .major(major)
                .minor(1)
                .build()
                .unwrap()
        };
        let mut c = cfg();
        c.devices = vec![dev(LinuxDeviceType::A, 1)];
        let e = MountPlan::compile(c.clone()).unwrap_err().to_string();
        assert!(e.starts_with("devices[0].type = \"a\""), "{e}");
        c.devices = vec![dev(LinuxDeviceType::C, -1)];
        let e = MountPlan::compile(c.clone()).unwrap_err().to_string();
        assert!(e.starts_with("devices[0].major = \"-1\""), "{e}");
        c.devices = vec![dev(LinuxDeviceType::C, 1)];
        c.devices[0].set_path(PathBuf::from("dev/x"));
        let e = MountPlan::compile(c.clone()).unwrap_err().to_string();
        assert!(e.starts_with("devices[0].path"), "{e}");
    }

    #[test]
    fn a_fifo_is_made_even_in_a_new_user_namespace() {
        let mut c = cfg();
        c.new_user_namespace = true;
        c.devices = vec![
            LinuxDeviceBuilder::default()
                .path("/dev/fifo")
                .typ(LinuxDeviceType::P)
                .major(0)
                .minor(0)
                .build()
                .unwrap(),
        ];
        let text = MountPlan::compile(c).unwrap().describe();
        assert!(text.contains("mknod /dev/fifo (/dev/fifo) (type p"), "{text}");
        // The default devices are bound from the host: they cannot be made there.
        assert!(!text.contains("mknod /dev/null"), "{text}");
        assert!(text.contains("bind mount host device /dev/null"), "{text}");
    }

    #[test]
    fn spec_devices_replace_defaults() {
        let mut c = cfg();
        c.devices = vec![
            LinuxDeviceBuilder::default()
                .path("/dev/null")
                .typ(LinuxDeviceType::C)
                .major(1)
                .minor(3)
                .file_mode(0o600u32)
                .build()
                .unwrap(),
        ];
        let text = MountPlan::compile(c.clone()).unwrap().describe();
        assert_eq!(text.matches("mknod /dev/null").count(), 1, "{text}");
        assert!(text.contains("mode 0o600"), "{text}");
    }

    #[test]
    fn a_dev_bound_by_type_none_or_options_gets_no_device_nodes() {
        for m in [
            mount("/dev", Some("none"), Some("/"), &[]),
            mount("/dev", Some("bind"), Some("/"), &[]),
            mount("/dev", Some("tmpfs"), Some("/"), &["rbind"]),
        ] {
            let mut c = cfg();
            c.mounts = vec![m.clone()];
            let plan = MountPlan::compile(c).unwrap();
            assert!(
                !plan.ops.iter().any(|op| matches!(op, Op::Device(_) | Op::Symlink(_))),
                "{m:?} gets device nodes"
            );
        }
    }
}
