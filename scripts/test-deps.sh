#!/usr/bin/env bash
# Installs the Debian packages the tests need (as root), when one is missing; quick and silent
# when none is. scripts/test.sh and .ci/run run it first.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
need=()
command -v busybox >/dev/null 2>&1 || [ -x /bin/busybox ] || need+=(busybox-static)
[ -f /usr/include/seccomp.h ] || need+=(libseccomp-dev)
command -v cc >/dev/null 2>&1 || need+=(gcc)
# The systemd driver's tests run a private bus and a stand-in systemd written with dbus-python.
command -v dbus-daemon >/dev/null 2>&1 || need+=(dbus-daemon)
/usr/bin/python3 -c 'import dbus, gi' >/dev/null 2>&1 || need+=(python3-dbus python3-gi)
# The seccomp tests build a static syscall probe: they need libc.a.
[ -f /usr/lib/x86_64-linux-gnu/libc.a ] || need+=(libc6-dev)
# The fault-injection tests inject system call errors with strace.
command -v strace >/dev/null 2>&1 || need+=(strace)
# The rootless tests (issue 19) map id ranges with newuidmap/newgidmap and switch user with
# setpriv; podman's rootless checks need slirp4netns and fuse-overlayfs as well.
command -v newuidmap >/dev/null 2>&1 || need+=(uidmap)
command -v setpriv >/dev/null 2>&1 || need+=(util-linux)
command -v slirp4netns >/dev/null 2>&1 || need+=(slirp4netns)
command -v fuse-overlayfs >/dev/null 2>&1 || need+=(fuse-overlayfs)
if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq
    apt-get install -y -qq "${need[@]}"
fi

