//! What the examples share: a spec for a rootfs and a command, and where their state lives.
//! Each example is a short program that embeds `runtime-core`; `cargo run -p ocirun-examples
//! --example <name> -- <rootfs> ...` runs it as root (`scripts/demo.sh` leaves a busybox rootfs
//! in /tmp/ocirun-demo/rootfs).

use anyhow::{Context, Result};
use runtime_core::Spec;

/// The state root the examples use (runc's is /run/runc, ocirun's /run/ocirun).
pub const STATE_ROOT: &str = "/run/ocirun-examples";

/// runc's default spec (oci-spec's `Spec::default()`: the usual namespaces, mounts, masked
/// paths and capabilities) with `rootfs` as its root, `command` as its process and `hostname`.
pub fn spec(rootfs: &str, command: Vec<String>, hostname: &str) -> Result<Spec> {
    let mut spec = Spec::default();
    let mut root = spec.root().clone().unwrap_or_default();
    root.set_path(std::fs::canonicalize(rootfs).with_context(|| format!("rootfs {rootfs}"))?);
    spec.set_root(Some(root));
    spec.set_hostname(Some(hostname.into()));
    let mut process = spec.process().clone().unwrap_or_default();
    process.set_args(Some(command));
    process.set_terminal(Some(false));
    spec.set_process(Some(process));
    Ok(spec)
}

/// A container id no other run of `example` uses.
pub fn unique_id(example: &str) -> String {
    format!("{example}-{}", std::process::id())
}
