//! What the rootfs test binaries share.

use std::path::PathBuf;

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

/// Whether the test runs as root, as it needs to (`what`: for what); prints why it does not
/// run otherwise (it then does not pass silently).
pub fn have_root(test: &str, what: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIP {test}: needs root ({what})");
        return false;
    }
    true
}

/// A temp dir for test `test` holding `rootfs/` with the directories `dirs`; removed on drop.
pub fn temp_rootfs(test: &str, dirs: &[&str]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::Builder::new()
        .prefix(&format!("ocirun-rootfs-{test}-{}-", std::process::id()))
        .tempdir()
        .expect("create temp dir");
    let rootfs = dir.path().join("rootfs");
    for d in dirs {
        std::fs::create_dir_all(rootfs.join(d)).expect("create rootfs dir");
    }
    (dir, rootfs)
}
