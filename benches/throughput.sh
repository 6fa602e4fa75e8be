#!/usr/bin/env bash
# Containers per second: `run` of a busybox `true` container (the bundle of benches/compare.sh)
# with 2, 8 and 32 runs at a time, for ocirun, crun and runc (when installed), in one sitting,
# one private mount namespace and state roots on tmpfs; then the library from 8 threads of one
# process (benches/benches/throughput.rs). Needs root and /bin/busybox.
#
# Usage: benches/throughput.sh [--total N] [--parallel "2 8 32"] [--threads N]
#   --total     containers per measurement (default 400)
#   --parallel  the numbers of runs at a time (default "2 8 32")
#   --threads   library threads (default 8; 0 skips the library)
# OCIRUN_BIN=path times that binary; otherwise the binary to ship is built as compare.sh does.
set -euo pipefail

total=400
parallel="2 8 32"
threads=8
inner=0
while [ $# -gt 0 ]; do
    case "$1" in
        --total) total=$2; shift 2 ;;
        --parallel) parallel=$2; shift 2 ;;
        --threads) threads=$2; shift 2 ;;
        --inner) inner=1; shift ;;
        *) echo "usage: $0 [--total N] [--parallel \"2 8 32\"] [--threads N]" >&2; exit 2 ;;
    esac
done

if [ "$inner" = 0 ]; then
    [ "$(id -u)" = 0 ] || { echo "throughput.sh: needs root (it runs containers)" >&2; exit 1; }
    repo=$(cd "$(dirname "$0")/.." && pwd)
    if [ -z "${OCIRUN_BIN:-}" ]; then
        host=$(rustc -vV | sed -n 's/^host: //p')
        (cd "$repo" && RUSTFLAGS="$("$repo/scripts/release-flags.sh")" cargo build --release -q -p ocirun --target "$host")
        OCIRUN_BIN=${CARGO_TARGET_DIR:-$repo/target}/$host/release/ocirun
    fi
    OCIRUN_BIN=$(realpath "$OCIRUN_BIN")
    THROUGHPUT_BENCH=""
    if [ "$threads" -gt 0 ]; then
        THROUGHPUT_BENCH=$(cd "$repo" && cargo bench -q -p ocirun-benches --bench throughput --no-run \
            --message-format=json | jq -r 'select(.reason == "compiler-artifact" and .executable != null) | .executable')
    fi
    WORK=$(mktemp -d /tmp/ocirun-throughput.XXXXXX)
    trap 'rm -rf "$WORK"' EXIT
    "$repo/scripts/true-bundle.sh" "$WORK/bundle" "$OCIRUN_BIN"
    export OCIRUN_BIN THROUGHPUT_BENCH WORK
    unshare -m --propagation private "$0" --inner --total "$total" --parallel "$parallel" --threads "$threads"
    exit 0
fi

# ---- inner: in the private mount namespace ----
state=$WORK/run
mkdir -p "$state"
mount -t tmpfs -o mode=0700 tmpfs "$state"
trap 'umount -l "$state" 2>/dev/null' EXIT
controllers=/sys/fs/cgroup/unified/cgroup.controllers
if [ -f "$controllers" ]; then
    # crun 1.8 refuses a hybrid host whose unified hierarchy lists a controller.
    : >"$WORK/empty"
    mount --bind "$WORK/empty" "$controllers"
fi
runtimes=(ocirun)
command -v crun >/dev/null && runtimes+=(crun)
command -v runc >/dev/null && runtimes+=(runc)
bin_of() { case "$1" in ocirun) echo "$OCIRUN_BIN" ;; *) command -v "$1" ;; esac; }

echo "Date: $(date -u '+%Y-%m-%d %H:%M UTC'); machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), kernel $(uname -r)"
echo "Command: benches/throughput.sh --total $total --parallel \"$parallel\" --threads $threads"
echo
echo "| runs at a time | $(printf '%s | ' "${runtimes[@]}")"
echo "|---|$(printf -- '---|%.0s' "${runtimes[@]}")"
for p in $parallel; do
    row="| $p |"
    for rt in "${runtimes[@]}"; do
        bin=$(bin_of "$rt")
        start=$(date +%s.%N)
        # Each container its own id; `run` deletes it when its process exits.
        seq "$total" | xargs -P "$p" -I{} "$bin" --root "$state/$rt" run --bundle "$WORK/bundle" "tp-$rt-$p-{}" >/dev/null
        end=$(date +%s.%N)
        row+=" $(awk -v n="$total" -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", n / (b - a) }')/s |"
    done
    echo "$row"
done
if [ -n "${THROUGHPUT_BENCH:-}" ]; then
    read -r _ t n secs rate < <(OCIRUN_THROUGHPUT_THREADS=$threads OCIRUN_THROUGHPUT_TOTAL=$total \
        OCIRUN_THROUGHPUT_ROOT=$state/library "$THROUGHPUT_BENCH" --bench)
    echo
    echo "Library, $t threads of one process: $n containers in $secs s, $rate/s"
fi
