//! The architectures a profile can name, and the kernel's audit numbers for them.

use oci_spec::runtime::Arch;

use crate::error::SeccompError;

/// `AUDIT_ARCH_X86_64` (also used by x32 processes).
pub const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
/// `AUDIT_ARCH_I386`.
pub const AUDIT_ARCH_I386: u32 = 0x4000_0003;
/// `AUDIT_ARCH_AARCH64`.
pub const AUDIT_ARCH_AARCH64: u32 = 0xc000_00b7;
/// `AUDIT_ARCH_ARM` (EABI, little endian).
pub const AUDIT_ARCH_ARM: u32 = 0x4000_0028;

/// A syscall ABI this crate compiles filters for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ScmpArch {
    /// 64-bit x86 (`SCMP_ARCH_X86_64`).
    X86_64,
    /// 32-bit x86 (`SCMP_ARCH_X86`).
    X86,
    /// The x32 ABI of x86-64 (`SCMP_ARCH_X32`).
    X32,
    /// 64-bit ARM (`SCMP_ARCH_AARCH64`).
    Aarch64,
    /// 32-bit ARM EABI (`SCMP_ARCH_ARM`).
    Arm,
}

impl ScmpArch {
    /// Every supported ABI.
    pub const ALL: [ScmpArch; 5] = [
        ScmpArch::X86_64,
        ScmpArch::X86,
        ScmpArch::X32,
        ScmpArch::Aarch64,
        ScmpArch::Arm,
    ];

    /// The ABI this program runs on, if it is one this crate supports.
    pub fn native() -> Option<ScmpArch> {
        if cfg!(target_arch = "x86_64") {
            Some(ScmpArch::X86_64)
        } else if cfg!(target_arch = "aarch64") {
            Some(ScmpArch::Aarch64)
        } else if cfg!(target_arch = "x86") {
            Some(ScmpArch::X86)
        } else if cfg!(target_arch = "arm") {
            Some(ScmpArch::Arm)
        } else {
            None
        }
    }

    /// The value the kernel puts in `seccomp_data.arch` for this ABI.
    pub fn audit_arch(self) -> u32 {
        match self {
            ScmpArch::X86_64 | ScmpArch::X32 => AUDIT_ARCH_X86_64,
            ScmpArch::X86 => AUDIT_ARCH_I386,
            ScmpArch::Aarch64 => AUDIT_ARCH_AARCH64,
            ScmpArch::Arm => AUDIT_ARCH_ARM,
        }
    }

    /// Whether syscall arguments are compared on 64 bits (libseccomp's ARCH_SIZE_64);
    /// on the others only the low 32 bits of an argument and of a rule's value count.
    pub fn args_are_64bit(self) -> bool {
        matches!(self, ScmpArch::X86_64 | ScmpArch::Aarch64)
    }

    /// The libseccomp token (`SCMP_ARCH_*`), as `seccomp_arch_add` takes it.
    pub fn scmp_token(self) -> u32 {
        match self {
            ScmpArch::X86_64 => 0xc000_003e,
            ScmpArch::X86 => 0x4000_0003,
            ScmpArch::X32 => 0x4000_003e,
            ScmpArch::Aarch64 => 0xc000_00b7,
            ScmpArch::Arm => 0x4000_0028,
        }
    }

    /// The profile's spelling (`SCMP_ARCH_X86_64` ...).
    pub fn name(self) -> &'static str {
        match self {
            ScmpArch::X86_64 => "SCMP_ARCH_X86_64",
            ScmpArch::X86 => "SCMP_ARCH_X86",
            ScmpArch::X32 => "SCMP_ARCH_X32",
            ScmpArch::Aarch64 => "SCMP_ARCH_AARCH64",
            ScmpArch::Arm => "SCMP_ARCH_ARM",
        }
    }

    /// Map a profile's architecture; `SCMP_ARCH_NATIVE` becomes `native`, the
    /// architectures this crate has no syscall table for are an error naming them.
    pub fn from_oci(arch: Arch, native: ScmpArch) -> Result<ScmpArch, SeccompError> {
        Ok(match arch {
            Arch::ScmpArchNative => native,
            Arch::ScmpArchX86_64 => ScmpArch::X86_64,
            Arch::ScmpArchX86 => ScmpArch::X86,
            Arch::ScmpArchX32 => ScmpArch::X32,
            Arch::ScmpArchAarch64 => ScmpArch::Aarch64,
            Arch::ScmpArchArm => ScmpArch::Arm,
            other => {
                return Err(SeccompError::UnsupportedArchitecture {
                    arch: other.to_string(),
                });
            }
        })
    }
}
