#!/usr/bin/env bash
# The soak (issue 17 item 3): many containers in a row and at once, then a check that nothing
# leaked. Two parts:
#   1. RUNS times `ocirun run` of `true` in a row (the CLI, a new process each time);
#   2. the embedding example (examples/examples/soak.rs), one process using the library for
#      the whole run: LIB_RUNS containers of `true` in a row, then PARALLEL containers at a
#      time created, started, exec'd into, killed and deleted for SECONDS. It fails on its own
#      leaks: an fd more than after its warm-up, an unreaped child, RSS grown past
#      RSS_TOL_KIB (the tolerance: allocator arenas and caches settle, a leak keeps growing).
# Afterwards, host side: no mount mentioning the soak's bundle or state roots, no cgroup
# directory below the soak's cgroup parent in any hierarchy, no state directory, no process
# left (the containers' inits run `sleep 86399`, looked for by that argument). Zombies are
# counted by the embedding process among its own children; a host-wide count would count other
# programs' (a process whose parent exited waits there for pid 1).
# Any leak fails the script (exit 1).
#
# Usage: scripts/soak.sh --short   (CI: 200 runs, 100 library runs, 20 at a time for 20 s)
#        scripts/soak.sh           (the issue's: 10,000 runs, 1,000 library runs, 50 at a time
#                                   for 600 s); RUNS, LIB_RUNS, PARALLEL, SECONDS_CHURN and
#                                   RSS_TOL_KIB in the environment override either;
#                                   OCIRUN_SOAK_CGROUP names the cgroup parent (ocirun-soak).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = --short ]; then
    : "${RUNS:=200}" "${LIB_RUNS:=100}" "${PARALLEL:=20}" "${SECONDS_CHURN:=20}"
else
    : "${RUNS:=10000}" "${LIB_RUNS:=1000}" "${PARALLEL:=50}" "${SECONDS_CHURN:=600}"
fi
: "${RSS_TOL_KIB:=4096}"
parent=${OCIRUN_SOAK_CGROUP:-ocirun-soak}

# OCIRUN_BIN and SOAK_BIN name binaries built already (a long soak on copies, while the tree
# is rebuilt); else both are built here (the dev profile, as scripts/test.sh builds).
if [ -z "${OCIRUN_BIN:-}" ] || [ -z "${SOAK_BIN:-}" ]; then
    cargo build -q -p ocirun
    cargo build -q -p ocirun-examples --example soak
fi
target=${CARGO_TARGET_DIR:-$PWD/target}
ocirun=${OCIRUN_BIN:-$target/debug/ocirun}
soak=${SOAK_BIN:-$target/debug/examples/soak}

work=$(mktemp -d /tmp/ocirun-soak.XXXXXX)
root=$work/state
bundle=$work/bundle
cleanup() {
    # Whatever a failed run left: containers by the CLI, then the soak's directory.
    for id in $("$ocirun" --root "$root" list -q 2>/dev/null); do
        "$ocirun" --root "$root" delete --force "$id" >/dev/null 2>&1 || true
    done
    rm -rf "$work"
}
trap cleanup EXIT
scripts/busybox-rootfs.sh "$bundle/rootfs"
"$ocirun" spec --bundle "$bundle"
python3 - "$bundle/config.json" "$parent" <<'PY'
import json, sys
path, parent = sys.argv[1], sys.argv[2]
spec = json.load(open(path))
spec["process"]["terminal"] = False
spec["process"]["args"] = ["true"]
spec["linux"]["cgroupsPath"] = "/" + parent + "/cli"
json.dump(spec, open(path, "w"), indent=2)
PY

echo "soak: $(date -u +%FT%TZ) on $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cpus"
start=$(date +%s%N)
for i in $(seq "$RUNS"); do
    if ! "$ocirun" --root "$root" run --bundle "$bundle" "soak-cli-$i" </dev/null >/dev/null; then
        echo "soak: ocirun run #$i failed" >&2
        exit 1
    fi
done
ms=$((($(date +%s%N) - start) / 1000000))
echo "soak: $RUNS ocirun run of true in a row in $((ms / 1000)) s ($((ms / RUNS)) ms each)"

"$soak" --rootfs "$bundle/rootfs" --root "$root" --cgroup-parent "$parent" \
    --runs "$LIB_RUNS" --parallel "$PARALLEL" --seconds "$SECONDS_CHURN" --rss-tolerance-kib "$RSS_TOL_KIB"

leaks=()
mounts=$(grep -cF -e "$work" /proc/self/mountinfo || true)
[ "$mounts" -eq 0 ] || leaks+=("$mounts mounts under $work: $(grep -F "$work" /proc/self/mountinfo | cut -d' ' -f5 | tr '\n' ' ')")
cgroups=$(find /sys/fs/cgroup -mindepth 2 -maxdepth 3 -type d -path "*/$parent/*" 2>/dev/null || true)
[ -z "$cgroups" ] || leaks+=("cgroup directories: $(echo "$cgroups" | tr '\n' ' ')")
states=$(ls -A "$root" 2>/dev/null || true)
[ -z "$states" ] || leaks+=("state directories in $root: $(echo "$states" | tr '\n' ' ')")
procs=$(ps -eo pid=,args= | awk '$2 == "sleep" && $3 == "86399" { print $1 }' | tr '\n' ' ')
[ -z "$procs" ] || leaks+=("processes left: $procs")
# The soak's cgroup parent itself, in every hierarchy.
for dir in /sys/fs/cgroup/"$parent" /sys/fs/cgroup/*/"$parent"; do
    [ -d "$dir" ] && { rmdir "$dir" 2>/dev/null || leaks+=("cannot remove $dir"); }
done
if [ ${#leaks[@]} -gt 0 ]; then
    printf 'soak: leak: %s\n' "${leaks[@]}" >&2
    exit 1
fi
echo "soak: host side clean: no mount, cgroup directory, state directory or process left"
