//! Reading a `linux.seccomp` profile from JSON with errors that name the field.

use oci_spec::runtime::LinuxSeccomp;
use serde_json::Value;

use crate::error::SeccompError;

/// The actions of the OCI specification, as profiles spell them.
pub const ACTIONS: &[&str] = &[
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_TRAP",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_NOTIFY",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_LOG",
    "SCMP_ACT_ALLOW",
];

/// The argument operators of the OCI specification.
pub const OPERATORS: &[&str] = &[
    "SCMP_CMP_NE",
    "SCMP_CMP_LT",
    "SCMP_CMP_LE",
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_MASKED_EQ",
];

/// The filter flags this crate loads with.
pub const FLAGS: &[&str] = &[
    "SECCOMP_FILTER_FLAG_TSYNC",
    "SECCOMP_FILTER_FLAG_LOG",
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
];

/// Parse the JSON of a `linux.seccomp` object. An unknown action, operator,
/// architecture or flag is an error naming the field and the value.
pub fn parse_profile(json: &[u8]) -> Result<LinuxSeccomp, SeccompError> {
    let v: Value = serde_json::from_slice(json).map_err(|source| SeccompError::Parse { source })?;
    check_known(&v)?;
    serde_json::from_value(v).map_err(|source| SeccompError::Parse { source })
}

/// Check the enumerated fields of a profile against the values the OCI spec defines.
pub fn check_known(v: &Value) -> Result<(), SeccompError> {
    let check = |field: String, v: &Value, known: &dyn Fn(&str) -> bool| match v.as_str() {
        Some(s) if known(s) => Ok(()),
        _ => Err(SeccompError::UnknownValue {
            field,
            value: v.as_str().map_or_else(|| v.to_string(), str::to_owned),
        }),
    };
    let action = |s: &str| ACTIONS.contains(&s);
    if let Some(a) = v.get("defaultAction") {
        check("defaultAction".into(), a, &action)?;
    }
    for (i, a) in v
        .get("architectures")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let ok = |s: &str| s.parse::<oci_spec::runtime::Arch>().is_ok() && s.starts_with("SCMP_ARCH_");
        check(format!("architectures[{i}]"), a, &ok)?;
    }
    for (i, f) in v
        .get("flags")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        check(format!("flags[{i}]"), f, &|s| FLAGS.contains(&s))?;
    }
    for (i, sc) in v
        .get("syscalls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        if let Some(a) = sc.get("action") {
            check(format!("syscalls[{i}].action"), a, &action)?;
        }
        for (j, arg) in sc
            .get("args")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            if let Some(op) = arg.get("op") {
                check(format!("syscalls[{i}].args[{j}].op"), op, &|s| OPERATORS.contains(&s))?;
            }
        }
    }
    Ok(())
}
