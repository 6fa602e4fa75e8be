//! ocirun runtime-core.
