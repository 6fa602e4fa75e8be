//! Loading and validating a spec before anything is created.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use namespaces::NamespaceKind;
use oci_spec::OciSpecError;
use oci_spec::runtime::{LinuxResources, Spec};

use crate::{Error, Result, creates_namespace};

/// Reads `config.json` from a bundle directory; a parse error names the JSON path of the bad field.
pub fn load_bundle(bundle: &Path) -> Result<Spec> {
    let path = bundle.join("config.json");
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) => return Err(Error::LoadSpec { path, source: e.into() }),
    };
    // A valid config parses without tracking where the parser is (that tracking allocates a
    // string per key); only a bad one is parsed again, to name the field.
    match serde_json::from_slice(&bytes) {
        Ok(spec) => Ok(spec),
        Err(plain) => match respelled(&bytes, "/process") {
            Some((Ok(spec), _)) => Ok(spec),
            Some((Err(plain), bytes)) => Err(Error::LoadSpec {
                path,
                source: located_error(&bytes, plain),
            }),
            None => Err(Error::LoadSpec {
                path,
                source: located_error(&bytes, plain),
            }),
        },
    }
}

/// Parses a process (`exec --process`), with the runtime spec's names of
/// `scheduler.flags` accepted as in config.json.
pub fn process_from_slice(bytes: &[u8]) -> serde_json::Result<oci_spec::runtime::Process> {
    match serde_json::from_slice(bytes) {
        Ok(process) => Ok(process),
        Err(plain) => match respelled(bytes, "") {
            Some((parsed, _)) => parsed,
            None => Err(plain),
        },
    }
}

/// The runtime spec's names of `process.scheduler.flags` that oci-spec 0.10 spells otherwise,
/// with oci-spec's spelling.
const SCHED_FLAG_SPELLINGS: [(&str, &str); 2] = [
    ("SCHED_FLAG_RESET_ON_FORK", "SCHED_RESET_ON_FORK"),
    ("SCHED_FLAG_DL_OVERRUN", "SCHED_FLAG_D_L_OVERRUN"),
];

/// `bytes`, which failed to parse, parsed again with the spec's names of the scheduler flags
/// of the process at the JSON pointer `process` given oci-spec's spelling; with the bytes of
/// the respelled document, to name a field that still fails. `None` when nothing was respelled.
fn respelled<T: serde::de::DeserializeOwned>(bytes: &[u8], process: &str) -> Option<(serde_json::Result<T>, Vec<u8>)> {
    let mut doc: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    let flags = doc.pointer_mut(&format!("{process}/scheduler/flags"))?.as_array_mut()?;
    let mut changed = false;
    for flag in flags.iter_mut() {
        if let Some((_, ours)) = SCHED_FLAG_SPELLINGS
            .iter()
            .find(|(spec, _)| flag.as_str() == Some(spec))
        {
            *flag = serde_json::Value::from(*ours);
            changed = true;
        }
    }
    if !changed {
        return None;
    }
    let bytes = serde_json::to_vec(&doc).ok()?;
    Some((serde_json::from_value(doc), bytes))
}

/// The error of parsing `bytes` as a spec, with the JSON path of the field that failed;
/// `plain` (the error without a path) if this parse, unexpectedly, does not fail.
fn located_error(bytes: &[u8], plain: serde_json::Error) -> OciSpecError {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed: std::result::Result<Spec, _> = serde_path_to_error::deserialize(&mut de);
    match parsed.map(|_| de.end()) {
        Err(e) => {
            let field = e.path().to_string();
            let inner = e.into_inner();
            if field == "." {
                OciSpecError::SerDe(inner)
            } else {
                OciSpecError::Other(format!("{field}: {inner}"))
            }
        }
        Ok(Err(trailing)) => OciSpecError::SerDe(trailing),
        Ok(Ok(())) => OciSpecError::SerDe(plain),
    }
}

/// The root filesystem of `spec` as an absolute host path (root.path is relative to the bundle).
pub fn rootfs_path(spec: &Spec, bundle: &Path) -> Result<PathBuf> {
    let root = spec.root().as_ref().ok_or_else(|| Error::spec("root", "missing"))?;
    let path = bundle.join(root.path());
    let canonical = ocirun_sys::fs::canonicalize(&path)
        .map_err(|e| Error::spec("root.path", format!("{}: {e}", path.display())))?;
    if !canonical.is_dir() {
        return Err(Error::spec(
            "root.path",
            format!("{} is not a directory", path.display()),
        ));
    }
    Ok(canonical)
}

/// Checks everything ocirun can check before creating anything; errors name the field.
pub fn validate(spec: &Spec) -> Result<()> {
    let version = spec.version();
    let mut parts = version.split('.');
    let major = parts.next().and_then(|m| m.parse::<u32>().ok());
    if major != Some(1) || parts.next().and_then(|m| m.parse::<u32>().ok()).is_none() {
        return Err(Error::spec(
            "ociVersion",
            format!("unsupported version {version:?}; ocirun runs 1.x specs"),
        ));
    }
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::spec("process", "missing"))?;
    match process.args() {
        Some(args) if !args.is_empty() && !args[0].is_empty() => {}
        _ => return Err(Error::spec("process.args", "must name a program")),
    }
    if !process.cwd().is_absolute() {
        return Err(Error::spec(
            "process.cwd",
            format!("{} is not absolute", process.cwd().display()),
        ));
    }
    for env in process.env().iter().flatten() {
        if !env.contains('=') {
            return Err(Error::spec("process.env", format!("{env:?} is not KEY=value")));
        }
    }
    let linux = spec.linux().as_ref().ok_or_else(|| Error::spec("linux", "missing"))?;
    let mut seen = HashSet::new();
    for ns in linux.namespaces().iter().flatten() {
        let kind = NamespaceKind::from(ns.typ());
        if !seen.insert(kind) {
            return Err(Error::spec(
                "linux.namespaces",
                format!("{} appears twice", kind.proc_name()),
            ));
        }
        if let Some(p) = ns.path()
            && !p.is_absolute()
        {
            return Err(Error::spec(
                "linux.namespaces",
                format!("path {} is not absolute", p.display()),
            ));
        }
    }
    // Without a mount namespace the container lives in the runtime's (the spec allows it; see
    // rootfs::HostRootBind). As runc: masks and read-only paths need one of its own.
    if !seen.contains(&NamespaceKind::Mount) {
        for (field, list) in [
            ("linux.maskedPaths", linux.masked_paths()),
            ("linux.readonlyPaths", linux.readonly_paths()),
        ] {
            if list.as_ref().is_some_and(|l| !l.is_empty()) {
                return Err(Error::spec(
                    field,
                    "unable to restrict sys entries without a private mount namespace (no \"mount\" in linux.namespaces)",
                ));
            }
        }
    }
    let new_user = creates_namespace(spec, NamespaceKind::User);
    let has_maps = linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty())
        || linux.gid_mappings().as_ref().is_some_and(|m| !m.is_empty());
    if has_maps && !new_user {
        return Err(Error::spec(
            "linux.uidMappings",
            "id mappings need a new user namespace",
        ));
    }
    if new_user && !has_maps {
        return Err(Error::spec(
            "linux.uidMappings",
            "a new user namespace needs uid and gid mappings",
        ));
    }
    // As runc: a uts namespace of the container's own, new or joined by path (the name is
    // set once it is joined), never the runtime's.
    let own_uts = seen.contains(&NamespaceKind::Uts);
    if spec.hostname().as_ref().is_some_and(|h| !h.is_empty()) && !own_uts {
        return Err(Error::spec("hostname", "setting a hostname needs a uts namespace"));
    }
    if spec.domainname().as_ref().is_some_and(|h| !h.is_empty()) && !own_uts {
        return Err(Error::spec("domainname", "setting a domain name needs a uts namespace"));
    }
    if linux.time_offsets().as_ref().is_some_and(|t| !t.is_empty()) && !creates_namespace(spec, NamespaceKind::Time) {
        return Err(Error::spec(
            "linux.timeOffsets",
            "time offsets need a new time namespace",
        ));
    }
    for (clock, _) in linux.time_offsets().iter().flatten() {
        if clock != "monotonic" && clock != "boottime" {
            return Err(Error::spec("linux.timeOffsets", format!("unknown clock {clock:?}")));
        }
    }
    if linux.intel_rdt().is_some() {
        return Err(Error::spec("linux.intelRdt", "not supported by this build of ocirun"));
    }
    validate_net_devices(linux)?;
    if let Some(hooks) = spec.hooks() {
        crate::hooks::validate(hooks)?;
    }
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        if !m.destination().is_absolute() {
            return Err(Error::spec(
                format!("mounts[{i}].destination"),
                format!("{} is not absolute", m.destination().display()),
            ));
        }
    }
    Ok(())
}

/// Whether the container shares the runtime's mount namespace: `linux.namespaces` has no
/// `mount` entry (neither a new namespace nor one joined by path).
pub fn shares_mount_namespace(spec: &Spec) -> bool {
    !lists_namespace(spec, NamespaceKind::Mount)
}

/// Whether `linux.namespaces` has an entry of `kind`: a new namespace or one joined by path.
pub(crate) fn lists_namespace(spec: &Spec, kind: NamespaceKind) -> bool {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| ns.iter().any(|n| NamespaceKind::from(n.typ()) == kind))
}

/// Checks `linux.netDevices` as runc does: the devices move into a network namespace of the
/// container's own (new, or joined by a path that is not the runtime's), and every name, on
/// the host and in the container, is one the kernel takes; two devices cannot take one name.
fn validate_net_devices(linux: &oci_spec::runtime::Linux) -> Result<()> {
    let Some(devices) = linux.net_devices().as_ref().filter(|d| !d.is_empty()) else {
        return Ok(());
    };
    let field = "linux.netDevices";
    let netns = linux
        .namespaces()
        .iter()
        .flatten()
        .find(|ns| NamespaceKind::from(ns.typ()) == NamespaceKind::Network)
        .ok_or_else(|| {
            Error::spec(
                field,
                "unable to move network devices without a private network namespace",
            )
        })?;
    if let Some(path) = netns.path() {
        use std::os::unix::fs::MetadataExt;
        let same = |a: &std::fs::Metadata, b: &std::fs::Metadata| a.dev() == b.dev() && a.ino() == b.ino();
        let ours = std::fs::metadata("/proc/self/ns/net");
        let theirs = std::fs::metadata(path);
        if let (Ok(ours), Ok(theirs)) = (ours, theirs)
            && same(&ours, &theirs)
        {
            return Err(Error::spec(
                field,
                format!(
                    "unable to move network devices into the runtime's own network namespace ({})",
                    path.display()
                ),
            ));
        }
    }
    let mut names = HashSet::new();
    for (host_name, device) in devices {
        let name = device.name().as_deref().filter(|n| !n.is_empty()).unwrap_or(host_name);
        for n in [host_name.as_str(), name] {
            if !namespaces::netdev::valid_device_name(n) {
                return Err(Error::spec(
                    field,
                    format!(
                        "invalid network device name {n:?}: 1 to {} bytes, not \".\" or \"..\", no '/', ':' or white space",
                        namespaces::netdev::IFNAME_MAX
                    ),
                ));
            }
        }
        if !names.insert(name) {
            return Err(Error::spec(
                field,
                format!("two devices are named {name:?} in the container"),
            ));
        }
    }
    Ok(())
}

/// The devices of `linux.netDevices` in a stable order (by host name), each with its name in
/// the container.
pub(crate) fn net_devices(linux: &oci_spec::runtime::Linux) -> Vec<namespaces::netdev::NetDevice> {
    let mut devices: Vec<_> = linux
        .net_devices()
        .iter()
        .flatten()
        .map(|(host_name, d)| namespaces::netdev::NetDevice {
            host_name: host_name.clone(),
            name: d
                .name()
                .clone()
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| host_name.clone()),
        })
        .collect();
    devices.sort_by(|a, b| a.host_name.cmp(&b.host_name));
    devices
}

/// Whether `resources` asks for a limit, a field with a value anywhere but in `devices`
/// (runc's needAnyControllers): a rootless container without a cgroup cannot have one.
pub(crate) fn needs_cgroup_limits(resources: Option<&LinuxResources>) -> bool {
    fn has_value(v: &serde_json::Value) -> bool {
        match v {
            serde_json::Value::Null => false,
            serde_json::Value::Object(m) => m.values().any(has_value),
            serde_json::Value::Array(a) => a.iter().any(has_value),
            _ => true,
        }
    }
    let Some(r) = resources else { return false };
    let mut r = r.clone();
    r.set_devices(None);
    serde_json::to_value(&r).map_or(true, |v| has_value(&v))
}

/// Warns of the fields of `resources` that are deprecated and ignored, as runc does:
/// `memory.kernel` (kernels since 5.16 have no kernel memory limit).
pub(crate) fn warn_ignored_resources(resources: Option<&LinuxResources>) {
    if resources
        .and_then(|r| r.memory().as_ref())
        .is_some_and(|m| m.kernel().is_some())
    {
        crate::hooks::warn(
            "linux.resources.memory.kernel is ignored: kernel memory limits are deprecated and kernels since 5.16 have none",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(config: &str) -> Result<Spec> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), config).unwrap();
        load_bundle(dir.path())
    }

    fn chain(err: Error) -> String {
        test_support::error_chain(&err)
    }

    #[test]
    fn only_a_value_outside_devices_needs_cgroup_limits() {
        let r = |json: &str| serde_json::from_str::<LinuxResources>(json).unwrap();
        assert!(!needs_cgroup_limits(None));
        assert!(!needs_cgroup_limits(Some(&r(
            r#"{"devices":[{"allow":false,"access":"rwm"}]}"#
        ))));
        assert!(!needs_cgroup_limits(Some(&r(r#"{"memory":{},"cpu":{}}"#))));
        assert!(needs_cgroup_limits(Some(&r(r#"{"pids":{"limit":10}}"#))));
        assert!(needs_cgroup_limits(Some(&r(r#"{"unified":{"memory.max":"1G"}}"#))));
    }

    #[test]
    fn scheduler_flags_take_the_runtime_specs_names() {
        let config = |flags: &str| {
            format!(
                r#"{{"ociVersion": "1.2.0", "process": {{"cwd": "/", "user": {{"uid": 0, "gid": 0}},
                    "scheduler": {{"policy": "SCHED_OTHER", "flags": {flags}}}}}}}"#
            )
        };
        let all = r#"["SCHED_FLAG_RESET_ON_FORK", "SCHED_FLAG_RECLAIM", "SCHED_FLAG_DL_OVERRUN",
            "SCHED_FLAG_KEEP_POLICY", "SCHED_FLAG_KEEP_PARAMS", "SCHED_FLAG_UTIL_CLAMP_MIN",
            "SCHED_FLAG_UTIL_CLAMP_MAX"]"#;
        let spec = load(&config(all)).unwrap();
        let scheduler = spec.process().as_ref().unwrap().scheduler().as_ref().unwrap();
        let attr = crate::sched::scheduler(scheduler).unwrap();
        assert_eq!(attr.flags, 0x7f);
        // oci-spec's own spelling still parses.
        let spec = load(&config(r#"["SCHED_RESET_ON_FORK"]"#)).unwrap();
        let scheduler = spec.process().as_ref().unwrap().scheduler().as_ref().unwrap();
        assert_eq!(crate::sched::scheduler(scheduler).unwrap().flags, 1);
        // An unknown flag is an error naming the field, also beside a respelled one.
        for flags in [
            r#"["SCHED_FLAG_BOGUS"]"#,
            r#"["SCHED_FLAG_DL_OVERRUN", "SCHED_FLAG_BOGUS"]"#,
        ] {
            let err = chain(load(&config(flags)).unwrap_err());
            assert!(err.contains("process.scheduler.flags"), "{err}");
        }
        let process = process_from_slice(
            br#"{"cwd": "/", "user": {"uid": 0, "gid": 0}, "args": ["sh"],
                 "scheduler": {"policy": "SCHED_BATCH", "flags": ["SCHED_FLAG_RESET_ON_FORK"]}}"#,
        )
        .unwrap();
        assert_eq!(
            crate::sched::scheduler(process.scheduler().as_ref().unwrap())
                .unwrap()
                .flags,
            1
        );
    }

    #[test]
    fn parse_errors_name_the_file_and_the_field() {
        let minimal = r#"{"ociVersion": "1.2.0", "root": {"path": "rootfs"}}"#;
        assert_eq!(load(minimal).unwrap().version(), "1.2.0");

        let err =
            load(r#"{"ociVersion": "1.2.0", "process": {"cwd": "/", "user": {"uid": "x", "gid": 0}}}"#).unwrap_err();
        let err = chain(err);
        assert!(err.contains("config.json") && err.contains("process.user.uid"), "{err}");

        let err = chain(load(&format!("{minimal} trailing")).unwrap_err());
        assert!(
            err.contains("config.json") && err.contains("trailing characters"),
            "{err}"
        );

        let err = chain(load("{ not json").unwrap_err());
        assert!(err.contains("config.json") && err.contains("line 1"), "{err}");

        let err = chain(load_bundle(Path::new("/nonexistent-bundle")).unwrap_err());
        assert!(err.contains("/nonexistent-bundle/config.json"), "{err}");
    }
}
