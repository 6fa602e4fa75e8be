//! ocirun seccomp.
