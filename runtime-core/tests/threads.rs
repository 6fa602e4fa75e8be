//! The library is safe to embed in a multi-threaded program: containers are
//! created, started, waited for and deleted from 8 threads while other threads
//! allocate heavily, with no deadlock, no crash and nothing leaked.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use runtime_core::{Container, Spec};
use test_support::{Bundle, footprint, require_prerequisites, unique_id};

#[test]
fn two_hundred_containers_from_eight_threads_while_others_allocate() {
    require_prerequisites();
    let b = Bundle::new(&["true"]);
    let spec: Spec = serde_json::from_str(&b.spec_json()).unwrap();
    let before = footprint();

    let stop = Arc::new(AtomicBool::new(false));
    let allocators: Vec<_> = (0..3)
        .map(|i| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut keep: Vec<Vec<u8>> = Vec::new();
                let mut n = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    keep.push(vec![i as u8; 1 + (n * 7919) % 65536]);
                    if keep.len() > 256 {
                        keep.drain(..128);
                    }
                    n += 1;
                }
                n
            })
        })
        .collect();

    let workers: Vec<_> = (0..8)
        .map(|_| {
            let spec = spec.clone();
            let root = b.state_root();
            let bundle = b.path().to_path_buf();
            std::thread::spawn(move || {
                for _ in 0..25 {
                    let id = unique_id("thr");
                    // Every container needs a cgroup of its own.
                    let mut spec = spec.clone();
                    if let Some(linux) = spec.linux_mut() {
                        linux.set_cgroups_path(Some(format!("/{}/{id}", test_support::cgroup_parent()).into()));
                    }
                    let mut c = Container::builder(&id)
                        .root(&root)
                        .bundle(&bundle)
                        .spec(spec)
                        .run()
                        .unwrap_or_else(|e| panic!("run: {e}: {:?}", std::error::Error::source(&e)));
                    assert_eq!(c.wait().unwrap().code(), 0);
                    c.delete(false).unwrap();
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("a worker thread panicked");
    }
    stop.store(true, Ordering::Relaxed);
    let allocated: usize = allocators.into_iter().map(|a| a.join().unwrap()).sum();
    assert!(allocated > 0);

    assert_eq!(footprint(), before, "something leaked");
    assert_eq!(
        std::fs::read_dir(b.state_root()).unwrap().count(),
        0,
        "state directories left behind"
    );
}
