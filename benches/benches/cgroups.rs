//! Cgroup costs on the spawn path: detecting the hierarchies, creating a cgroup with typical
//! limits or with runc's default device rules only, moving a process in, and removing it.
//! Moving a new child in is measured both ways: the runtime writing the child's pid to every
//! hierarchy's cgroup.procs, and the child entering by itself (CLONE_INTO_CGROUP for v2,
//! "0" written to each v1 `tasks` file), which is what ocirun does. Needs root; each iteration
//! cleans up after itself.

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::process::Command;
use std::time::{Duration, Instant};

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

/// runc's default device rules after a deny-all, as the spawn path applies them.
fn default_devices() -> LinuxResources {
    let mut rules = vec![serde_json::json!({"allow": false, "access": "rwm"})];
    rules.extend(
        cgroups::default_device_rules()
            .into_iter()
            .filter_map(|r| serde_json::to_value(r).ok()),
    );
    serde_json::from_value(serde_json::json!({ "devices": rules })).expect("device rules are valid")
}

/// Runs `op` `iters` times, 25 ms apart, and returns the time spent in `op` alone.
fn spaced(iters: u64, mut op: impl FnMut()) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        std::thread::sleep(Duration::from_millis(25));
        let start = Instant::now();
        op();
        total += start.elapsed();
    }
    total
}

fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: fds is a writable array of two ints.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0, "pipe2");
    // SAFETY: both fds are new and owned by nobody else.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
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
    let defaults = default_devices();
    c.bench_function("cgroups/create_remove (default device rules only)", |b| {
        b.iter(|| {
            let cg = Cgroup::new(&h, Some(&path), "bench").expect("resolve");
            cg.create(Some(&defaults)).expect("create");
            cg.remove().expect("remove");
        })
    });
    let cg = Cgroup::new(&h, Some(&path), "bench").expect("resolve");
    cg.create(Some(&r)).expect("create");
    // A new container's attach, spaced out as real container starts are: the global lock's
    // RCU wait shows only when the previous attach is a grace period old, not back to back.
    let mut g = c.benchmark_group("cgroups/new child, 25 ms apart");
    g.sample_size(10).measurement_time(Duration::from_millis(200));
    g.bench_function("runtime writes its pid to every cgroup.procs", |b| {
        b.iter_custom(|iters| {
            spaced(iters, || {
                let (rd, wr) = pipe();
                let (rd_raw, wr_raw) = (rd.as_raw_fd(), wr.as_raw_fd());
                let args = namespaces::CloneArgs::default();
                // SAFETY: the child closes its copy of the write end, makes one read(2) into a
                // stack buffer (EOF once the parent closes its copy) and returns.
                let child = unsafe {
                    namespaces::spawn(&args, || {
                        libc::close(wr_raw);
                        let mut byte = [0u8; 1];
                        libc::read(rd_raw, byte.as_mut_ptr().cast(), 1) as i32
                    })
                }
                .expect("clone");
                cg.add_process(child.pid).expect("add");
                drop(wr);
                drop(rd);
                namespaces::pidfd::reap(&child.pidfd, true).expect("reap");
            })
        })
    });
    g.bench_function("child enters by itself (clone3 into v2, 0 to v1 tasks)", |b| {
        b.iter_custom(|iters| {
            spaced(iters, || {
                let v2_dir = cg.clone_into_fd().expect("open the v2 directory");
                let tasks: Vec<OwnedFd> = cg
                    .v1_tasks()
                    .expect("open tasks")
                    .into_iter()
                    .map(|(fd, _)| fd)
                    .collect();
                let args = namespaces::CloneArgs {
                    cgroup_fd: v2_dir.as_ref().map(|f| f.as_raw_fd()),
                    ..Default::default()
                };
                // SAFETY: the child only writes to fds opened above and returns.
                let child = unsafe {
                    namespaces::spawn(&args, || {
                        i32::from(cgroups::join_self(tasks.iter().map(|f| f.as_fd())).is_err())
                    })
                }
                .expect("clone3");
                if !child.in_cgroup {
                    cg.add_process_v2(child.pid).expect("add v2");
                }
                let status = namespaces::pidfd::reap(&child.pidfd, true).expect("reap");
                assert_eq!(
                    status,
                    Some(namespaces::pidfd::ExitStatus::Exited(0)),
                    "join_self failed"
                );
            })
        })
    });
    g.finish();
    let mut child = Command::new("sleep").arg("1000").spawn().expect("spawn sleep");
    let pid = i32::try_from(child.id()).expect("pid");
    c.bench_function("cgroups/add_process", |b| b.iter(|| cg.add_process(pid).expect("add")));
    // Reap the sleeper first: a killed but unreaped child still counts as in the cgroup.
    let _ = child.kill();
    let _ = child.wait();
    let _ = cg.remove();
}

criterion_group!(benches, bench);
criterion_main!(benches);
