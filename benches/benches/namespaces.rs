//! Namespace creation: one clone3 of a child that exits at once, reaped through its pidfd,
//! with no new namespaces, with the pid/mount/uts/ipc namespaces of the spawn benchmark, and
//! with a network namespace too (the kernel's most expensive one). Needs root.

use criterion::{Criterion, criterion_group, criterion_main};
use namespaces::{CloneArgs, NamespaceKind, NamespaceSet, pidfd};

fn set(kinds: &[NamespaceKind]) -> NamespaceSet {
    let mut s = NamespaceSet::empty();
    for k in kinds {
        s.insert(*k);
    }
    s
}

fn spawn_and_reap(namespaces: NamespaceSet) {
    let args = CloneArgs {
        namespaces,
        cgroup_fd: None,
        pid_namespace: None,
    };
    // SAFETY: the child only returns a constant; it does not allocate, lock or unwind.
    let child = unsafe { namespaces::spawn(&args, || 0) }.expect("clone3");
    let status = pidfd::reap(&child.pidfd, true).expect("waitid");
    assert_eq!(status, Some(pidfd::ExitStatus::Exited(0)));
}

fn bench(c: &mut Criterion) {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped namespaces benches: they need root");
        return;
    }
    use NamespaceKind::{Ipc, Mount, Network, Pid, Uts};
    let mut g = c.benchmark_group("namespaces");
    g.bench_function("clone3 + exit, no new namespaces", |b| {
        b.iter(|| spawn_and_reap(NamespaceSet::empty()))
    });
    g.bench_function("clone3 + exit, pid mount uts ipc", |b| {
        b.iter(|| spawn_and_reap(set(&[Pid, Mount, Uts, Ipc])))
    });
    g.bench_function("clone3 + exit, pid mount uts ipc net", |b| {
        b.iter(|| spawn_and_reap(set(&[Pid, Mount, Uts, Ipc, Network])))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
