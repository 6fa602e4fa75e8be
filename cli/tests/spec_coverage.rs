//! Spec coverage (issue 15): every field of config.json the Linux runtime spec defines is
//! either applied, as seen from inside the container (or by the hooks and the cgroup it
//! gets), or refused with an error that names it. The sections for other operating systems
//! (`windows`, `solaris`, `vm`, `zos`, `freebsd`, and the Windows-only `process.commandLine`
//! and `process.user.username`) are out of scope.
//!
//! [`FIELDS`] lists the spec's fields as JSON pointers (`*` for any array index or map key);
//! every one must be covered by a case of [`cases`], so a field added to the list without a
//! case fails the test. A case changes `test_support`'s default spec and says what shows
//! that the change took effect, or which error refuses it.

mod common;

use std::io::Read;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{Guard, ocirun};
use serde_json::{Value, json};
use test_support::{Bundle, pure_v2, require_prerequisites, unique_id};

/// Every field of the Linux runtime spec's config.json (runtime-spec 1.3: config.md and
/// config-linux.md), as a JSON pointer.
const FIELDS: &[&str] = &[
    "/ociVersion",
    "/root/path",
    "/root/readonly",
    "/mounts/*/destination",
    "/mounts/*/source",
    "/mounts/*/type",
    "/mounts/*/options",
    "/mounts/*/uidMappings",
    "/mounts/*/gidMappings",
    "/process/terminal",
    "/process/consoleSize/height",
    "/process/consoleSize/width",
    "/process/cwd",
    "/process/env",
    "/process/args",
    "/process/user/uid",
    "/process/user/gid",
    "/process/user/umask",
    "/process/user/additionalGids",
    "/process/capabilities/bounding",
    "/process/capabilities/effective",
    "/process/capabilities/inheritable",
    "/process/capabilities/permitted",
    "/process/capabilities/ambient",
    "/process/rlimits/*/type",
    "/process/rlimits/*/soft",
    "/process/rlimits/*/hard",
    "/process/noNewPrivileges",
    "/process/apparmorProfile",
    "/process/oomScoreAdj",
    "/process/selinuxLabel",
    "/process/ioPriority/class",
    "/process/ioPriority/priority",
    "/process/scheduler/policy",
    "/process/scheduler/nice",
    "/process/scheduler/priority",
    "/process/scheduler/flags",
    "/process/scheduler/runtime",
    "/process/scheduler/deadline",
    "/process/scheduler/period",
    "/process/execCPUAffinity/initial",
    "/process/execCPUAffinity/final",
    "/hostname",
    "/domainname",
    "/hooks/prestart/*/path",
    "/hooks/prestart/*/args",
    "/hooks/prestart/*/env",
    "/hooks/prestart/*/timeout",
    "/hooks/createRuntime/*/path",
    "/hooks/createRuntime/*/args",
    "/hooks/createRuntime/*/env",
    "/hooks/createRuntime/*/timeout",
    "/hooks/createContainer/*/path",
    "/hooks/createContainer/*/args",
    "/hooks/createContainer/*/env",
    "/hooks/createContainer/*/timeout",
    "/hooks/startContainer/*/path",
    "/hooks/startContainer/*/args",
    "/hooks/startContainer/*/env",
    "/hooks/startContainer/*/timeout",
    "/hooks/poststart/*/path",
    "/hooks/poststart/*/args",
    "/hooks/poststart/*/env",
    "/hooks/poststart/*/timeout",
    "/hooks/poststop/*/path",
    "/hooks/poststop/*/args",
    "/hooks/poststop/*/env",
    "/hooks/poststop/*/timeout",
    "/annotations",
    "/linux/namespaces/*/type",
    "/linux/namespaces/*/path",
    "/linux/uidMappings/*/containerID",
    "/linux/uidMappings/*/hostID",
    "/linux/uidMappings/*/size",
    "/linux/gidMappings/*/containerID",
    "/linux/gidMappings/*/hostID",
    "/linux/gidMappings/*/size",
    "/linux/timeOffsets/*/secs",
    "/linux/timeOffsets/*/nanosecs",
    "/linux/devices/*/type",
    "/linux/devices/*/path",
    "/linux/devices/*/major",
    "/linux/devices/*/minor",
    "/linux/devices/*/fileMode",
    "/linux/devices/*/uid",
    "/linux/devices/*/gid",
    "/linux/netDevices/*",
    "/linux/netDevices/*/name",
    "/linux/cgroupsPath",
    "/linux/resources/devices/*/allow",
    "/linux/resources/devices/*/type",
    "/linux/resources/devices/*/major",
    "/linux/resources/devices/*/minor",
    "/linux/resources/devices/*/access",
    "/linux/resources/memory/limit",
    "/linux/resources/memory/reservation",
    "/linux/resources/memory/swap",
    "/linux/resources/memory/kernel",
    "/linux/resources/memory/kernelTCP",
    "/linux/resources/memory/swappiness",
    "/linux/resources/memory/disableOOMKiller",
    "/linux/resources/memory/useHierarchy",
    "/linux/resources/memory/checkBeforeUpdate",
    "/linux/resources/cpu/shares",
    "/linux/resources/cpu/quota",
    "/linux/resources/cpu/burst",
    "/linux/resources/cpu/period",
    "/linux/resources/cpu/realtimeRuntime",
    "/linux/resources/cpu/realtimePeriod",
    "/linux/resources/cpu/cpus",
    "/linux/resources/cpu/mems",
    "/linux/resources/cpu/idle",
    "/linux/resources/blockIO/weight",
    "/linux/resources/blockIO/leafWeight",
    "/linux/resources/blockIO/weightDevice/*/major",
    "/linux/resources/blockIO/weightDevice/*/minor",
    "/linux/resources/blockIO/weightDevice/*/weight",
    "/linux/resources/blockIO/weightDevice/*/leafWeight",
    "/linux/resources/blockIO/throttleReadBpsDevice/*/major",
    "/linux/resources/blockIO/throttleReadBpsDevice/*/minor",
    "/linux/resources/blockIO/throttleReadBpsDevice/*/rate",
    "/linux/resources/blockIO/throttleWriteBpsDevice/*/major",
    "/linux/resources/blockIO/throttleWriteBpsDevice/*/minor",
    "/linux/resources/blockIO/throttleWriteBpsDevice/*/rate",
    "/linux/resources/blockIO/throttleReadIOPSDevice/*/major",
    "/linux/resources/blockIO/throttleReadIOPSDevice/*/minor",
    "/linux/resources/blockIO/throttleReadIOPSDevice/*/rate",
    "/linux/resources/blockIO/throttleWriteIOPSDevice/*/major",
    "/linux/resources/blockIO/throttleWriteIOPSDevice/*/minor",
    "/linux/resources/blockIO/throttleWriteIOPSDevice/*/rate",
    "/linux/resources/hugepageLimits/*/pageSize",
    "/linux/resources/hugepageLimits/*/limit",
    "/linux/resources/network/classID",
    "/linux/resources/network/priorities/*/name",
    "/linux/resources/network/priorities/*/priority",
    "/linux/resources/pids/limit",
    "/linux/resources/rdma/*/hcaHandles",
    "/linux/resources/rdma/*/hcaObjects",
    "/linux/resources/unified",
    "/linux/intelRdt/closID",
    "/linux/intelRdt/l3CacheSchema",
    "/linux/intelRdt/memBwSchema",
    "/linux/intelRdt/schemata",
    "/linux/intelRdt/enableCMT",
    "/linux/intelRdt/enableMBM",
    "/linux/intelRdt/enableMonitoring",
    "/linux/sysctl",
    "/linux/seccomp/defaultAction",
    "/linux/seccomp/defaultErrnoRet",
    "/linux/seccomp/architectures",
    "/linux/seccomp/flags",
    "/linux/seccomp/listenerPath",
    "/linux/seccomp/listenerMetadata",
    "/linux/seccomp/syscalls/*/names",
    "/linux/seccomp/syscalls/*/action",
    "/linux/seccomp/syscalls/*/errnoRet",
    "/linux/seccomp/syscalls/*/args/*/index",
    "/linux/seccomp/syscalls/*/args/*/value",
    "/linux/seccomp/syscalls/*/args/*/valueTwo",
    "/linux/seccomp/syscalls/*/args/*/op",
    "/linux/rootfsPropagation",
    "/linux/maskedPaths",
    "/linux/readonlyPaths",
    "/linux/mountLabel",
    "/linux/personality/domain",
    "/linux/personality/flags",
    "/linux/memoryPolicy/mode",
    "/linux/memoryPolicy/nodes",
    "/linux/memoryPolicy/flags",
];

/// What `ocirun run` of a case's bundle gave.
struct Outcome {
    ok: bool,
    out: String,
    err: String,
}

type Edit = Box<dyn Fn(&mut Bundle) + Send + Sync>;
type Check = Box<dyn Fn(&Bundle, &Outcome) -> Result<(), String> + Send + Sync>;
type Custom = Box<dyn Fn() -> Result<(), String> + Send + Sync>;

/// What a case expects.
enum Expect {
    /// The container runs and its output has each of these strings.
    Shows(Vec<String>),
    /// `ocirun run` fails and its error has this string (the field's spec name).
    Refused(&'static str),
    /// The run is judged by a function of the bundle and the outcome.
    Check(Check),
    /// The case runs its own containers (a terminal, an update, a seccomp agent).
    Custom(Custom),
}

/// Some fields, the change to the default spec that sets them, and what shows their effect.
struct Case {
    fields: &'static [&'static str],
    /// The container's shell script.
    script: String,
    edit: Edit,
    expect: Expect,
}

fn case(
    fields: &'static [&'static str],
    script: &str,
    edit: impl Fn(&mut Bundle) + Send + Sync + 'static,
    expect: Expect,
) -> Case {
    Case {
        fields,
        script: script.to_string(),
        edit: Box::new(edit),
        expect,
    }
}

fn shows(want: &[&str]) -> Expect {
    Expect::Shows(want.iter().map(|s| s.to_string()).collect())
}

/// Refused where `refused` (this host lacks what the field needs), else applied as `applied`.
fn host_dependent(refused: bool, field: &'static str, applied: Expect) -> Expect {
    if refused { Expect::Refused(field) } else { applied }
}

/// The path, inside the container, of a cgroup file of `controller` (v1 name `v1`, v2 name `v2`).
fn cg(controller: &str, v1: &str, v2: &str) -> String {
    if pure_v2() {
        format!("/sys/fs/cgroup/{v2}")
    } else {
        format!("/sys/fs/cgroup/{controller}/{v1}")
    }
}

/// `major:minor` of a whole disk of this host (not a zram, loop or ram device).
fn disk() -> (i64, i64) {
    let mut names: Vec<_> = std::fs::read_dir("/sys/block")
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("device").exists())
        .map(|e| e.path())
        .collect();
    names.sort();
    let dev = names
        .first()
        .map(|p| std::fs::read_to_string(p.join("dev")).unwrap())
        .expect("a disk in /sys/block");
    let (major, minor) = dev.trim().split_once(':').unwrap();
    (major.parse().unwrap(), minor.parse().unwrap())
}

/// Whether the host's block I/O controller has cgroup weights (BFQ, or io.weight on v2).
fn blkio_weights() -> bool {
    if pure_v2() {
        std::fs::read_to_string("/sys/fs/cgroup/cgroup.controllers")
            .is_ok_and(|c| c.split_whitespace().any(|c| c == "io"))
    } else {
        Path::new("/sys/fs/cgroup/blkio/blkio.weight").exists()
            || Path::new("/sys/fs/cgroup/blkio/blkio.bfq.weight").exists()
    }
}

/// On a v1 host with realtime group scheduling, gives the test cgroup parent a realtime
/// budget its containers can take a share of (10ms a second each, a few at a time): without
/// one, a container's cgroup can have no realtime runtime and its tasks no realtime policy.
/// The parent, shared by the test containers, keeps it.
fn rt_budget(b: &mut Bundle) {
    let cpu = Path::new("/sys/fs/cgroup/cpu");
    if pure_v2() || !cpu.join("cpu.rt_runtime_us").exists() {
        return;
    }
    let parent = cpu.join(b.cgroups_path().trim_start_matches('/'));
    let parent = parent.parent().unwrap();
    std::fs::create_dir_all(parent).unwrap();
    let file = parent.join("cpu.rt_runtime_us");
    let now: i64 = std::fs::read_to_string(&file).unwrap().trim().parse().unwrap();
    if now < 50000 {
        std::fs::write(&file, "50000").unwrap_or_else(|e| panic!("write {}: {e}", file.display()));
    }
    b.spec["linux"]["resources"]["cpu"]["realtimeRuntime"] = json!(10000);
}

/// Inside the container, the file of the 2MB hugetlb limit.
fn hugetlb_file() -> &'static str {
    if pure_v2() {
        "/sys/fs/cgroup/hugetlb.2MB.max"
    } else if Path::new("/sys/fs/cgroup/hugetlb").is_dir() {
        "/sys/fs/cgroup/hugetlb/hugetlb.2MB.limit_in_bytes"
    } else {
        "/sys/fs/cgroup/unified/hugetlb.2MB.max"
    }
}

fn v1_controller(name: &str) -> bool {
    !pure_v2() && Path::new("/sys/fs/cgroup").join(name).is_dir()
}

/// A tmpfs at `dest` in the container (the default rootfs is read-only).
fn tmpfs(b: &mut Bundle, dest: &str) {
    b.spec["mounts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"destination": dest, "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev"]}));
}

fn cases() -> Vec<Case> {
    let v2 = pure_v2();
    let (disk_major, disk_minor) = disk();
    let disk_id = format!("{disk_major}:{disk_minor}");
    // The test process's ipc namespace, the runtime's own.
    let ipc_path = format!("/proc/{}/ns/ipc", std::process::id());
    let host_ipc = std::fs::read_link(&ipc_path).unwrap().display().to_string();
    let selinux = Path::new("/sys/fs/selinux/enforce").exists();
    let apparmor = Path::new("/sys/kernel/security/apparmor").exists();
    let cpus = std::fs::read_to_string("/sys/devices/system/cpu/online").unwrap();
    let last_cpu = cpus.trim().rsplit([',', '-']).next().unwrap().to_string();

    vec![
        // ---- the bundle, mounts
        case(
            &["/ociVersion"],
            "true",
            |b| b.spec["ociVersion"] = json!("2.0.0"),
            Expect::Refused("ociVersion"),
        ),
        case(
            &["/root/path", "/root/readonly"],
            "cat /in-other-root; touch /probe 2>&1 || true",
            |b| {
                std::fs::rename(b.rootfs(), b.path().join("other")).unwrap();
                std::fs::write(b.path().join("other/in-other-root"), "other root\n").unwrap();
                b.spec["root"] = json!({"path": "other", "readonly": true});
            },
            shows(&["other root\n", "Read-only file system"]),
        ),
        case(
            &[
                "/mounts/*/destination",
                "/mounts/*/source",
                "/mounts/*/type",
                "/mounts/*/options",
            ],
            "cat /mnt/bound/marker; stat -c %a /mnt/tmp; grep ' /mnt/tmp ' /proc/self/mountinfo",
            |b| {
                let src = b.path().join("bind-src");
                std::fs::create_dir(&src).unwrap();
                std::fs::write(src.join("marker"), "bound\n").unwrap();
                std::fs::create_dir_all(b.rootfs().join("mnt/bound")).unwrap();
                std::fs::create_dir_all(b.rootfs().join("mnt/tmp")).unwrap();
                let mounts = b.spec["mounts"].as_array_mut().unwrap();
                mounts.push(
                    json!({"destination": "/mnt/bound", "type": "bind", "source": src, "options": ["rbind", "ro"]}),
                );
                mounts.push(json!({"destination": "/mnt/tmp", "type": "tmpfs", "source": "covtmp",
                                   "options": ["noexec", "mode=0710", "size=1m"]}));
            },
            shows(&["bound\n", "710\n", "noexec", " - tmpfs covtmp "]),
        ),
        case(
            &["/mounts/*/uidMappings", "/mounts/*/gidMappings"],
            // The file root owns on disk shows as owned by the ids disk 0 maps to.
            "stat -c =%u:%g= /mnt/owned",
            |b| {
                let src = b.path().join("bind-src");
                std::fs::create_dir(&src).unwrap();
                std::fs::write(src.join("owned"), "").unwrap();
                b.spec["mounts"].as_array_mut().unwrap().push(json!({
                    "destination": "/mnt", "type": "bind", "source": src, "options": ["bind"],
                    "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
                    "gidMappings": [{"containerID": 0, "hostID": 1001, "size": 1}]
                }));
            },
            shows(&["=1000:1001="]),
        ),
        // ---- process
        case(
            &[
                "/process/terminal",
                "/process/consoleSize/height",
                "/process/consoleSize/width",
            ],
            "",
            |_| {},
            Expect::Custom(Box::new(terminal_case)),
        ),
        case(
            &["/process/cwd", "/process/env", "/process/args"],
            "pwd; echo \"$COVERAGE\"",
            |b| {
                b.spec["process"]["cwd"] = json!("/tmp");
                b.spec["process"]["env"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!("COVERAGE=env-applied"));
            },
            shows(&["/tmp\nenv-applied\n"]),
        ),
        case(
            &[
                "/process/user/uid",
                "/process/user/gid",
                "/process/user/umask",
                "/process/user/additionalGids",
            ],
            "id; umask",
            |b| {
                b.spec["process"]["user"] =
                    json!({"uid": 1000, "gid": 1001, "umask": 23, "additionalGids": [2000, 2001]})
            },
            shows(&["uid=1000 gid=1001 groups=2000,2001\n0027\n"]),
        ),
        // A non-root user's exec keeps bounding, inheritable and ambient, and makes the ambient
        // set its permitted and effective ones; the effective set before exec is what lets
        // the init exec a program only CAP_DAC_OVERRIDE reaches (/priv is root's, mode 0700).
        case(
            &[
                "/process/capabilities/bounding",
                "/process/capabilities/effective",
                "/process/capabilities/inheritable",
                "/process/capabilities/permitted",
                "/process/capabilities/ambient",
            ],
            "grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb)' /proc/self/status",
            |b| {
                let priv_dir = b.rootfs().join("priv");
                std::fs::create_dir(&priv_dir).unwrap();
                std::os::unix::fs::symlink("/bin/busybox", priv_dir.join("sh")).unwrap();
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&priv_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
                let args = b.spec["process"]["args"].as_array().unwrap()[1..].to_vec();
                let mut all = vec![json!("/priv/sh")];
                all.extend(args);
                b.spec["process"]["args"] = json!(all);
                b.spec["process"]["user"] = json!({"uid": 1000, "gid": 1000});
                b.spec["process"]["capabilities"] = json!({
                    "bounding": ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_CHOWN", "CAP_DAC_OVERRIDE"],
                    "effective": ["CAP_DAC_OVERRIDE"],
                    "permitted": ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_DAC_OVERRIDE"],
                    "inheritable": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
                    "ambient": ["CAP_NET_BIND_SERVICE"]
                });
            },
            shows(&[
                "CapInh:\t0000000000000420\n",
                "CapPrm:\t0000000000000400\n",
                "CapEff:\t0000000000000400\n",
                "CapBnd:\t0000000000000423\n",
                "CapAmb:\t0000000000000400\n",
            ]),
        ),
        case(
            &[
                "/process/rlimits/*/type",
                "/process/rlimits/*/soft",
                "/process/rlimits/*/hard",
            ],
            "grep -E 'Max (msgqueue size|open files)' /proc/self/limits | tr -s ' '",
            |b| {
                b.spec["process"]["rlimits"] = json!([
                    {"type": "RLIMIT_MSGQUEUE", "soft": 12345, "hard": 67890},
                    {"type": "RLIMIT_NOFILE", "soft": 321, "hard": 654}
                ])
            },
            shows(&["Max open files 321 654 files", "Max msgqueue size 12345 67890 bytes"]),
        ),
        case(
            &["/process/noNewPrivileges", "/process/oomScoreAdj"],
            "grep NoNewPrivs /proc/self/status; cat /proc/self/oom_score_adj",
            |b| {
                b.spec["process"]["noNewPrivileges"] = json!(true);
                b.spec["process"]["oomScoreAdj"] = json!(321);
            },
            shows(&["NoNewPrivs:\t1\n321\n"]),
        ),
        case(
            &["/process/apparmorProfile"],
            "cat /proc/self/attr/current",
            |b| b.spec["process"]["apparmorProfile"] = json!("unconfined"),
            host_dependent(!apparmor, "process.apparmorProfile", shows(&["unconfined"])),
        ),
        case(
            &["/process/selinuxLabel"],
            "cat /proc/self/attr/current",
            |b| b.spec["process"]["selinuxLabel"] = json!("system_u:system_r:container_t:s0:c1,c2"),
            host_dependent(!selinux, "process.selinuxLabel", shows(&["container_t:s0:c1,c2"])),
        ),
        case(
            &["/process/ioPriority/class", "/process/ioPriority/priority"],
            "ionice",
            |b| b.spec["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_BE", "priority": 6}),
            shows(&["best-effort: prio 6\n"]),
        ),
        // /proc/<pid>/stat field 41 is the policy (3 SCHED_BATCH), 19 the nice value; a child
        // of a SCHED_FLAG_RESET_ON_FORK process has its negative nice reset to 0.
        case(
            &[
                "/process/scheduler/policy",
                "/process/scheduler/nice",
                "/process/scheduler/flags",
            ],
            "cut -d' ' -f19,41 /proc/$$/stat; cat /proc/self/stat | cut -d' ' -f19,41",
            |b| {
                b.spec["process"]["scheduler"] =
                    json!({"policy": "SCHED_BATCH", "nice": -6, "flags": ["SCHED_FLAG_RESET_ON_FORK"]})
            },
            shows(&["-6 3\n0 3\n"]),
        ),
        case(
            &["/process/scheduler/priority"],
            "cut -d' ' -f18,41 /proc/$$/stat",
            |b| {
                b.spec["process"]["scheduler"] = json!({"policy": "SCHED_RR", "priority": 7});
                rt_budget(b);
            },
            // Field 18 is -1 - rt_priority for a realtime task.
            shows(&["-8 2\n"]),
        ),
        // sched_getattr(2) gives the deadline parameters (policy 6 is SCHED_DEADLINE, flag 1
        // SCHED_FLAG_RESET_ON_FORK, without which a deadline task cannot fork).
        case(
            &[
                "/process/scheduler/runtime",
                "/process/scheduler/deadline",
                "/process/scheduler/period",
            ],
            "/schedattr",
            |b| {
                std::fs::copy(common::static_probe("schedattr"), b.rootfs().join("schedattr")).unwrap();
                b.spec["process"]["args"] = json!(["/schedattr"]);
                b.spec["process"]["scheduler"] = json!({"policy": "SCHED_DEADLINE", "runtime": 1000000, "deadline": 5000000, "period": 10000000,
                           "flags": ["SCHED_FLAG_RESET_ON_FORK"]})
            },
            shows(&["policy 6 flags 0x1 nice 0 priority 0 runtime 1000000 deadline 5000000 period 10000000\n"]),
        ),
        // `initial` is the affinity of the process until it is in the container's cgroup,
        // which then gives it `final` (or its cpuset): only its check shows from outside.
        case(
            &["/process/execCPUAffinity/initial"],
            "true",
            |b| b.spec["process"]["execCPUAffinity"] = json!({"initial": "0,4096"}),
            Expect::Refused("process.execCPUAffinity.initial"),
        ),
        case(
            &["/process/execCPUAffinity/final"],
            "grep Cpus_allowed_list /proc/self/status",
            {
                let last = last_cpu.clone();
                move |b| b.spec["process"]["execCPUAffinity"] = json!({"final": last})
            },
            Expect::Shows(vec![format!("Cpus_allowed_list:\t{last_cpu}\n")]),
        ),
        case(
            &["/hostname", "/domainname"],
            "hostname; cat /proc/sys/kernel/domainname",
            |b| {
                b.spec["hostname"] = json!("cov-host");
                b.spec["domainname"] = json!("cov.example");
            },
            shows(&["cov-host\ncov.example\n"]),
        ),
        // ---- hooks, annotations
        case(
            &[
                "/hooks/prestart/*/path",
                "/hooks/prestart/*/args",
                "/hooks/prestart/*/env",
                "/hooks/createRuntime/*/path",
                "/hooks/createRuntime/*/args",
                "/hooks/createRuntime/*/env",
                "/hooks/createContainer/*/path",
                "/hooks/createContainer/*/args",
                "/hooks/createContainer/*/env",
                "/hooks/startContainer/*/path",
                "/hooks/startContainer/*/args",
                "/hooks/startContainer/*/env",
                "/hooks/poststart/*/path",
                "/hooks/poststart/*/args",
                "/hooks/poststart/*/env",
                "/hooks/poststop/*/path",
                "/hooks/poststop/*/args",
                "/hooks/poststop/*/env",
                "/hooks/prestart/*/timeout",
                "/hooks/createRuntime/*/timeout",
                "/hooks/createContainer/*/timeout",
                "/hooks/startContainer/*/timeout",
                "/hooks/poststart/*/timeout",
                "/hooks/poststop/*/timeout",
                "/annotations",
            ],
            "true",
            hooks_edit,
            Expect::Check(Box::new(hooks_check)),
        ),
        // A hook over its timeout is killed and fails create.
        case(
            &["/hooks/createRuntime/*/timeout"],
            "true",
            |b| {
                b.spec["hooks"] =
                    json!({"createRuntime": [{"path": "/bin/sleep", "args": ["sleep", "100"], "timeout": 1}]})
            },
            Expect::Refused("timeout"),
        ),
        // ---- namespaces, ids, time
        case(
            &["/linux/namespaces/*/type", "/linux/namespaces/*/path"],
            "echo pid $$; readlink /proc/self/ns/ipc",
            move |b| {
                for ns in b.spec["linux"]["namespaces"].as_array_mut().unwrap() {
                    if ns["type"] == "ipc" {
                        ns["path"] = json!(ipc_path);
                    }
                }
            },
            Expect::Shows(vec![format!("pid 1\n{host_ipc}\n")]),
        ),
        case(
            &[
                "/linux/uidMappings/*/containerID",
                "/linux/uidMappings/*/hostID",
                "/linux/uidMappings/*/size",
                "/linux/gidMappings/*/containerID",
                "/linux/gidMappings/*/hostID",
                "/linux/gidMappings/*/size",
            ],
            "tr -s ' ' < /proc/self/uid_map; tr -s ' ' < /proc/self/gid_map",
            |b| {
                b.spec["linux"]["namespaces"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"type": "user"}));
                b.spec["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
                b.spec["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 300000, "size": 1000}]);
            },
            shows(&[" 0 200000 65536\n 0 300000 1000\n"]),
        ),
        case(
            &["/linux/timeOffsets/*/secs", "/linux/timeOffsets/*/nanosecs"],
            "tr -s ' ' < /proc/self/timens_offsets",
            |b| {
                b.spec["linux"]["namespaces"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"type": "time"}));
                b.spec["linux"]["timeOffsets"] =
                    json!({"monotonic": {"secs": 86400, "nanosecs": 250}, "boottime": {"secs": 172800}});
            },
            shows(&["monotonic 86400 250\n", "boottime 172800 0\n"]),
        ),
        // ---- devices
        case(
            &[
                "/linux/devices/*/type",
                "/linux/devices/*/path",
                "/linux/devices/*/major",
                "/linux/devices/*/minor",
                "/linux/devices/*/fileMode",
                "/linux/devices/*/uid",
                "/linux/devices/*/gid",
            ],
            "stat -c '%n %F %t:%T %a %u:%g' /dev/covnull /opt/covfifo",
            |b| {
                b.spec["linux"]["devices"] = json!([
                    {"type": "c", "path": "/dev/covnull", "major": 1, "minor": 3, "fileMode": 0o640, "uid": 5, "gid": 6},
                    {"type": "p", "path": "/opt/covfifo", "fileMode": 0o600}
                ]);
                std::fs::create_dir_all(b.rootfs().join("opt")).unwrap();
                b.spec["root"]["readonly"] = json!(false);
            },
            shows(&[
                "/dev/covnull character special file 1:3 640 5:6\n",
                "/opt/covfifo fifo 0:0 600 0:0\n",
            ]),
        ),
        // /dev/kmsg (1:11) opened write-only needs no capability: only the device rule decides.
        case(
            &[
                "/linux/resources/devices/*/allow",
                "/linux/resources/devices/*/type",
                "/linux/resources/devices/*/major",
                "/linux/resources/devices/*/minor",
                "/linux/resources/devices/*/access",
            ],
            "echo ocirun-spec-coverage > /dev/kmsgw && echo wrote; echo x > /dev/kmsgr 2>&1 || echo denied",
            |b| {
                b.spec["linux"]["devices"] = json!([
                    {"type": "c", "path": "/dev/kmsgw", "major": 1, "minor": 11},
                    {"type": "c", "path": "/dev/kmsgr", "major": 1, "minor": 11}
                ]);
                b.spec["linux"]["resources"]["devices"] = json!([
                    {"allow": false, "access": "rwm"},
                    {"allow": true, "type": "c", "major": 1, "minor": 11, "access": "rw"},
                    {"allow": false, "type": "c", "major": 1, "minor": 11, "access": "w"},
                    {"allow": true, "type": "c", "major": 1, "minor": 11, "access": "w"},
                    {"allow": true, "type": "b", "major": 1, "minor": 12, "access": "rwm"}
                ]);
            },
            shows(&["wrote\n"]),
        ),
        case(
            &["/linux/netDevices/*", "/linux/netDevices/*/name"],
            "",
            |_| {},
            Expect::Custom(Box::new(net_device_case)),
        ),
        // ---- cgroups
        case(
            &["/linux/cgroupsPath"],
            "cat /proc/self/cgroup",
            |b| {
                let ns = b.spec["linux"]["namespaces"].as_array_mut().unwrap();
                ns.retain(|n| n["type"] != "cgroup");
            },
            Expect::Check(Box::new(|b, o| {
                let want = b.cgroups_path().to_string();
                if o.ok && o.out.lines().any(|l| l.ends_with(&want)) {
                    Ok(())
                } else {
                    Err(format!("no cgroup {want} in {:?} {:?}", o.out, o.err))
                }
            })),
        ),
        case(
            &[
                "/linux/resources/memory/limit",
                "/linux/resources/memory/reservation",
                "/linux/resources/memory/swap",
            ],
            &format!(
                "cat {} {} {}",
                cg("memory", "memory.limit_in_bytes", "memory.max"),
                cg("memory", "memory.soft_limit_in_bytes", "memory.low"),
                cg("memory", "memory.memsw.limit_in_bytes", "memory.swap.max"),
            ),
            |b| {
                b.spec["linux"]["resources"]["memory"] =
                    json!({"limit": 64 << 20, "reservation": 32 << 20, "swap": 96 << 20})
            },
            Expect::Shows(vec![if v2 {
                format!("{}\n{}\n{}\n", 64 << 20, 32 << 20, 32 << 20)
            } else {
                format!("{}\n{}\n{}\n", 64 << 20, 32 << 20, 96 << 20)
            }]),
        ),
        // Deprecated; ignored with a warning naming it, as by runc and youki (kernels since
        // 5.16 have no kernel memory limit).
        case(
            &["/linux/resources/memory/kernel"],
            "echo ran",
            |b| b.spec["linux"]["resources"]["memory"] = json!({"kernel": 32 << 20}),
            Expect::Check(Box::new(|_, o| {
                if o.ok
                    && o.out == "ran\n"
                    && o.err.contains("warning")
                    && o.err.contains("linux.resources.memory.kernel")
                {
                    Ok(())
                } else {
                    Err(format!("no warning: {:?} {:?}", o.out, o.err))
                }
            })),
        ),
        case(
            &[
                "/linux/resources/memory/kernelTCP",
                "/linux/resources/memory/swappiness",
                "/linux/resources/memory/disableOOMKiller",
            ],
            "cat /sys/fs/cgroup/memory/memory.kmem.tcp.limit_in_bytes /sys/fs/cgroup/memory/memory.swappiness; \
             grep oom_kill_disable /sys/fs/cgroup/memory/memory.oom_control",
            |b| {
                b.spec["linux"]["resources"]["memory"] =
                    json!({"limit": 64 << 20, "kernelTCP": 16 << 20, "swappiness": 17, "disableOOMKiller": true})
            },
            host_dependent(
                v2,
                "linux.resources.memory.kernelTCP",
                Expect::Shows(vec![format!("{}\n17\noom_kill_disable 1\n", 16 << 20)]),
            ),
        ),
        // cgroup v1 on kernels since 6.? is always hierarchical (v2 too): `false` is refused.
        case(
            &["/linux/resources/memory/useHierarchy"],
            "true",
            |b| b.spec["linux"]["resources"]["memory"] = json!({"useHierarchy": false}),
            Expect::Refused("linux.resources.memory.useHierarchy"),
        ),
        case(
            &["/linux/resources/memory/checkBeforeUpdate"],
            "",
            |_| {},
            Expect::Custom(Box::new(check_before_update_case)),
        ),
        case(
            &[
                "/linux/resources/cpu/shares",
                "/linux/resources/cpu/quota",
                "/linux/resources/cpu/burst",
                "/linux/resources/cpu/period",
            ],
            &if v2 {
                "cat /sys/fs/cgroup/cpu.weight /sys/fs/cgroup/cpu.max /sys/fs/cgroup/cpu.max.burst".to_string()
            } else {
                "cd /sys/fs/cgroup/cpu; cat cpu.shares cpu.cfs_quota_us cpu.cfs_burst_us cpu.cfs_period_us".to_string()
            },
            |b| {
                b.spec["linux"]["resources"]["cpu"] =
                    json!({"shares": 512, "quota": 30000, "burst": 10000, "period": 100000})
            },
            shows(&[if v2 {
                "20\n30000 100000\n10000\n"
            } else {
                "512\n30000\n10000\n100000\n"
            }]),
        ),
        // An idle cgroup gets the minimum weight, whatever its shares.
        case(
            &["/linux/resources/cpu/idle"],
            &format!("cat {}", cg("cpu", "cpu.idle", "cpu.idle")),
            |b| b.spec["linux"]["resources"]["cpu"] = json!({"idle": 1}),
            shows(&["1\n"]),
        ),
        case(
            &[
                "/linux/resources/cpu/realtimePeriod",
                "/linux/resources/cpu/realtimeRuntime",
            ],
            "cat /sys/fs/cgroup/cpu/cpu.rt_period_us /sys/fs/cgroup/cpu/cpu.rt_runtime_us",
            |b| {
                rt_budget(b);
                b.spec["linux"]["resources"]["cpu"] = json!({"realtimePeriod": 500000, "realtimeRuntime": 10000});
            },
            host_dependent(v2, "linux.resources.cpu.realtimeRuntime", shows(&["500000\n10000\n"])),
        ),
        case(
            &["/linux/resources/cpu/cpus", "/linux/resources/cpu/mems"],
            &format!(
                "cat {} {}; grep -E '(Cpus|Mems)_allowed_list' /proc/self/status",
                cg("cpuset", "cpuset.cpus", "cpuset.cpus"),
                cg("cpuset", "cpuset.mems", "cpuset.mems")
            ),
            {
                let last = last_cpu.clone();
                move |b| b.spec["linux"]["resources"]["cpu"] = json!({"cpus": last, "mems": "0"})
            },
            Expect::Shows(vec![format!(
                "{last_cpu}\n0\nCpus_allowed_list:\t{last_cpu}\nMems_allowed_list:\t0\n"
            )]),
        ),
        case(
            &["/linux/resources/pids/limit"],
            &format!("cat {}", cg("pids", "pids.max", "pids.max")),
            |b| b.spec["linux"]["resources"]["pids"] = json!({"limit": 42}),
            shows(&["42\n"]),
        ),
        case(
            &["/linux/resources/blockIO/weight"],
            &format!("cat {}", cg("blkio", "blkio.weight", "io.weight")),
            |b| b.spec["linux"]["resources"]["blockIO"] = json!({"weight": 300}),
            host_dependent(!blkio_weights(), "linux.resources.blockIO.weight", shows(&["300"])),
        ),
        case(
            &["/linux/resources/blockIO/leafWeight"],
            "cat /sys/fs/cgroup/blkio/blkio.leaf_weight",
            |b| b.spec["linux"]["resources"]["blockIO"] = json!({"leafWeight": 300}),
            host_dependent(
                v2 || !Path::new("/sys/fs/cgroup/blkio/blkio.leaf_weight").exists(),
                "linux.resources.blockIO.leafWeight",
                shows(&["300\n"]),
            ),
        ),
        case(
            &[
                "/linux/resources/blockIO/weightDevice/*/major",
                "/linux/resources/blockIO/weightDevice/*/minor",
                "/linux/resources/blockIO/weightDevice/*/weight",
                "/linux/resources/blockIO/weightDevice/*/leafWeight",
            ],
            &format!("cat {}", cg("blkio", "blkio.weight_device", "io.bfq.weight")),
            move |b| {
                b.spec["linux"]["resources"]["blockIO"] = json!({"weightDevice": [{"major": disk_major, "minor": disk_minor, "weight": 300, "leafWeight": 200}]})
            },
            host_dependent(
                v2 || !Path::new("/sys/fs/cgroup/blkio/blkio.weight_device").exists(),
                if v2 {
                    "linux.resources.blockIO.leafWeight"
                } else {
                    "linux.resources.blockIO.weightDevice"
                },
                Expect::Shows(vec![format!("{disk_id} 300")]),
            ),
        ),
        case(
            &[
                "/linux/resources/blockIO/throttleReadBpsDevice/*/major",
                "/linux/resources/blockIO/throttleReadBpsDevice/*/minor",
                "/linux/resources/blockIO/throttleReadBpsDevice/*/rate",
                "/linux/resources/blockIO/throttleWriteBpsDevice/*/major",
                "/linux/resources/blockIO/throttleWriteBpsDevice/*/minor",
                "/linux/resources/blockIO/throttleWriteBpsDevice/*/rate",
                "/linux/resources/blockIO/throttleReadIOPSDevice/*/major",
                "/linux/resources/blockIO/throttleReadIOPSDevice/*/minor",
                "/linux/resources/blockIO/throttleReadIOPSDevice/*/rate",
                "/linux/resources/blockIO/throttleWriteIOPSDevice/*/major",
                "/linux/resources/blockIO/throttleWriteIOPSDevice/*/minor",
                "/linux/resources/blockIO/throttleWriteIOPSDevice/*/rate",
            ],
            &if v2 {
                "cat /sys/fs/cgroup/io.max".to_string()
            } else {
                "cd /sys/fs/cgroup/blkio; for f in read_bps write_bps read_iops write_iops; do cat blkio.throttle.${f}_device; done"
                    .to_string()
            },
            move |b| {
                let t = |rate: u64| json!([{"major": disk_major, "minor": disk_minor, "rate": rate}]);
                b.spec["linux"]["resources"]["blockIO"] = json!({
                    "throttleReadBpsDevice": t(1048576), "throttleWriteBpsDevice": t(2097152),
                    "throttleReadIOPSDevice": t(1000), "throttleWriteIOPSDevice": t(2000)
                });
            },
            Expect::Shows(vec![if v2 {
                format!("{disk_id} rbps=1048576 wbps=2097152 riops=1000 wiops=2000")
            } else {
                format!("{disk_id} 1048576\n{disk_id} 2097152\n{disk_id} 1000\n{disk_id} 2000\n")
            }]),
        ),
        // hugetlb is in whichever hierarchy has it: the cgroup2 one on a hybrid host.
        case(
            &[
                "/linux/resources/hugepageLimits/*/pageSize",
                "/linux/resources/hugepageLimits/*/limit",
            ],
            &format!("cat {}", hugetlb_file()),
            |b| b.spec["linux"]["resources"]["hugepageLimits"] = json!([{"pageSize": "2MB", "limit": 4 << 21}]),
            Expect::Shows(vec![format!("{}\n", 4 << 21)]),
        ),
        case(
            &["/linux/resources/network/classID"],
            "cat /sys/fs/cgroup/net_cls/net_cls.classid",
            |b| b.spec["linux"]["resources"]["network"] = json!({"classID": 1048577}),
            host_dependent(
                !v1_controller("net_cls"),
                "linux.resources.network.classID",
                shows(&["1048577\n"]),
            ),
        ),
        case(
            &[
                "/linux/resources/network/priorities/*/name",
                "/linux/resources/network/priorities/*/priority",
            ],
            "grep '^lo ' /sys/fs/cgroup/net_prio/net_prio.ifpriomap",
            |b| b.spec["linux"]["resources"]["network"] = json!({"priorities": [{"name": "lo", "priority": 7}]}),
            host_dependent(
                !v1_controller("net_prio"),
                "linux.resources.network.priorities",
                shows(&["lo 7\n"]),
            ),
        ),
        // No RDMA device on this host (nor, here, an rdma controller).
        case(
            &[
                "/linux/resources/rdma/*/hcaHandles",
                "/linux/resources/rdma/*/hcaObjects",
            ],
            "true",
            |b| b.spec["linux"]["resources"]["rdma"] = json!({"mlx5_0": {"hcaHandles": 3, "hcaObjects": 100}}),
            Expect::Refused("linux.resources.rdma"),
        ),
        case(
            &["/linux/resources/unified"],
            "cat /sys/fs/cgroup/pids.max",
            |b| b.spec["linux"]["resources"]["unified"] = json!({"pids.max": "17"}),
            host_dependent(!v2, "linux.resources.unified", shows(&["17\n"])),
        ),
        case(
            &[
                "/linux/intelRdt/closID",
                "/linux/intelRdt/l3CacheSchema",
                "/linux/intelRdt/memBwSchema",
                "/linux/intelRdt/schemata",
                "/linux/intelRdt/enableCMT",
                "/linux/intelRdt/enableMBM",
                "/linux/intelRdt/enableMonitoring",
            ],
            "true",
            |b| {
                b.spec["linux"]["intelRdt"] = json!({
                    "closID": "cov", "l3CacheSchema": "L3:0=f", "memBwSchema": "MB:0=50",
                    "schemata": ["L2:0=f"], "enableCMT": true, "enableMBM": true, "enableMonitoring": true
                })
            },
            Expect::Refused("linux.intelRdt"),
        ),
        // ---- sysctl, seccomp
        case(
            &["/linux/sysctl"],
            "cat /proc/sys/kernel/shmmni /proc/sys/net/ipv4/ip_unprivileged_port_start",
            |b| {
                b.spec["linux"]["sysctl"] =
                    json!({"kernel.shmmni": "1234", "net/ipv4/ip_unprivileged_port_start": "99"})
            },
            shows(&["1234\n99\n"]),
        ),
        // Default allow; mkdir fails with errnoRet 22 (EINVAL), `kill -USR1` (10) with EPERM
        // and `kill -USR2` (12, matched by a mask of 0xff) with EACCES (13); `kill -0` passes.
        case(
            &[
                "/linux/seccomp/defaultAction",
                "/linux/seccomp/architectures",
                "/linux/seccomp/flags",
                "/linux/seccomp/syscalls/*/names",
                "/linux/seccomp/syscalls/*/action",
                "/linux/seccomp/syscalls/*/errnoRet",
                "/linux/seccomp/syscalls/*/args/*/index",
                "/linux/seccomp/syscalls/*/args/*/value",
                "/linux/seccomp/syscalls/*/args/*/valueTwo",
                "/linux/seccomp/syscalls/*/args/*/op",
            ],
            "mkdir /tmp/x 2>&1; kill -USR1 $$ 2>&1; kill -USR2 $$ 2>&1; kill -0 $$ && echo alive; \
             grep -E '^Seccomp(_filters)?:' /proc/self/status",
            |b| {
                tmpfs(b, "/tmp");
                b.spec["linux"]["seccomp"] = json!({
                    "defaultAction": "SCMP_ACT_ALLOW",
                    "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
                    "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
                    "syscalls": [
                        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 22},
                        {"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
                         "args": [{"index": 1, "value": 10, "op": "SCMP_CMP_EQ"}]},
                        {"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
                         "args": [{"index": 1, "value": 255, "valueTwo": 12, "op": "SCMP_CMP_MASKED_EQ"}]}
                    ]
                });
            },
            shows(&[
                "Invalid argument",
                "Operation not permitted",
                "Permission denied",
                "alive\nSeccomp:\t2\nSeccomp_filters:\t1\n",
            ]),
        ),
        // Default ERRNO with its own errno (ENOTTY, 25): every syscall but mkdir{,at} allowed.
        case(
            &["/linux/seccomp/defaultErrnoRet"],
            "mkdir /tmp/y 2>&1; echo done",
            |b| {
                tmpfs(b, "/tmp");
                let allowed: Vec<String> = common::syscall_names()
                    .into_iter()
                    .filter(|n| n != "mkdir" && n != "mkdirat")
                    .collect();
                b.spec["linux"]["seccomp"] = json!({
                    "defaultAction": "SCMP_ACT_ERRNO",
                    "defaultErrnoRet": 25,
                    "syscalls": [{"names": allowed, "action": "SCMP_ACT_ALLOW"}]
                });
            },
            shows(&["Inappropriate ioctl for device", "done\n"]),
        ),
        case(
            &["/linux/seccomp/listenerPath", "/linux/seccomp/listenerMetadata"],
            "",
            |_| {},
            Expect::Custom(Box::new(seccomp_listener_case)),
        ),
        // ---- rootfs
        case(
            &["/linux/rootfsPropagation"],
            "awk '$5 == \"/\"' /proc/self/mountinfo",
            |b| b.spec["linux"]["rootfsPropagation"] = json!("shared"),
            shows(&[" shared:"]),
        ),
        case(
            &["/linux/maskedPaths", "/linux/readonlyPaths"],
            "wc -c < /proc/cpuinfo; touch /tmp/x 2>&1 || true",
            |b| {
                tmpfs(b, "/tmp");
                b.spec["linux"]["maskedPaths"] = json!(["/proc/cpuinfo"]);
                b.spec["linux"]["readonlyPaths"] = json!(["/tmp"]);
            },
            shows(&["0\n", "Read-only file system"]),
        ),
        case(
            &["/linux/mountLabel"],
            "true",
            |b| b.spec["linux"]["mountLabel"] = json!("system_u:object_r:container_file_t:s0:c1,c2"),
            host_dependent(!selinux, "linux.mountLabel", shows(&[""])),
        ),
        case(
            &["/linux/personality/domain"],
            "uname -m",
            |b| b.spec["linux"]["personality"] = json!({"domain": "LINUX32"}),
            shows(&["i686\n"]),
        ),
        // The runtime spec defines no personality flag.
        case(
            &["/linux/personality/flags"],
            "true",
            |b| b.spec["linux"]["personality"] = json!({"domain": "LINUX", "flags": ["ADDR_NO_RANDOMIZE"]}),
            Expect::Refused("linux.personality.flags"),
        ),
        case(
            &[
                "/linux/memoryPolicy/mode",
                "/linux/memoryPolicy/nodes",
                "/linux/memoryPolicy/flags",
            ],
            "/mempolicy",
            |b| {
                std::fs::copy(common::static_probe("mempolicy"), b.rootfs().join("mempolicy")).unwrap();
                b.spec["process"]["args"] = json!(["/mempolicy"]);
                b.spec["linux"]["memoryPolicy"] =
                    json!({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES"]});
            },
            shows(&["mode 0x8002 nodes 0x1\n"]),
        ),
    ]
}

/// Runs the bundle's container to its end; its outcome.
fn run(b: &Bundle) -> Outcome {
    b.write();
    let id = unique_id("speccov");
    let _g = Guard(b.state_root(), id.clone());
    let out = ocirun(&b.state_root())
        .args(["run", "--bundle"])
        .arg(b.path())
        .arg(&id)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    Outcome {
        ok: out.status.success(),
        out: String::from_utf8_lossy(&out.stdout).into_owned(),
        err: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs one case; an error says what went wrong.
fn run_case(c: &Case) -> Result<(), String> {
    if let Expect::Custom(f) = &c.expect {
        return f();
    }
    let mut b = Bundle::new(&["sh", "-c", &c.script]);
    (c.edit)(&mut b);
    let o = run(&b);
    match &c.expect {
        Expect::Shows(want) => {
            if !o.ok {
                return Err(format!("failed: {}", o.err.trim()));
            }
            match want.iter().find(|w| !o.out.contains(w.as_str())) {
                Some(w) => Err(format!("output lacks {w:?}: {:?} (stderr {:?})", o.out, o.err)),
                None => Ok(()),
            }
        }
        Expect::Refused(field) => {
            if o.ok {
                Err(format!("accepted, not refused naming {field:?}: {:?}", o.out))
            } else if o.err.contains(field) {
                Ok(())
            } else {
                Err(format!("refused without naming {field:?}: {}", o.err.trim()))
            }
        }
        Expect::Check(check) => check(&b, &o),
        Expect::Custom(_) => unreachable!(),
    }
}

#[test]
fn every_linux_config_field_is_applied_or_refused() {
    require_prerequisites();
    let cases = cases();

    // Every field has a case, and every case is about fields of the list.
    let covered: std::collections::HashSet<&str> = cases.iter().flat_map(|c| c.fields.iter().copied()).collect();
    let missing: Vec<_> = FIELDS.iter().filter(|f| !covered.contains(*f)).collect();
    assert!(missing.is_empty(), "fields without a case: {missing:?}");
    let unknown: Vec<_> = covered.iter().filter(|f| !FIELDS.contains(f)).collect();
    assert!(unknown.is_empty(), "cases of fields not in FIELDS: {unknown:?}");

    // The cases run on a few threads: most of a container's life is waiting on the kernel.
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(c) = cases.get(i) else { break };
                    if let Err(e) = run_case(c) {
                        failures.lock().unwrap().push(format!("{:?}: {e}", c.fields));
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// ---- the cases that run their own containers

/// A terminal with its size: the pty master goes to a console socket.
fn terminal_case() -> Result<(), String> {
    let mut b = Bundle::new(&["sh", "-c", "tty; stty size"]);
    b.spec["process"]["terminal"] = json!(true);
    b.spec["process"]["consoleSize"] = json!({"height": 37, "width": 111});
    b.write();
    let root = b.state_root();
    let id = unique_id("speccov");
    let _g = Guard(root.clone(), id.clone());
    let console = test_support::ConsoleSocket::new();
    let (ok, err) = common::run_status(
        ocirun(&root)
            .args(["run", "--detach", "--console-socket"])
            .arg(console.path())
            .arg("--bundle")
            .arg(b.path())
            .arg(&id),
    );
    if !ok {
        return Err(format!("run --detach failed: {err}"));
    }
    let (master, _) = console.accept_master();
    let out = test_support::read_pty_until(&master, None);
    if out.contains("/dev/pts/0\n37 111\n") {
        Ok(())
    } else {
        Err(format!("terminal output {out:?}"))
    }
}

/// Hooks of every kind record their stdin (the state, with the annotations) and an env
/// variable in a directory bound at the same path in the container, where the
/// createContainer and startContainer hooks run.
fn hooks_edit(b: &mut Bundle) {
    let dir = b.path().join("hooks-out");
    std::fs::create_dir(&dir).unwrap();
    let dir = dir.to_str().unwrap().to_string();
    std::fs::create_dir_all(b.rootfs().join(dir.trim_start_matches('/'))).unwrap();
    b.spec["mounts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"destination": dir, "type": "bind", "source": dir, "options": ["rbind", "rw"]}));
    let mut hooks = serde_json::Map::new();
    for kind in HOOK_KINDS {
        let script = format!("{{ cat; echo; echo \"$COV_ENV\"; }} > {dir}/{kind}");
        hooks.insert(
            kind.to_string(),
            json!([{"path": "/bin/sh", "args": ["sh", "-c", script], "env": [format!("COV_ENV=env-of-{kind}")], "timeout": 20}]),
        );
    }
    b.spec["hooks"] = Value::Object(hooks);
    b.spec["annotations"] = json!({"org.ocirun.coverage": "annotated"});
}

const HOOK_KINDS: [&str; 6] = [
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

fn hooks_check(b: &Bundle, o: &Outcome) -> Result<(), String> {
    if !o.ok {
        return Err(format!("failed: {}", o.err));
    }
    for kind in HOOK_KINDS {
        let path = b.path().join("hooks-out").join(kind);
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{kind} hook did not run: {e}"))?;
        let (state, env) = text.split_once('\n').unwrap_or((&text, ""));
        let state: Value = serde_json::from_str(state).map_err(|e| format!("{kind} state {text:?}: {e}"))?;
        if state["annotations"]["org.ocirun.coverage"] != "annotated" {
            return Err(format!("{kind} hook's state lacks the annotation: {state}"));
        }
        if env.trim() != format!("env-of-{kind}") {
            return Err(format!("{kind} hook's env: {env:?}"));
        }
    }
    Ok(())
}

/// One end of a host veth pair moves into the container under its new name; the kernel
/// destroys the pair with the network namespace.
fn net_device_case() -> Result<(), String> {
    let host_name = format!("cov{}", std::process::id() % 1_000_000);
    struct Link(String);
    impl Drop for Link {
        fn drop(&mut self) {
            let _ = std::process::Command::new("ip").args(["link", "del", &self.0]).output();
        }
    }
    let status = std::process::Command::new("ip")
        .args([
            "link",
            "add",
            &host_name,
            "type",
            "veth",
            "peer",
            "name",
            &format!("{host_name}p"),
        ])
        .status()
        .map_err(|e| format!("run ip: {e}"))?;
    if !status.success() {
        return Err(format!("ip link add {host_name} failed"));
    }
    let _link = Link(format!("{host_name}p"));
    let mut b = Bundle::new(&["sh", "-c", "ip -o link show covinner"]);
    b.spec["linux"]["netDevices"] = json!({ host_name.as_str(): {"name": "covinner"} });
    let o = run(&b);
    if !o.ok {
        return Err(format!("failed: {}", o.err));
    }
    if !o.out.contains("covinner") {
        return Err(format!("no covinner in the container: {:?}", o.out));
    }
    Ok(())
}

/// `checkBeforeUpdate` refuses an update below the usage.
fn check_before_update_case() -> Result<(), String> {
    let mut b = Bundle::new(&["sleep", "1000"]);
    b.spec["linux"]["resources"]["memory"] = json!({"limit": 256 << 20, "checkBeforeUpdate": true});
    b.write();
    let root = b.state_root();
    let id = unique_id("speccov");
    let _g = Guard(root.clone(), id.clone());
    let (ok, err) = common::run_status(
        ocirun(&root)
            .args(["run", "--detach", "--bundle"])
            .arg(b.path())
            .arg(&id),
    );
    if !ok {
        return Err(format!("run --detach failed: {err}"));
    }
    let resources = b.path().join("resources.json");
    std::fs::write(
        &resources,
        json!({"memory": {"limit": 4096, "checkBeforeUpdate": true}}).to_string(),
    )
    .unwrap();
    let out = ocirun(&root)
        .args(["update", "-r"])
        .arg(&resources)
        .arg(&id)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        return Err("an update below the usage passed".into());
    }
    if !err.contains("usage") {
        return Err(format!("update refused without naming the usage: {err}"));
    }
    Ok(())
}

/// A seccomp agent gets the listener metadata; the notified mkdir fails once it hangs up.
fn seccomp_listener_case() -> Result<(), String> {
    let mut b = Bundle::new(&["sh", "-c", "mkdir /tmp/x 2>&1; echo done"]);
    tmpfs(&mut b, "/tmp");
    let sock = b.path().join("agent.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    b.spec["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": sock,
        "listenerMetadata": "cov-metadata",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]
    });
    let agent = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut msg = String::new();
        // The seccomp fd comes as SCM_RIGHTS; not received, the kernel closes it.
        stream.read_to_string(&mut msg).unwrap();
        msg
    });
    let o = run(&b);
    let msg = agent.join().map_err(|_| "the agent panicked".to_string())?;
    if !o.ok {
        return Err(format!("failed: {}", o.err));
    }
    let state: Value = serde_json::from_str(&msg).map_err(|e| format!("agent message {msg:?}: {e}"))?;
    if state["metadata"] != "cov-metadata" {
        return Err(format!("metadata not sent: {state}"));
    }
    if !o.out.contains("Function not implemented") || !o.out.contains("done") {
        return Err(format!("container output {:?}", o.out));
    }
    Ok(())
}
