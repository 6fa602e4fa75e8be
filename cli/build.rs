//! Link settings of the `ocirun` binary:
//! - on x86_64 Linux its ELF entry point is ocirun-exeseal's `ocirun_entry`, which re-executes
//!   a `create`, `run` or `exec` from a sealed view of the binary, then jumps to the C library's
//!   `_start`. In a static build that is before the C library starts, so it starts once per
//!   command, not twice. In a dynamic build the loader has mapped and started the C library
//!   before any entry runs, so there the entry saves only `_start`'s work, and that binary
//!   stays the slower one (README, "Spawn latency").
//!   In a static-pie binary the entry runs before the binary has relocated itself, so it must
//!   not need relocations, a thread pointer or the C library, which depends on the compiler:
//!   the entry is set for dynamic builds (the loader relocates first) and for the static build
//!   of the release profile as the workspace defines it (LTO, one codegen unit, opt-level "s"),
//!   which `.ci/run` checks with scripts/check-entry.py. Another static build starts through
//!   `_start` as before, and re-executes after start-up (runtime-core's `exe::protect`);
//! - it relinks when `scripts/hot-symbols.txt` changes: scripts/release-flags.sh passes that
//!   file to the linker (`--symbol-ordering-file`) by path, so cargo sees the same flags and
//!   would otherwise keep a binary laid out by the old list.

/// The profile settings a user may override from the environment that change what the
/// compiler makes of the entry's code.
const PROFILE_OVERRIDES: [&str; 3] = [
    "CARGO_PROFILE_RELEASE_LTO",
    "CARGO_PROFILE_RELEASE_CODEGEN_UNITS",
    "CARGO_PROFILE_RELEASE_OPT_LEVEL",
];

fn main() {
    println!("cargo:rerun-if-changed=../scripts/hot-symbols.txt");
    println!("cargo:rerun-if-changed=build.rs");
    for var in PROFILE_OVERRIDES {
        println!("cargo:rerun-if-env-changed={var}");
    }
    let env = |name: &str| std::env::var(name).unwrap_or_default();
    let static_build = env("CARGO_CFG_TARGET_FEATURE").split(',').any(|f| f == "crt-static");
    let shipped_profile = env("PROFILE") == "release"
        && env("OPT_LEVEL") == "s"
        && PROFILE_OVERRIDES.iter().all(|v| std::env::var_os(v).is_none());
    if env("CARGO_CFG_TARGET_ARCH") == "x86_64"
        && env("CARGO_CFG_TARGET_OS") == "linux"
        && (!static_build || shipped_profile)
    {
        // `-u` makes the linker take the symbol's object from the library even when nothing
        // else refers to it.
        println!("cargo:rustc-link-arg-bin=ocirun=-Wl,-u,ocirun_entry");
        println!("cargo:rustc-link-arg-bin=ocirun=-Wl,--entry=ocirun_entry");
    }
}
