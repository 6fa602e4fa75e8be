//! Relinks `ocirun` when `scripts/hot-symbols.txt` changes: scripts/release-flags.sh passes that
//! file to the linker (`--symbol-ordering-file`) by path, so cargo sees the same flags and
//! would otherwise keep a binary laid out by the old list.

fn main() {
    println!("cargo:rerun-if-changed=../scripts/hot-symbols.txt");
}
