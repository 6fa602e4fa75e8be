//! Link settings of the `ocirun` binary:
//! - on x86_64 Linux its ELF entry point is ocirun-exeseal's `ocirun_entry`, which re-executes
//!   a `create`, `run` or `exec` from a sealed view of the binary before the C library starts
//!   (so that it starts once per command, not twice), then jumps to the C library's `_start`;
//! - it relinks when `scripts/hot-symbols.txt` changes: scripts/release-flags.sh passes that
//!   file to the linker (`--symbol-ordering-file`) by path, so cargo sees the same flags and
//!   would otherwise keep a binary laid out by the old list.

fn main() {
    println!("cargo:rerun-if-changed=../scripts/hot-symbols.txt");
    println!("cargo:rerun-if-changed=build.rs");
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if arch == "x86_64" && os == "linux" {
        // `-u` makes the linker take the symbol's object from the library even when nothing
        // else refers to it.
        println!("cargo:rustc-link-arg-bin=ocirun=-Wl,-u,ocirun_entry");
        println!("cargo:rustc-link-arg-bin=ocirun=-Wl,--entry=ocirun_entry");
    }
}
