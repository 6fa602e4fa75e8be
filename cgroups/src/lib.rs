//! ocirun cgroups.
