//! Containers per second through the library from several threads of one process: each
//! thread runs, waits for and deletes busybox `true` containers (the bundle of
//! benches/compare.sh: pid, network, ipc, uts and mount namespaces) until the total is done.
//! Prints one line, `library <threads> <containers> <seconds> <per second>`, for
//! benches/throughput.sh. Needs root and /bin/busybox.
//!
//! Environment: OCIRUN_THROUGHPUT_THREADS (default 8), OCIRUN_THROUGHPUT_TOTAL (default 400),
//! OCIRUN_THROUGHPUT_ROOT (the state root; default a directory under /dev/shm).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use runtime_core::{Container, Spec};
use test_support::{Bundle, require_prerequisites, unique_id};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    // `cargo bench` passes --bench; a plain run (cargo test --benches) only checks it builds.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    require_prerequisites();
    // The binary is protected before any thread starts (CVE-2019-5736), as an embedder must,
    // and before anything this process would clean up at exit: protect may re-execute it.
    runtime_core::exe::protect(|| Ok(Spec::default())).expect("protect the binary");
    let threads = env_usize("OCIRUN_THROUGHPUT_THREADS", 8);
    let total = env_usize("OCIRUN_THROUGHPUT_TOTAL", 400);
    let mut b = Bundle::new(&["true"]);
    b.spec["linux"]["namespaces"] =
        serde_json::json!([{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}]);
    // Each container its own cgroup (runtime-core's default, /ocirun/<id>), not the bundle's one.
    if let Some(linux) = b.spec["linux"].as_object_mut() {
        linux.remove("cgroupsPath");
    }
    let spec: Spec = serde_json::from_str(&b.spec_json()).expect("the test spec parses");
    let shm = tempfile::Builder::new()
        .prefix("ocirun-throughput-")
        .tempdir_in("/dev/shm")
        .expect("a state root on /dev/shm");
    let root = std::env::var_os("OCIRUN_THROUGHPUT_ROOT").map_or_else(|| shm.path().to_path_buf(), Into::into);
    let next = AtomicUsize::new(0);
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                while next.fetch_add(1, Ordering::Relaxed) < total {
                    let mut c = Container::builder(unique_id("tp"))
                        .root(&root)
                        .bundle(b.path())
                        .spec(spec.clone())
                        .run()
                        .expect("run");
                    assert_eq!(c.wait().expect("wait").code(), 0);
                    c.delete(false).expect("delete");
                }
            });
        }
    });
    let secs = start.elapsed().as_secs_f64();
    #[allow(clippy::cast_precision_loss)] // a count of containers, far below 2^52
    let rate = total as f64 / secs;
    println!("library {threads} {total} {secs:.3} {rate:.1}");
}
