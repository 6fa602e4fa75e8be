#!/usr/bin/env python3
"""Packs a root filesystem directory as a one-layer busybox image, with no registry.

Usage: mkimage.py ROOTFS OUT.tar NAME:TAG [CONFIG_JSON]

CONFIG_JSON, if given, is merged into the image's "config" (e.g. '{"User": "1000",
"Cmd": ["/pause"]}'); the default config has PATH and Cmd ["sh"]. The layer keeps the files'
modes (a setuid bit included) with root as their owner.

OUT.tar is both an OCI image layout (oci-layout, index.json, blobs/sha256/...) and a
docker-archive (manifest.json naming the same blobs), so `ctr images import`,
`podman load` and `docker load` (20.10, which reads only manifest.json) all take it.
"""
import hashlib
import io
import json
import os
import sys
import tarfile


def layer_tar(rootfs):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for dirpath, dirnames, filenames in os.walk(rootfs):
            dirnames.sort()
            for name in sorted(dirnames) + sorted(filenames):
                path = os.path.join(dirpath, name)
                info = tar.gettarinfo(path, arcname=os.path.relpath(path, rootfs))
                info.uid = info.gid = 0
                info.uname = info.gname = "root"
                info.mtime = 0
                if info.isreg():
                    with open(path, "rb") as f:
                        tar.addfile(info, f)
                else:
                    tar.addfile(info)
    return buf.getvalue()


def main():
    rootfs, out, ref = sys.argv[1], sys.argv[2], sys.argv[3]
    image_config = {
        "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        "Cmd": ["sh"],
    }
    if len(sys.argv) > 4:
        image_config.update(json.loads(sys.argv[4]))
    repo, tag = ref.rsplit(":", 1)
    blobs = {}

    def blob(data):
        digest = hashlib.sha256(data).hexdigest()
        blobs[digest] = data
        return digest

    layer = blob(layer_tar(rootfs))
    config = blob(json.dumps({
        "architecture": "amd64",
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": image_config,
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + layer]},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "tests/clients/mkimage.py"}],
    }, sort_keys=True).encode())
    manifest = blob(json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": "sha256:" + config, "size": len(blobs[config])},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": "sha256:" + layer, "size": len(blobs[layer])}],
    }, sort_keys=True).encode())
    full = repo if "/" in repo else "docker.io/library/" + repo
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": "sha256:" + manifest, "size": len(blobs[manifest]),
            "platform": {"architecture": "amd64", "os": "linux"},
            "annotations": {"io.containerd.image.name": f"{full}:{tag}",
                            "org.opencontainers.image.ref.name": tag},
        }],
    }
    docker_manifest = [{"Config": f"blobs/sha256/{config}", "RepoTags": [f"{repo}:{tag}"],
                        "Layers": [f"blobs/sha256/{layer}"]}]

    with tarfile.open(out, "w") as tar:
        def add(name, data):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
        for d in ("blobs", "blobs/sha256"):
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            tar.addfile(info)
        add("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        add("index.json", json.dumps(index).encode())
        add("manifest.json", json.dumps(docker_manifest).encode())
        for digest, data in blobs.items():
            add(f"blobs/sha256/{digest}", data)


if __name__ == "__main__":
    main()
