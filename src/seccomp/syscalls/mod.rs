//! The architectures a filter on an x86_64 host must cover, and their system call numbers.
//!
//! An x86_64 process can enter the kernel three ways: the 64-bit `syscall` instruction
//! (AUDIT_ARCH_X86_64), the same with __X32_SYSCALL_BIT set in the number (x32: the same
//! audit arch, numbers from 0x40000000), and `int 0x80` (AUDIT_ARCH_I386, the i386
//! numbers), which any 64-bit process may execute when the kernel has IA32 emulation. A
//! filter written in x86_64 numbers alone would let a process reach, say, mkdir as i386
//! number 39 or as x32 number 0x40000053. libseccomp therefore compiles one section per
//! architecture and handles the x32 range inside the x86_64 one; so does this module.

mod table;

/// Marks an ABI that lacks a call in [`table::SYSCALLS`].
pub(crate) const NONE: u16 = u16::MAX;

/// The numbers of system call `name` on x86_64, i386 and x32 (see [`Arch::nr_in`]), if
/// any x86 ABI has it.
pub(crate) fn numbers(name: &str) -> Option<&'static [u16; 3]> {
    let i = table::SYSCALLS
        .binary_search_by(|(n, _)| (*n).cmp(name))
        .ok()?;
    Some(&table::SYSCALLS[i].1)
}

/// Set in the number of every x32 system call (arch/x86/include/uapi/asm/unistd.h).
pub(crate) const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// AUDIT_ARCH_X86_64 and AUDIT_ARCH_I386 (linux/audit.h: EM_* | 64-bit | little-endian).
pub(crate) const AUDIT_ARCH_X86_64: u32 = 62 | 0x8000_0000 | 0x4000_0000;
pub(crate) const AUDIT_ARCH_I386: u32 = 3 | 0x4000_0000;

/// libseccomp's architecture names; a profile may list any of them, and those of other
/// machines simply do not apply here.
const SCMP_ARCHES: &[&str] = &[
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X86_64",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_LOONGARCH64",
    "SCMP_ARCH_M68K",
    "SCMP_ARCH_MIPS",
    "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",
    "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",
    "SCMP_ARCH_PPC64LE",
    "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X",
    "SCMP_ARCH_PARISC",
    "SCMP_ARCH_PARISC64",
    "SCMP_ARCH_RISCV64",
    "SCMP_ARCH_SH",
    "SCMP_ARCH_SHEB",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Arch {
    X86_64,
    X86,
    X32,
}

impl Arch {
    /// The architecture userns runs on, when it has tables for it.
    pub(crate) fn native() -> Option<Arch> {
        cfg!(target_arch = "x86_64").then_some(Arch::X86_64)
    }

    /// The x86 architecture of a libseccomp name (None for another machine's, or for a
    /// name libseccomp does not know: see [`Arch::is_scmp_name`]).
    pub(crate) fn from_scmp(name: &str) -> Option<Arch> {
        match name {
            "SCMP_ARCH_X86_64" => Some(Arch::X86_64),
            "SCMP_ARCH_X86" => Some(Arch::X86),
            "SCMP_ARCH_X32" => Some(Arch::X32),
            _ => None,
        }
    }

    /// Whether libseccomp knows this architecture name.
    pub(crate) fn is_scmp_name(name: &str) -> bool {
        SCMP_ARCHES.contains(&name)
    }

    pub(crate) fn scmp_name(self) -> &'static str {
        match self {
            Arch::X86_64 => "SCMP_ARCH_X86_64",
            Arch::X86 => "SCMP_ARCH_X86",
            Arch::X32 => "SCMP_ARCH_X32",
        }
    }

    /// The name profiles use in `includes`/`excludes` `arches`: Go's (libseccomp-golang's
    /// `ScmpArch.String()`), which containers/common matches against the native one.
    pub(crate) fn go_name(self) -> &'static str {
        match self {
            Arch::X86_64 => "amd64",
            Arch::X86 => "x86",
            Arch::X32 => "x32",
        }
    }

    /// Whether the kernel reads this architecture's arguments as 32-bit values. i386
    /// system calls take the low half of each register (the ia32 wrappers cast to u32),
    /// while seccomp_data may still carry whatever a 64-bit caller of `int 0x80` left in
    /// the high half: comparing that half would let it steer a rule. x32 calls take the
    /// full 64-bit registers, so they are compared in full, like x86_64's.
    pub(crate) fn args_are_32_bit(self) -> bool {
        self == Arch::X86
    }

    /// This architecture's number in a row of [`numbers`].
    pub(crate) fn nr_in(self, row: &[u16; 3]) -> Option<u32> {
        let column = match self {
            Arch::X86_64 => 0,
            Arch::X86 => 1,
            Arch::X32 => 2,
        };
        let nr = row[column];
        (nr != NONE).then(|| {
            let nr = u32::from(nr);
            if self == Arch::X32 {
                nr | X32_SYSCALL_BIT
            } else {
                nr
            }
        })
    }

    /// The number of system call `name`, if this architecture has it.
    #[cfg(test)]
    pub(crate) fn nr(self, name: &str) -> Option<u32> {
        numbers(name).and_then(|row| self.nr_in(row))
    }

    /// The range of numbers this architecture's section of a filter decides on.
    pub(crate) fn nr_range(self) -> (u32, u32) {
        match self {
            Arch::X86_64 => (0, X32_SYSCALL_BIT - 1),
            Arch::X32 => (X32_SYSCALL_BIT, u32::MAX),
            Arch::X86 => (0, u32::MAX),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_for_the_binary_search() {
        assert!(table::SYSCALLS.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn numbers_match_the_kernel_abi() {
        assert_eq!(Arch::X86_64.nr("read"), Some(0));
        assert_eq!(Arch::X86_64.nr("mkdir"), Some(83));
        assert_eq!(Arch::X86.nr("mkdir"), Some(39));
        assert_eq!(Arch::X32.nr("mkdir"), Some(X32_SYSCALL_BIT + 83));
        // x32 has its own numbers for calls whose structures differ (512 on).
        assert_eq!(Arch::X32.nr("rt_sigaction"), Some(X32_SYSCALL_BIT + 512));
        assert_eq!(Arch::X86_64.nr("socketcall"), None);
        assert_eq!(Arch::X86.nr("socketcall"), Some(102));
        // Added after the headers the tables come from.
        assert_eq!(Arch::X86_64.nr("fchmodat2"), Some(452));
        assert_eq!(Arch::X86.nr("map_shadow_stack"), None);
        assert_eq!(Arch::X86_64.nr("nosuchcall"), None);
        assert_eq!(AUDIT_ARCH_X86_64, 0xc000_003e);
        assert_eq!(AUDIT_ARCH_I386, 0x4000_0003);
    }

    #[test]
    fn libseccomp_names_of_other_machines_are_known_but_not_ours() {
        assert_eq!(Arch::from_scmp("SCMP_ARCH_X86"), Some(Arch::X86));
        assert_eq!(Arch::from_scmp("SCMP_ARCH_AARCH64"), None);
        assert!(Arch::is_scmp_name("SCMP_ARCH_AARCH64"));
        assert!(!Arch::is_scmp_name("SCMP_ARCH_AMD64"));
    }
}
