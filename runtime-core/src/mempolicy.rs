//! `linux.memoryPolicy`: the NUMA memory policy of the container's processes, compiled in the
//! parent into the arguments of `set_mempolicy(2)`, which the init calls before exec.

use oci_spec::runtime::{LinuxMemoryPolicy, MemoryPolicyFlagType, MemoryPolicyModeType};

use crate::{Error, Result};

/// The highest node number a policy may name, plus one: the bits of [`MemPolicy::nodes`].
const MAX_NODES: usize = 1024;

/// The arguments of `set_mempolicy(2)` for a `linux.memoryPolicy`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MemPolicy {
    /// The mode or'ed with its flags.
    pub mode: libc::c_int,
    /// The node mask.
    pub nodes: [libc::c_ulong; MAX_NODES / libc::c_ulong::BITS as usize],
}

impl MemPolicy {
    /// The `maxnode` argument: the kernel reads one bit fewer than it is told.
    pub const MAX_NODE: libc::c_ulong = MAX_NODES as libc::c_ulong + 1;
}

/// The mode's name, as the runtime spec spells it, for errors.
pub(crate) fn mode_name(mode: MemoryPolicyModeType) -> String {
    mode.to_string()
}

/// Compiles `linux.memoryPolicy`, validated as runc does: MPOL_DEFAULT and MPOL_LOCAL take no
/// nodes, MPOL_PREFERRED any number, every other mode at least one. Whether the nodes exist
/// (and are in the container's cpuset) is the kernel's to say, when the init applies it.
pub(crate) fn compile(p: &LinuxMemoryPolicy) -> Result<MemPolicy> {
    let mode = match p.mode() {
        MemoryPolicyModeType::MpolDefault => 0,
        MemoryPolicyModeType::MpolPreferred => 1,
        MemoryPolicyModeType::MpolBind => 2,
        MemoryPolicyModeType::MpolInterleave => 3,
        MemoryPolicyModeType::MpolLocal => 4,
        MemoryPolicyModeType::MpolPreferredMany => 5,
        MemoryPolicyModeType::MpolWeightedInterleave => 6,
    };
    let list = p.nodes().as_deref().unwrap_or("").trim();
    let numbers = if list.is_empty() {
        Vec::new()
    } else {
        crate::sched::parse_list(list, "node").map_err(|e| Error::spec("linux.memoryPolicy.nodes", e))?
    };
    let mut nodes = [0; MAX_NODES / libc::c_ulong::BITS as usize];
    for n in &numbers {
        if *n >= MAX_NODES {
            return Err(Error::spec(
                "linux.memoryPolicy.nodes",
                format!("node {n} is above {}", MAX_NODES - 1),
            ));
        }
        nodes[n / libc::c_ulong::BITS as usize] |= 1 << (n % libc::c_ulong::BITS as usize);
    }
    let name = mode_name(p.mode());
    match p.mode() {
        MemoryPolicyModeType::MpolDefault | MemoryPolicyModeType::MpolLocal if !numbers.is_empty() => {
            return Err(Error::spec(
                "linux.memoryPolicy.nodes",
                format!("{name} takes no nodes, but {list:?} are given"),
            ));
        }
        MemoryPolicyModeType::MpolBind
        | MemoryPolicyModeType::MpolInterleave
        | MemoryPolicyModeType::MpolPreferredMany
        | MemoryPolicyModeType::MpolWeightedInterleave
            if numbers.is_empty() =>
        {
            return Err(Error::spec(
                "linux.memoryPolicy.nodes",
                format!("{name} needs at least one node"),
            ));
        }
        _ => {}
    }
    let mut flags = 0;
    for f in p.flags().iter().flatten() {
        flags |= match f {
            MemoryPolicyFlagType::MpolFNumaBalancing => 1 << 13,
            MemoryPolicyFlagType::MpolFRelativeNodes => 1 << 14,
            MemoryPolicyFlagType::MpolFStaticNodes => 1 << 15,
        };
    }
    Ok(MemPolicy {
        mode: mode | flags,
        nodes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(json: &str) -> Result<MemPolicy> {
        compile(&serde_json::from_str(json).unwrap())
    }

    #[test]
    fn modes_nodes_and_flags() {
        let p = policy(r#"{"mode": "MPOL_BIND", "nodes": "0-2,65", "flags": ["MPOL_F_STATIC_NODES"]}"#).unwrap();
        assert_eq!(p.mode, 2 | 1 << 15);
        assert_eq!((p.nodes[0], p.nodes[1]), (0b111, 0b10));
        assert_eq!(policy(r#"{"mode": "MPOL_LOCAL"}"#).unwrap().mode, 4);
        assert_eq!(policy(r#"{"mode": "MPOL_PREFERRED"}"#).unwrap().mode, 1);
        for bad in [
            r#"{"mode": "MPOL_BIND"}"#,
            r#"{"mode": "MPOL_INTERLEAVE", "nodes": ""}"#,
            r#"{"mode": "MPOL_DEFAULT", "nodes": "0"}"#,
            r#"{"mode": "MPOL_BIND", "nodes": "x"}"#,
            r#"{"mode": "MPOL_BIND", "nodes": "1024"}"#,
        ] {
            let e = test_support::error_chain(&policy(bad).unwrap_err());
            assert!(e.contains("linux.memoryPolicy.nodes"), "{bad}: {e}");
        }
    }
}
