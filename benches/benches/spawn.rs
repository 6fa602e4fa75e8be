//! Spawn latency through the library, without the CLI process: build, create,
//! start, wait and delete of a busybox `true` container. Needs root and /bin/busybox.

use criterion::{Criterion, criterion_group, criterion_main};
use runtime_core::{Container, Spec};
use test_support::{Bundle, require_prerequisites, unique_id};

fn bench(c: &mut Criterion) {
    require_prerequisites();
    let b = Bundle::new(&["true"]);
    let spec: Spec = serde_json::from_str(&b.spec_json()).expect("the test spec parses");
    let root = b.state_root();
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
