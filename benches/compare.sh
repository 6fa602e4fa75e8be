#!/usr/bin/env bash
# Times `ocirun run` of a busybox `true` container next to crun, runc (when installed) and the
# unshare floor, in ONE hyperfine run, and prints medians and ratios; then peak RSS and 100
# containers one after another. Needs root, hyperfine, jq and /bin/busybox (busybox-static).
#
# Usage: benches/compare.sh [--runs N] [--warmup N] [--seq N] [--rss N] [--host-mounts N] [--no-library] [--out FILE]
#   --runs    hyperfine runs per command (default 250)
#   --warmup  hyperfine warmup runs per command (default 20)
#   --seq     containers in the sequential test (default 100; 0 skips it)
#   --rss     runs per runtime for the peak RSS median (default 10; 0 skips it)
#   --host-mounts  extra mounts (tmpfs, 4 KiB each) made in the private namespace before
#             anything is timed, as a Kubernetes node carries (every pod's secrets, config maps,
#             layers and shm): every runtime and the floor copy them into each container's
#             mount namespace (default 0)
#   --no-library  skip the library measurements, which otherwise follow hyperfine in the same
#             namespace: the criterion spawn benchmark (benches/benches/spawn.rs), then
#             benches/benches/interleaved.rs, which times the library's run of the same bundle
#             in alternation (random order each round, --runs rounds) with floor+chroot,
#             `ocirun run` and `crun run`, so a load that comes and goes on a shared machine
#             weighs on each alike, plus an A/A control: `ocirun run` of a second copy of the
#             same binary, whose difference from the first is that sitting's noise (two
#             copies of one binary have differed by up to 0.1 ms a sitting, more than some
#             changes measured)
#   --out     also write the markdown tables to FILE
# OCIRUN_BIN=path skips the cargo build and times that binary; otherwise the script builds the
# binary to ship: RUSTFLAGS="$(scripts/release-flags.sh)" cargo build --release -p ocirun
# --target "$(scripts/release-flags.sh --target)" (static, on musl where Rust's musl target is
# installed; packed relocations; the hot functions first in .text).
#
# The bundle: scripts/true-bundle.sh's busybox `true` with the pid, network, ipc, uts and mount
# namespaces (the floor's `unshare --pid --net --ipc --uts --mount`).
#
# Everything runs in one private mount namespace, in which
# - an empty file is bind-mounted over /sys/fs/cgroup/unified/cgroup.controllers: on a hybrid
#   host crun 1.8 otherwise refuses to start (it sees a v2 controller it cannot handle);
# - a tmpfs holds every runtime's state root, as /run is on a usual host;
# - the binary and its A/A copy are first dropped from the page cache, to come back in by their
#   own execs as after a boot, not as the linker or cp wrote them (see the inner part).
# Each runtime runs its own fixed container id: `run` without --detach deletes the container
# when it exits (runc, crun and ocirun alike), so no shell is needed to make ids unique and
# the measured command is the runtime alone (hyperfine -N). Cleanup (containers, cgroups,
# mounts, temp dir) happens on exit, whatever happens.
set -euo pipefail

runs=250
warmup=20
seq_n=100
rss_n=10
host_mounts=0
library=1
out=""
inner=0
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) runs=$2; shift 2 ;;
        --warmup) warmup=$2; shift 2 ;;
        --seq) seq_n=$2; shift 2 ;;
        --rss) rss_n=$2; shift 2 ;;
        --host-mounts) host_mounts=$2; shift 2 ;;
        --no-library) library=0; shift ;;
        --out) out=$2; shift 2 ;;
        --inner) inner=1; shift ;;
        *) echo "usage: $0 [--runs N] [--warmup N] [--seq N] [--rss N] [--host-mounts N] [--no-library] [--out FILE]" >&2; exit 2 ;;
    esac
done

ids=(cmp-ocirun-$$ cmp-crun-$$ cmp-runc-$$ cmp-library cmp-ocirun-aa-$$)

if [ "$inner" = 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "compare.sh: needs root (it runs containers)" >&2
        exit 1
    fi
    missing=()
    command -v hyperfine >/dev/null || missing+=(hyperfine)
    command -v jq >/dev/null || missing+=(jq)
    [ -x /usr/bin/time ] || missing+=(time)
    [ -x /bin/busybox ] || missing+=(busybox-static)
    if [ ${#missing[@]} -gt 0 ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
    repo=$(cd "$(dirname "$0")/.." && pwd)
    if [ -z "${OCIRUN_BIN:-}" ]; then
        # The binary to ship: static, packed relocations, hot functions first (see
        # scripts/release-flags.sh).
        target=$("$repo/scripts/release-flags.sh" --target)
        flags=$("$repo/scripts/release-flags.sh")
        (cd "$repo" && RUSTFLAGS="$flags" cargo build --release -q -p ocirun --target "$target")
        OCIRUN_BIN=${CARGO_TARGET_DIR:-$repo/target}/$target/release/ocirun
        OCIRUN_FLAGS="RUSTFLAGS=\"$(sed "s#$repo/##g" <<<"$flags")\""
    fi
    export OCIRUN_FLAGS=${OCIRUN_FLAGS:-"OCIRUN_BIN as given"}
    OCIRUN_BIN=$(realpath "$OCIRUN_BIN")
    export OCIRUN_BIN
    SPAWN_BENCH=""
    INTERLEAVED_BENCH=""
    if [ "$library" = 1 ]; then
        benches=$(cd "$repo" && cargo bench -q -p ocirun-benches --bench spawn --bench interleaved --no-run \
            --message-format=json | jq -r 'select(.reason == "compiler-artifact" and .executable != null)
                | "\(.target.name) \(.executable)"')
        SPAWN_BENCH=$(awk '$1 == "spawn" {print $2}' <<<"$benches")
        INTERLEAVED_BENCH=$(awk '$1 == "interleaved" {print $2}' <<<"$benches")
    fi
    export SPAWN_BENCH INTERLEAVED_BENCH
    OCIRUN_REV=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
    export OCIRUN_REV
    WORK=$(mktemp -d /tmp/ocirun-compare.XXXXXX)
    export WORK
    trap 'rm -rf "$WORK"' EXIT
    bundle=$WORK/bundle
    "$repo/scripts/true-bundle.sh" "$bundle" "$OCIRUN_BIN"
    # The inner half runs in a private mount namespace; its mounts vanish with it.
    unshare -m --propagation private "$0" --inner --runs "$runs" --warmup "$warmup" --seq "$seq_n" \
        --rss "$rss_n" --host-mounts "$host_mounts" $([ "$library" = 1 ] || echo --no-library) ${out:+--out "$(realpath -m "$out")"}
    exit 0
fi

# ---- inner: in the private mount namespace ----
bundle=$WORK/bundle
rootfs=$bundle/rootfs
state=$WORK/run
mkdir -p "$state"
mount -t tmpfs -o mode=0700 tmpfs "$state"
cleanup() {
    set +e
    "$OCIRUN_BIN" --root "$state/ocirun" delete --force "${ids[0]}" >/dev/null 2>&1
    "$OCIRUN_BIN" --root "$state/ocirun-aa" delete --force "${ids[4]}" >/dev/null 2>&1
    command -v crun >/dev/null && crun --root "$state/crun" delete --force "${ids[1]}" >/dev/null 2>&1
    command -v runc >/dev/null && runc --root "$state/runc" delete --force "${ids[2]}" >/dev/null 2>&1
    for id in "${ids[@]}"; do
        for d in /sys/fs/cgroup/*/ocirun/"$id" /sys/fs/cgroup/*/"$id" /sys/fs/cgroup/"$id"; do
            [ -d "$d" ] && rmdir "$d" 2>/dev/null
        done
    done
    umount "$state" 2>/dev/null
    [ -n "${aa_bin:-}" ] && rm -f "$aa_bin"
    for d in /sys/fs/cgroup/*/"ocirun-compare-$$"; do
        [ -d "$d" ] && rmdir "$d" 2>/dev/null
    done
}
trap cleanup EXIT

# The interleaved run follows hyperfine unless --no-library (or no bench binary was built).
interleaved=0
[ "$library" = 1 ] && [ -n "${INTERLEAVED_BENCH:-}" ] && interleaved=1
# The A/A control of the interleaved run (timed only there): a copy beside the binary (the
# same file system, so the same seal).
timed=("$OCIRUN_BIN")
if [ "$interleaved" = 1 ]; then
    aa_bin=$OCIRUN_BIN.aa-$$
    cp "$OCIRUN_BIN" "$aa_bin"
    timed+=("$aa_bin")
fi
# The binaries' pages come into the page cache the way a node's do after a boot: by their own
# execs. Freshly linked, the binary's pages are what the linker's writes through a shared
# mapping left, and a fresh copy's what cp wrote: measured on a 2-vCPU AMD EPYC VM (2026-12-07),
# `ocirun run` of the linker's file was 0.2-0.3 ms slower than of two copies made by cp, and
# as fast once all three had been dropped from the page cache (interleaved, 800 rounds, twice
# each). So they are written back and dropped (posix_fadvise DONTNEED) first.
sync "${timed[@]}"
for f in "${timed[@]}"; do dd if="$f" iflag=nocache count=0 status=none; done

if [ "$host_mounts" -gt 0 ]; then
    echo "== $host_mounts extra host mounts (tmpfs) in the private namespace" >&2
    mkdir -p "$WORK/host-mounts"
    for i in $(seq "$host_mounts"); do
        mkdir "$WORK/host-mounts/$i"
        mount -t tmpfs -o size=4k "host-mount-$i" "$WORK/host-mounts/$i"
    done
fi
all_mounts=$(wc -l </proc/self/mountinfo)

controllers=/sys/fs/cgroup/unified/cgroup.controllers
if [ -f "$controllers" ]; then
    : >"$WORK/empty"
    mount --bind "$WORK/empty" "$controllers"
fi

ns="--pid --mount --uts --ipc --net"
# A runtime's `run` of the bundle: run_cmd PROGRAM STATE-NAME ID (its state root is $state/NAME).
run_cmd() { echo "$1 --root $state/$2 run --bundle $bundle $3"; }
names=(floor floor+chroot ocirun)
cmds=("unshare --fork $ns true" "unshare --fork $ns chroot $rootfs /bin/true"
    "$(run_cmd "$OCIRUN_BIN" ocirun "${ids[0]}")")
if command -v crun >/dev/null; then
    names+=(crun)
    cmds+=("$(run_cmd crun crun "${ids[1]}")")
fi
if command -v runc >/dev/null; then
    names+=(runc)
    cmds+=("$(run_cmd runc runc "${ids[2]}")")
fi
args=()
for i in "${!names[@]}"; do args+=(-n "${names[$i]}" "${cmds[$i]}"); done

echo "== spawn latency: hyperfine -N --warmup $warmup --runs $runs (one run, all commands)"
hyperfine -N --style basic --warmup "$warmup" --runs "$runs" --export-json "$WORK/latency.json" "${args[@]}" >&2

lib_med=""
if [ "$library" = 1 ] && [ -n "${SPAWN_BENCH:-}" ]; then
    echo "== library spawn: criterion, $SPAWN_BENCH (benches/benches/spawn.rs)" >&2
    OCIRUN_TEST_CGROUP=ocirun-compare-$$ CRITERION_HOME=$WORK/criterion "$SPAWN_BENCH" --bench --noplot >&2
    estimates=$(find "$WORK/criterion" -path '*/new/estimates.json' | head -1)
    lib_med=$(jq '.median.point_estimate / 1e9' "$estimates")
fi
declare -A inter
if [ "$interleaved" = 1 ]; then
    echo "== interleaved: library, floor+chroot, ocirun, ocirun-aa (a copy: the A/A control), crun; $runs rounds in random order" >&2
    inter_cmds=$(printf 'floor+chroot\t%s\nocirun\t%s\nocirun-aa\t%s\n' "${cmds[1]}" "${cmds[2]}" \
        "$(run_cmd "$aa_bin" ocirun-aa "${ids[4]}")")
    if command -v crun >/dev/null; then
        inter_cmds+=$(printf '\ncrun\t%s' "${cmds[3]}")
    fi
    while read -r name median; do inter[$name]=$median; done < <(
        OCIRUN_COMPARE_BUNDLE=$bundle OCIRUN_COMPARE_ROOT=$state/library OCIRUN_COMPARE_ROUNDS=$runs \
            OCIRUN_COMPARE_CMDS=$inter_cmds "$INTERLEAVED_BENCH")
fi

rss_of() { # median peak RSS (KiB) of n runs of a command
    local n=$1; shift
    for _ in $(seq "$n"); do /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; done | sort -n |
        awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2)}'
}
declare -A rss
if [ "$rss_n" -gt 0 ]; then
    for i in "${!names[@]}"; do
        # shellcheck disable=SC2086 # the commands are word lists without quoting
        rss[${names[$i]}]=$(rss_of "$rss_n" ${cmds[$i]})
    done
fi

declare -A seqs
if [ "$seq_n" -gt 0 ]; then
    echo "== $seq_n containers one after another: hyperfine --runs 3, a shell loop per runtime" >&2
    seq_args=()
    for i in "${!names[@]}"; do
        script=$WORK/seq-${names[$i]}.sh
        printf 'for i in $(seq %d); do %s || exit 1; done\n' "$seq_n" "${cmds[$i]}" >"$script"
        seq_args+=(-n "${names[$i]}" "bash $script")
    done
    hyperfine -N --style basic --warmup 1 --runs 3 --export-json "$WORK/seq.json" "${seq_args[@]}" >&2
    while read -r name median; do seqs[$name]=$median; done < <(jq -r '.results[] | "\(.command) \(.median)"' "$WORK/seq.json")
fi

# ---- report ----
median_of() { jq -r --arg n "$1" '.results[] | select(.command == $n) | .median' "$WORK/latency.json"; }
ocirun_med=$(median_of ocirun)
floor_med=$(median_of floor+chroot)
crun_med=$(median_of crun)
{
    echo
    echo "Date: $(date -u '+%Y-%m-%d %H:%M UTC'); machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), kernel $(uname -r), cgroups hybrid"
    echo "ocirun $OCIRUN_REV ($(file -b "$OCIRUN_BIN" | grep -o 'static[a-z -]*linked\|dynamically linked' | head -1), $(stat -c %s "$OCIRUN_BIN") bytes, $OCIRUN_FLAGS); $(crun --version 2>/dev/null | head -1 || echo 'crun: not installed'); $(runc --version 2>/dev/null | head -1 || echo 'runc: not installed'); $(hyperfine --version)"
    echo "Command: benches/compare.sh --runs $runs --warmup $warmup --seq $seq_n --rss $rss_n --host-mounts $host_mounts$([ "$library" = 1 ] || echo ' --no-library') ($all_mounts mounts in the namespace)"
    echo
    echo "| command | median | mean ± σ | min | × floor+chroot | × crun | peak RSS | $seq_n in a row |"
    echo "|---|---|---|---|---|---|---|---|"
    for name in "${names[@]}"; do
        jq -r --arg n "$name" --arg floor "$floor_med" --arg crun "${crun_med:-}" \
            --arg rss "${rss[$name]:-}" --arg seq "${seqs[$name]:-}" '
            def ms: . * 1000 | . * 100 | round / 100 | tostring + " ms";
            def ratio($d): if $d == "" then "–" else (. / ($d | tonumber) * 100 | round / 100 | tostring) end;
            .results[] | select(.command == $n)
            | "| `\($n)` | \(.median | ms) | \(.mean | ms) ± \(.stddev | ms) | \(.min | ms) | \(.median | ratio($floor)) | \(.median | ratio($crun)) | \(if $rss == "" then "–" else (($rss | tonumber) / 1024 * 10 | round / 10 | tostring) + " MiB" end) | \(if $seq == "" then "–" else (($seq | tonumber) * 100 | round / 100 | tostring) + " s" end) |"' \
            "$WORK/latency.json"
    done
    echo
    if [ -n "$lib_med" ]; then
        echo
        echo "Library spawn (criterion, benches/benches/spawn.rs, same namespace, right after): median $(jq -n "$lib_med * 1000 * 100 | round / 100") ms"
    fi
    if [ -n "$lib_med" ] && [ -n "${crun_med:-}" ]; then
        echo "library spawn / crun run: $(jq -n "$lib_med / $crun_med * 1000 | round / 1000") (target ≤ 0.5)"
    fi
    if [ -n "${inter[library]:-}" ]; then
        echo
        echo "Interleaved, $runs rounds in random order (benches/benches/interleaved.rs), medians:"
        echo
        echo "| command | median | × floor+chroot | × crun |"
        echo "|---|---|---|---|"
        for name in library floor+chroot ocirun ocirun-aa crun; do
            [ -n "${inter[$name]:-}" ] || continue
            echo "| \`$name\` | $(jq -n "${inter[$name]} * 1000 * 100 | round / 100") ms" \
                "| $(jq -n "${inter[$name]} / ${inter[floor+chroot]} * 100 | round / 100")" \
                "| $([ -n "${inter[crun]:-}" ] && jq -n "${inter[$name]} / ${inter[crun]} * 100 | round / 100" || echo –) |"
        done
        echo
        if [ -n "${inter[crun]:-}" ]; then
            echo "interleaved: library / crun $(jq -n "${inter[library]} / ${inter[crun]} * 1000 | round / 1000") (target ≤ 0.5)," \
                "ocirun / crun $(jq -n "${inter[ocirun]} / ${inter[crun]} * 1000 | round / 1000") (target ≤ 0.8)," \
                "ocirun / floor+chroot $(jq -n "${inter[ocirun]} / ${inter[floor+chroot]} * 1000 | round / 1000") (target ≤ 1.3)"
        fi
        if [ -n "${inter[ocirun-aa]:-}" ]; then
            echo "interleaved A/A: ocirun-aa (a copy of the same binary) / floor+chroot" \
                "$(jq -n "${inter[ocirun-aa]} / ${inter[floor+chroot]} * 1000 | round / 1000"): its distance from ocirun's" \
                "ratio is this sitting's noise"
        fi
    fi
    if [ -n "${crun_med:-}" ]; then
        echo "ocirun / crun: $(jq -n "$ocirun_med / $crun_med * 1000 | round / 1000") (target ≤ 0.8)"
    fi
    echo "ocirun / (unshare + chroot): $(jq -n "$ocirun_med / $floor_med * 1000 | round / 1000") (target ≤ 1.3)"
    if [ -n "${rss[crun]:-}" ]; then
        echo "peak RSS ocirun / crun: ${rss[ocirun]} KiB / ${rss[crun]} KiB (target ≤ 1)"
    fi
    if [ -n "${seqs[crun]:-}" ]; then
        echo "$seq_n in a row ocirun / crun: $(jq -n "${seqs[ocirun]} / ${seqs[crun]} * 1000 | round / 1000") (target < 1)"
    fi
} | tee ${out:+"$out"}
