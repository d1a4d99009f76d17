//! The seccomp filter of `userns run` (being built: the system call numbers, the
//! classic-BPF assembler, and podman's profile format come first).

pub mod bpf;
pub mod profile;
pub mod select;
pub mod syscalls;
