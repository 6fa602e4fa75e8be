//! ocirun rootfs.
