//! The state store: making a container's directory (with its lock), writing state.json
//! atomically, reading it back, and removing the directory, on the temp dir's filesystem.

use std::collections::HashMap;

use criterion::{Criterion, criterion_group, criterion_main};
use runtime_core::state::{Record, Store};

fn record(id: &str) -> Record {
    Record {
        oci_version: "1.0.2-dev".into(),
        id: id.into(),
        pid: 4242,
        pid_start_time: 123_456,
        bundle: "/srv/bundles/bench".into(),
        rootfs: "/srv/bundles/bench/rootfs".into(),
        created: runtime_core::state::now_rfc3339(),
        annotations: HashMap::new(),
        cgroup_path: "/ocirun/bench".into(),
        systemd_cgroup: false,
        hooks: None,
        no_new_keyring: false,
        rootless: false,
        creator: None,
    }
}

fn bench(c: &mut Criterion) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let store = Store::new(tmp.path().join("root"));
    let rec = record("bench");
    let mut g = c.benchmark_group("state");
    g.bench_function("create + remove a container dir", |b| {
        b.iter(|| store.create("bench-dir").expect("create").remove().expect("remove"))
    });
    let dir = store.create("bench").expect("create");
    g.bench_function("save state.json", |b| b.iter(|| dir.save(&rec).expect("save")));
    g.bench_function("load state.json", |b| {
        b.iter(|| dir.load().expect("load").expect("a record"))
    });
    drop(dir);
    g.bench_function("open (lock) + load", |b| {
        b.iter(|| {
            store
                .open("bench")
                .expect("open")
                .load()
                .expect("load")
                .expect("a record")
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
