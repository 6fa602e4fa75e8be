//! Tests against fake cgroupfs trees (temp dirs laid out like /sys/fs/cgroup): every resource
//! class must write exactly the files and values runc writes for the same spec, in order.

use std::path::Path;

use oci_spec::runtime::LinuxResources;
use tempfile::TempDir;

use crate::fsio::WRITES;
use crate::{Cgroup, CgroupError, FreezerState, Hierarchies, Layout};

const V2_CONTROLLERS: &str = "cpuset cpu io memory hugetlb pids rdma misc";

/// Files a v2 leaf cgroup has (created empty; the tests write what the kernel would show).
const V2_FILES: &[&str] = &[
    "cgroup.procs",
    "cgroup.freeze",
    "cgroup.events",
    "cgroup.kill",
    "cpu.weight",
    "cpu.max",
    "cpu.max.burst",
    "cpu.idle",
    "cpuset.cpus",
    "cpuset.mems",
    "memory.max",
    "memory.low",
    "memory.swap.max",
    "memory.current",
    "memory.oom.group",
    "cgroup.max.descendants",
    "pids.max",
    "io.weight",
    "io.max",
    "hugetlb.2MB.max",
    "hugetlb.2MB.rsvd.max",
    "hugetlb.1GB.max",
    "rdma.max",
];

struct Fake {
    _tmp: TempDir,
    root: std::path::PathBuf,
    cg: Cgroup,
}

impl Fake {
    /// The leaf directory in hierarchy `sub` ("" for pure v2).
    fn leaf(&self, sub: &str) -> std::path::PathBuf {
        self.root.join(sub).join("ctr")
    }
}

fn touch(dir: &Path, files: &[&str]) {
    for f in files {
        std::fs::write(dir.join(f), "").expect("create fake file");
    }
}

fn fake_v2(extra: &[&str]) -> Fake {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().to_path_buf();
    std::fs::write(root.join("cgroup.controllers"), V2_CONTROLLERS).expect("controllers");
    std::fs::write(root.join("cgroup.subtree_control"), "").expect("subtree");
    let h = Hierarchies::from_root(&root, Layout::V2).expect("fake hierarchies");
    let cg = Cgroup::new(&h, Some("/ctr"), "x").expect("resolve");
    cg.create(None).expect("create dirs");
    let leaf = root.join("ctr");
    touch(&leaf, V2_FILES);
    touch(&leaf, extra);
    take_writes();
    Fake { _tmp: tmp, root, cg }
}

/// A fake hybrid tree: one dir per v1 hierarchy and "unified" (v2, hugetlb only, like this host).
fn fake_hybrid(v1: &[(&str, &[&str])]) -> Fake {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().to_path_buf();
    for (name, _) in v1 {
        std::fs::create_dir(root.join(name)).expect("hierarchy dir");
    }
    let unified = root.join("unified");
    std::fs::create_dir(&unified).expect("unified");
    std::fs::write(unified.join("cgroup.controllers"), "hugetlb").expect("controllers");
    std::fs::write(unified.join("cgroup.subtree_control"), "hugetlb").expect("subtree");
    let h = Hierarchies::from_root(&root, Layout::Hybrid).expect("fake hierarchies");
    assert_eq!(h.layout(), Layout::Hybrid);
    let cg = Cgroup::new(&h, Some("ctr"), "x").expect("resolve");
    cg.create(None).expect("create dirs");
    for (name, files) in v1 {
        touch(&root.join(name).join("ctr"), files);
    }
    touch(&unified.join("ctr"), &["cgroup.procs", "hugetlb.2MB.max"]);
    take_writes();
    Fake { _tmp: tmp, root, cg }
}

/// The writes since the last call, as (path relative to the fake root, value).
fn take_writes_rel(root: &Path) -> Vec<(String, String)> {
    WRITES.with(|w| {
        w.borrow_mut()
            .drain(..)
            .map(|(p, v)| {
                let rel = p.strip_prefix(root).unwrap_or(&p).to_string_lossy().into_owned();
                (rel, v)
            })
            .collect()
    })
}

fn take_writes() {
    WRITES.with(|w| w.borrow_mut().clear());
}

fn res(json: &str) -> LinuxResources {
    serde_json::from_str(json).expect("valid resources json")
}

fn w(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(a, b)| ((*a).to_owned(), (*b).to_owned())).collect()
}

fn apply(f: &Fake, json: &str) -> Vec<(String, String)> {
    f.cg.apply(&res(json)).unwrap_or_else(|e| panic!("apply {json}: {e}"));
    take_writes_rel(&f.root)
}

fn apply_err(f: &Fake, json: &str) -> CgroupError {
    let e = f.cg.apply(&res(json)).expect_err(json);
    take_writes();
    e
}

// ------------------------------------------------------------------------------------------
// v2

#[test]
fn v2_create_enables_controllers_in_ancestors() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    std::fs::write(root.join("cgroup.controllers"), "cpu memory pids").expect("w");
    std::fs::write(root.join("cgroup.subtree_control"), "memory").expect("w");
    let h = Hierarchies::from_root(root, Layout::V2).expect("h");
    let cg = Cgroup::new(&h, Some("/a/b"), "x").expect("resolve");
    take_writes();
    cg.create(None).expect("create");
    // The root gets the missing ones; "a" is a fake dir without cgroup.controllers: skipped.
    assert_eq!(take_writes_rel(root), w(&[("cgroup.subtree_control", "+cpu +pids")]));
    assert!(root.join("a/b").is_dir());
}

#[test]
fn v2_memory_limits_and_swap_conversion() {
    let f = fake_v2(&[]);
    assert_eq!(
        apply(
            &f,
            r#"{"memory":{"limit":1073741824,"swap":2147483648,"reservation":536870912}}"#
        ),
        w(&[
            ("ctr/memory.swap.max", "1073741824"),
            ("ctr/memory.max", "1073741824"),
            ("ctr/memory.low", "536870912"),
        ])
    );
    // -1 with swap unset: both unlimited.
    assert_eq!(
        apply(&f, r#"{"memory":{"limit":-1}}"#),
        w(&[("ctr/memory.swap.max", "max"), ("ctr/memory.max", "max")])
    );
    // swap equal to the limit: no swap.
    assert_eq!(
        apply(&f, r#"{"memory":{"limit":1000000,"swap":1000000}}"#),
        w(&[("ctr/memory.swap.max", "0"), ("ctr/memory.max", "1000000")])
    );
    // swap -1: unlimited swap.
    assert_eq!(
        apply(&f, r#"{"memory":{"limit":1000000,"swap":-1}}"#),
        w(&[("ctr/memory.swap.max", "max"), ("ctr/memory.max", "1000000")])
    );
    assert_eq!(
        apply(&f, r#"{"memory":{"limit":4096}}"#),
        w(&[("ctr/memory.max", "4096")])
    );
}

#[test]
fn v2_memory_refuses_what_v2_cannot_express() {
    let f = fake_v2(&[]);
    for (json, field) in [
        (r#"{"memory":{"limit":100,"swap":50}}"#, "linux.resources.memory.swap"),
        (r#"{"memory":{"swap":50}}"#, "linux.resources.memory.swap"),
        (r#"{"memory":{"limit":-2}}"#, "linux.resources.memory.limit"),
    ] {
        match apply_err(&f, json) {
            CgroupError::InvalidValue { field: got, .. } => assert_eq!(got, field, "{json}"),
            e => panic!("{json}: {e}"),
        }
    }
    for (json, field) in [
        (
            r#"{"memory":{"kernelTCP":1000000}}"#,
            "linux.resources.memory.kernelTCP",
        ),
        (r#"{"memory":{"swappiness":10}}"#, "linux.resources.memory.swappiness"),
        (
            r#"{"memory":{"disableOOMKiller":true}}"#,
            "linux.resources.memory.disableOOMKiller",
        ),
        (
            r#"{"memory":{"useHierarchy":false}}"#,
            "linux.resources.memory.useHierarchy",
        ),
    ] {
        match apply_err(&f, json) {
            CgroupError::Unsupported { field: got, .. } => assert_eq!(got, field, "{json}"),
            e => panic!("{json}: {e}"),
        }
    }
    // Values v2 holds anyway are accepted and write nothing.
    assert!(apply(&f, r#"{"memory":{"disableOOMKiller":false,"useHierarchy":true}}"#).is_empty());
    // memory.kernel, deprecated and ignored by the kernel, is skipped (runtime-core warns).
    assert!(apply(&f, r#"{"memory":{"kernel":1048576}}"#).is_empty());
}

#[test]
fn v2_memory_check_before_update() {
    let f = fake_v2(&[]);
    std::fs::write(f.leaf("").join("memory.current"), "2000\n").expect("usage");
    let r = res(r#"{"memory":{"limit":1000,"checkBeforeUpdate":true}}"#);
    assert!(matches!(
        f.cg.update(&r),
        Err(CgroupError::MemoryBelowUsage {
            limit: 1000,
            usage: 2000,
            ..
        })
    ));
    assert!(take_writes_rel(&f.root).is_empty(), "nothing written");
    // create/apply does not check; update above the usage passes.
    f.cg.apply(&r).expect("apply");
    f.cg.update(&res(r#"{"memory":{"limit":4096,"checkBeforeUpdate":true}}"#))
        .expect("update above usage");
}

#[test]
fn v2_swap_without_swap_support() {
    let f = fake_v2(&[]);
    std::fs::remove_file(f.leaf("").join("memory.swap.max")).expect("rm");
    // As runc: "max" and "0" already hold without swap; a real swap limit is an error.
    assert_eq!(
        apply(&f, r#"{"memory":{"limit":1000000,"swap":1000000}}"#),
        w(&[("ctr/memory.max", "1000000")])
    );
    assert!(matches!(
        apply_err(&f, r#"{"memory":{"limit":1000000,"swap":3000000}}"#),
        CgroupError::Apply {
            field: "linux.resources.memory.swap",
            ..
        }
    ));
}

#[test]
fn v2_cpu_weight_max_burst_idle() {
    let f = fake_v2(&[]);
    assert_eq!(
        apply(
            &f,
            r#"{"cpu":{"shares":1024,"quota":50000,"period":100000,"burst":1000,"idle":1,"cpus":"0-1","mems":"0"}}"#
        ),
        w(&[
            ("ctr/cpuset.cpus", "0-1"),
            ("ctr/cpuset.mems", "0"),
            ("ctr/cpu.idle", "1"),
            ("ctr/cpu.weight", "39"),
            ("ctr/cpu.max.burst", "1000"),
            ("ctr/cpu.max", "50000 100000"),
        ])
    );
    // runc's conversion at both ends and in the middle.
    assert_eq!(apply(&f, r#"{"cpu":{"shares":2}}"#), w(&[("ctr/cpu.weight", "1")]));
    assert_eq!(
        apply(&f, r#"{"cpu":{"shares":262144}}"#),
        w(&[("ctr/cpu.weight", "10000")])
    );
    assert_eq!(apply(&f, r#"{"cpu":{"shares":512}}"#), w(&[("ctr/cpu.weight", "20")]));
    assert_eq!(
        apply(&f, r#"{"cpu":{"quota":-1,"period":100000}}"#),
        w(&[("ctr/cpu.max", "max 100000")])
    );
    assert_eq!(apply(&f, r#"{"cpu":{"quota":20000}}"#), w(&[("ctr/cpu.max", "20000")]));
    // Period alone keeps the quota in force.
    std::fs::write(f.leaf("").join("cpu.max"), "20000 100000\n").expect("w");
    assert_eq!(
        apply(&f, r#"{"cpu":{"period":50000}}"#),
        w(&[("ctr/cpu.max", "20000 50000")])
    );
}

#[test]
fn v2_cpu_refusals() {
    let f = fake_v2(&[]);
    assert!(matches!(
        apply_err(&f, r#"{"cpu":{"shares":1}}"#),
        CgroupError::InvalidValue {
            field: "linux.resources.cpu.shares",
            ..
        }
    ));
    assert!(matches!(
        apply_err(&f, r#"{"cpu":{"shares":300000}}"#),
        CgroupError::InvalidValue {
            field: "linux.resources.cpu.shares",
            ..
        }
    ));
    assert!(matches!(
        apply_err(&f, r#"{"cpu":{"realtimeRuntime":950000}}"#),
        CgroupError::Unsupported { .. }
    ));
    assert!(matches!(
        apply_err(&f, r#"{"cpu":{"quota":-2}}"#),
        CgroupError::InvalidValue {
            field: "linux.resources.cpu.quota",
            ..
        }
    ));
}

#[test]
fn v2_pids() {
    let f = fake_v2(&[]);
    assert_eq!(apply(&f, r#"{"pids":{"limit":100}}"#), w(&[("ctr/pids.max", "100")]));
    assert_eq!(apply(&f, r#"{"pids":{"limit":0}}"#), w(&[("ctr/pids.max", "max")]));
    assert_eq!(apply(&f, r#"{"pids":{"limit":-1}}"#), w(&[("ctr/pids.max", "max")]));
    assert!(matches!(
        apply_err(&f, r#"{"pids":{"limit":-2}}"#),
        CgroupError::InvalidValue { .. }
    ));
}

const BLKIO: &str = r#"{"blockIO":{"weight":500,
    "weightDevice":[{"major":8,"minor":0,"weight":300}],
    "throttleReadBpsDevice":[{"major":8,"minor":0,"rate":1048576}],
    "throttleWriteBpsDevice":[{"major":8,"minor":16,"rate":2097152}],
    "throttleReadIOPSDevice":[{"major":8,"minor":0,"rate":100}],
    "throttleWriteIOPSDevice":[{"major":8,"minor":0,"rate":200}]}}"#;

#[test]
fn v2_io_with_bfq() {
    let f = fake_v2(&["io.bfq.weight"]);
    assert_eq!(
        apply(&f, BLKIO),
        w(&[
            ("ctr/io.bfq.weight", "500"),
            ("ctr/io.bfq.weight", "8:0 300"),
            ("ctr/io.max", "8:0 rbps=1048576"),
            ("ctr/io.max", "8:16 wbps=2097152"),
            ("ctr/io.max", "8:0 riops=100"),
            ("ctr/io.max", "8:0 wiops=200"),
        ])
    );
}

#[test]
fn v2_io_without_bfq_converts_the_weight() {
    let f = fake_v2(&[]);
    assert_eq!(
        apply(&f, r#"{"blockIO":{"weight":500}}"#),
        w(&[("ctr/io.weight", "4950")])
    );
    assert_eq!(apply(&f, r#"{"blockIO":{"weight":10}}"#), w(&[("ctr/io.weight", "1")]));
    assert_eq!(
        apply(&f, r#"{"blockIO":{"weight":1000}}"#),
        w(&[("ctr/io.weight", "10000")])
    );
    // Per-device weights need BFQ; leaf weights do not exist on v2.
    assert!(matches!(apply_err(&f, BLKIO), CgroupError::Unsupported { .. }));
    assert!(matches!(
        apply_err(&f, r#"{"blockIO":{"leafWeight":500}}"#),
        CgroupError::Unsupported { .. }
    ));
    assert!(matches!(
        apply_err(&f, r#"{"blockIO":{"weight":5}}"#),
        CgroupError::InvalidValue {
            field: "linux.resources.blockIO.weight",
            ..
        }
    ));
}

#[test]
fn v2_hugetlb_rdma_unified() {
    let f = fake_v2(&[]);
    assert_eq!(
        apply(
            &f,
            r#"{"hugepageLimits":[{"pageSize":"2MB","limit":4194304},{"pageSize":"1GB","limit":0}]}"#
        ),
        w(&[
            ("ctr/hugetlb.2MB.max", "4194304"),
            ("ctr/hugetlb.2MB.rsvd.max", "4194304"),
            ("ctr/hugetlb.1GB.max", "0"),
        ])
    );
    assert!(matches!(
        apply_err(&f, r#"{"hugepageLimits":[{"pageSize":"64KB","limit":1}]}"#),
        CgroupError::InvalidValue {
            field: "linux.resources.hugepageLimits",
            ..
        }
    ));
    assert_eq!(
        apply(
            &f,
            r#"{"rdma":{"mlx5_1":{"hcaHandles":3},"mlx5_0":{"hcaHandles":2,"hcaObjects":100}}}"#
        ),
        w(&[
            ("ctr/rdma.max", "mlx5_0 hca_handle=2 hca_object=100"),
            ("ctr/rdma.max", "mlx5_1 hca_handle=3"),
        ])
    );
    assert_eq!(
        apply(
            &f,
            r#"{"unified":{"memory.oom.group":"1","cgroup.max.descendants":"10"}}"#
        ),
        w(&[("ctr/cgroup.max.descendants", "10"), ("ctr/memory.oom.group", "1")])
    );
    // Keys run last, so they override the converted values (as runc).
    assert_eq!(
        apply(&f, r#"{"pids":{"limit":5},"unified":{"pids.max":"7"}}"#),
        w(&[("ctr/pids.max", "5"), ("ctr/pids.max", "7")])
    );
    for json in [
        r#"{"unified":{"../escape":"1"}}"#,
        r#"{"unified":{"net_cls.classid":"1"}}"#,
        r#"{"unified":{"memory.nosuchfile":"1"}}"#,
    ] {
        let e = apply_err(&f, json);
        assert!(format!("{e}").contains("linux.resources.unified"), "{json}: {e}");
    }
    assert!(matches!(
        apply_err(&f, r#"{"network":{"classID":1}}"#),
        CgroupError::Unsupported { .. }
    ));
}

#[test]
fn v2_freeze_and_thaw() {
    let f = fake_v2(&[]);
    let leaf = f.leaf("");
    std::fs::write(leaf.join("cgroup.events"), "populated 1\nfrozen 1\n").expect("events");
    f.cg.freeze().expect("freeze");
    assert_eq!(take_writes_rel(&f.root), w(&[("ctr/cgroup.freeze", "1")]));
    assert_eq!(f.cg.state().expect("state"), FreezerState::Frozen);
    std::fs::write(leaf.join("cgroup.events"), "populated 1\nfrozen 0\n").expect("events");
    assert_eq!(f.cg.state().expect("state"), FreezerState::Freezing);
    f.cg.thaw().expect("thaw");
    assert_eq!(take_writes_rel(&f.root), w(&[("ctr/cgroup.freeze", "0")]));
    assert_eq!(f.cg.state().expect("state"), FreezerState::Thawed);
}

#[test]
fn v2_stats() {
    let f = fake_v2(&[]);
    let leaf = f.leaf("");
    let put = |file: &str, s: &str| std::fs::write(leaf.join(file), s).expect("write fake stat");
    put(
        "cpu.stat",
        "usage_usec 5000\nuser_usec 3000\nsystem_usec 2000\nnr_periods 10\nnr_throttled 2\nthrottled_usec 700\n",
    );
    put("memory.stat", "anon 4096\nfile 8192\n");
    put("memory.current", "12288\n");
    put("memory.max", "1048576\n");
    put("memory.peak", "20000\n");
    put("memory.events", "low 0\nhigh 0\nmax 3\noom 0\noom_kill 0\n");
    put("memory.swap.current", "100\n");
    put("memory.swap.max", "max\n");
    put("pids.current", "4\n");
    put("pids.max", "max\n");
    put("io.stat", "8:0 rbytes=1024 wbytes=2048 rios=1 wios=2 dbytes=0 dios=0\n");
    put("hugetlb.2MB.current", "2097152\n");
    put("hugetlb.2MB.events", "max 1\n");
    let s = f.cg.stats().expect("stats");
    assert_eq!(s.cpu.usage.total, 5_000_000);
    assert_eq!(s.cpu.usage.user, 3_000_000);
    assert_eq!(s.cpu.usage.kernel, 2_000_000);
    assert_eq!(s.cpu.throttling.throttled_time, 700_000);
    assert_eq!(s.memory.cache, 8192);
    assert_eq!(s.memory.usage.usage, 12288);
    assert_eq!(s.memory.usage.limit, 1048576);
    assert_eq!(s.memory.usage.max, 20000);
    assert_eq!(s.memory.usage.failcnt, 3);
    assert_eq!(s.memory.swap.usage, 12388, "v1-style memory+swap");
    assert_eq!(s.memory.swap.limit, u64::MAX);
    assert_eq!(s.pids.current, 4);
    assert_eq!(s.pids.limit, 0);
    assert_eq!(s.blkio.io_service_bytes_recursive.len(), 3);
    assert_eq!(s.blkio.io_serviced_recursive[1].op, "Write");
    assert_eq!(s.hugetlb["2MB"].usage, 2097152);
    assert_eq!(s.hugetlb["2MB"].failcnt, 1);
    let json = serde_json::to_value(&s).expect("json");
    assert_eq!(json["cpu"]["throttling"]["throttledPeriods"], 2);
    assert_eq!(json["memory"]["usage"]["limit"], 1048576);
    assert_eq!(json["blkio"]["ioServiceBytesRecursive"][0]["op"], "Read");
    assert_eq!(json["memory"]["raw"]["anon"], 4096);
    assert!(json["memory"].get("kernelTCP").is_some());
    assert!(json["pids"].get("limit").is_none(), "runc omits a zero limit");
}

// ------------------------------------------------------------------------------------------
// v1 and hybrid

#[test]
fn v1_memory_write_order_follows_the_current_limit() {
    let f = fake_hybrid(&[(
        "memory",
        &[
            "memory.limit_in_bytes",
            "memory.memsw.limit_in_bytes",
            "memory.soft_limit_in_bytes",
            "memory.swappiness",
            "memory.oom_control",
            "memory.use_hierarchy",
            "memory.usage_in_bytes",
        ],
    )]);
    let lim = f.leaf("memory").join("memory.limit_in_bytes");
    std::fs::write(&lim, "9223372036854771712\n").expect("w");
    // Lowering from unlimited: memory first, then memory+swap.
    assert_eq!(
        apply(
            &f,
            r#"{"memory":{"limit":1073741824,"swap":2147483648,"reservation":1000,"swappiness":60,"disableOOMKiller":true,"useHierarchy":true}}"#
        ),
        w(&[
            ("memory/ctr/memory.limit_in_bytes", "1073741824"),
            ("memory/ctr/memory.memsw.limit_in_bytes", "2147483648"),
            ("memory/ctr/memory.soft_limit_in_bytes", "1000"),
            ("memory/ctr/memory.swappiness", "60"),
            ("memory/ctr/memory.oom_control", "1"),
            ("memory/ctr/memory.use_hierarchy", "1"),
        ])
    );
    // Raising above the current limit: memory+swap first.
    std::fs::write(&lim, "1073741824\n").expect("w");
    assert_eq!(
        apply(&f, r#"{"memory":{"limit":3221225472,"swap":4294967296}}"#),
        w(&[
            ("memory/ctr/memory.memsw.limit_in_bytes", "4294967296"),
            ("memory/ctr/memory.limit_in_bytes", "3221225472"),
        ])
    );
    // -1 with swap unset: both unlimited, swap first.
    assert_eq!(
        apply(&f, r#"{"memory":{"limit":-1}}"#),
        w(&[
            ("memory/ctr/memory.memsw.limit_in_bytes", "-1"),
            ("memory/ctr/memory.limit_in_bytes", "-1"),
        ])
    );
    assert!(matches!(
        apply_err(&f, r#"{"memory":{"swappiness":101}}"#),
        CgroupError::InvalidValue {
            field: "linux.resources.memory.swappiness",
            ..
        }
    ));
    // No kmem.tcp file on this fake kernel: refused, never skipped.
    assert!(matches!(
        apply_err(&f, r#"{"memory":{"kernelTCP":1048576}}"#),
        CgroupError::Unsupported { .. }
    ));
    // memory.kernel, deprecated and ignored by the kernel, is skipped (runtime-core warns).
    assert!(apply(&f, r#"{"memory":{"kernel":1048576}}"#).is_empty());
}

#[test]
fn v1_swap_without_accounting_is_refused() {
    let f = fake_hybrid(&[("memory", &["memory.limit_in_bytes"])]);
    assert!(matches!(
        apply_err(&f, r#"{"memory":{"limit":1000,"swap":2000}}"#),
        CgroupError::Unsupported { .. }
    ));
}

#[test]
fn v1_cpu_files() {
    let f = fake_hybrid(&[(
        "cpu,cpuacct",
        &[
            "cpu.shares",
            "cpu.cfs_quota_us",
            "cpu.cfs_period_us",
            "cpu.cfs_burst_us",
            "cpu.rt_period_us",
            "cpu.rt_runtime_us",
            "cpu.idle",
        ],
    )]);
    // The fake cpu.shares reads back what was written (O_TRUNC), like a kernel that keeps it.
    assert_eq!(
        apply(
            &f,
            r#"{"cpu":{"shares":512,"quota":50000,"period":100000,"burst":1000,"realtimePeriod":1000000,"realtimeRuntime":950000,"idle":0}}"#
        ),
        w(&[
            ("cpu,cpuacct/ctr/cpu.rt_period_us", "1000000"),
            ("cpu,cpuacct/ctr/cpu.rt_runtime_us", "950000"),
            ("cpu,cpuacct/ctr/cpu.shares", "512"),
            ("cpu,cpuacct/ctr/cpu.cfs_period_us", "100000"),
            ("cpu,cpuacct/ctr/cpu.cfs_burst_us", "1000"),
            ("cpu,cpuacct/ctr/cpu.cfs_quota_us", "50000"),
            ("cpu,cpuacct/ctr/cpu.idle", "0"),
        ])
    );
    assert_eq!(
        apply(&f, r#"{"cpu":{"quota":-1}}"#),
        w(&[("cpu,cpuacct/ctr/cpu.cfs_quota_us", "-1")])
    );
    // cpuset is not mounted in this fake tree.
    assert!(matches!(
        apply_err(&f, r#"{"cpu":{"cpus":"0"}}"#),
        CgroupError::MissingController {
            controller: "cpuset",
            ..
        }
    ));
}

#[test]
fn v1_blkio_cfq_and_bfq_files() {
    let cfq: &[&str] = &[
        "blkio.weight",
        "blkio.weight_device",
        "blkio.leaf_weight",
        "blkio.leaf_weight_device",
        "blkio.throttle.read_bps_device",
        "blkio.throttle.write_bps_device",
        "blkio.throttle.read_iops_device",
        "blkio.throttle.write_iops_device",
    ];
    let f = fake_hybrid(&[("blkio", cfq)]);
    assert_eq!(
        apply(&f, BLKIO),
        w(&[
            ("blkio/ctr/blkio.weight", "500"),
            ("blkio/ctr/blkio.weight_device", "8:0 300"),
            ("blkio/ctr/blkio.throttle.read_bps_device", "8:0 1048576"),
            ("blkio/ctr/blkio.throttle.write_bps_device", "8:16 2097152"),
            ("blkio/ctr/blkio.throttle.read_iops_device", "8:0 100"),
            ("blkio/ctr/blkio.throttle.write_iops_device", "8:0 200"),
        ])
    );
    assert_eq!(
        apply(
            &f,
            r#"{"blockIO":{"leafWeight":300,"weightDevice":[{"major":8,"minor":0,"leafWeight":20}]}}"#
        ),
        w(&[
            ("blkio/ctr/blkio.leaf_weight", "300"),
            ("blkio/ctr/blkio.leaf_weight_device", "8:0 20"),
        ])
    );
    let f = fake_hybrid(&[("blkio", &["blkio.bfq.weight", "blkio.bfq.weight_device"])]);
    assert_eq!(
        apply(
            &f,
            r#"{"blockIO":{"weight":500,"weightDevice":[{"major":8,"minor":0,"weight":300}]}}"#
        ),
        w(&[
            ("blkio/ctr/blkio.bfq.weight", "500"),
            ("blkio/ctr/blkio.bfq.weight_device", "8:0 300"),
        ])
    );
    // Only the throttle files, as on this host: weights are refused.
    let f = fake_hybrid(&[("blkio", &["blkio.throttle.read_bps_device"])]);
    assert!(matches!(
        apply_err(&f, r#"{"blockIO":{"weight":500}}"#),
        CgroupError::Unsupported { .. }
    ));
}

#[test]
fn v1_hugetlb_network_rdma_pids() {
    let f = fake_hybrid(&[
        ("hugetlb", &["hugetlb.2MB.limit_in_bytes"]),
        ("net_cls,net_prio", &["net_cls.classid", "net_prio.ifpriomap"]),
        ("rdma", &["rdma.max"]),
        ("pids", &["pids.max"]),
    ]);
    assert_eq!(
        apply(
            &f,
            r#"{"hugepageLimits":[{"pageSize":"2MB","limit":2097152}],
                "network":{"classID":1048577,"priorities":[{"name":"eth0","priority":5},{"name":"lo","priority":1}]},
                "rdma":{"mlx4_0":{"hcaHandles":2,"hcaObjects":2000}},
                "pids":{"limit":10}}"#
        ),
        w(&[
            ("pids/ctr/pids.max", "10"),
            ("hugetlb/ctr/hugetlb.2MB.limit_in_bytes", "2097152"),
            ("net_cls,net_prio/ctr/net_cls.classid", "1048577"),
            ("net_cls,net_prio/ctr/net_prio.ifpriomap", "eth0 5"),
            ("net_cls,net_prio/ctr/net_prio.ifpriomap", "lo 1"),
            ("rdma/ctr/rdma.max", "mlx4_0 hca_handle=2 hca_object=2000"),
        ])
    );
    // pids is a v1 controller here: a unified key for it is refused on this hybrid host.
    let e = apply_err(&f, r#"{"unified":{"pids.max":"1"}}"#);
    assert!(format!("{e}").contains("v1 hierarchy"), "{e}");
}

#[test]
fn hybrid_hugetlb_on_unified_uses_v2_files() {
    let f = fake_hybrid(&[("memory", &["memory.limit_in_bytes"])]);
    assert_eq!(
        apply(&f, r#"{"hugepageLimits":[{"pageSize":"2MB","limit":2097152}]}"#),
        w(&[("unified/ctr/hugetlb.2MB.max", "2097152")])
    );
    assert_eq!(
        apply(&f, r#"{"unified":{"hugetlb.2MB.max":"4194304"}}"#),
        w(&[("unified/ctr/hugetlb.2MB.max", "4194304")])
    );
    // Nothing here has pids: a clear error naming the field and the controller.
    let e = apply_err(&f, r#"{"pids":{"limit":10}}"#);
    assert_eq!(
        format!("{e}"),
        "linux.resources.pids.limit needs the pids cgroup controller, which this host does not have"
    );
}

#[test]
fn v1_devices_default_deny_then_allow_list() {
    let f = fake_hybrid(&[("devices", &["devices.allow", "devices.deny"])]);
    let mut rules = vec![serde_json::json!({"allow": false, "access": "rwm"})];
    rules.extend(
        crate::default_device_rules()
            .into_iter()
            .map(|r| serde_json::to_value(r).expect("rule json")),
    );
    let json = serde_json::json!({ "devices": rules }).to_string();
    assert_eq!(
        apply(&f, &json),
        w(&[
            ("devices/ctr/devices.deny", "a *:* rwm"),
            ("devices/ctr/devices.allow", "b *:* m"),
            ("devices/ctr/devices.allow", "c *:* m"),
            ("devices/ctr/devices.allow", "c 1:3 rwm"),
            ("devices/ctr/devices.allow", "c 1:5 rwm"),
            ("devices/ctr/devices.allow", "c 1:7 rwm"),
            ("devices/ctr/devices.allow", "c 1:8 rwm"),
            ("devices/ctr/devices.allow", "c 1:9 rwm"),
            ("devices/ctr/devices.allow", "c 5:0 rwm"),
            ("devices/ctr/devices.allow", "c 5:2 rwm"),
            ("devices/ctr/devices.allow", "c 10:200 rwm"),
            ("devices/ctr/devices.allow", "c 136:* rwm"),
        ])
    );
    // An update from an allow-list keeps what stays: only the difference is written.
    std::fs::write(f.leaf("devices").join("devices.list"), "c 1:3 rwm\nc 1:5 rwm\n").expect("w");
    assert_eq!(
        apply(
            &f,
            r#"{"devices":[{"allow":false,"access":"rwm"},
                {"allow":true,"type":"c","major":1,"minor":3,"access":"rw"},
                {"allow":true,"type":"c","major":1,"minor":9,"access":"rwm"}]}"#
        ),
        w(&[
            ("devices/ctr/devices.deny", "c 1:3 m"),
            ("devices/ctr/devices.deny", "c 1:5 rwm"),
            ("devices/ctr/devices.allow", "c 1:9 rwm"),
        ])
    );
}

#[test]
fn v2_oom_notifier_counts_new_oom_events() {
    let f = fake_v2(&["memory.events"]);
    let events = f.leaf("").join("memory.events");
    std::fs::write(&events, "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n").expect("write");
    let mut n = f.cg.oom_notifier().expect("notifier");
    // A regular file never signals POLLPRI: each wait re-reads the counter after its timeout.
    assert_eq!(n.wait(std::time::Duration::from_millis(1)).expect("wait"), 0);
    std::fs::write(&events, "low 0\nhigh 0\nmax 9\noom 3\noom_kill 2\n").expect("write");
    assert_eq!(n.wait(std::time::Duration::from_millis(1)).expect("wait"), 2);
    assert_eq!(n.wait(std::time::Duration::from_millis(1)).expect("wait"), 0);
}

#[test]
fn a_pure_v2_hierarchy_is_the_cgroup_mount_itself_and_hybrid_ones_are_directories() {
    // Whatever the v2 mount point is called (/sys/fs/cgroup on a real host, a temp dir here),
    // a container's cgroup mount shows the v2 files at its top, as runc and crun mount it.
    let v2 = fake_v2(&[]);
    let names: Vec<String> = v2.cg.mounts().into_iter().map(|m| m.name).collect();
    assert_eq!(names, [""]);
    let hybrid = fake_hybrid(&[("memory", &["memory.limit_in_bytes"])]);
    let mut names: Vec<String> = hybrid.cg.mounts().into_iter().map(|m| m.name).collect();
    names.sort();
    assert_eq!(names, ["memory", "unified"]);
}
