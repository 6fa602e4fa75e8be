#!/usr/bin/env bash
# Lays out a busybox root filesystem in DIR from this machine's /bin/busybox (Debian's
# busybox-static): the directories a container expects, busybox and a link per applet, and
# /etc/passwd and /etc/group with root. No download. Used by the demo, the client suite and
# scripts/true-bundle.sh (test-support's build_rootfs does the same for the Rust tests).
set -euo pipefail
dir=${1:?usage: scripts/busybox-rootfs.sh DIR}
mkdir -p "$dir"/{bin,sbin,etc,proc,sys,dev,tmp,root,usr/bin,var}
chmod 1777 "$dir/tmp"
cp /bin/busybox "$dir/bin/busybox"
for applet in $(/bin/busybox --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$dir/bin/$applet"
done
echo 'root:x:0:0:root:/root:/bin/sh' >"$dir/etc/passwd"
echo 'root:x:0:' >"$dir/etc/group"
