//! Helpers of the plan's unit tests.

use oci_spec::runtime::{Mount, MountBuilder};
use std::path::PathBuf;

use crate::{CgroupMount, MountPlan, RootfsConfig};

/// A config whose rootfs is `/` (compile only inspects it).
pub(crate) fn cfg() -> RootfsConfig {
    RootfsConfig {
        rootfs: PathBuf::from("/"),
        ..RootfsConfig::default()
    }
}

/// A mount entry.
pub(crate) fn mount(dest: &str, typ: Option<&str>, source: Option<&str>, options: &[&str]) -> Mount {
    let mut b = MountBuilder::default().destination(dest);
    if let Some(t) = typ {
        b = b.typ(t);
    }
    if let Some(s) = source {
        b = b.source(s);
    }
    b.options(options.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
        .build()
        .unwrap()
}

/// Compiles a config with one mount and returns the error message.
pub(crate) fn mount_error(m: Mount) -> String {
    let mut c = cfg();
    c.mounts = vec![m];
    MountPlan::compile(c.clone()).unwrap_err().to_string()
}

/// A config with a cgroup mount with `options` over two v1 hierarchies (binds of `/`).
pub(crate) fn cgroup_cfg(options: &[&str], cgroupns: bool) -> RootfsConfig {
    let mut c = cfg();
    c.mounts = vec![mount("/sys/fs/cgroup", Some("cgroup"), Some("cgroup"), options)];
    c.new_cgroup_namespace = cgroupns;
    c.cgroup_mounts = ["cpu,cpuacct", "memory"]
        .into_iter()
        .map(|name| CgroupMount {
            name: name.to_owned(),
            controllers: name.to_owned(),
            host_path: "/".into(),
            ..CgroupMount::default()
        })
        .collect();
    c
}
