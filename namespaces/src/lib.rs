//! ocirun namespaces.
