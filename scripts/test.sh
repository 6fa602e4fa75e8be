#!/usr/bin/env bash
# Installs what the tests need, then runs every test of the workspace: unit tests and end-to-end
# tests with real containers (needs root).
# The tests' containers live in cgroups under $OCIRUN_TEST_CGROUP (default ocirun-test); each
# test removes its own, and this script removes that parent from every hierarchy afterwards. A
# cgroup still below it is a leak: reported, and the run fails.
set -euo pipefail
cd "$(dirname "$0")/.."
# What the tests need: busybox-static, strace, uidmap, ... (Debian packages).
scripts/test-deps.sh
parent=${OCIRUN_TEST_CGROUP:-ocirun-test}
status=0
cargo test --workspace --no-fail-fast "$@" || status=$?
for dir in /sys/fs/cgroup/"$parent" /sys/fs/cgroup/*/"$parent"; do
    [ -d "$dir" ] || continue
    if ! rmdir "$dir" 2>/dev/null; then
        echo "scripts/test.sh: cannot remove $dir; left below it: $(find "$dir" -mindepth 1 -type d | tr '\n' ' ')" >&2
        status=1
    fi
done
exit "$status"
