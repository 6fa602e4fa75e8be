//! The rootfs plan: compiling runc's default mounts, masked and read-only paths, devices and
//! the cgroup mounts of a hybrid host into a [`rootfs::MountPlan`] (parent side, no syscalls
//! but a few path checks). Executing it needs a mount namespace: the spawn benchmark covers that.

use criterion::{Criterion, criterion_group, criterion_main};
use rootfs::{CgroupMount, MountPlan, RootfsConfig};

fn config() -> RootfsConfig {
    let spec: oci_spec::runtime::Spec =
        serde_json::from_value(test_support::default_spec(&["true"])).expect("the default spec parses");
    let linux = spec.linux().clone().expect("the default spec has linux");
    let hierarchies = [
        ("cpu", "cpu"),
        ("cpuacct", "cpuacct"),
        ("cpuset", "cpuset"),
        ("memory", "memory"),
        ("devices", "devices"),
        ("freezer", "freezer"),
        ("blkio", "blkio"),
        ("pids", "pids"),
        ("systemd", "none,name=systemd"),
    ];
    let mut cgroup_mounts: Vec<CgroupMount> = hierarchies
        .iter()
        .map(|(name, data)| CgroupMount {
            name: (*name).to_owned(),
            controllers: (*data).to_owned(),
            unified: false,
            host_path: format!("/sys/fs/cgroup/{name}/ocirun/bench").into(),
            // As `create` passes them: the v1 directories are made after the clone.
            ready_at_start: false,
        })
        .collect();
    cgroup_mounts.push(CgroupMount {
        name: "unified".into(),
        controllers: String::new(),
        unified: true,
        host_path: "/sys/fs/cgroup/unified/ocirun/bench".into(),
        ready_at_start: true,
    });
    RootfsConfig {
        rootfs: std::env::temp_dir(),
        readonly: true,
        mounts: spec.mounts().clone().unwrap_or_default(),
        masked_paths: linux.masked_paths().clone().unwrap_or_default(),
        readonly_paths: linux.readonly_paths().clone().unwrap_or_default(),
        cgroup_mounts,
        ..RootfsConfig::default()
    }
}

fn bench(c: &mut Criterion) {
    let cfg = config();
    c.bench_function("rootfs/compile default mounts", |b| {
        b.iter(|| MountPlan::compile(std::hint::black_box(cfg.clone())).expect("compile"))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
