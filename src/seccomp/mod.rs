//! The seccomp filter of `userns run` (being built: the system call numbers, the
//! classic-BPF assembler, podman's profile format and the compiler come first).

pub mod bpf;
pub mod compile;
pub mod profile;
pub mod select;
pub mod syscalls;

pub use compile::Filter;

use select::Host;

/// The profile used when no file provides one: containers-common's default rules.
pub const BUILT_IN_PROFILE: &str = include_str!("default.json");

/// Parse, select and compile a profile's text for `host`.
/// `Ok(None)` for a profile that turns seccomp off (no default action, no rules).
pub fn compile_text(text: &str, host: &Host) -> std::result::Result<Option<Filter>, String> {
    let Some(profile) = profile::parse(text)? else {
        return Ok(None);
    };
    let arches = select::arches(&profile, host.arch)?;
    let rules = select::rules(&profile, host);
    compile::compile(profile.default_action, &rules, &arches, profile.flags).map(Some)
}
