#!/usr/bin/env bash
# Remakes scripts/hot-symbols.txt: the functions of ocirun that `ocirun run` of a busybox `true`
# bundle executes, which scripts/release-flags.sh has the linker put first in .text. Rerun it
# after larger changes: the names carry hashes, and the linker skips names it no longer has.
#
# 1. perf samples (50 kHz, every CPU) of --runs containers give the functions that take time,
#    hottest first;
# 2. then, until a round finds nothing new (at most 5 rounds), a build ordered by the list runs
#    --runs/8 containers under perf counting every page fault, and the functions that still
#    fault in a page of ocirun are added: the ones run too briefly to be sampled.
#
# Needs root, perf, jq and /bin/busybox (busybox-static). Usage: scripts/hot-symbols.sh [--runs N]
set -euo pipefail

runs=400
while [ $# -gt 0 ]; do
    case "$1" in
    --runs) runs=$2; shift 2 ;;
    *) echo "usage: $0 [--runs N]" >&2; exit 2 ;;
    esac
done
if [ "$(id -u)" != 0 ]; then
    echo "hot-symbols.sh: needs root (it runs containers)" >&2
    exit 1
fi
for tool in perf jq; do
    command -v "$tool" >/dev/null || { echo "hot-symbols.sh: needs $tool" >&2; exit 1; }
done

repo=$(cd "$(dirname "$0")/.." && pwd)
target=$("$repo/scripts/release-flags.sh" --target)
work=$(mktemp -d /tmp/ocirun-hot.XXXXXX)
trap 'rm -rf "$work"' EXIT
list="$work/list"
: >"$list"

# An unstripped release build (the names perf reports), ordered by $list when it has names.
build() {
    local flags
    flags=$("$repo/scripts/release-flags.sh" --no-order)
    if [ -s "$list" ]; then
        flags="$flags -C link-arg=-Wl,--symbol-ordering-file=$list -C link-arg=-Wl,--no-warn-symbol-ordering"
    fi
    (cd "$repo" && CARGO_PROFILE_RELEASE_STRIP=false RUSTFLAGS="$flags" \
        cargo build --release -q -p ocirun --target "$target" --target-dir "$work/target")
    echo "$work/target/$target/release/ocirun"
}

bin=$(build)
bundle="$work/bundle"
"$repo/scripts/true-bundle.sh" "$bundle" "$bin" >/dev/null

# Runs $2 containers with binary $1 under `perf record` with the rest of the arguments.
record() {
    local bin=$1 n=$2
    shift 2
    perf record -q -o "$work/perf.data" -a "$@" -- \
        sh -c 'for i in $(seq "$1"); do "$2" --root "$3" run --bundle "$4" hot-symbols || exit 1; done' \
        sh "$n" "$bin" "$work/state" "$bundle" >/dev/null
}

# The functions of ocirun in the last recording of binary $1, most samples first. A run
# re-executes ocirun from a detached overlayfs view of its binary (CVE-2019-5736), which perf
# records as /ocirun: the symbol directory has the binary under that name and its own.
functions() {
    rm -rf "$work/symfs"
    mkdir -p "$work/symfs$(dirname "$1")"
    cp "$1" "$work/symfs$1"
    cp "$1" "$work/symfs/ocirun"
    perf report -i "$work/perf.data" --symfs "$work/symfs" --no-demangle --comm ocirun --dso ocirun \
        --sort sym --stdio -g none 2>/dev/null | awk '/%/ && $3 !~ /^0x/ { print $3 }'
}

record "$bin" "$runs" -F 50000
functions "$bin" >"$list"
echo "sampled: $(wc -l <"$list") functions"
for round in 1 2 3 4 5; do
    bin=$(build)
    record "$bin" $((runs / 8 + 1)) -e minor-faults -c 1
    new=$(functions "$bin" | grep -vxF -f "$list" || true)
    if [ -z "$new" ]; then
        break
    fi
    echo "round $round: $(echo "$new" | wc -l) more functions fault"
    echo "$new" >>"$list"
done
cp "$list" "$repo/scripts/hot-symbols.txt"
echo "wrote scripts/hot-symbols.txt: $(wc -l <"$list") functions"
