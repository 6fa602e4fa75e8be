#!/usr/bin/env bash
# The tests that need a host this machine is not: pure cgroup v2, systemd as pid 1 and a CRIU
# that works (Debian's CRIU 3.17 fails `criu check` on this host's 6.18 kernel). It boots
# Debian's kernel in qemu with software emulation (-accel tcg: KVM is not usable here), with
# the host's root shared read-only over 9p under a tmpfs overlay and systemd as pid 1, and runs
# there the test binaries built here. Only Debian packages are used; nothing is downloaded.
#
# Usage: scripts/vm-test.sh [package:test:filter ...]   (`.ci/run` calls it with none)
# Prints the VM's cgroup.controllers, each test binary's output, and `N passed, N failed`;
# exits non-zero on a failure or a boot problem (under OCIRUN_VM_TEST=1 a test whose host
# requirement is missing fails instead of skipping). Removes what it made.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

export DEBIAN_FRONTEND=noninteractive
need=()
command -v qemu-system-x86_64 >/dev/null 2>&1 || need+=(qemu-system-x86)
ls /boot/vmlinuz-*-amd64 >/dev/null 2>&1 || need+=(linux-image-amd64)
[ -x /lib/systemd/systemd ] || need+=(systemd)
command -v criu >/dev/null 2>&1 || need+=(criu)
command -v jq >/dev/null 2>&1 || need+=(jq)
[ -x /bin/busybox ] || need+=(busybox-static)
# The user bus of a user's own systemd (rootless --systemd-cgroup talks to it).
[ -e /usr/lib/systemd/user/dbus.socket ] || need+=(dbus-user-session)
if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq
    apt-get install -y -qq "${need[@]}" >/dev/null
fi

kernel=$(ls -v /boot/vmlinuz-*-amd64 | tail -n 1)
kver=${kernel#/boot/vmlinuz-}
tmp=$(mktemp -d /tmp/ocirun-vm.XXXXXX)
qemu_pid=
cleanup() {
    if [ -n "$qemu_pid" ] && kill -0 "$qemu_pid" 2>/dev/null; then
        kill -9 "$qemu_pid" 2>/dev/null || true
        wait "$qemu_pid" 2>/dev/null || true
    fi
    [ -n "${VM_KEEP:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT

# The test binaries, built here; the VM runs them from the shared root, where every path the
# build recorded (CARGO_BIN_EXE_ocirun, CARGO_MANIFEST_DIR) is the same.
# Each entry: package:test target:name filter (empty: all of its tests). Arguments in the same
# form replace the list (e.g. `scripts/vm-test.sh ocirun:checkpoint:pre_dump`).
tests=(
    "ocirun-cgroups:real_kernel:"
    "ocirun:vm_host:"
    "ocirun:cgroups:"
    "ocirun:checkpoint:"
    "ocirun:rootless:"
)
[ $# -gt 0 ] && tests=("$@")
bins=()
filters=()
for t in "${tests[@]}"; do
    IFS=: read -r pkg name filter <<<"$t"
    filters+=("$filter")
    bin=$(cargo test -q -p "$pkg" --test "$name" --no-run --message-format=json-render-diagnostics |
        jq -r 'select(.reason == "compiler-artifact" and .target.name == "'"$name"'" and .executable != null) | .executable' |
        tail -n 1)
    [ -x "$bin" ] || {
        echo "vm-test: could not build the test binary $pkg/$name" >&2
        exit 1
    }
    bins+=("$bin")
done
cargo build -q -p ocirun
snap=("${bins[@]}" "$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)/debug/ocirun")
mkdir -p "$tmp/out/bin"
for f in "${snap[@]}"; do
    cp "$f" "$tmp/out/bin/"
done

# The initramfs: busybox and the modules that reach the shared root (9p over virtio, overlay).
initrd="$tmp/initrd"
mkdir -p "$initrd"/{bin,modules,proc,sys,dev}
cp /bin/busybox "$initrd/bin/busybox"
cp scripts/vm/init "$initrd/init"
chmod +x "$initrd/init"
declare -A seen=()
add_module() {
    local m=$1 dep
    [ -n "${seen[$m]:-}" ] && return
    seen[$m]=1
    for dep in $(modinfo -k "$kver" -F depends "$m" | tr ',' ' '); do
        add_module "$dep"
    done
    local file
    file=$(modinfo -k "$kver" -F filename "$m")
    case "$file" in
    (builtin* | "") return ;;
    esac
    local out="$initrd/modules/$(basename "${file%.xz}")"
    case "$file" in
    (*.xz) xz -dc "$file" >"$out" ;;
    (*) cp "$file" "$out" ;;
    esac
    basename "$out" >>"$initrd/modules.order"
}
for m in virtio_pci 9pnet_virtio 9p overlay; do
    add_module "$m"
done
(cd "$initrd" && find . | cpio -o -H newc --quiet | gzip -1) >"$tmp/initrd.gz"

# What the VM reads and writes: its systemd units and the runner, the results.
out="$tmp/out"
mkdir -p "$out/units" "$out/bin"
cp scripts/vm/ocirun-vmtest.target scripts/vm/ocirun-vmtest.service "$out/units/"
{
    echo '#!/bin/sh'
    echo '# Runs in the VM, as the unit ocirun-vmtest.service, under systemd.'
    echo 'exec >/vm-out/log 2>&1'
    echo 'export OCIRUN_VM_TEST=1 HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin'
    echo 'echo "vm: kernel $(uname -r), pid 1 $(cat /proc/1/comm), cgroup.controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"'
    echo 'echo "vm: criu check: $(criu check 2>&1 | tail -n 1)"'
    # Copies of the binaries, bound over the paths the tests know: a build on the host while the
    # VM runs must not change a binary under a running test (9p shares the host's files live).
    for f in "${snap[@]}"; do
        echo "mount --bind /vm-out/bin/$(basename "$f") $f"
    done
    echo "cd $repo"
    echo 'status=0'
    # Each test binary has 240 s (all of them take about 170 s in all). One that hangs is
    # killed, after its threads' kernel stacks and every process in D state are in the log.
    cat <<'RUN'
run_bounded() {
    "$@" &
    pid=$!
    ticks=0
    while kill -0 "$pid" 2>/dev/null; do
        if [ "$ticks" -ge 2400 ]; then
            echo "vm: $1 still running after 240 s; killed. Its threads (state, wchan, kernel stack):"
            for t in /proc/"$pid"/task/*; do
                echo "== $(cat "$t"/comm) $(awk '/^State/ {print $2}' "$t"/status) $(cat "$t"/wchan)"
                cat "$t"/stack
            done
            echo "vm: processes in D state:"
            for p in /proc/[0-9]*; do
                if [ "$(awk '/^State/ {print $2}' "$p"/status 2>/dev/null)" = D ]; then
                    echo "== $(basename "$p") $(cat "$p"/comm)"
                    cat "$p"/stack
                fi
            done
            kill -9 "$pid"
            wait "$pid"
            return 1
        fi
        sleep 0.1
        ticks=$((ticks + 1))
    done
    wait "$pid"
}
RUN
    for i in "${!bins[@]}"; do
        echo "echo \"vm: running ${bins[$i]} ${filters[$i]}\""
        echo "run_bounded ${bins[$i]} --test-threads=2 ${filters[$i]} || status=1"
    done
    echo 'echo "vm: status $status"'
    echo 'sync'
} >"$out/runner.sh"
chmod +x "$out/runner.sh"

# A small virtio disk, the block device the io controller's throttles name (vda).
truncate -s 16M "$tmp/disk.img"

echo "vm-test: booting $kernel (tcg, systemd as pid 1)"
start=$SECONDS
qemu-system-x86_64 -accel tcg -cpu max -smp 2 -m 3072 -nographic -no-reboot \
    -kernel "$kernel" -initrd "$tmp/initrd.gz" \
    -append "console=ttyS0 rdinit=/init panic=-1 quiet systemd.unified_cgroup_hierarchy=1" \
    -virtfs local,path=/,mount_tag=hostroot,security_model=passthrough,readonly=on,multidevs=remap \
    -virtfs "local,path=$out,mount_tag=vmout,security_model=passthrough,multidevs=remap" \
    -drive "file=$tmp/disk.img,if=virtio,format=raw" \
    >"$tmp/console" 2>&1 </dev/null &
qemu_pid=$!
deadline=$((SECONDS + 1200))
while kill -0 "$qemu_pid" 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then
        echo "vm-test: the VM did not finish within 20 minutes; console:" >&2
        tail -n 40 "$tmp/console" >&2
        exit 1
    fi
    sleep 2
done
wait "$qemu_pid" || true
qemu_pid=
if [ ! -s "$out/log" ]; then
    echo "vm-test: the VM ran no test; console:" >&2
    tail -n 60 "$tmp/console" >&2
    exit 1
fi
cat "$out/log"
passed=$(grep -Eo 'test result: [a-zA-Z]+\. [0-9]+ passed' "$out/log" | awk '{s += $4} END {print s + 0}')
failed=$(grep -Eo '[0-9]+ failed' "$out/log" | awk '{s += $1} END {print s + 0}')
echo "vm-test: $((SECONDS - start)) s in the VM"
echo "$passed passed, $failed failed"
if ! grep -q '^vm: status 0$' "$out/log" || [ "$failed" -ne 0 ]; then
    exit 1
fi
