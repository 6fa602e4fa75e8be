//! Spawn latency through the library, without the CLI process: build, create,
//! start, wait and delete of a busybox `true` container with the pid, network, ipc, uts and
//! mount namespaces (the bundle of benches/compare.sh), its state root on tmpfs (/dev/shm).
//! Needs root and /bin/busybox.

use criterion::{Criterion, criterion_group, criterion_main};
use runtime_core::{Container, Spec};
use test_support::{Bundle, require_prerequisites, unique_id};

fn bench(c: &mut Criterion) {
    require_prerequisites();
    let mut b = Bundle::new(&["true"]);
    b.spec["linux"]["namespaces"] =
        serde_json::json!([{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}]);
    let spec: Spec = serde_json::from_str(&b.spec_json()).expect("the test spec parses");
    // The state root on tmpfs, as /run is on a usual host (and in benches/compare.sh).
    let shm = tempfile::Builder::new()
        .prefix("ocirun-bench-state-")
        .tempdir_in("/dev/shm")
        .ok();
    let root = shm.as_ref().map_or_else(|| b.state_root(), |d| d.path().to_path_buf());
    c.bench_function("spawn: run + wait + delete of true", |bench| {
        bench.iter(|| {
            let mut c = Container::builder(unique_id("bench"))
                .root(&root)
                .bundle(b.path())
                .spec(spec.clone())
                .run()
                .expect("run");
            assert_eq!(c.wait().expect("wait").code(), 0);
            c.delete(false).expect("delete");
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
