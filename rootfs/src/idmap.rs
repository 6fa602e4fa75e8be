//! Id-mapped mounts (`mounts[].uidMappings`/`gidMappings`, the `idmap` and `ridmap` options):
//! which mounts of a spec are id-mapped, and through what user namespace, as runc decides.
//!
//! The kernel maps a mount's ids through a user namespace (`MOUNT_ATTR_IDMAP` takes its fd):
//! an id `k` on disk shows as the id that `k` of the namespace maps to, so a mapping
//! `containerID 0 -> hostID 100000` shows the files disk uid 0 owns as owned by host uid
//! 100000 (the root of a container whose user namespace maps 0 to 100000), and a file that
//! host uid 100000 creates lands on disk owned by 0. An id the namespace does not map shows as
//! the overflow id, and no one can write through the mount as an id it does not map.

use oci_spec::runtime::{LinuxIdMapping, Mount};

use crate::RootfsError;
use crate::options::{MountOptions, parse_mount_options};

/// The container's user namespace, which an `idmap`/`ridmap` mount without maps of its own
/// maps its ids through.
#[derive(Debug, Clone, Copy)]
pub enum ContainerUserNamespace<'a> {
    /// The container has no user namespace of its own.
    None,
    /// The container makes a user namespace with these maps (`linux.uidMappings`,
    /// `linux.gidMappings`).
    New {
        /// The uid maps.
        uid_mappings: &'a [LinuxIdMapping],
        /// The gid maps.
        gid_mappings: &'a [LinuxIdMapping],
    },
    /// The container joins an existing user namespace by path.
    Joined,
}

/// The user namespace an id-mapped mount maps its ids through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountUserNamespace {
    /// A new user namespace with these maps (the mount's own, or those of the user namespace
    /// the container makes): the caller makes it, e.g. with `namespaces::user_namespace`.
    Maps {
        /// The uid maps, of the runtime's user namespace.
        uid_mappings: Vec<LinuxIdMapping>,
        /// The gid maps.
        gid_mappings: Vec<LinuxIdMapping>,
    },
    /// The user namespace the container joins.
    Container,
}

/// One id-mapped mount of a spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdMappedMount {
    /// Its index in `mounts`.
    pub index: usize,
    /// What its ids are mapped through.
    pub user_namespace: MountUserNamespace,
}

/// Whether mount `m` (options parsed into `opts`) asks to be id-mapped, and if so whether every
/// mount of its tree is (`ridmap`) or only its own (`idmap`, or maps without either option).
pub(crate) fn requested(m: &Mount, opts: &MountOptions) -> Option<bool> {
    let has_maps = m.uid_mappings().is_some() || m.gid_mappings().is_some();
    opts.idmap.or(has_maps.then_some(false))
}

/// The field an error about mount `field`'s id mapping names: its maps, or its options.
pub(crate) fn idmap_field(field: &str, m: &Mount) -> String {
    if m.uid_mappings().is_some() || m.gid_mappings().is_some() {
        format!("{field}.uidMappings")
    } else {
        format!("{field}.options")
    }
}

/// Refuses an id-mapped mount `m` that is not a bind mount (the kernel id-maps only a bind's
/// detached mount, not a new filesystem).
pub(crate) fn check_bind(field: &str, m: &Mount, is_bind: bool) -> Result<(), RootfsError> {
    if is_bind {
        return Ok(());
    }
    Err(RootfsError::InvalidField {
        field: idmap_field(field, m),
        value: m.typ().clone().unwrap_or_default(),
        reason: "id-mapped mounts (idmap, ridmap, uidMappings, gidMappings) are only supported for bind mounts",
    })
}

/// The id-mapped mounts of `mounts` and the user namespace each maps its ids through, as runc
/// decides: a mount's own `uidMappings` and `gidMappings` (both, non-empty), else, for `idmap`
/// and `ridmap`, the container's user namespace; refused for a mount that is not a bind, one
/// with only one kind of maps, and one with neither maps nor a container user namespace.
/// Runs in the parent; [`crate::RootfsConfig::mount_user_namespaces`] takes what the caller
/// makes of it.
pub fn id_mapped_mounts(
    mounts: &[Mount],
    container: ContainerUserNamespace<'_>,
) -> Result<Vec<IdMappedMount>, RootfsError> {
    let mut out = Vec::new();
    for (index, m) in mounts.iter().enumerate() {
        // Most mounts ask for nothing of the kind: nothing parsed or formatted for them.
        let named = |o: &String| o == "idmap" || o == "ridmap";
        if m.uid_mappings().is_none() && m.gid_mappings().is_none() && !m.options().iter().flatten().any(named) {
            continue;
        }
        let field = format!("mounts[{index}]");
        let opts = parse_mount_options(m.options().as_deref().unwrap_or(&[])).map_err(|e| match e {
            RootfsError::InvalidField { value, reason, .. } => RootfsError::InvalidField {
                field: format!("{field}.options"),
                value,
                reason,
            },
            other => other,
        })?;
        if requested(m, &opts).is_none() {
            continue;
        }
        let typ = m.typ().as_deref().unwrap_or("");
        check_bind(&field, m, crate::plan::is_bind_mount(typ, &opts))?;
        let user_namespace = match (m.uid_mappings(), m.gid_mappings(), container) {
            (Some(uid), Some(gid), _) if !uid.is_empty() && !gid.is_empty() => MountUserNamespace::Maps {
                uid_mappings: uid.clone(),
                gid_mappings: gid.clone(),
            },
            (Some(_), _, _) | (_, Some(_), _) => {
                return Err(RootfsError::InvalidField {
                    field: idmap_field(&field, m),
                    value: "one kind of maps".to_owned(),
                    reason: "an id-mapped mount needs both uidMappings and gidMappings, each non-empty (as runc)",
                });
            }
            (
                None,
                None,
                ContainerUserNamespace::New {
                    uid_mappings,
                    gid_mappings,
                },
            ) if !uid_mappings.is_empty() && !gid_mappings.is_empty() => MountUserNamespace::Maps {
                uid_mappings: uid_mappings.to_vec(),
                gid_mappings: gid_mappings.to_vec(),
            },
            (None, None, ContainerUserNamespace::Joined) => MountUserNamespace::Container,
            (None, None, _) => {
                return Err(RootfsError::InvalidField {
                    field: format!("{field}.options"),
                    value: if opts.idmap == Some(true) { "ridmap" } else { "idmap" }.to_owned(),
                    reason: "without uidMappings and gidMappings of its own, an id-mapped mount maps ids as the \
                             container's user namespace does, and the container has no user namespace with both \
                             uid and gid maps",
                });
            }
        };
        out.push(IdMappedMount { index, user_namespace });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount(json: serde_json::Value) -> Mount {
        serde_json::from_value(json).unwrap()
    }

    fn map(c: u32, h: u32, s: u32) -> LinuxIdMapping {
        serde_json::from_value(serde_json::json!({"containerID": c, "hostID": h, "size": s})).unwrap()
    }

    #[test]
    fn own_maps_win_over_the_containers() {
        let m = mount(serde_json::json!({
            "destination": "/a", "type": "bind", "source": "/tmp", "options": ["rbind", "ridmap"],
            "uidMappings": [{"containerID": 0, "hostID": 5, "size": 1}],
            "gidMappings": [{"containerID": 0, "hostID": 6, "size": 1}],
        }));
        let plain =
            mount(serde_json::json!({"destination": "/b", "type": "bind", "source": "/tmp", "options": ["bind"]}));
        let c = [map(0, 100000, 65536)];
        let got = id_mapped_mounts(
            &[plain, m],
            ContainerUserNamespace::New {
                uid_mappings: &c,
                gid_mappings: &c,
            },
        )
        .unwrap();
        assert_eq!(
            got,
            [IdMappedMount {
                index: 1,
                user_namespace: MountUserNamespace::Maps {
                    uid_mappings: vec![map(0, 5, 1)],
                    gid_mappings: vec![map(0, 6, 1)],
                },
            }]
        );
    }

    #[test]
    fn idmap_takes_the_containers_maps_or_its_joined_namespace() {
        let m = mount(serde_json::json!({"destination": "/a", "source": "/tmp", "options": ["bind", "idmap"]}));
        let c = [map(0, 100000, 65536)];
        let new = ContainerUserNamespace::New {
            uid_mappings: &c,
            gid_mappings: &c,
        };
        let got = id_mapped_mounts(std::slice::from_ref(&m), new).unwrap();
        assert_eq!(
            got[0].user_namespace,
            MountUserNamespace::Maps {
                uid_mappings: c.to_vec(),
                gid_mappings: c.to_vec(),
            }
        );
        let got = id_mapped_mounts(std::slice::from_ref(&m), ContainerUserNamespace::Joined).unwrap();
        assert_eq!(got[0].user_namespace, MountUserNamespace::Container);
        let e = id_mapped_mounts(&[m], ContainerUserNamespace::None)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("mounts[0].options = \"idmap\""), "{e}");
    }

    #[test]
    fn refused_on_a_new_filesystem_and_with_one_kind_of_maps() {
        let tmpfs =
            mount(serde_json::json!({"destination": "/a", "type": "tmpfs", "source": "tmpfs", "options": ["idmap"]}));
        let e = id_mapped_mounts(&[tmpfs], ContainerUserNamespace::Joined)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("mounts[0].options") && e.contains("only supported for bind mounts"),
            "{e}"
        );
        let half = mount(serde_json::json!({
            "destination": "/a", "source": "/tmp", "options": ["bind"],
            "uidMappings": [{"containerID": 0, "hostID": 5, "size": 1}],
        }));
        let e = id_mapped_mounts(&[half], ContainerUserNamespace::Joined)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("mounts[0].uidMappings") && e.contains("both"), "{e}");
    }
}
