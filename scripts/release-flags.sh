#!/usr/bin/env bash
# Prints the RUSTFLAGS of the ocirun binary to ship, or with --target the target it is built
# for, as every script that builds it does:
#   target=$(scripts/release-flags.sh --target)
#   RUSTFLAGS="$(scripts/release-flags.sh)" cargo build --release -p ocirun --target "$target"
# (an explicit --target keeps the flags off build scripts and proc-macros):
# - on a glibc host the binary is built for musl when Rust's musl target is installed (this
#   script adds it with rustup when it can), else statically against glibc. Either way there is
#   no dynamic loader, and only the libc pages it uses. musl starts a process without glibc's
#   `cpuid` probing, a trap to the hypervisor in a VM: with the allocator the binary has on
#   musl, `ocirun run` is 0.15 ms faster there (README, "Spawn latency"). It stays a PIE
#   (ASLR), so it relocates itself at start;
# - packed relative relocations (DT_RELR), which shrink the table that start reads from 300 KB
#   to 4 KB (-250 KiB of peak RSS), where the linker and libc have them;
# - the functions `ocirun run` executes first in .text, in the order of scripts/hot-symbols.txt
#   (lld's --symbol-ordering-file; scripts/hot-symbols.sh makes the list): the code a run
#   touches then shares pages, and the kernel maps about 0.5 MiB less of the binary. Rust
#   links glibc targets with its own lld; for musl it is asked for by name (-fuse-ld=lld
#   from the toolchain's gcc-ld directory).
# Each flag is kept only if a test program linked with it runs here.
# Usage: scripts/release-flags.sh [--no-order] [--target]
set -euo pipefail

order=1
print_target=0
for arg in "$@"; do
    case "$arg" in
    --no-order) order=0 ;;
    --target) print_target=1 ;;
    *) echo "usage: $0 [--no-order] [--target]" >&2; exit 2 ;;
    esac
done
repo=$(cd "$(dirname "$0")/.." && pwd)
host=$(rustc -vV | sed -n 's/^host: //p')

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo 'fn main() { println!("ok"); }' >"$tmp/t.rs"
# Whether a test program built for target $1 with flags $2 links and runs.
works() {
    # shellcheck disable=SC2086 # the flags are words
    rustc --target "$1" $2 "$tmp/t.rs" -o "$tmp/t" 2>/dev/null && [ "$("$tmp/t")" = ok ]
}

target=$host
case "$host" in
*-linux-gnu*)
    musl=${host%%-*}-unknown-linux-musl
    # Bounded: where the download cannot reach its server, the glibc build follows.
    if ! rustup target list --installed 2>/dev/null | grep -qx "$musl"; then
        timeout 300 rustup target add "$musl" >/dev/null 2>&1 || true
    fi
    if works "$musl" ""; then
        target=$musl
    fi
    ;;
esac
if [ "$print_target" = 1 ]; then
    echo "$target"
    exit 0
fi

flags=""
case "$target" in
*-linux-musl*)
    lld="-C link-arg=-B$(rustc --print sysroot)/lib/rustlib/$host/bin/gcc-ld -C link-arg=-fuse-ld=lld"
    works "$target" "$lld" && flags=$lld
    ;;
*-linux-gnu*)
    flags="-C target-feature=+crt-static"
    works "$target" "$flags" || exit 0
    ;;
*) exit 0 ;;
esac
if works "$target" "$flags -C link-arg=-Wl,-z,pack-relative-relocs"; then
    flags="$flags -C link-arg=-Wl,-z,pack-relative-relocs"
fi
list="$repo/scripts/hot-symbols.txt"
order_flags="-C link-arg=-Wl,--symbol-ordering-file=$list -C link-arg=-Wl,--no-warn-symbol-ordering"
if [ "$order" = 1 ] && [ -s "$list" ] && works "$target" "$flags $order_flags"; then
    flags="$flags $order_flags"
fi
echo "${flags# }"
