#!/usr/bin/env bash
# Builds ocirun and a busybox bundle (no download: Debian's busybox-static), then runs a container.
# Usage: scripts/demo.sh [command...]   (default: a shell one-liner that shows the container's view)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x /bin/busybox ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static
fi
# The binary to ship: static (musl where Rust's musl target is installed), packed relocations,
# hot functions first (scripts/release-flags.sh).
target=$(scripts/release-flags.sh --target)
RUSTFLAGS="$(scripts/release-flags.sh)" cargo build --release -q -p ocirun --target "$target"
bin=${CARGO_TARGET_DIR:-$PWD/target}/$target/release/ocirun
bundle=${BUNDLE:-/tmp/ocirun-demo}
rm -rf "$bundle"
scripts/busybox-rootfs.sh "$bundle/rootfs"
"$bin" spec --bundle "$bundle"
if [ $# -eq 0 ]; then
    set -- sh -c 'echo "hello from $(hostname), pid $$"; id; ls /; cat /proc/self/cgroup | head -3'
fi
args=$(python3 -c 'import json,sys; print(json.dumps(sys.argv[1:]))' "$@")
python3 - "$bundle/config.json" "$args" <<'PY'
import json, sys
path, args = sys.argv[1], json.loads(sys.argv[2])
spec = json.load(open(path))
spec["process"]["terminal"] = False
spec["process"]["args"] = args
json.dump(spec, open(path, "w"), indent=2)
PY
status=0
"$bin" --root /run/ocirun-demo run --bundle "$bundle" "demo-$$" || status=$?
# The container's cgroup is gone with it; its parent, ocirun's default (/ocirun), goes too when
# nothing else uses it.
for dir in /sys/fs/cgroup/ocirun /sys/fs/cgroup/*/ocirun; do
    [ -d "$dir" ] && rmdir "$dir" 2>/dev/null || true
done
exit "$status"
