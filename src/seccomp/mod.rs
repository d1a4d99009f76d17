//! The seccomp filter of `userns run` (being built: the system call numbers and the
//! classic-BPF assembler come first).

pub mod bpf;
pub mod syscalls;
