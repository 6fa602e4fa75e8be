#!/usr/bin/env bash
# The Kubernetes test (issue 16): ocirun as the runtime behind containerd's CRI plugin, checked
# by the Kubernetes project's CRI validation suite, critest (cri-tools v1.26.1).
#
# Usage: tests/k8s/run.sh [ocirun] [runc] [bench]      (default: ocirun runc)
#   ocirun  critest against the runtime handler "ocirun" (the ocirun built here);
#   runc    the same suite against the handler "runc" (/usr/sbin/runc), to compare;
#   bench   critest's benchmark specs (pod sandbox and container lifecycle through the CRI),
#           with each handler named before it (e.g. `ocirun runc bench`).
#
# Installs Debian's containerd, containernetworking-plugins, iproute2 and iptables if missing
# (without starting their services), builds ocirun and, with no registry, the images critest
# asks for (tests/k8s/images/: busybox with a shell that execs its commands, a web server
# answering HTTP 200, the user/group and no-new-privileges images, the pause image), imports
# them into a private containerd (root, state, sockets and CNI config under one temp dir; CRI on,
# both handlers; CNI bridge + portmap with containerd's loopback, plugins from /usr/lib/cni)
# and runs critest, skipping only the specs that pull from a registry. Whatever it started is
# stopped by pid on exit, even on failure, and its containers, mounts, network namespaces,
# cgroups, CNI state, iptables chains and bridge are removed.
#
# Environment:
#   OCIRUN_K8S_KEEP=1   keep the temp dir (logs) after the run.
#   OCIRUN_K8S_FOCUS=RE run only the specs matching RE (debugging).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
. "$repo/tests/lib.sh"
export DEBIAN_FRONTEND=noninteractive
start_time=$(date +%s)

runs=("$@")
[ ${#runs[@]} -gt 0 ] || runs=(ocirun runc)
for r in "${runs[@]}"; do
    case $r in ocirun | runc | bench) ;; *) echo "unknown run $r (ocirun, runc, bench)" >&2; exit 2 ;; esac
done

# The specs that must pull from a registry: every [k8s.io] Image Manager spec pulls its images
# (gcr.io/k8s-staging-cri-tools/test-image-*) and removes them again.
skip='\[k8s\.io\] Image Manager'

# ---------------------------------------------------------------------------------------------
# 1. What is needed.
# ---------------------------------------------------------------------------------------------
missing=()
command -v containerd >/dev/null && command -v ctr >/dev/null && command -v containerd-shim-runc-v2 >/dev/null || missing+=(containerd)
[ -x /usr/lib/cni/bridge ] && [ -x /usr/lib/cni/portmap ] && [ -x /usr/lib/cni/loopback ] || missing+=(containernetworking-plugins)
command -v ip >/dev/null || missing+=(iproute2)
command -v iptables >/dev/null || missing+=(iptables)
command -v ipcmk >/dev/null || missing+=(util-linux)
[ -x /bin/busybox ] || missing+=(busybox-static)
[ -x /bin/dash ] || missing+=(dash)
[ -f /usr/lib/x86_64-linux-gnu/libc.a ] || missing+=(libc6-dev)
command -v cc >/dev/null || missing+=(gcc)
[[ " ${runs[*]} " != *" runc "* ]] || [ -x /usr/sbin/runc ] || missing+=(runc)
install_packages "${missing[@]}"
for c in containerd ctr containerd-shim-runc-v2 ip iptables ipcmk cc; do
    command -v $c >/dev/null || { echo "k8s test: $c is missing and could not be installed" >&2; exit 1; }
done
critest_xz=$repo/../shared/tools/critest-v1.26.1.xz
[ -f "$critest_xz" ] || { echo "k8s test: $critest_xz is missing (see shared/tools/README.md)" >&2; exit 1; }

ocirun=$(build_ocirun "$repo")

tmp=$(mktemp -d /tmp/ocirun-k8s.XXXXXX)
chmod 755 "$tmp"
tag=${tmp##*.}
d=$tmp/containerd
sock=$d/containerd.sock
net=ocirun-k8s-$tag
bridge=ocik8s$tag # at most 15 characters
daemon_pids=()
runtime_roots=("$d/runtime-ocirun/k8s.io" "$d/runtime-runc/k8s.io")
netns_before=$(ls /var/run/netns 2>/dev/null || true)
cgroups_before=$(find /sys/fs/cgroup -maxdepth 3 -type d -name k8s.io 2>/dev/null | xargs -r -I{} find {} -mindepth 1 -maxdepth 1 -type d | sort)
hostport_chains_before=$(iptables -t nat -S 2>/dev/null | grep -c '^-N CNI-HOSTPORT' || true)
# CNI's bridge turns on IPv4 forwarding on the host; it is put back as it was.
ip_forward_before=$(cat /proc/sys/net/ipv4/ip_forward)

cleanup() {
    local rc=$? n m
    set +e
    trap - EXIT INT TERM
    trap '' PIPE
    echo "$ip_forward_before" >/proc/sys/net/ipv4/ip_forward
    say "cleanup"
    # The pods first, through the CRI (best effort): their shims and networks go with them.
    if [ -S "$sock" ] && [ -x "$tmp/critest" ]; then
        for n in $(ctr -a "$sock" -n k8s.io containers ls -q 2>/dev/null); do
            ctr -a "$sock" -n k8s.io tasks kill -s SIGKILL "$n" >/dev/null 2>&1
        done
    fi
    stop_pids "${daemon_pids[@]}"
    kill_naming "$tmp"
    delete_left "$ocirun" "${runtime_roots[0]}"
    delete_left /usr/sbin/runc "${runtime_roots[1]}"
    # Network namespaces containerd made (/var/run/netns/cni-*) and left.
    for n in $(ls /var/run/netns 2>/dev/null); do
        grep -qxF "$n" <<<"$netns_before" && continue
        [[ $n == cni-* ]] || continue
        echo "left behind: netns $n"
        umount "/var/run/netns/$n" 2>/dev/null
        rm -f "/var/run/netns/$n"
    done
    # The pods' cgroups (containerd's CRI puts them below k8s.io) that this run made.
    for m in $(find /sys/fs/cgroup -maxdepth 3 -type d -name k8s.io 2>/dev/null | xargs -r -I{} find {} -mindepth 1 -maxdepth 1 -type d | sort); do
        grep -qxF "$m" <<<"$cgroups_before" && continue
        cat "$m/cgroup.procs" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
        find "$m" -depth -type d -exec rmdir {} \; 2>/dev/null || sleep 0.5
        find "$m" -depth -type d -exec rmdir {} \; 2>/dev/null
        [ ! -d "$m" ] || { echo "cgroup $m is left (busy)"; rc=1; }
    done
    for m in $(find /sys/fs/cgroup -maxdepth 3 -type d -name k8s.io 2>/dev/null); do
        [ -n "$cgroups_before" ] || rmdir "$m" 2>/dev/null
    done
    unmount_under "$tmp" || { echo "mounts are left under $tmp"; rc=1; }
    # CNI: the bridge, the cached results of this network, its iptables chains (the bridge
    # plugin's masquerade chains are removed with each pod; portmap's top chains stay).
    if ip link show "$bridge" >/dev/null 2>&1; then ip link delete "$bridge"; fi
    rm -f /var/lib/cni/results/"$net"-* 2>/dev/null
    if [ "$hostport_chains_before" = 0 ]; then
        for c in CNI-HOSTPORT-DNAT CNI-HOSTPORT-SETMARK CNI-HOSTPORT-MASQ; do
            iptables -t nat -S 2>/dev/null | grep -E "^-A [A-Z]+ .*-j $c( |$)" | sed 's/^-A/-D/' |
                while read -r rule; do eval iptables -t nat "$rule"; done
            iptables -t nat -F $c 2>/dev/null && iptables -t nat -X $c 2>/dev/null
        done
    fi
    if [ "${OCIRUN_K8S_KEEP:-}" = 1 ]; then
        echo "everything kept in $tmp"
    elif [ $rc -ne 0 ] && unmount_under "$tmp"; then
        keep_logs "$tmp"
    elif unmount_under "$tmp"; then
        rm -rf "$tmp"
    fi
    echo "k8s test: $(($(date +%s) - start_time))s"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

xz -dc "$critest_xz" >"$tmp/critest.part" && chmod +x "$tmp/critest.part" && mv "$tmp/critest.part" "$tmp/critest"

# ---------------------------------------------------------------------------------------------
# 2. The images, built from this machine's files, under the names critest asks for.
# ---------------------------------------------------------------------------------------------
say "building the images"
img=$tmp/images
mkdir -p "$img/bin"
for p in pause webserver nnp; do
    cc -static -O2 -Wall -o "$img/bin/$p" "$here/images/$p.c"
done
"$here/images/build.sh" "$img" "$repo"

# ---------------------------------------------------------------------------------------------
# 3. containerd with the CRI plugin and both runtime handlers; CNI bridge + portmap.
# ---------------------------------------------------------------------------------------------
mkdir -p "$d/cni/net.d" "$d/cni-ipam"
# A subnet from the tag, so that two runs on one machine are unlikely to collide.
octet=$(($(cksum <<<"$tag" | cut -d' ' -f1) % 200 + 20))
cat >"$d/cni/net.d/10-$net.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "$net",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$bridge",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "10.213.$octet.0/24"}]],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dataDir": "$d/cni-ipam"
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
cat >"$d/config.toml" <<EOF
version = 2
root = "$d/root"
state = "$d/state"
[grpc]
  address = "$sock"
[ttrpc]
  address = "$sock.ttrpc"
[debug]
  address = ""
  level = "info"
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$d/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.6"
  # The bounding set of these machines lacks CAP_SYS_RESOURCE: no runtime can lower a
  # sandbox's oom_score_adj below the daemon's.
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "ocirun"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.ocirun]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.ocirun.options]
        BinaryName = "$ocirun"
        Root = "$d/runtime-ocirun"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "/usr/sbin/runc"
        Root = "$d/runtime-runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$d/cni/net.d"
EOF
say "starting containerd"
containerd --config "$d/config.toml" >"$d/containerd.log" 2>&1 &
daemon_pids+=($!)
echo "containerd pid $! on $sock"
if ! wait_for 30 ctr -a "$sock" version; then
    tail -20 "$d/containerd.log"
    echo "containerd did not come up" >&2
    exit 1
fi
for t in "$img"/*.tar; do
    ctr -a "$sock" -n k8s.io images import --all-platforms "$t" >/dev/null
done
ctr -a "$sock" -n k8s.io images ls -q

# ---------------------------------------------------------------------------------------------
# 4. critest, per handler.
# ---------------------------------------------------------------------------------------------
declare -A results=()
failed=0
critest() {
    local handler=$1
    shift
    (cd "$tmp" && ./critest -runtime-endpoint "unix://$sock" -image-endpoint "unix://$sock" \
        -runtime-handler "$handler" -runtime-service-timeout=10s -ginkgo.no-color "$@")
}
for r in "${runs[@]}"; do
    [ "$r" != bench ] || continue
    say "critest with the runtime handler $r"
    focus=()
    [ -z "${OCIRUN_K8S_FOCUS:-}" ] || focus=(-ginkgo.focus "$OCIRUN_K8S_FOCUS")
    t0=$(date +%s)
    rc=0
    critest "$r" -ginkgo.skip "$skip" "${focus[@]}" >"$tmp/critest-$r.log" 2>&1 || rc=$?
    summary=$(grep -E '^Ran [0-9]+ of [0-9]+ Specs' "$tmp/critest-$r.log" | tail -1)
    counts=$(grep -oE '[0-9]+ Passed \| [0-9]+ Failed \| [0-9]+ Pending \| [0-9]+ Skipped' "$tmp/critest-$r.log" | tail -1)
    results[$r]="$summary; $counts; $(($(date +%s) - t0)) s"
    grep -E '^\s*\[FAIL\]' "$tmp/critest-$r.log" | sort -u | sed 's/^/  /' || true
    if [ "$rc" -ne 0 ]; then
        failed=1
        echo "critest with $r failed (exit $rc); its log is kept (logs/critest-$r.log)"
        grep -B2 -A25 '^• \[FAILED\]' "$tmp/critest-$r.log" | grep -E 'FAILED|Expected|to equal|to be|<string>|Timed out' | head -60
    fi
done

# ---------------------------------------------------------------------------------------------
# 5. The benchmark specs: pod sandbox and container lifecycle latency through the CRI.
# ---------------------------------------------------------------------------------------------
if [[ " ${runs[*]} " == *" bench "* ]]; then
    for r in "${runs[@]}"; do
        [ "$r" != bench ] || continue
        say "critest -benchmark with the runtime handler $r"
        mkdir -p "$tmp/bench-$r"
        critest "$r" -benchmark -benchmarking-params-file "$here/bench-params.yaml" \
            -benchmarking-output-dir "$tmp/bench-$r" >"$tmp/bench-$r.log" 2>&1 || {
            failed=1
            tail -30 "$tmp/bench-$r.log"
        }
        python3 "$here/bench_summary.py" "$r" "$tmp/bench-$r" || failed=1
    done
fi

say "summary"
for r in "${!results[@]}"; do echo "  $r: ${results[$r]}"; done
echo "  skipped by -ginkgo.skip: $skip (they pull from a registry)"
exit $failed
