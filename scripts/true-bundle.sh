#!/usr/bin/env bash
# Lays out the bundle the spawn-latency measurements run: a busybox rootfs
# (scripts/busybox-rootfs.sh) and the config.json `ocirun spec` writes, with terminal off,
# process `true`, and the pid, network, ipc, uts and mount namespaces (the floor's
# `unshare --pid --net --ipc --uts --mount`). ociVersion is 1.0.2-dev, which every runtime
# compared accepts (crun 1.8 refuses 1.2.0). Used by benches/compare.sh and scripts/hot-symbols.sh.
# Usage: scripts/true-bundle.sh DIR OCIRUN   (needs jq and /bin/busybox)
set -euo pipefail
bundle=${1:?usage: scripts/true-bundle.sh DIR OCIRUN}
ocirun=${2:?usage: scripts/true-bundle.sh DIR OCIRUN}
"$(dirname "$0")/busybox-rootfs.sh" "$bundle/rootfs"
"$ocirun" spec --bundle "$bundle"
jq '.ociVersion = "1.0.2-dev"
    | .process.terminal = false
    | .process.args = ["true"]
    | .linux.namespaces = [{"type":"pid"},{"type":"network"},{"type":"ipc"},{"type":"uts"},{"type":"mount"}]' \
    "$bundle/config.json" >"$bundle/config.json.new"
mv "$bundle/config.json.new" "$bundle/config.json"
