//! The OCI features document (`ocirun features`): what this build implements,
//! decided when it is compiled, as `features.md` asks.

use std::collections::HashMap;

use namespaces::NamespaceKind;
use oci_spec::runtime::{
    Apparmor, Cgroup, Features, IntelRdt, LinuxFeature, LinuxSeccompAction, MemoryPolicy, MountExtensions, NetDevices,
    Seccomp, Selinux,
};

use crate::caps;
use crate::hooks::HookKind;

/// The oldest and newest runtime-spec versions ocirun runs.
pub const OCI_VERSION_MIN: &str = "1.0.0";
/// The newest runtime-spec version whose fields ocirun knows.
pub const OCI_VERSION_MAX: &str = "1.2.0";

/// The features document of this build.
pub fn features() -> Features {
    let mut seccomp = Seccomp::default();
    let actions: Vec<LinuxSeccompAction> = seccomp::ACTIONS
        .iter()
        .filter_map(|a| serde_json::from_value(serde_json::Value::from(*a)).ok())
        .collect();
    seccomp
        .set_enabled(Some(true))
        .set_actions(Some(actions))
        .set_operators(Some(
            seccomp::OPERATORS
                .iter()
                .filter_map(|o| serde_json::from_value(serde_json::Value::from(*o)).ok())
                .collect(),
        ))
        .set_archs(Some(
            seccomp::ScmpArch::ALL
                .iter()
                .filter_map(|a| serde_json::from_value(serde_json::Value::from(a.name())).ok())
                .collect(),
        ))
        .set_known_flags(Some(seccomp::FLAGS.iter().map(|f| f.to_string()).collect()))
        .set_supported_flags(Some(seccomp::FLAGS.iter().map(|f| f.to_string()).collect()));

    let mut cgroup = Cgroup::default();
    cgroup
        .set_v1(Some(true))
        .set_v2(Some(true))
        .set_systemd(Some(false))
        .set_systemd_user(Some(false))
        .set_rdma(Some(true));

    let mut apparmor = Apparmor::default();
    apparmor.set_enabled(Some(true));
    let mut selinux = Selinux::default();
    selinux.set_enabled(Some(true));
    let mut intel_rdt = IntelRdt::default();
    intel_rdt.set_enabled(Some(false));
    let mut mount_extensions = MountExtensions::default();
    let mut idmap = oci_spec::runtime::IDMap::default();
    idmap.set_enabled(Some(true));
    mount_extensions.set_idmap(Some(idmap));

    let mut memory_policy = MemoryPolicy::default();
    memory_policy
        .set_modes(Some(
            [
                "MPOL_DEFAULT",
                "MPOL_BIND",
                "MPOL_INTERLEAVE",
                "MPOL_WEIGHTED_INTERLEAVE",
                "MPOL_PREFERRED",
                "MPOL_PREFERRED_MANY",
                "MPOL_LOCAL",
            ]
            .map(String::from)
            .to_vec(),
        ))
        .set_flags(Some(
            ["MPOL_F_NUMA_BALANCING", "MPOL_F_RELATIVE_NODES", "MPOL_F_STATIC_NODES"]
                .map(String::from)
                .to_vec(),
        ));
    let mut net_devices = NetDevices::default();
    net_devices.set_enabled(Some(true));

    let mut linux = LinuxFeature::default();
    linux
        .set_namespaces(Some(NamespaceKind::ALL.iter().map(|k| (*k).into()).collect()))
        .set_capabilities(Some(caps::names().iter().map(|c| c.to_string()).collect()))
        .set_cgroup(Some(cgroup))
        .set_seccomp(Some(seccomp))
        .set_apparmor(Some(apparmor))
        .set_selinux(Some(selinux))
        .set_intel_rdt(Some(intel_rdt))
        .set_mount_extensions(Some(mount_extensions))
        .set_memory_policy(Some(memory_policy))
        .set_net_devices(Some(net_devices));

    let mut features = Features::default();
    features
        .set_oci_version_min(OCI_VERSION_MIN.into())
        .set_oci_version_max(OCI_VERSION_MAX.into())
        .set_hooks(Some(HookKind::ALL.iter().map(|k| k.name().to_string()).collect()))
        .set_mount_options(Some(
            rootfs::RECOGNIZED_MOUNT_OPTIONS.iter().map(|o| o.to_string()).collect(),
        ))
        .set_linux(Some(linux))
        .set_annotations(Some(HashMap::from([
            ("org.ocirun.version".to_string(), env!("CARGO_PKG_VERSION").to_string()),
            (
                "org.ocirun.seccomp.compiler".to_string(),
                "pure Rust, no libseccomp".to_string(),
            ),
        ])));
    features
}
