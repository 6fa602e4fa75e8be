//! AppArmor and SELinux labels of the container process: checked against the
//! host's LSMs in the parent, written by the init just before exec.

use std::ffi::CString;
use std::path::Path;

use oci_spec::runtime::{Linux, Process};

use crate::{Error, Result};

/// One write the init makes to a `/proc/self/attr` file so that its next exec takes a label.
#[derive(Debug)]
pub(crate) struct ExecLabel {
    /// The attr file, relative to the init's own procfs directory (`attr/exec`): written
    /// through the runtime's verified procfs before the rootfs is set up.
    pub name: CString,
    /// What is written to it.
    pub content: Vec<u8>,
    /// The spec field it comes from, for errors.
    pub field: &'static str,
}

/// Whether the kernel runs AppArmor (runc's `apparmor.IsEnabled`).
pub(crate) fn apparmor_enabled() -> bool {
    Path::new("/sys/kernel/security/apparmor").exists()
        && std::fs::read("/sys/module/apparmor/parameters/enabled").is_ok_and(|v| v.starts_with(b"Y"))
}

/// Whether the kernel runs SELinux: selinuxfs is mounted.
pub(crate) fn selinux_enabled() -> bool {
    Path::new("/sys/fs/selinux/enforce").exists()
}

fn cstring(field: &str, s: impl Into<Vec<u8>>) -> Result<CString> {
    CString::new(s).map_err(|_| Error::spec(field, "contains a NUL byte"))
}

/// The attr writes for `process.apparmorProfile` and `process.selinuxLabel`; an error
/// naming the field when the host does not run that LSM.
pub(crate) fn exec_labels(process: &Process) -> Result<Vec<ExecLabel>> {
    let mut out = Vec::new();
    if let Some(profile) = process.apparmor_profile().as_deref().filter(|p| !p.is_empty()) {
        if !apparmor_enabled() {
            return Err(Error::spec(
                "process.apparmorProfile",
                format!("{profile:?} is set but AppArmor is not enabled on this host"),
            ));
        }
        // Kernels with LSM stacking have a per-LSM attr directory; older ones only the shared file.
        let name = if Path::new("/proc/self/attr/apparmor/exec").exists() {
            "attr/apparmor/exec"
        } else {
            "attr/exec"
        };
        out.push(ExecLabel {
            name: cstring("process.apparmorProfile", name)?,
            content: cstring("process.apparmorProfile", format!("exec {profile}"))?.into_bytes(),
            field: "process.apparmorProfile",
        });
    }
    if let Some(label) = process.selinux_label().as_deref().filter(|l| !l.is_empty()) {
        if !selinux_enabled() {
            return Err(Error::spec(
                "process.selinuxLabel",
                format!("{label:?} is set but SELinux is not enabled on this host"),
            ));
        }
        out.push(ExecLabel {
            name: cstring("process.selinuxLabel", "attr/exec")?,
            content: cstring("process.selinuxLabel", label)?.into_bytes(),
            field: "process.selinuxLabel",
        });
    }
    Ok(out)
}

/// `linux.mountLabel` for the rootfs; an error naming the field when the host does not run SELinux.
pub(crate) fn mount_label(linux: &Linux) -> Result<Option<String>> {
    match linux.mount_label().as_deref().filter(|l| !l.is_empty()) {
        None => Ok(None),
        Some(label) if selinux_enabled() => Ok(Some(label.to_string())),
        Some(label) => Err(Error::spec(
            "linux.mountLabel",
            format!("{label:?} is set but SELinux is not enabled on this host"),
        )),
    }
}
