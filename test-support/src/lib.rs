//! Test bundles with a busybox rootfs the tests build themselves, unique ids,
//! and counters of what a container may leak (mounts, cgroups, fds, state dirs).

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};

/// Where Debian's busybox-static puts its binary.
pub const BUSYBOX: &str = "/bin/busybox";

/// Whether the machine can run the end-to-end tests (root, busybox-static).
/// Returns the reason when it cannot, so a test can say why it skips.
pub fn missing_prerequisite() -> Option<String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Some("end-to-end tests need root".into());
    }
    if !Path::new(BUSYBOX).exists() {
        return Some(format!(
            "end-to-end tests need {BUSYBOX} (apt-get install busybox-static)"
        ));
    }
    None
}

/// Panics with the reason when the machine cannot run end-to-end tests: they
/// must never pass silently. `.ci/run` installs what they need.
pub fn require_prerequisites() {
    if let Some(why) = missing_prerequisite() {
        panic!("cannot run end-to-end test: {why}");
    }
}

/// Fails the test unless strace runs: the tests that inject faults or trace ocirun's system
/// calls need it (`.ci/run` installs it).
pub fn require_strace() {
    let runs = std::process::Command::new("strace")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(runs, "strace is needed (apt-get install strace)");
}

/// A unique container id for this test process: `<prefix>-<pid>-<n>`.
pub fn unique_id(prefix: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("{prefix}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// A bundle in a temp dir: a busybox rootfs and a config.json, plus a state root.
pub struct Bundle {
    dir: tempfile::TempDir,
    /// The spec, written by [`Bundle::write`].
    pub spec: Value,
}

/// Lays out a busybox rootfs at `rootfs`: /bin/busybox, a symlink per applet,
/// and the directories a container expects.
pub fn build_rootfs(rootfs: &Path) -> std::io::Result<()> {
    for d in [
        "bin", "sbin", "etc", "proc", "sys", "dev", "tmp", "root", "usr/bin", "var",
    ] {
        std::fs::create_dir_all(rootfs.join(d))?;
    }
    std::fs::copy(BUSYBOX, rootfs.join("bin/busybox"))?;
    let out = std::process::Command::new(BUSYBOX).arg("--list").output()?;
    for applet in String::from_utf8_lossy(&out.stdout).lines() {
        if applet != "busybox" && !applet.is_empty() {
            let _ = symlink("busybox", rootfs.join("bin").join(applet));
        }
    }
    std::fs::write(
        rootfs.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n",
    )?;
    std::fs::write(rootfs.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n")?;
    Ok(())
}

/// runc's default spec with `terminal` off and `args` as given.
pub fn default_spec(args: &[&str]) -> Value {
    json!({
        "ociVersion": "1.2.0",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": args,
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {
                "bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "effective": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "permitted": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "ocirun",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
        ],
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"},
                           {"type": "mount"}, {"type": "cgroup"}],
            "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                            "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
        }
    })
}

/// Docker's default capabilities (`CAP_SYS_CHROOT` and `CAP_SETFCAP` among them, no
/// `CAP_SYS_ADMIN`).
pub const DOCKER_CAPS: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

impl Bundle {
    /// Maps the container's uids and gids 0..65536 to the host's `host_id`.. and makes the
    /// rootfs theirs (`chown -hR`: a symlink is changed itself, never followed), as engines lay
    /// out a user-namespaced container's rootfs. The test adds the user namespace itself.
    pub fn map_ids_to(&mut self, host_id: u32) {
        let map = json!([{"containerID": 0, "hostID": host_id, "size": 65536}]);
        self.spec["linux"]["uidMappings"] = map.clone();
        self.spec["linux"]["gidMappings"] = map;
        let owner = format!("{host_id}:{host_id}");
        let chowned = std::process::Command::new("chown")
            .args(["-hR", &owner])
            .arg(self.rootfs())
            .status()
            .expect("run chown");
        assert!(chowned.success(), "chown -hR {owner} {}", self.rootfs().display());
    }

    /// Gives the process Docker's default capabilities plus `extra` (`--cap-add`), as its
    /// bounding, effective and permitted sets.
    pub fn docker_caps(&mut self, extra: &[&str]) {
        let caps: Vec<&str> = DOCKER_CAPS.iter().chain(extra).copied().collect();
        for set in ["bounding", "effective", "permitted"] {
            self.spec["process"]["capabilities"][set] = json!(caps);
        }
    }

    /// A bundle whose process runs `args`, with runc's default spec otherwise.
    pub fn new(args: &[&str]) -> Bundle {
        let dir = tempfile::Builder::new()
            .prefix("ocirun-test-")
            .tempdir()
            .expect("create a temp dir");
        build_rootfs(&dir.path().join("rootfs")).expect("build the busybox rootfs");
        let mut b = Bundle {
            dir,
            spec: default_spec(args),
        };
        b.set_cgroups_path();
        b
    }

    /// The bundle directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The rootfs directory.
    pub fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    /// A state root private to this bundle.
    pub fn state_root(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn set_cgroups_path(&mut self) {
        let name = self
            .dir
            .path()
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.spec["linux"]["cgroupsPath"] = json!(format!("/{}/{name}", cgroup_parent()));
    }

    /// Writes config.json from [`Bundle::spec`].
    pub fn write(&self) {
        let text = serde_json::to_string_pretty(&self.spec).expect("serialize the spec");
        std::fs::write(self.dir.path().join("config.json"), text).expect("write config.json");
    }

    /// The spec as the library takes it.
    pub fn spec_json(&self) -> String {
        serde_json::to_string(&self.spec).expect("serialize the spec")
    }
}

/// The cgroup under which test containers live: `OCIRUN_TEST_CGROUP`, else `ocirun-test`.
/// Test runs that share a machine at the same time each set their own, so that
/// one run's footprint does not count the other's cgroups.
pub fn cgroup_parent() -> String {
    std::env::var("OCIRUN_TEST_CGROUP").unwrap_or_else(|_| "ocirun-test".into())
}

/// Whether this host's cgroups are pure v2: one cgroup2 hierarchy at /sys/fs/cgroup.
pub fn pure_v2() -> bool {
    Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// The cgroup file that holds what v1 keeps in `v1` and v2 in `v2`, on this host.
pub fn cgroup_file<'a>(v1: &'a str, v2: &'a str) -> &'a str {
    if pure_v2() { v2 } else { v1 }
}

impl Bundle {
    /// The container's cgroup directory that holds `controller`: its v1 hierarchy's, or the
    /// one cgroup directory on a pure v2 host.
    pub fn cgroup_dir(&self, controller: &str) -> PathBuf {
        let base = PathBuf::from("/sys/fs/cgroup");
        let base = if pure_v2() { base } else { base.join(controller) };
        base.join(self.cgroups_path().trim_start_matches('/'))
    }

    /// The container's cgroup directory in every mounted hierarchy, the cgroup2 mount included.
    pub fn cgroup_dirs_everywhere(&self) -> Vec<PathBuf> {
        let rel = self.cgroups_path().trim_start_matches('/').to_string();
        cgroup_mounts().into_iter().map(|m| m.join(&rel)).collect()
    }

    /// Asserts that the container's cgroup directory is gone from every hierarchy.
    pub fn assert_no_cgroup_left(&self) {
        for dir in self.cgroup_dirs_everywhere() {
            assert!(!dir.exists(), "{} left behind", dir.display());
        }
    }

    /// The spec's linux.cgroupsPath.
    pub fn cgroups_path(&self) -> &str {
        self.spec["linux"]["cgroupsPath"].as_str().unwrap_or_default()
    }
}

/// Bundles with resources ocirun must refuse, each with what the error must say: negative
/// or absurd limits, a cgroupsPath with `..`, a controller and a hugepage size this host lacks.
pub fn bad_resource_bundles() -> Vec<(Bundle, &'static str)> {
    let with = |field: &str, value: Value| {
        let mut b = Bundle::new(&["true"]);
        b.spec["linux"]["resources"][field] = value;
        b
    };
    let mut escape = Bundle::new(&["true"]);
    escape.spec["linux"]["cgroupsPath"] = json!("/ocirun-test-escape/../../etc");
    vec![
        (with("memory", json!({"limit": -5})), "linux.resources.memory.limit"),
        (with("pids", json!({"limit": -2})), "linux.resources.pids.limit"),
        (with("cpu", json!({"quota": -20})), "linux.resources.cpu.quota"),
        (with("cpu", json!({"shares": 1u64 << 40})), "linux.resources.cpu.shares"),
        (
            with("memory", json!({"limit": 32 << 20, "swap": 16 << 20})),
            "linux.resources.memory.swap",
        ),
        (
            with("blockIO", json!({"weight": 5000})),
            "linux.resources.blockIO.weight",
        ),
        (escape, "\"..\""),
        (
            with("rdma", json!({"mlx5_0": {"hcaHandles": 2}})),
            // A host with the rdma controller (pure v2 here) lacks the device instead.
            if rdma_controller() {
                "linux.resources.rdma"
            } else {
                "rdma cgroup controller"
            },
        ),
        (
            with("hugepageLimits", json!([{"pageSize": "3MB", "limit": 0}])),
            "linux.resources.hugepageLimits",
        ),
    ]
}

/// A bundle whose init is an allocation over its 32 MiB memory limit (swap limited to the
/// same): `tail` keeps 200 MiB of zeros from a fifo, having no newline to stop at, until the
/// OOM killer's SIGKILL ends it.
pub fn oom_bundle() -> Bundle {
    let mut b = Bundle::new(&[
        "sh",
        "-c",
        "mkfifo /dev/big; head -c 200m /dev/zero > /dev/big & exec tail /dev/big",
    ]);
    b.spec["linux"]["resources"]["memory"] = json!({"limit": 32 << 20, "swap": 32 << 20});
    b
}

/// Whether this host has the rdma cgroup controller.
fn rdma_controller() -> bool {
    let v2 = std::fs::read_to_string("/sys/fs/cgroup/cgroup.controllers").unwrap_or_default();
    v2.split_whitespace().any(|c| c == "rdma") || Path::new("/sys/fs/cgroup/rdma").is_dir()
}

/// The kernel's count of OOM kills in the bundle's memory cgroup.
pub fn oom_kills(b: &Bundle) -> u64 {
    let file = cgroup_file("memory.oom_control", "memory.events");
    let oom = read_trimmed(&b.cgroup_dir("memory"), file);
    oom.lines()
        .find_map(|l| l.strip_prefix("oom_kill "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no oom_kill count in {file}: {oom}"))
}

/// A bundle whose shell, once `/tmp/go` exists in its rootfs, allocates over its 32 MiB
/// memory limit again and again: an OOM after a notifier is registered is certain, untimed.
pub fn oom_on_demand_bundle() -> Bundle {
    let mut b = Bundle::new(&[
        "sh",
        "-c",
        "while true; do [ -e /tmp/go ] && head -c 200m /dev/zero | tail > /dev/null; usleep 10000; done",
    ]);
    b.spec["root"]["readonly"] = json!(false);
    b.spec["linux"]["resources"]["memory"] = json!({"limit": 32 << 20, "swap": 32 << 20});
    b
}

/// Every cgroup mount point of this host (v1 hierarchies and the cgroup2 mount), from mountinfo.
pub fn cgroup_mounts() -> Vec<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").expect("read mountinfo");
    let mounts: Vec<PathBuf> = info
        .lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let fstype = right.split(' ').next()?;
            let mountpoint = left.split(' ').nth(4)?;
            (fstype == "cgroup" || fstype == "cgroup2").then(|| PathBuf::from(mountpoint))
        })
        .collect();
    // A check over no hierarchy would pass without looking.
    assert!(!mounts.is_empty(), "no cgroup hierarchy is mounted");
    mounts
}

/// Whether `pid` is a live process (a zombie waiting for its reaper is dead already).
pub fn alive(pid: i64) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat.rfind(')').and_then(|i| stat[i + 1..].split_whitespace().next());
    state.is_some_and(|s| s != "Z" && s != "X")
}

/// The trimmed contents of `dir/file`, panicking with the path when it cannot be read.
pub fn read_trimmed(dir: &Path, file: &str) -> String {
    let p = dir.join(file);
    std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
        .trim()
        .to_string()
}

/// A bundle whose shell counts as fast as it can into `/tmp/count` of its writable rootfs
/// (renamed into place, so a reader never sees half a number); returns it and that file's host path.
pub fn counter_bundle() -> (Bundle, PathBuf) {
    let mut b = Bundle::new(&[
        "sh",
        "-c",
        "i=0; while true; do i=$((i+1)); echo $i > /tmp/count.new; mv /tmp/count.new /tmp/count; done",
    ]);
    b.spec["root"]["readonly"] = json!(false);
    let count = b.rootfs().join("tmp/count");
    (b, count)
}

/// A counter a container renames into place at `path` (0 before the first one).
pub fn counter(path: &Path) -> u64 {
    match std::fs::read_to_string(path) {
        Ok(s) => s.trim().parse().unwrap_or_else(|e| panic!("counter {s:?}: {e}")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
        Err(e) => panic!("read {}: {e}", path.display()),
    }
}

/// What the test process holds or the host shows, to compare before and after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Footprint {
    /// Open fds of this process.
    pub fds: usize,
    /// Mounts of this process's mount namespace that touch a test bundle (a temp dir named
    /// `ocirun-test-`). Other mounts are the host's business: a container engine on the same
    /// machine mounts and unmounts.
    pub mounts: usize,
    /// Cgroup directories under [`cgroup_parent`] in every hierarchy.
    pub cgroups: usize,
    /// Child processes of this process that still exist (zombies included).
    pub children: usize,
}

/// Counts what a container could leave behind.
pub fn footprint() -> Footprint {
    let count = |p: &str| std::fs::read_dir(p).map(|d| d.count()).unwrap_or(0);
    let tmp = std::env::temp_dir().display().to_string();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo")
        .map(|s| s.lines().filter(|l| l.contains(&tmp) || l.contains("ocirun")).count())
        .unwrap_or(0);
    let mut cgroups = 0;
    if let Ok(hier) = std::fs::read_dir("/sys/fs/cgroup") {
        for h in hier.flatten() {
            let dir = h.path().join(cgroup_parent());
            cgroups += std::fs::read_dir(&dir)
                .map(|d| d.flatten().filter(|e| e.file_type().is_ok_and(|t| t.is_dir())).count())
                .unwrap_or(0);
        }
    }
    let me = std::process::id();
    let children = std::fs::read_dir("/proc")
        .map(|d| {
            d.flatten()
                .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
                .filter(|stat| {
                    // Field 4, after the parenthesised command name, is the parent pid.
                    stat.rfind(')')
                        .and_then(|i| stat[i + 2..].split(' ').nth(1).and_then(|p| p.parse::<u32>().ok()))
                        == Some(me)
                })
                .count()
        })
        .unwrap_or(0);
    Footprint {
        fds: count("/proc/self/fd"),
        mounts,
        cgroups,
        children,
    }
}

/// A unix socket a test listens on for a container's pty master, as runc's `recvtty` does.
pub struct ConsoleSocket {
    dir: tempfile::TempDir,
    listener: std::os::unix::net::UnixListener,
}

impl ConsoleSocket {
    /// Listens on `console.sock` in a new temp dir.
    pub fn new() -> ConsoleSocket {
        let dir = tempfile::Builder::new()
            .prefix("ocirun-console-")
            .tempdir()
            .expect("create a temp dir");
        let listener = std::os::unix::net::UnixListener::bind(dir.path().join("console.sock")).expect("bind");
        ConsoleSocket { dir, listener }
    }

    /// The socket's path, for `--console-socket`.
    pub fn path(&self) -> PathBuf {
        self.dir.path().join("console.sock")
    }

    /// The listening socket.
    pub fn listener(&self) -> &std::os::unix::net::UnixListener {
        &self.listener
    }

    /// Accepts one connection and receives the fd it carries (SCM_RIGHTS) and the message's data.
    /// The runtime may have sent and gone already: the connection waits in the backlog.
    pub fn accept_master(&self) -> (std::os::fd::OwnedFd, String) {
        use std::os::fd::AsFd;
        let (stream, _) = self.listener.accept().expect("accept on the console socket");
        let mut data = [0u8; 4096];
        let mut fds: [Option<std::os::fd::OwnedFd>; 1] = [None];
        let (n, _) = ocirun_sys::socket::recv_with_fds(stream.as_fd(), &mut data, &mut fds)
            .map_err(std::io::Error::from_raw_os_error)
            .expect("recvmsg on the console socket");
        let [fd] = fds;
        let fd = fd.expect("the console socket message carries an fd");
        (fd, String::from_utf8_lossy(&data[..n]).into_owned())
    }
}

impl Default for ConsoleSocket {
    fn default() -> Self {
        ConsoleSocket::new()
    }
}

/// Reads a pty master until `want` appears or the pty closes (every peer fd is gone: EIO);
/// returns what it read, without the `\r` the line discipline adds.
pub fn read_pty_until(master: &std::os::fd::OwnedFd, want: Option<&str>) -> String {
    use std::io::Read;
    let mut file = std::fs::File::from(master.try_clone().expect("dup the pty master"));
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            // EIO: the container's side of the pty is closed.
            Err(e) if e.raw_os_error() == Some(libc::EIO) => break,
            Err(e) => panic!("read the pty master: {e}"),
        }
        if want.is_some_and(|w| String::from_utf8_lossy(&out).replace('\r', "").contains(w)) {
            break;
        }
    }
    String::from_utf8_lossy(&out).replace('\r', "")
}

/// An error and its sources, joined with ": ", as the CLI prints them.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
