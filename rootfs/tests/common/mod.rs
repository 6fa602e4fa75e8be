//! What the rootfs test binaries share.

use oci_spec::runtime::{Mount, MountBuilder};

/// An OCI mount.
pub fn mount(dest: &str, typ: &str, source: &str, options: &[&str]) -> Mount {
    MountBuilder::default()
        .destination(dest)
        .typ(typ)
        .source(source)
        .options(options.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
        .build()
        .expect("valid mount")
}
