//! Cgroup costs on the spawn path: detecting the hierarchies, creating a cgroup with typical
//! limits, moving a process in, and removing it. Needs root; each iteration cleans up after itself.

use std::process::Command;

use cgroups::{Cgroup, Hierarchies};
use criterion::{Criterion, criterion_group, criterion_main};
use oci_spec::runtime::LinuxResources;

fn typical() -> LinuxResources {
    let mut json = serde_json::json!({
        "memory": {"limit": 268435456},
        "pids": {"limit": 1024},
        "cpu": {"shares": 1024, "quota": 100000, "period": 100000},
        "devices": [{"allow": false, "access": "rwm"}],
    });
    let defaults: Vec<serde_json::Value> = cgroups::default_device_rules()
        .into_iter()
        .filter_map(|r| serde_json::to_value(r).ok())
        .collect();
    if let Some(list) = json["devices"].as_array_mut() {
        list.extend(defaults);
    }
    serde_json::from_value(json).expect("typical resources are valid")
}

fn bench(c: &mut Criterion) {
    // /proc/self belongs to the effective user.
    let euid = std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m));
    if euid.ok() != Some(0) {
        eprintln!("skipped cgroups benches: they need root");
        return;
    }
    c.bench_function("cgroups/detect", |b| b.iter(|| Hierarchies::detect().expect("detect")));
    let h = Hierarchies::detect().expect("detect");
    let r = typical();
    let path = format!("/ocirun-bench-{}", std::process::id());
    c.bench_function("cgroups/create_apply_remove", |b| {
        b.iter(|| {
            let cg = Cgroup::new(&h, Some(&path), "bench").expect("resolve");
            cg.create(Some(&r)).expect("create");
            cg.remove().expect("remove");
        })
    });
    let cg = Cgroup::new(&h, Some(&path), "bench").expect("resolve");
    cg.create(Some(&r)).expect("create");
    let mut child = Command::new("sleep").arg("1000").spawn().expect("spawn sleep");
    let pid = i32::try_from(child.id()).expect("pid");
    c.bench_function("cgroups/add_process", |b| b.iter(|| cg.add_process(pid).expect("add")));
    let _ = cg.remove();
    let _ = child.kill();
    let _ = child.wait();
}

criterion_group!(benches, bench);
criterion_main!(benches);
