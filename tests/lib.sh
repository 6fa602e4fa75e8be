# What the suites that run ocirun under real engines share (sourced by tests/clients/run.sh
# and tests/k8s/run.sh): installing Debian packages without starting their services, building
# ocirun, polling, and the steps of a cleanup that stops only what the suite started.

say() { printf '\n=== %s\n' "$*"; }

# wait_for SECONDS CMD...: polls CMD until it succeeds.
wait_for() {
    local n=$(($1 * 10))
    shift
    while ! "$@" >/dev/null 2>&1; do
        n=$((n - 1))
        [ $n -gt 0 ] || return 1
        sleep 0.1
    done
}

# install_packages PKG...: apt-get installs the packages, without letting them start their
# services; each on its own if installing them together fails. The caller checks what it got.
install_packages() {
    [ $# -gt 0 ] || return 0
    say "installing $*"
    local policy=/usr/sbin/policy-rc.d own_policy=
    if [ ! -e $policy ]; then
        # invoke-rc.d asks policy-rc.d; 101 = "action forbidden": no service starts during install.
        printf '#!/bin/sh\nexit 101\n' >$policy && chmod +x $policy && own_policy=1
    fi
    apt-get update -qq || true
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null; then
        local p
        for p in "$@"; do DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$p" >/dev/null || true; done
    fi
    [ -z "$own_policy" ] || rm -f $policy
}

# build_ocirun REPO: builds the debug ocirun of the checkout at REPO and prints its path.
build_ocirun() {
    say "building ocirun" >&2
    (cd "$1" && cargo build -q -p ocirun) >&2
    readlink -f "${CARGO_TARGET_DIR:-$1/target}/debug/ocirun"
}

# listening_sockets PID: the paths of the unix sockets process PID has open.
listening_sockets() {
    local fd ino
    for fd in /proc/"$1"/fd/*; do
        ino=$(readlink "$fd" 2>/dev/null) || continue
        [[ $ino == socket:* ]] || continue
        ino=${ino#socket:[}
        awk -v i="${ino%]}" '$7 == i && $8 != "" { print $8 }' /proc/net/unix
    done 2>/dev/null | sort -u
}

# stop_pids PID...: SIGTERM to each, last first, SIGKILL to one that outlives 10 s; reaps them.
stop_pids() {
    local i pid pids=("$@")
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        pid=${pids[$i]}
        kill -0 "$pid" 2>/dev/null || continue
        echo "stopping pid $pid ($(tr '\0' ' ' </proc/"$pid"/cmdline | cut -c1-60)...)"
        kill -TERM "$pid"
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && { echo "pid $pid ignored SIGTERM: SIGKILL"; kill -KILL "$pid"; }
        wait "$pid" 2>/dev/null
    done
}

# kill_naming DIR: SIGKILLs the processes whose command line names DIR (the shims and conmons
# of a daemon whose state is in DIR), and removes the sockets outside DIR they listened on (a
# containerd shim's is in /run/containerd/s).
kill_naming() {
    local p pid socks s
    for p in /proc/[0-9]*; do
        pid=${p#/proc/}
        [ "$pid" != $$ ] || continue
        if { tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null | grep -qF -- "$1"; then
            echo "left behind: pid $pid $(tr '\0' ' ' <"$p/cmdline" | cut -c1-100): SIGKILL"
            socks=$(listening_sockets "$pid")
            kill -KILL "$pid" 2>/dev/null
            for s in $socks; do [ "${s#"$1"}" != "$s" ] || rm -f "$s"; done
        fi
    done
}

# delete_left RUNTIME ROOT...: `RUNTIME --root ROOT delete --force` of every container left in
# each state root.
delete_left() {
    local runtime=$1 root id
    shift
    for root in "$@"; do
        [ -d "$root" ] || continue
        for id in $(ls "$root"); do
            echo "left behind: container $id in $root: $(basename "$runtime") delete --force"
            "$runtime" --root "$root" delete --force "$id"
        done
    done
}

# kill_in_cgroups NAME: SIGKILLs every process in a cgroup named NAME (or below one), in any
# hierarchy; returns 1 if there was one.
kill_in_cgroups() {
    local procs pid
    procs=$(cat $(find /sys/fs/cgroup -path "*/$1/*" -name cgroup.procs 2>/dev/null) /dev/null 2>/dev/null | sort -u)
    [ -n "$procs" ] || return 0
    for pid in $procs; do
        echo "left behind: pid $pid ($(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -c1-60)) in cgroup $1: SIGKILL"
        kill -KILL "$pid" 2>/dev/null
    done
    sleep 1
    return 1
}

# unmount_under DIR: unmounts everything mounted under DIR, deepest first; returns 1 if a
# mount is left.
unmount_under() {
    local m
    for _ in 1 2 3; do
        for m in $(awk -v t="$1" 'index($2, t) == 1 { print $2 }' /proc/self/mounts | sort -r); do
            umount "$m" 2>/dev/null || umount -l "$m"
        done
    done
    ! awk -v t="$1" 'index($2, t) == 1 { found=1 } END { exit !found }' /proc/self/mounts
}

# remove_cgroups NAME: removes the cgroups named NAME (at most two levels below a hierarchy's
# root) and everything below them, deepest first; returns 1 if one is left (busy).
remove_cgroups() {
    local m rc=0
    for m in $(find /sys/fs/cgroup -maxdepth 3 -type d -name "$1" 2>/dev/null); do
        find "$m" -depth -type d -exec rmdir {} \; 2>/dev/null
        [ ! -d "$m" ] || { echo "cgroup $m is left (busy)"; rc=1; }
    done
    return $rc
}

# keep_logs DIR: removes DIR but its daemons' logs (*.log) and the runtimes' log.json files,
# which go to DIR/logs.
keep_logs() {
    mkdir -p "$1/logs"
    find "$1" -path "$1/logs" -prune -o \( -name '*.log' -o -name 'log.json' \) -type f -print |
        while read -r f; do r=${f#"$1"/}; cp "$f" "$1/logs/${r//\//_}"; done
    find "$1" -mindepth 1 -maxdepth 1 ! -name logs -exec rm -rf {} +
    echo "logs kept in $1/logs"
}
