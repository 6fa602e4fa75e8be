//! End-to-end tests of runtime-spec fields runc and youki accept and ocirun refused or ignored
//! (issue 15): each reads its effect from inside the container or checks the error text.

mod common;

use common::{Guard, ocirun, run_ok};
use serde_json::json;
use test_support::{Bundle, require_prerequisites, unique_id};

/// Runs the bundle's container to its end with `ocirun run`; returns (exit code, stdout, stderr).
fn run(b: &Bundle, prefix: &str, global: &[&str]) -> (Option<i32>, String, String) {
    b.write();
    let id = unique_id(prefix);
    let _g = Guard(b.state_root(), id.clone());
    let out = ocirun(&b.state_root())
        .args(global)
        .args(["run", "--bundle"])
        .arg(b.path())
        .arg(&id)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn memory_kernel_warns_and_the_container_runs() {
    require_prerequisites();
    let mut b = Bundle::new(&["cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes"]);
    b.spec["linux"]["resources"]["memory"] = json!({"limit": 67108864, "kernel": 33554432});
    let log = b.path().join("ocirun.log");
    let log_arg = log.to_str().unwrap().to_string();
    let (code, out, err) = run(&b, "kmem", &["--log", &log_arg]);
    assert_eq!(code, Some(0), "{err}");
    // The rest of the memory resources is applied.
    assert_eq!(out.trim(), "67108864");
    // With --log, runc's warnings go to the log file only; without, to stderr.
    assert!(!err.contains("linux.resources.memory.kernel"), "{err}");
    let (code, _, plain) = run(&b, "kmem", &[]);
    assert_eq!(code, Some(0), "{plain}");
    assert!(
        plain.contains("warning") && plain.contains("linux.resources.memory.kernel"),
        "{plain}"
    );
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("level=warning") && logged.contains("linux.resources.memory.kernel"),
        "{logged}"
    );
}

/// A host process in a namespace of its own (`unshare`), killed when dropped.
struct NsHolder(std::process::Child);

impl NsHolder {
    /// A holder of a new namespace of `kind` (its /proc/<pid>/ns name: "uts", "net", ...).
    fn new(kind: &str) -> NsHolder {
        let flag = if kind == "mnt" {
            "--mount".to_string()
        } else {
            format!("--{kind}")
        };
        let child = std::process::Command::new("unshare")
            .args([flag.as_str(), "sleep", "1000"])
            .spawn()
            .expect("run unshare");
        let holder = NsHolder(child);
        // unshare execs sleep once the namespace is made.
        let ours = std::fs::read_link(format!("/proc/self/ns/{kind}")).unwrap();
        while std::fs::read_link(holder.ns_path(kind)).ok().as_ref() == Some(&ours) {
            std::thread::yield_now();
        }
        holder
    }

    fn ns_path(&self, ns: &str) -> String {
        format!("/proc/{}/ns/{ns}", self.0.id())
    }
}

impl Drop for NsHolder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn hostname_is_set_in_a_uts_namespace_joined_by_path() {
    require_prerequisites();
    let holder = NsHolder::new("uts");
    let mut b = Bundle::new(&["hostname"]);
    b.spec["hostname"] = json!("joined-uts");
    b.spec["linux"]["namespaces"] = json!([{"type": "pid"}, {"type": "ipc"}, {"type": "mount"},
        {"type": "uts", "path": holder.ns_path("uts")}]);
    let (code, out, err) = run(&b, "utsjoin", &[]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out.trim(), "joined-uts");
    // The name was set in the namespace joined, not in a new one.
    let seen = std::process::Command::new("nsenter")
        .args(["-t", &holder.0.id().to_string(), "-u", "hostname"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&seen.stdout).trim(), "joined-uts");
}

#[test]
fn scheduler_flags_take_the_runtime_specs_names() {
    require_prerequisites();
    // Field 19 of stat is the nice value: a child of the init, under reset-on-fork, starts at
    // 0; the init keeps -5 (busybox's sh execs its last command in its own process).
    let mut b = Bundle::new(&[
        "sh",
        "-c",
        "cut -d' ' -f19 /proc/self/stat; cut -d' ' -f19 /proc/1/stat",
    ]);
    b.spec["process"]["scheduler"] = json!({"policy": "SCHED_OTHER", "nice": -5,
        "flags": ["SCHED_FLAG_RESET_ON_FORK"]});
    let (code, out, err) = run(&b, "schedflags", &[]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, "0\n-5\n");
}

#[test]
fn ambient_capability_that_cannot_be_raised_warns() {
    require_prerequisites();
    // As `runc spec` 1.1 writes it: CAP_KILL ambient but not inheritable, which the kernel
    // refuses to raise. CAP_NET_BIND_SERVICE is both, and is raised.
    let mut b = Bundle::new(&["grep", "-E", "^Cap(Inh|Amb)", "/proc/self/status"]);
    b.spec["process"]["capabilities"]["ambient"] = json!(["CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    b.spec["process"]["capabilities"]["inheritable"] = json!(["CAP_NET_BIND_SERVICE"]);
    let (code, out, err) = run(&b, "ambient", &[]);
    assert_eq!(code, Some(0), "{err}");
    // CAP_NET_BIND_SERVICE is 10.
    assert_eq!(out, "CapInh:\t0000000000000400\nCapAmb:\t0000000000000400\n");
    assert!(
        err.contains("warning") && err.contains("raise ambient capability CAP_KILL"),
        "{err}"
    );
}

/// Runs `ocirun <args>` from bash with the payload files open as fds 3 and 5 and fd 4 closed;
/// returns (exit code, stdout, stderr).
fn with_fd_4_closed(root: &std::path::Path, b: &Bundle, args: &str) -> (Option<i32>, String, String) {
    for (fd, text) in [(3, "three"), (5, "five")] {
        std::fs::write(b.path().join(format!("payload{fd}")), text).unwrap();
    }
    let script = format!(
        "exec 3<{dir}/payload3 5<{dir}/payload5 4<&-; exec {bin} --root {root} --log {dir}/log {args}",
        dir = b.path().display(),
        bin = env!("CARGO_BIN_EXE_ocirun"),
        root = root.display(),
    );
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(script)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The container process's report on fds 3, 4 and 5: what 3 and 5 read, whether 4 is open.
const REPORT_FDS: &str = "cat <&3; cat <&5; [ -e /proc/$$/fd/4 ] && echo ' open 4' || echo ' closed 4'";

#[test]
fn preserve_fds_passes_the_open_ones() {
    require_prerequisites();
    let b = Bundle::new(&["sh", "-c", REPORT_FDS]);
    b.write();
    let id = unique_id("preservefds");
    let _g = Guard(b.state_root(), id.clone());
    let run = format!("run --preserve-fds 3 -b {} {id}", b.path().display());
    let (code, out, err) = with_fd_4_closed(&b.state_root(), &b, &run);
    assert_eq!(code, Some(0), "{err}");
    // fd 4 stays closed: not the runtime's log file, nor anything else it opened.
    assert_eq!(out, "threefive closed 4\n");

    // exec passes the open ones too.
    let b = Bundle::new(&["sleep", "1000"]);
    b.write();
    let id = unique_id("preservefdsexec");
    let _g = Guard(b.state_root(), id.clone());
    common::run_detached(ocirun(&b.state_root()).args(["run", "-d", "-b"]).arg(b.path()).arg(&id));
    let exec = format!("exec --preserve-fds 3 {id} sh -c \"{REPORT_FDS}\"");
    let (code, out, err) = with_fd_4_closed(&b.state_root(), &b, &exec);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, "threefive closed 4\n");
}

#[test]
fn fifo_devices_get_a_node_and_no_cgroup_rule() {
    require_prerequisites();
    // The node's type, mode and owner, and a message through it.
    let check = "ls -ln /dev/fifo0 | cut -c1-10; stat -c '%u:%g' /dev/fifo0; \
                 (echo through > /dev/fifo0 &); cat /dev/fifo0";
    let fifo = json!([{"path": "/dev/fifo0", "type": "p", "major": 8, "minor": 666,
                       "fileMode": 0o646, "uid": 1, "gid": 2}]);
    let mut b = Bundle::new(&["sh", "-c", check]);
    b.spec["linux"]["devices"] = fifo.clone();
    let (code, out, err) = run(&b, "fifo", &[]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, "prw-r--rw-\n1:2\nthrough\n");

    // In a new user namespace too, where device nodes are bound from the host: a fifo is made.
    let mut b = Bundle::new(&["sh", "-c", check]);
    b.spec["linux"]["devices"] = fifo;
    b.spec["linux"]["namespaces"] =
        json!([{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "user"}]);
    b.spec["mounts"] = json!([{"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=755"]}]);
    b.map_ids_to(100000);
    let (code, out, err) = run(&b, "fifous", &[]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, "prw-r--rw-\n1:2\nthrough\n");

    // A device cgroup rule of type p is no rule the kernel knows: refused, naming the field,
    // as runc refuses it.
    let mut b = Bundle::new(&["true"]);
    b.spec["linux"]["resources"]["devices"] = json!([{"allow": true, "type": "p", "access": "rwm"}]);
    let (code, _, err) = run(&b, "fifocg", &[]);
    assert_ne!(code, Some(0));
    assert!(err.contains("linux.resources.devices"), "{err}");
}

/// A user-namespaced container without a cgroup namespace of its own (Docker's userns-remap
/// with cgroupns=host) gets its cgroup bound at /sys/fs/cgroup like any other container, read
/// only: the runtime cannot clone the directories when the plan compiles (they are made
/// after the clone), so they are bound late or by the init itself. It failed before with
/// "open bind source ... with the runtime's privileges: No such file or directory".
#[test]
fn a_user_namespace_without_a_cgroup_namespace_sees_its_own_cgroup() {
    require_prerequisites();
    let script = "for f in /sys/fs/cgroup/cgroup.procs /sys/fs/cgroup/pids/cgroup.procs; do \
                  [ -f $f ] && grep -x 1 $f && (echo 1 > $f) 2>/dev/null && echo WRITABLE; done; echo done";
    let mut b = Bundle::new(&["sh", "-c", script]);
    b.spec["linux"]["namespaces"] = json!([{"type": "pid"}, {"type": "network"}, {"type": "ipc"},
        {"type": "uts"}, {"type": "mount"}, {"type": "user"}]);
    b.map_ids_to(100000);
    let (code, out, err) = run(&b, "usernocgns", &[]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, "1\ndone\n", "{err}");
}

#[test]
fn early_seccomp_profile_without_close_range() {
    require_prerequisites();
    // Without noNewPrivileges and without CAP_SYS_ADMIN the filter is loaded before the user
    // switch, while the init still has work to do; this one refuses close_range (as
    // runtime-tools' default profile does) and every syscall it does not name.
    let mut b = Bundle::new(&["sh", "-c", "echo ran; grep Seccomp: /proc/self/status"]);
    b.spec["process"]["noNewPrivileges"] = json!(false);
    b.spec["linux"]["seccomp"] = profile_refusing("close_range");
    let (code, out, err) = run(&b, "earlyseccomp", &[]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, "ran\nSeccomp:\t2\n");
}

#[test]
fn early_seccomp_profile_without_recvmsg_in_a_pid_namespace_joined_by_path() {
    require_prerequisites();
    // An init made in a pid namespace it joins waits, after an early-loaded filter, for the
    // runtime's word that the state names it. It reads that word with recv(2) (recvfrom), the
    // call it has always made there, so a profile that refuses recvmsg still runs.
    let holder = NsHolder(
        std::process::Command::new("unshare")
            .args(["--pid", "--fork", "--kill-child", "sleep", "1000"])
            .spawn()
            .expect("run unshare"),
    );
    let children = format!("/proc/{0}/task/{0}/children", holder.0.id());
    let mut sleeper = String::new();
    while sleeper.is_empty() {
        std::thread::yield_now();
        sleeper = std::fs::read_to_string(&children).unwrap().trim().to_string();
    }
    let mut b = Bundle::new(&["sh", "-c", "echo ran"]);
    b.spec["process"]["noNewPrivileges"] = json!(false);
    b.spec["linux"]["namespaces"] = json!([{"type": "pid", "path": format!("/proc/{sleeper}/ns/pid")},
        {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}]);
    b.spec["linux"]["seccomp"] = profile_refusing("recvmsg");
    let (code, out, err) = run(&b, "earlyrecv", &[]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, "ran\n");
}

/// A seccomp profile that allows every syscall of this machine but `refused` (EPERM).
fn profile_refusing(refused: &str) -> serde_json::Value {
    let allowed: Vec<String> = common::syscall_names().into_iter().filter(|n| n != refused).collect();
    assert!(allowed.len() > 300, "{allowed:?}");
    json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": allowed, "action": "SCMP_ACT_ALLOW"}]
    })
}

#[test]
fn memory_policy_is_applied_and_a_missing_node_refused() {
    require_prerequisites();
    let probe = common::static_probe("mempolicy");
    let policy_of = |policy: serde_json::Value| {
        let mut b = Bundle::new(&["/mempolicy"]);
        std::fs::copy(&probe, b.rootfs().join("mempolicy")).unwrap();
        b.spec["linux"]["memoryPolicy"] = policy;
        run(&b, "mempolicy", &[])
    };
    // MPOL_BIND (2) to node 0, with MPOL_F_STATIC_NODES (0x8000).
    let (code, out, err) = policy_of(json!({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES"]}));
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, "mode 0x8002 nodes 0x1\n");
    // MPOL_PREFERRED with no node is the local node: the kernel reports MPOL_LOCAL (4).
    let (code, out, err) = policy_of(json!({"mode": "MPOL_PREFERRED"}));
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, "mode 0x4 nodes 0\n");
    // Without the field, the default policy (0) stays.
    let (code, out, err) = policy_of(json!(null));
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, "mode 0 nodes 0\n");

    // A node this host does not have.
    let possible = std::fs::read_to_string("/sys/devices/system/node/possible").unwrap();
    let last: usize = possible.trim().rsplit(['-', ',']).next().unwrap().parse().unwrap();
    let missing = (last + 1).to_string();
    let (code, _, err) = policy_of(json!({"mode": "MPOL_BIND", "nodes": missing}));
    assert_ne!(code, Some(0));
    assert!(err.contains("linux.memoryPolicy"), "{err}");
    // A mode that needs nodes, without any: refused before anything is made.
    let (code, _, err) = policy_of(json!({"mode": "MPOL_INTERLEAVE"}));
    assert_ne!(code, Some(0));
    assert!(err.contains("linux.memoryPolicy.nodes"), "{err}");
}

/// A veth pair on the host made by a test (this kernel has no dummy driver): the end named
/// `.0` is the one a test moves, its peer `.1` stays on the host. Both are deleted when dropped;
/// an end moved into a container dies with the container's network namespace, and its peer with it.
struct VethLink(String, String);

impl VethLink {
    /// A new pair, both ends up, with the addresses `addrs` (`ip addr add` arguments each) on `.0`.
    fn new(addrs: &[&[&str]]) -> VethLink {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        // At most 15 bytes, unique across the test processes that run at once.
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let pid = std::process::id() % 1_000_000;
        let link = VethLink(format!("ocv{pid}x{n}"), format!("ocp{pid}x{n}"));
        ip(&["link", "add", &link.0, "type", "veth", "peer", "name", &link.1]);
        ip(&["link", "set", "dev", &link.0, "up"]);
        ip(&["link", "set", "dev", &link.1, "up"]);
        for addr in addrs {
            let mut args = vec!["addr", "add"];
            args.extend_from_slice(addr);
            args.extend_from_slice(&["dev", &link.0]);
            ip(&args);
        }
        link
    }

    /// `ip -o addr show` of the moved end on the host, or None when the host has no such device.
    fn on_host(&self) -> Option<String> {
        let out = std::process::Command::new("ip")
            .args(["-o", "addr", "show", "dev", &self.0])
            .output()
            .unwrap();
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

impl Drop for VethLink {
    fn drop(&mut self) {
        for name in [&self.0, &self.1] {
            let _ = std::process::Command::new("ip")
                .args(["link", "del", "dev", name])
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}

/// Runs the host's `ip` and asserts it succeeded.
fn ip(args: &[&str]) {
    let out = std::process::Command::new("ip").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn net_devices_move_into_the_container_with_their_addresses() {
    require_prerequisites();
    // One renamed, one keeping its name. Permanent global addresses follow the device, as
    // runc keeps them; a host-scope one does not.
    let renamed = VethLink::new(&[
        &["10.199.7.3/24"],
        &["fd00:199::3/64", "nodad"],
        &["10.199.8.1/32", "scope", "host"],
    ]);
    let kept = VethLink::new(&[&["10.199.9.5/16"]]);
    let mut b = Bundle::new(&["sh", "-c", "ip -o addr show; ip -o link show"]);
    b.spec["linux"]["netDevices"] = json!({renamed.0.clone(): {"name": "ctr0"}, kept.0.clone(): {}});
    let (code, out, err) = run(&b, "netdev", &[]);
    assert_eq!(code, Some(0), "{err}");
    // `ip -o` lines: "<index>: <name>[@<peer>][:] ...".
    let lines = |dev: &str| -> Vec<&str> {
        out.lines()
            .filter(|l| {
                l.split_whitespace()
                    .nth(1)
                    .is_some_and(|d| d.trim_end_matches(':').split('@').next() == Some(dev))
            })
            .collect()
    };
    let ctr0 = lines("ctr0").join("\n");
    assert!(ctr0.contains("inet 10.199.7.3/24 brd 10.199.7.255"), "{out}");
    assert!(ctr0.contains("inet6 fd00:199::3/64"), "{out}");
    assert!(!ctr0.contains("10.199.8.1"), "{out}");
    assert!(ctr0.contains(",UP"), "the device is set up in the container: {out}");
    let kept_lines = lines(&kept.0).join("\n");
    assert!(kept_lines.contains("inet 10.199.9.5/16"), "{out}");
    assert!(kept_lines.contains(",UP"), "{out}");
    assert!(lines(&renamed.0).is_empty(), "{out}");
    // They left the host; a virtual device dies with the container's network namespace (a
    // veth takes its peer along), as the kernel (and so runc) has it: poll for the kernel's
    // namespace cleanup, which runs after the container's last process is gone.
    assert_eq!(renamed.on_host(), None);
    assert_eq!(kept.on_host(), None);
    let peer_gone = |link: &VethLink| {
        !std::process::Command::new("ip")
            .args(["link", "show", "dev", &link.1])
            .stderr(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap()
            .success()
    };
    while !(peer_gone(&renamed) && peer_gone(&kept)) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn missing_net_device_fails_create_naming_it_and_changes_nothing() {
    require_prerequisites();
    let present = VethLink::new(&[&["10.199.10.2/24"]]);
    let before = present.on_host().expect("the veth end is on the host");
    let missing = "ocnodev0";
    let mut b = Bundle::new(&["true"]);
    // The present one sorts first: it would be moved first if the devices were not all
    // looked up before any is touched.
    b.spec["linux"]["netDevices"] = json!({present.0.clone(): {"name": "eth1"}, missing: {}});
    b.write();
    let id = unique_id("netdevmiss");
    let _g = Guard(b.state_root(), id.clone());
    let err = common::run_err(
        ocirun(&b.state_root())
            .args(["create", "--bundle"])
            .arg(b.path())
            .arg(&id),
    );
    assert!(err.contains("linux.netDevices") && err.contains(missing), "{err}");
    assert!(err.contains("No such device"), "{err}");
    // No container, and the present device untouched: still on the host, up, its address kept.
    let (ok, _) = common::run_status(ocirun(&b.state_root()).args(["state", &id]));
    assert!(!ok, "the failed create left a container");
    let after = present.on_host().expect("the present device stays on the host");
    assert_eq!(after, before);
    let link = std::process::Command::new("ip")
        .args(["-o", "link", "show", "dev", &present.0])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&link.stdout).contains(",UP"));
}

#[test]
fn net_devices_need_a_network_namespace_and_valid_names() {
    require_prerequisites();
    let dev = VethLink::new(&[]);
    let refused = |netdevices: serde_json::Value, namespaces: Option<serde_json::Value>| {
        let mut b = Bundle::new(&["true"]);
        b.spec["linux"]["netDevices"] = netdevices;
        if let Some(ns) = namespaces {
            b.spec["linux"]["namespaces"] = ns;
        }
        let (code, _, err) = run(&b, "netdevbad", &[]);
        assert_ne!(code, Some(0));
        assert!(err.contains("linux.netDevices"), "{err}");
        err
    };
    let err = refused(
        json!({dev.0.clone(): {}}),
        Some(json!([{"type": "pid"}, {"type": "mount"}, {"type": "ipc"}, {"type": "uts"}])),
    );
    assert!(err.contains("network namespace"), "{err}");
    let err = refused(
        json!({dev.0.clone(): {}}),
        Some(json!([{"type": "pid"}, {"type": "mount"}, {"type": "uts"},
            {"type": "network", "path": "/proc/self/ns/net"}])),
    );
    assert!(err.contains("runtime's own network namespace"), "{err}");
    for bad in ["a/b", "has space", "sixteen-bytes-xx", ".."] {
        let err = refused(json!({dev.0.clone(): {"name": bad}}), None);
        assert!(err.contains("invalid network device name"), "{bad}: {err}");
    }
    let err = refused(
        json!({dev.0.clone(): {"name": "eth1"}, "other0": {"name": "eth1"}}),
        None,
    );
    assert!(err.contains("\"eth1\""), "{err}");
    // Nothing was moved.
    assert!(dev.on_host().is_some());
}

#[test]
fn features_lists_net_devices_enabled() {
    let out = common::run_ok(ocirun(std::path::Path::new("/nonexistent")).arg("features"));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["linux"]["netDevices"]["enabled"], json!(true), "{doc}");
}

#[test]
fn every_memory_policy_mode_and_flag_features_lists_works() {
    require_prerequisites();
    let out = common::run_ok(ocirun(std::path::Path::new("/nonexistent")).arg("features"));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let listed = |key: &str| -> Vec<String> {
        doc["linux"]["memoryPolicy"][key]
            .as_array()
            .unwrap_or_else(|| panic!("features lists memoryPolicy.{key}"))
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };
    let cases = listed("modes").into_iter().map(|mode| (mode, None)).chain(
        listed("flags")
            .into_iter()
            .map(|flag| ("MPOL_BIND".to_string(), Some(flag))),
    );
    for (mode, flag) in cases {
        let mut policy = json!({"mode": mode});
        if mode != "MPOL_DEFAULT" && mode != "MPOL_LOCAL" {
            policy["nodes"] = json!("0");
        }
        if let Some(flag) = &flag {
            policy["flags"] = json!([flag]);
        }
        let mut b = Bundle::new(&["true"]);
        b.spec["linux"]["memoryPolicy"] = policy;
        let (code, _, err) = run(&b, "mpolmode", &[]);
        assert_eq!(code, Some(0), "{mode} {flag:?}: {err}");
    }
}

/// The container's init leads a session of its own, with or without a terminal, as runc's
/// does (its nsexec calls setsid): no process outside the container leads its session, which
/// CRIU requires to dump it.
#[test]
fn the_init_leads_its_own_session() {
    require_prerequisites();
    let b = Bundle::new(&["sh", "-c", "read -r stat < /proc/1/stat; set -- $stat; echo $6"]);
    b.write();
    let root = b.state_root();
    let id = unique_id("session");
    let _g = Guard(root.clone(), id.clone());
    let out = run_ok(ocirun(&root).args(["run", "--bundle"]).arg(b.path()).arg(&id));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1");
}

/// A network namespace ocirun makes has its loopback up, as runc's and crun's do (runc's
/// "loopback" network); programs inside talk to 127.0.0.1 with no network configured.
#[test]
fn a_new_network_namespace_has_its_loopback_up() {
    require_prerequisites();
    let b = Bundle::new(&["sh", "-c", "cat /sys/class/net/lo/operstate /sys/class/net/lo/flags"]);
    b.write();
    let root = b.state_root();
    let id = unique_id("loopback");
    let _g = Guard(root.clone(), id.clone());
    let out = run_ok(ocirun(&root).args(["run", "--bundle"]).arg(b.path()).arg(&id));
    let out = String::from_utf8_lossy(&out.stdout);
    let flags = out
        .lines()
        .nth(1)
        .and_then(|f| u32::from_str_radix(f.trim_start_matches("0x"), 16).ok());
    assert!(flags.is_some_and(|f| f & libc::IFF_UP as u32 != 0), "lo is down: {out}");
}

/// Stdio given as the host's /dev/null is the container's own /dev/null inside, as runc
/// reopens it: the process holds no file of the host's mounts (CRIU must find every open file
/// in the container to dump it).
#[test]
fn stdio_on_the_hosts_null_device_is_the_containers_own() {
    require_prerequisites();
    let b = Bundle::new(&[
        "sh",
        "-c",
        "grep mnt_id /proc/self/fdinfo/0 | { read -r k v; echo $v; }; \
         while read -r id parent dev root point rest; do [ $point = /dev ] && echo $id; done </proc/self/mountinfo",
    ]);
    b.write();
    let root = b.state_root();
    let id = unique_id("devnull");
    let _g = Guard(root.clone(), id.clone());
    let out = ocirun(&root)
        .args(["run", "--bundle"])
        .arg(b.path())
        .arg(&id)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(lines[0], lines[1], "stdin is not on the container's /dev mount: {text}");
}

/// A tmpfs the test mounts in a bundle (`shared`), made shared, with a peer bind of it beside
/// (`peer`): a rootfs there shows whatever a container's setup propagates to the host's mounts.
/// Both are detached when dropped.
struct SharedTmpfs {
    mounts: [std::path::PathBuf; 2],
}

impl SharedTmpfs {
    fn new(bundle: &std::path::Path) -> SharedTmpfs {
        let (shared, peer) = (bundle.join("shared"), bundle.join("peer"));
        for dir in [&shared, &peer] {
            std::fs::create_dir(dir).unwrap();
        }
        let mounts = SharedTmpfs {
            mounts: [peer.clone(), shared.clone()],
        };
        let mount = |args: &[&std::ffi::OsStr]| {
            let status = std::process::Command::new("mount").args(args).status().unwrap();
            assert!(status.success(), "mount {args:?}");
        };
        mount(&["-t".as_ref(), "tmpfs".as_ref(), "tmpfs".as_ref(), shared.as_os_str()]);
        mount(&["--make-shared".as_ref(), shared.as_os_str()]);
        mount(&["--bind".as_ref(), shared.as_os_str(), peer.as_os_str()]);
        mounts
    }
}

impl Drop for SharedTmpfs {
    fn drop(&mut self) {
        for m in &self.mounts {
            let _ = std::process::Command::new("umount").arg("-l").arg(m).status();
        }
    }
}

/// The host's mounts a container that shares the runtime's mount namespace could change: every
/// mount at or below `dir`, and `/` (whose propagation runc changes), as mountinfo lines.
fn host_mounts_at(dir: &std::path::Path) -> Vec<String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    info.lines()
        .filter(|l| {
            l.split(' ')
                .nth(4)
                .is_some_and(|m| m == "/" || std::path::Path::new(m).starts_with(dir))
        })
        .map(str::to_owned)
        .collect()
}

/// A bundle whose container shares the runtime's mount namespace: no `mount` in
/// `linux.namespaces` and, as runc requires then, no masked or read-only paths; runc's
/// default mounts (proc, a /dev tmpfs, devpts, shm, mqueue, sysfs, cgroup) and a read-only
/// root. Its rootfs is `shared/rootfs` once the caller has mounted [`SharedTmpfs`] and called
/// [`fill_shared_rootfs`]; `marker` holds `marker`'s text.
fn no_mount_namespace_bundle(args: &[&str]) -> Bundle {
    let mut b = Bundle::new(args);
    let namespaces: Vec<_> = b.spec["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|ns| ns["type"] != "mount")
        .cloned()
        .collect();
    b.spec["linux"]["namespaces"] = json!(namespaces);
    let linux = b.spec["linux"].as_object_mut().unwrap();
    linux.remove("maskedPaths");
    linux.remove("readonlyPaths");
    b.spec["root"]["path"] = json!("shared/rootfs");
    b
}

/// Lays out the busybox rootfs on the shared tmpfs, with a `/marker` file holding `marker`.
fn fill_shared_rootfs(b: &Bundle, marker: &str) {
    let rootfs = b.path().join("shared/rootfs");
    test_support::build_rootfs(&rootfs).unwrap();
    std::fs::write(rootfs.join("marker"), marker).unwrap();
}

#[test]
fn without_a_mount_namespace_the_container_runs_chrooted_and_the_host_mounts_end_as_they_were() {
    require_prerequisites();
    let mut b = no_mount_namespace_bundle(&[]);
    let shared = SharedTmpfs::new(b.path());
    let marker = unique_id("marker");
    fill_shared_rootfs(&b, &marker);
    let root = b.state_root();
    let before = host_mounts_at(b.path());
    let host_mnt_ns = std::fs::read_link("/proc/self/ns/mnt").unwrap();
    let host_path = b.path().join("config.json");

    // run: the rootfs is /, nothing of the host's is reachable by path, the mount namespace is
    // the host's, and the exit code comes back.
    let script = format!(
        "cat /marker; echo; test -e {} && echo host-visible; readlink /proc/self/ns/mnt; \
         touch /rofile 2>/dev/null || echo ro; exit 3",
        host_path.display()
    );
    b.spec["process"]["args"] = json!(["sh", "-c", script]);
    let (code, out, err) = run(&b, "nomnt-run", &[]);
    assert_eq!(code, Some(3), "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [marker.as_str(), host_mnt_ns.to_str().unwrap(), "ro"],
        "{out}\n{err}"
    );
    assert_eq!(host_mounts_at(b.path()), before, "run left the host's mounts changed");

    // create, exec, start, delete: the container's mounts are the host's while it lives, below
    // the rootfs only, and `/` keeps its propagation.
    b.spec["process"]["args"] = json!(["sleep", "1000"]);
    b.write();
    let id = unique_id("nomnt");
    let _g = Guard(root.clone(), id.clone());
    common::run_detached(ocirun(&root).args(["create", "--bundle"]).arg(b.path()).arg(&id));
    let during = host_mounts_at(b.path());
    let rootfs = b.path().join("shared/rootfs");
    for dir in ["proc", "dev", "dev/pts", "sys"] {
        let at = rootfs.join(dir).display().to_string();
        assert!(
            during.iter().any(|l| l.split(' ').nth(4) == Some(&at)),
            "{at} is not in the host's mount table: {during:#?}"
        );
    }
    let slash = |lines: &[String]| lines.iter().find(|l| l.split(' ').nth(4) == Some("/")).cloned();
    assert_eq!(slash(&during), slash(&before), "the host's / changed");
    for m in &before {
        assert!(during.contains(m), "{m} changed while the container lived: {during:#?}");
    }
    run_ok(ocirun(&root).args(["start", &id]));
    let script = format!(
        "cat /marker; echo; test -e {} || echo none; exit 5",
        host_path.display()
    );
    let out = ocirun(&root).args(["exec", &id, "sh", "-c", &script]).output().unwrap();
    assert_eq!(out.status.code(), Some(5), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{marker}\nnone\n"));
    let init = common::state(&root, &id)["pid"].as_i64().unwrap();
    assert_eq!(
        std::fs::read_link(format!("/proc/{init}/root")).unwrap(),
        rootfs,
        "the init is not chrooted into the rootfs"
    );
    run_ok(ocirun(&root).args(["delete", "--force", &id]));
    assert_eq!(
        host_mounts_at(b.path()),
        before,
        "delete left the host's mounts changed"
    );
    drop(shared);
}

#[test]
fn without_a_mount_namespace_masked_and_read_only_paths_are_refused() {
    require_prerequisites();
    for field in ["maskedPaths", "readonlyPaths"] {
        let mut b = no_mount_namespace_bundle(&["true"]);
        b.spec["root"]["path"] = json!("rootfs");
        b.spec["linux"][field] = json!(["/proc/kcore"]);
        let before = host_mounts_at(b.path());
        let (code, _, err) = run(&b, "nomnt-masks", &[]);
        assert_ne!(code, Some(0));
        assert!(
            err.contains(&format!("linux.{field}")) && err.contains("without a private mount namespace"),
            "{err}"
        );
        assert_eq!(host_mounts_at(b.path()), before);
    }
}

#[test]
fn without_a_mount_namespace_a_failed_create_leaves_no_mount() {
    require_prerequisites();
    let mut b = no_mount_namespace_bundle(&["true"]);
    // The rootfs bind, proc and /dev are mounted before this one fails in the init.
    let mounts = b.spec["mounts"].as_array_mut().unwrap();
    mounts.insert(
        2,
        json!({"destination": "/bogus", "type": "ocirun-no-such-fs", "source": "none"}),
    );
    let shared = SharedTmpfs::new(b.path());
    fill_shared_rootfs(&b, "m");
    let root = b.state_root();
    let before = host_mounts_at(b.path());
    b.write();
    let id = unique_id("nomnt-fail");
    let _g = Guard(root.clone(), id.clone());
    let err = common::run_err(ocirun(&root).args(["create", "--bundle"]).arg(b.path()).arg(&id));
    assert!(err.contains("/bogus"), "{err}");
    assert_eq!(host_mounts_at(b.path()), before, "the failed create left mounts");
    assert!(!root.join(&id).exists(), "the failed create left its state");
    drop(shared);
}

#[test]
fn without_a_mount_namespace_delete_force_after_a_killed_create_leaves_no_mount() {
    require_prerequisites();
    let mut b = no_mount_namespace_bundle(&["true"]);
    let shared = SharedTmpfs::new(b.path());
    fill_shared_rootfs(&b, "m");
    // A createRuntime hook that says it runs and then waits: create is killed meanwhile, with
    // every mount of the container made.
    let hook_pid = b.path().join("hook.pid");
    b.spec["hooks"] = json!({"createRuntime": [{"path": "/bin/sh",
        "args": ["sh", "-c", format!("echo $$ > {}.tmp && mv {0}.tmp {0} && exec sleep 1000", hook_pid.display())]}]});
    let root = b.state_root();
    let before = host_mounts_at(b.path());
    b.write();
    let id = unique_id("nomnt-kill");
    let _g = Guard(root.clone(), id.clone());
    let mut create = ocirun(&root)
        .args(["create", "--bundle"])
        .arg(b.path())
        .arg(&id)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut waited = 0;
    while !hook_pid.exists() {
        assert!(create.try_wait().unwrap().is_none(), "create ended before its hook ran");
        waited += 1;
        assert!(waited < 6000, "the createRuntime hook never ran");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let hook: i32 = std::fs::read_to_string(&hook_pid).unwrap().trim().parse().unwrap();
    let rootfs_proc = b.path().join("shared/rootfs/proc").display().to_string();
    assert!(
        host_mounts_at(b.path())
            .iter()
            .any(|l| l.split(' ').nth(4) == Some(&rootfs_proc)),
        "the container's proc is not mounted when its hook runs"
    );
    create.kill().unwrap();
    create.wait().unwrap();
    // SAFETY: kill only sends a signal to the hook's process, which the test made.
    unsafe { libc::kill(hook, libc::SIGKILL) };
    run_ok(ocirun(&root).args(["delete", "--force", &id]));
    assert_eq!(host_mounts_at(b.path()), before, "delete --force left mounts");
    assert!(!root.join(&id).exists());
    drop(shared);
}
