#!/usr/bin/env bash
# The client suite (issue 6): runs containers through containerd (ctr), podman and dockerd
# with ocirun as their OCI runtime, given directly by path (no wrapper).
#
# Usage: tests/clients/run.sh [containerd] [podman] [podman-rootless] [docker]   (default: all)
#
# Installs Debian's containerd, podman and docker.io if missing (without starting their
# services), builds ocirun and a busybox image (from /bin/busybox, no registry), starts each
# daemon privately (state, roots and unix sockets under one temp dir, no TCP), and checks per
# engine: output, exit code, pid 1, env and cwd, stdin, a terminal (docker and podman), a
# detached container with exec, ps, pause and resume, the runtime's own view of its state,
# kill, wait returning 137, and delete. podman-rootless runs podman as a user this run makes
# with useradd (rootless podman: its user namespace through newuidmap/newgidmap, vfs storage),
# with ocirun in rootless mode. Every check prints PASS or FAIL with its command; the suite
# exits non-zero if any check fails. Every daemon it started is stopped by pid on exit, even
# when a check fails, and its mounts, cgroups and temp dir are removed.
#
# Environment:
#   OCIRUN_CLIENTS_RUNTIME  the runtime to give the engines (default: the ocirun built here);
#                           /usr/sbin/runc checks the harness itself.
#   OCIRUN_CLIENTS_KEEP=1   keep the temp dir (logs) after the run.
#   OCIRUN_CLIENTS_TRACE=1  debugging only: give the engines a script that records each
#                           runtime call (argv and exit status) in <tmp>/runtime-calls.log.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
. "$repo/tests/lib.sh"
export DEBIAN_FRONTEND=noninteractive
start_time=$(date +%s)

engines=("$@")
[ ${#engines[@]} -gt 0 ] || engines=(containerd podman podman-rootless docker)
for e in "${engines[@]}"; do
    case $e in containerd | podman | podman-rootless | docker) ;; *) echo "unknown engine $e (containerd, podman, podman-rootless, docker)" >&2; exit 2 ;; esac
done

# ---------------------------------------------------------------------------------------------
# 1. Install what is missing, without letting the packages start their services.
# ---------------------------------------------------------------------------------------------
declare -A pkg_of=([containerd]=containerd [podman]=podman [podman-rootless]="podman uidmap slirp4netns" [docker]=docker.io)
declare -A skipped=()
has_engine() {
    case $1 in
    containerd) command -v containerd && command -v ctr && command -v containerd-shim-runc-v2 ;;
    podman) command -v podman && command -v conmon ;;
    podman-rootless) command -v podman && command -v conmon && command -v newuidmap && command -v slirp4netns ;;
    docker) command -v dockerd && [ -x /usr/bin/docker ] && command -v containerd ;;
    esac >/dev/null 2>&1
}
missing=()
for e in "${engines[@]}"; do has_engine "$e" || missing+=(${pkg_of[$e]}); done
[ -x /bin/busybox ] || missing+=(busybox-static)
install_packages "${missing[@]}"
for e in "${engines[@]}"; do
    if ! has_engine "$e"; then
        skipped[$e]=1
        printf '\n!!!!!!!!!! SKIP %s: Debian package %s could not be installed: NOT TESTED !!!!!!!!!!\n' "$e" "${pkg_of[$e]}" >&2
    fi
done
[ -x /bin/busybox ] || { echo "no /bin/busybox (busybox-static could not be installed)" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------
# 2. The runtime and the image.
# ---------------------------------------------------------------------------------------------
if [ -n "${OCIRUN_CLIENTS_RUNTIME:-}" ]; then
    runtime=$OCIRUN_CLIENTS_RUNTIME
else
    runtime=$(build_ocirun "$repo")
fi
runtime=$(readlink -f "$runtime")
[ -x "$runtime" ] || { echo "runtime $runtime is not executable" >&2; exit 1; }
rt_name=$(basename "$runtime")

tmp=$(mktemp -d /tmp/ocirun-clients.XXXXXX)
chmod 755 "$tmp"
tag=${tmp##*.}
cgparent=ocirun-clients-$tag # every engine puts its containers' cgroups under this parent
daemon_pids=()
runtime_roots=() # the runtime's --root dirs the engines use

made_outside=()
for m in /etc/docker/key.json /var/lib/containers/cache /var/lib/containers; do
    [ -e "$m" ] || made_outside+=("$m")
done

# dockerd turns on IPv4 forwarding on the host; it is put back as it was.
ip_forward_before=$(cat /proc/sys/net/ipv4/ip_forward)

# Stops every daemon this run started, by pid, then removes what they left.
cleanup() {
    local rc=$? pid i
    set +e
    trap - EXIT INT TERM
    trap '' PIPE # a reader of our output that went away must not stop the cleanup
    echo "$ip_forward_before" >/proc/sys/net/ipv4/ip_forward
    say "cleanup"
    # Containers first, through the engines that made them (best effort).
    local podman_ids=()
    if [ -n "${podman_cmd+x}" ]; then
        podman_ids=($(timeout 30 "${podman_cmd[@]}" ps -aq --no-trunc 2>/dev/null))
        timeout 60 "${podman_cmd[@]}" rm -af -t 0 >/dev/null 2>&1
    fi
    [ -z "${docker_cmd+x}" ] || timeout 30 "${docker_cmd[@]}" rm -f c-sleep >/dev/null 2>&1
    # The rootless user's containers, then what still runs as that user (all of it started by
    # this run), by pid, then the user with its home.
    if [ -n "${rl_user:-}" ]; then
        [ -z "${podman_rl_cmd+x}" ] || timeout 60 "${podman_rl_cmd[@]}" rm -af -t 0 >/dev/null 2>&1
        for pid in $(pgrep -u "$rl_user"); do
            echo "left behind: pid $pid of $rl_user $(tr '\0' ' ' </proc/"$pid"/cmdline 2>/dev/null | cut -c1-60): SIGKILL"
            kill -KILL "$pid" 2>/dev/null
        done
        wait_for 10 sh -c "! pgrep -u $rl_user" || echo "processes of $rl_user outlive SIGKILL"
        unmount_under "/home/$rl_user"
        userdel -r -f "$rl_user" >/dev/null 2>&1 || { echo "userdel $rl_user failed"; rc=1; }
    fi
    stop_pids "${daemon_pids[@]}"
    # Shims and conmons of this run: their command lines name our temp dir.
    kill_naming "$tmp"
    # Containers the runtime still knows about, in each runtime root of this run.
    delete_left "$runtime" "${runtime_roots[@]}"
    # podman's containers are in the runtime's default root, with other users' containers.
    for id in "${podman_ids[@]}"; do
        if "$runtime" state "$id" >/dev/null 2>&1; then
            echo "left behind: podman's container $id: $rt_name delete --force"
            "$runtime" delete --force "$id"
        fi
    done
    # Any process still in this run's cgroup parent is a container process of this run.
    kill_in_cgroups "$cgparent" || rc=1
    # Mounts under the temp dir (overlays, netns bind mounts), deepest first.
    unmount_under "$tmp"
    # The cgroup parent, in every hierarchy, deepest first.
    remove_cgroups "$cgparent" || rc=1
    # What the engines write outside their given dirs: dockerd 20.10's /etc/docker/key.json,
    # podman's /var/lib/containers/cache; removed if this run made them.
    for m in "${made_outside[@]}"; do [ ! -e "$m" ] || { echo "removing $m"; rm -rf "$m"; }; done
    if ! unmount_under "$tmp"; then
        echo "mounts are left under $tmp; not removing it"
        rc=1
    elif [ "${OCIRUN_CLIENTS_KEEP:-}" = 1 ] || [ $rc -ne 0 ]; then
        if [ "${OCIRUN_CLIENTS_KEEP:-}" = 1 ]; then
            echo "everything kept in $tmp"
        else
            # The daemons' logs (containerd.log, dockerd.log) and the runtime's log.json files.
            keep_logs "$tmp"
        fi
    else
        rm -rf "$tmp"
    fi
    echo "client suite: $(($(date +%s) - start_time))s"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rt=$runtime
if [ "${OCIRUN_CLIENTS_TRACE:-}" = 1 ]; then
    rt=$tmp/trace-$rt_name
    cat >"$rt" <<EOF
#!/bin/sh
echo "\$(date +%T.%N) \$*" >>$tmp/runtime-calls.log
$runtime "\$@"
rc=\$?
echo "\$(date +%T.%N) exit \$rc: \$*" >>$tmp/runtime-calls.log
exit \$rc
EOF
    chmod +x "$rt"
fi
echo "runtime given to the engines: $rt"

say "building the busybox image"
rootfs=$tmp/image-rootfs
"$repo/scripts/busybox-rootfs.sh" "$rootfs"
python3 "$here/mkimage.py" "$rootfs" "$tmp/busybox.tar" busybox:ocirun-clients
rm -rf "$rootfs"
image=docker.io/library/busybox:ocirun-clients

# ---------------------------------------------------------------------------------------------
# Checks.
# ---------------------------------------------------------------------------------------------
passes=0
failures=()
engine=

# check NAME WANT_RC WANT_OUT CMD...: runs CMD (stdin from $CHECK_STDIN, else /dev/null) and
# compares its exit code and its stdout (trailing newlines and CRs dropped) with what is wanted;
# WANT_OUT "*" takes any output.
check() {
    local name=$1 want_rc=$2 want_out=$3 rc=0 out
    shift 3
    local limit=(timeout -k 5 60)
    ! declare -F "$1" >/dev/null || limit=() # a function of this script
    if [ -n "${CHECK_STDIN+x}" ]; then
        # The input comes after a second: `ctr run` (1.6) closes the task's stdin at EOF only
        # once the task exists; an EOF that comes earlier is lost and `cat` never ends.
        out=$({ sleep 1; printf '%s\n' "$CHECK_STDIN"; } | "${limit[@]}" "$@" 2>"$tmp/check.err") || rc=$?
    else
        out=$("${limit[@]}" "$@" </dev/null 2>"$tmp/check.err") || rc=$?
    fi
    out=${out//$'\r'/}
    if [ "$rc" = "$want_rc" ] && { [ "$want_out" = "*" ] || [ "$out" = "$want_out" ]; }; then
        passes=$((passes + 1))
        printf 'PASS %-10s %-22s %s\n' "$engine" "$name" "$(printf '%q ' "$@")"
    else
        failures+=("$engine: $name")
        printf 'FAIL %-10s %-22s %s\n' "$engine" "$name" "$(printf '%q ' "$@")"
        printf '     wanted exit %s and output %q\n     got    exit %s and output %q\n' "$want_rc" "$want_out" "$rc" "$out"
        sed 's/^/     stderr: /' "$tmp/check.err" | head -20
    fi
}

# must CMD...: a setup step; its failure fails the engine's remaining checks.
must() {
    if ! out=$(timeout -k 5 60 "$@" </dev/null 2>&1); then
        failures+=("$engine: setup: $*")
        printf 'FAIL %-10s %-22s %s\n%s\n' "$engine" setup "$(printf '%q ' "$@")" "$(echo "$out" | tail -20 | sed 's/^/     /')"
        return 1
    fi
}

# start_containerd DIR: a private containerd (root, state, sockets in DIR; CRI off).
start_containerd() {
    local d=$1
    mkdir -p "$d"
    cat >"$d/config.toml" <<EOF
version = 2
root = "$d/root"
state = "$d/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$d/containerd.sock"
[ttrpc]
  address = "$d/containerd.sock.ttrpc"
[debug]
  address = ""
  level = "debug"
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$d/opt"
EOF
    containerd --config "$d/config.toml" >"$d/containerd.log" 2>&1 &
    daemon_pids+=($!)
    echo "containerd pid $! on $d/containerd.sock"
    wait_for 30 ctr -a "$d/containerd.sock" version || {
        tail -20 "$d/containerd.log"
        must false "containerd did not come up"
    }
}

# state_is ROOT ID STATUS: the runtime itself (its state store under ROOT, or its default root
# if ROOT is empty) sees the container so.
state_is() {
    local out
    out=$("$runtime" ${1:+--root "$1"} state "$2" 2>/dev/null) || return 1
    grep -q "\"status\": *\"$3\"" <<<"$out"
}

# ---------------------------------------------------------------------------------------------
# containerd: ctr run --runc-binary
# ---------------------------------------------------------------------------------------------
test_containerd() {
    local d=$tmp/containerd ns=ocirun-clients
    start_containerd "$d" || return 0
    local ctr=(ctr -a "$d/containerd.sock" -n $ns)
    must "${ctr[@]}" images import "$tmp/busybox.tar" || return 0
    local rr=$d/runtime-root
    mkdir -p "$rr" "$d/fifo"
    runtime_roots+=("$rr/$ns")
    local run=("${ctr[@]}" run --runc-binary "$rt" --runc-root "$rr" --fifo-dir "$d/fifo")
    cg() { echo "--cgroup=/$cgparent/$1"; }
    check output 0 hello "${run[@]}" --rm "$(cg c1)" $image c1 echo hello
    check exit-code 3 "" "${run[@]}" --rm "$(cg c2)" $image c2 sh -c 'exit 3'
    check pid-1 0 1 "${run[@]}" --rm "$(cg c3)" $image c3 sh -c 'echo $$'
    check env-cwd 0 "bar /tmp" "${run[@]}" --rm "$(cg c4)" --env FOO=bar --cwd /tmp $image c4 sh -c 'echo $FOO $(pwd)'
    CHECK_STDIN=hi check stdin 0 hi "${run[@]}" --rm "$(cg c5)" $image c5 cat
    check run-detached 0 "" "${run[@]}" -d "$(cg c-sleep)" $image c-sleep sleep 300
    check runtime-state 0 "" state_is "$rr/$ns" c-sleep running
    check exec 5 in-exec "${ctr[@]}" task exec --fifo-dir "$d/fifo" --exec-id e1 c-sleep sh -c 'echo in-exec; exit 5'
    check exec-pid 0 1 "${ctr[@]}" task exec --fifo-dir "$d/fifo" --exec-id e2 c-sleep sh -c 'cat /proc/1/comm | grep -q sleep && echo 1'
    check ps 0 "*" "${ctr[@]}" task ps c-sleep
    check pause 0 "" "${ctr[@]}" task pause c-sleep
    check paused 0 "" state_is "$rr/$ns" c-sleep paused
    check resume 0 "" "${ctr[@]}" task resume c-sleep
    check resumed 0 "" state_is "$rr/$ns" c-sleep running
    # ctr has no `wait`: `ctr task attach` waits for the task, deletes it (the runtime's
    # `delete`) and exits with its status.
    "${ctr[@]}" task attach c-sleep </dev/null >/dev/null 2>&1 &
    local waiter=$! status=0
    sleep 0.5
    check kill 0 "" "${ctr[@]}" task kill -s SIGKILL c-sleep
    timeout 30 tail --pid=$waiter -f /dev/null || kill -KILL $waiter
    wait $waiter || status=$?
    check wait-137 0 137 echo $status # the exit status of `ctr task attach c-sleep`
    check delete 0 "" "${ctr[@]}" containers delete c-sleep
    check gone 0 "" "${ctr[@]}" containers ls -q
    check runtime-list 0 "" "$runtime" --root "$rr/$ns" list -q
}

# The checks podman and docker share (their CLIs agree): $1 is the runtime's state root the
# engine uses ("" for the default), $2 the runtime name `inspect` must show ("" to skip), then
# the engine's command; "${run[@]}" (the engine's `run` with its own flags) must be set.
engine_checks() {
    local root=$1 name=$2
    shift 2
    local e=("$@")
    check output 0 hello "${run[@]}" --rm $image echo hello
    check exit-code 3 "" "${run[@]}" --rm $image sh -c 'exit 3'
    check pid-1 0 1 "${run[@]}" --rm $image sh -c 'echo $$'
    check env-cwd 0 "bar /tmp" "${run[@]}" --rm -e FOO=bar -w /tmp $image sh -c 'echo $FOO $(pwd)'
    CHECK_STDIN=hi check stdin 0 hi "${run[@]}" --rm -i $image cat
    check terminal 0 tty "${run[@]}" --rm -t $image sh -c 'test -t 0 && test -t 1 && echo tty'
    check run-detached 0 "*" "${run[@]}" -d --name c-sleep $image sleep 300
    if [ -n "$name" ]; then
        check runtime-name 0 "$name" "${e[@]}" inspect -f '{{.HostConfig.Runtime}}' c-sleep
    fi
    local id
    id=$("${e[@]}" inspect -f '{{.Id}}' c-sleep 2>/dev/null) || id=none
    check runtime-state 0 "" state_is "$root" "$id" running
    check exec 5 in-exec "${e[@]}" exec c-sleep sh -c 'echo in-exec; exit 5'
    check exec-pid 0 1 "${e[@]}" exec c-sleep sh -c 'cat /proc/1/comm | grep -q sleep && echo 1'
    check exec-terminal 0 tty "${e[@]}" exec -t c-sleep sh -c 'test -t 1 && echo tty'
    check top 0 "*" "${e[@]}" top c-sleep
    if [ -n "${SKIP_PAUSE:-}" ]; then
        printf 'SKIP %-10s %-22s %s\n' "$engine" "pause, unpause" "$SKIP_PAUSE"
    else
        check pause 0 "*" "${e[@]}" pause c-sleep
        check paused 0 "" state_is "$root" "$id" paused
        check unpause 0 "*" "${e[@]}" unpause c-sleep
        check unpaused 0 "" state_is "$root" "$id" running
    fi
    check kill 0 "*" "${e[@]}" kill c-sleep
    check wait-137 0 137 "${e[@]}" wait c-sleep
    check delete 0 "*" "${e[@]}" rm c-sleep
    check gone 0 "" "${e[@]}" ps -aq
    LAST_ID=$id
}

# ---------------------------------------------------------------------------------------------
# podman --runtime
# ---------------------------------------------------------------------------------------------
test_podman() {
    local d=$tmp/podman
    mkdir -p "$d"/{root,run,tmp}
    # No daemon: every podman call names the private storage, run and tmp dirs.
    # podman passes no --root to the runtime: its state goes to the runtime's default root.
    # (`--runtime-flag root=...` is not an option: podman 4.3 drops it from `delete --force`.)
    podman_cmd=(podman --root "$d/root" --runroot "$d/run" --tmpdir "$d/tmp" --runtime "$rt"
        --cgroup-manager cgroupfs --events-backend file --storage-driver overlay)
    local p=("${podman_cmd[@]}")
    must "${p[@]}" load -q -i "$tmp/busybox.tar" || return 0
    # podman (as root) sets RLIMIT_NOFILE and RLIMIT_NPROC to 1048576 in the spec, above the
    # hard limits it runs conmon with here; raising them needs CAP_SYS_RESOURCE, which CI
    # sandboxes lack, and then every runtime (runc too) fails. Lowering needs no privilege.
    local run=("${p[@]}" run --network none --cgroup-parent "/$cgparent"
        --ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
    engine_checks "" "" "${p[@]}"
    check runtime-gone 1 "" state_is "" "$LAST_ID" stopped
}

# ---------------------------------------------------------------------------------------------
# rootless podman --runtime: podman run by an unprivileged user
# ---------------------------------------------------------------------------------------------
test_podman-rootless() {
    rl_user=ocicl$tag
    useradd -m -s /bin/sh "$rl_user" || { must false "useradd $rl_user"; return 0; }
    local home=/home/$rl_user uid gid
    uid=$(id -u "$rl_user") gid=$(id -g "$rl_user")
    grep -q "^$rl_user:" /etc/subuid || { must false "useradd gave $rl_user no /etc/subuid range"; return 0; }
    # Its login session's runtime dir, and the runtime where the user can run it.
    mkdir -p "$home/run"
    chmod 700 "$home/run"
    install -m 755 "$runtime" "$home/$rt_name"
    chown -R "$uid:$gid" "$home"
    # podman's state under the user's home (vfs: no overlay needed); podman calls the runtime
    # in its own user namespace with XDG_RUNTIME_DIR set: the runtime keeps its state in
    # $XDG_RUNTIME_DIR/<its name> (runc: runc, ocirun: ocirun).
    podman_rl_cmd=(setpriv --reuid="$uid" --regid="$gid" --init-groups
        env -i PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin HOME="$home" USER="$rl_user"
        XDG_RUNTIME_DIR="$home/run"
        podman --runtime "$home/$rt_name" --cgroup-manager cgroupfs --events-backend file
        --storage-driver vfs)
    local p=("${podman_rl_cmd[@]}")
    must "${p[@]}" load -q -i "$tmp/busybox.tar" || return 0
    local run=("${p[@]}" run --network none)
    # Without a cgroup delegated to the user (cgroup v1 here), podman has no cgroup to freeze:
    # it refuses pause for rootless containers on v1, whatever the runtime.
    local skip_pause="cgroup v1: podman cannot pause a rootless container"
    [ "$(stat -fc %T /sys/fs/cgroup)" != cgroup2fs ] || skip_pause=
    SKIP_PAUSE=$skip_pause engine_checks "$home/run/$rt_name" "" "${p[@]}"
    check runtime-gone 1 "" state_is "$home/run/$rt_name" "$LAST_ID" stopped
    check rootless-uid-map 0 "0 $uid 1" "${run[@]}" --rm $image sh -c 'head -1 /proc/self/uid_map | tr -s " " | sed "s/^ //"'
}

# ---------------------------------------------------------------------------------------------
# dockerd --add-runtime
# ---------------------------------------------------------------------------------------------
test_docker() {
    local d=$tmp/docker
    start_containerd "$d/containerd" || return 0
    mkdir -p "$d"/{data,exec,cli}
    echo '{}' >"$d/daemon.json"
    dockerd --host "unix://$d/docker.sock" --data-root "$d/data" --exec-root "$d/exec" \
        --pidfile "$d/docker.pid" --config-file "$d/daemon.json" \
        --containerd "$d/containerd/containerd.sock" --storage-driver overlay2 \
        --bridge none --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
        --userland-proxy=false --cgroup-parent "/$cgparent" \
        --add-runtime "ocirun=$rt" --default-runtime ocirun >"$d/dockerd.log" 2>&1 &
    daemon_pids+=($!)
    echo "dockerd pid $! on $d/docker.sock"
    docker_cmd=(env DOCKER_CONFIG="$d/cli" /usr/bin/docker -H "unix://$d/docker.sock")
    # dockerd 20.10 gives every runtime of the runc shim the root <exec-root>/runtime-runc.
    runtime_roots+=("$d/exec/runtime-runc/moby")
    local k=("${docker_cmd[@]}")
    wait_for 60 "${k[@]}" version || { tail -20 "$d/dockerd.log"; must false "dockerd did not come up"; return 0; }
    must "${k[@]}" load -q -i "$tmp/busybox.tar" || return 0
    local run=("${k[@]}" run --network none)
    engine_checks "$d/exec/runtime-runc/moby" ocirun "${k[@]}"
    check runtime-list 0 "" "$runtime" --root "$d/exec/runtime-runc/moby" list -q
}

for engine in "${engines[@]}"; do
    [ -z "${skipped[$engine]:-}" ] || continue
    say "$engine with $rt_name ($runtime)"
    "test_$engine"
done

say "summary: $passes passed, ${#failures[@]} failed, runtime $runtime"
for f in "${failures[@]}"; do echo "  FAILED: $f"; done
for e in "${!skipped[@]}"; do echo "  SKIPPED (package ${pkg_of[$e]} could not be installed): $e"; done
[ ${#skipped[@]} -lt ${#engines[@]} ] || { echo "every engine was skipped: nothing was tested" >&2; exit 1; }
[ ${#failures[@]} -eq 0 ]
