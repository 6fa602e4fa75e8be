#!/usr/bin/env bash
# Builds the images critest (v1.26.1) runs, from this machine's files, as OCI image tarballs
# in DIR (one per image, for `ctr images import`), with tests/clients/mkimage.py. DIR must
# hold in bin/ the static pause, webserver and nnp built from the C files beside this script.
#
# Usage: tests/k8s/images/build.sh DIR REPO
set -euo pipefail
dir=${1:?usage: build.sh DIR REPO}
repo=${2:?usage: build.sh DIR REPO}
mkimage() { python3 "$repo/tests/clients/mkimage.py" "$@"; }

# host_bin ROOTFS HOST_PATH [NAME]: copies this machine's executable into ROOTFS/bin (as
# NAME), with the shared libraries it links.
host_bin() {
    local lib
    rm -f "$1/bin/${3:-$(basename "$2")}"
    cp "$2" "$1/bin/${3:-$(basename "$2")}"
    for lib in $(ldd "$2" | grep -oE '/[^ ]+'); do
        mkdir -p "$1$(dirname "$lib")"
        cp -L "$lib" "$1$lib"
    done
}

# The base of the test images, as the real busybox image is: a dynamically linked busybox
# (Debian's package `busybox`, unpacked here, not installed: it would replace busybox-static)
# with a hard link per applet. Its shell execs /bin/ls and the like (busybox-static's runs its
# applets in itself), and masking /bin/ls, as critest's MaskedPaths spec does, covers that
# link only (over a symbolic link, the mount would cover busybox). pgrep and ipcs, which
# Debian's busybox lacks, are this machine's.
base=$dir/base
mkdir -p "$dir/deb" "$base"/{bin,sbin,etc,proc,sys,dev,tmp,root,usr/bin,var}
chmod 1777 "$base/tmp"
if ! (cd "$dir/deb" && apt-get download busybox >/dev/null 2>&1); then
    apt-get update -qq
    (cd "$dir/deb" && apt-get download busybox >/dev/null)
fi
dpkg-deb -x "$dir"/deb/busybox_*.deb "$dir/deb/x"
host_bin "$base" "$dir/deb/x/bin/busybox"
for applet in $("$base/bin/busybox" --list); do
    [ -e "$base/bin/$applet" ] || ln "$base/bin/busybox" "$base/bin/$applet"
done
host_bin "$base" "$(command -v pgrep)"
host_bin "$base" "$(command -v ipcs)"
mkdir -p "$base/var/run" "$base/usr/sbin" "$base/usr/local/bin" "$base/home"
cat >"$base/etc/passwd" <<EOF
root:x:0:0:root:/root:/bin/sh
www-data:x:33:33:www-data:/var/www:/bin/sh
nobody:x:65534:65534:nobody:/home:/bin/sh
EOF
cat >"$base/etc/group" <<EOF
root:x:0:
www-data:x:33:
nogroup:x:65534:
EOF

# layer NAME: a copy of the base to add to.
layer() {
    rm -rf "$dir/$1"
    cp -a "$base" "$dir/$1"
    echo "$dir/$1"
}

# The default test container image.
mkimage "$base" "$dir/busybox.tar" registry.k8s.io/e2e-test-images/busybox:1.29-2

# The web servers: nginx on port 80, and on 12003 for the host-network one; httpd on 80.
r=$(layer nginx)
install -m 755 "$dir/bin/webserver" "$r/usr/sbin/nginx"
mkimage "$r" "$dir/nginx.tar" registry.k8s.io/e2e-test-images/nginx:1.14-2 \
    '{"Cmd": ["nginx"], "ExposedPorts": {"80/tcp": {}}}'
mkimage "$r" "$dir/hostnet-nginx.tar" gcr.io/k8s-staging-cri-tools/hostnet-nginx-amd64:latest \
    '{"Cmd": ["nginx", "12003"], "ExposedPorts": {"12003/tcp": {}}}'
r=$(layer httpd)
install -m 755 "$dir/bin/webserver" "$r/usr/local/bin/httpd"
mkimage "$r" "$dir/httpd.tar" registry.k8s.io/e2e-test-images/httpd:2.4.39-4 \
    '{"Cmd": ["httpd", "-D", "FOREGROUND"], "ExposedPorts": {"80/tcp": {}}}'

# No new privileges: a setuid-root program that prints its effective uid.
r=$(layer nonewprivs)
install -m 4755 "$dir/bin/nnp" "$r/usr/local/bin/nnp"
mkimage "$r" "$dir/nonewprivs.tar" registry.k8s.io/e2e-test-images/nonewprivs:1.3 \
    '{"Cmd": ["/usr/local/bin/nnp"]}'

# A user (1000) whose group in the image (50000) must join the supplementary groups.
r=$(layer predefined-group)
echo 'default-user:x:1000:1000:default-user:/home:/bin/sh' >>"$r/etc/passwd"
echo 'group-defined-in-image:x:50000:default-user' >>"$r/etc/group"
mkimage "$r" "$dir/predefined-group.tar" gcr.io/k8s-staging-cri-tools/test-image-predefined-group:latest \
    '{"User": "1000"}'

# The pod sandbox image named in containerd's config: only the pause program.
r=$dir/pause-rootfs
mkdir -p "$r"
install -m 755 "$dir/bin/pause" "$r/pause"
mkimage "$r" "$dir/pause.tar" registry.k8s.io/pause:3.6 '{"Entrypoint": ["/pause"], "Cmd": [], "User": "65535:65535"}'
