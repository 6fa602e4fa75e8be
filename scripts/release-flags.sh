#!/usr/bin/env bash
# Prints the RUSTFLAGS of the ocirun binary to ship, for
#   RUSTFLAGS="$(scripts/release-flags.sh)" cargo build --release -p ocirun --target <host>
# (an explicit --target keeps the flags off build scripts and proc-macros):
# - statically linked on glibc hosts (musl ones are already): no dynamic loader, and only the
#   libc pages it uses. It stays a PIE (ASLR), so it relocates itself at start;
# - packed relative relocations (DT_RELR), which shrink the table that start reads from 300 KB
#   to 4 KB (-250 KiB of peak RSS), where the linker and libc have them;
# - the functions `ocirun run` executes first in .text, in the order of scripts/hot-symbols.txt
#   (lld's --symbol-ordering-file; scripts/hot-symbols.sh makes the list): the code a run
#   touches then shares pages, and the kernel maps about 0.5 MiB less of the binary.
# Each flag is kept only if a test program linked with it runs here.
# Usage: scripts/release-flags.sh [--no-order]
set -euo pipefail

order=1
[ "${1:-}" = --no-order ] && order=0
repo=$(cd "$(dirname "$0")/.." && pwd)
host=$(rustc -vV | sed -n 's/^host: //p')
case "$host" in
*-linux-gnu*) ;;
*) exit 0 ;;
esac

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo 'fn main() { println!("ok"); }' >"$tmp/t.rs"
# Whether a static test program built with these flags links and runs.
works() {
    # shellcheck disable=SC2086 # the flags are words
    rustc --target "$host" $1 "$tmp/t.rs" -o "$tmp/t" 2>/dev/null && [ "$("$tmp/t")" = ok ]
}

flags="-C target-feature=+crt-static"
works "$flags" || exit 0
if works "$flags -C link-arg=-Wl,-z,pack-relative-relocs"; then
    flags="$flags -C link-arg=-Wl,-z,pack-relative-relocs"
fi
list="$repo/scripts/hot-symbols.txt"
order_flags="-C link-arg=-Wl,--symbol-ordering-file=$list -C link-arg=-Wl,--no-warn-symbol-ordering"
if [ "$order" = 1 ] && [ -s "$list" ] && works "$flags $order_flags"; then
    flags="$flags $order_flags"
fi
echo "$flags"
