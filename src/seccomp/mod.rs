//! The seccomp filter of `userns run`: podman's default system call policy, from the same
//! profile podman reads, or the one `--security-opt seccomp=FILE` names.
//!
//! Which profile (podman's order): `--security-opt seccomp=unconfined|FILE`; else
//! containers.conf's `seccomp_profile` ([`config`]); else /etc/containers/seccomp.json,
//! else /usr/share/containers/seccomp.json (containers-common); else the profile built
//! into userns ([`BUILT_IN_PROFILE`]: the rules of containers-common 0.50's, the version
//! Debian 12 ships; a unit test checks that both compile to the same program).
//!
//! How: [`profile`] parses the JSON, [`select`] keeps the rules that apply to this
//! container (native architecture, podman's default capabilities, the running kernel),
//! [`compile`] turns them into classic BPF ([`bpf`]) with a section per architecture the
//! process can call the kernel in (x86_64, x32 and i386 on an x86_64 host, numbers from
//! [`syscalls`]), [`cache`] keeps the program for the next run with the same profile,
//! and [`install`] loads it in the container's process, after no_new_privs and the
//! switch of user and capabilities, so that it holds for the program and, with
//! `--init`, for the reaper too.
//!
//! Why no crate: libseccomp (what runc and crun link) is C, and would need libseccomp-dev
//! wherever userns is built. rust-vmm's `seccompiler` is pure Rust, but it reads a JSON
//! format of its own and compiles for one architecture per program, with no i386 or x32
//! section: podman's profiles (archMap, includes/excludes, libseccomp's rule precedence)
//! would need translating, and the compat architectures a second mechanism. Generating
//! classic BPF is small and well understood (check the arch, load the number, search,
//! compare arguments in 32-bit halves), and the unit tests run every program they
//! compile through an interpreter.

pub(crate) mod bpf;
mod cache;
pub(crate) mod compile;
pub(crate) mod config;
mod install;
pub(crate) mod profile;
pub(crate) mod select;
pub(crate) mod syscalls;

pub(crate) use compile::Filter;
pub(crate) use install::install;

use crate::error::{Error, Result};
use select::Host;
use std::path::{Path, PathBuf};
use syscalls::Arch;

/// The profile used when no file provides one: containers-common's default rules.
pub(crate) const BUILT_IN_PROFILE: &str = include_str!("default.json");

/// What `--security-opt` asked of seccomp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Choice {
    /// The profile podman would use.
    Default,
    Unconfined,
    File(PathBuf),
}

/// Read `--security-opt` values as podman does: `seccomp=unconfined`, `seccomp=FILE`
/// (also written `seccomp:...`, docker's old form), and `no-new-privileges`, which userns
/// always sets. The last seccomp option wins.
pub(crate) fn parse_security_opts(opts: &[String]) -> Result<Choice> {
    let mut choice = Choice::Default;
    for opt in opts {
        let (key, value) = match opt.split_once('=') {
            Some(kv) => kv,
            None => opt.split_once(':').unwrap_or((opt.as_str(), "")),
        };
        match (key, value) {
            ("seccomp", "") => {
                return Err(Error::usage(format!("invalid --security-opt {opt:?}"))
                    .because("seccomp needs a value")
                    .fix("write --security-opt seccomp=unconfined or --security-opt seccomp=/path/to/profile.json"))
            }
            ("seccomp", "unconfined") => choice = Choice::Unconfined,
            ("seccomp", path) => choice = Choice::File(PathBuf::from(path)),
            ("no-new-privileges", "" | "true") => {}
            _ => {
                return Err(Error::usage(format!("unknown --security-opt {opt:?}")).fix(
                    "userns knows seccomp=unconfined, seccomp=FILE and no-new-privileges \
                     (always on); podman's label=, apparmor=, mask= and unmask= are not supported",
                ))
            }
        }
    }
    Ok(choice)
}

/// Where the profile comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    Unconfined,
    /// A file, and why that one (for messages).
    File(PathBuf, String),
    BuiltIn,
}

/// The filter for a container with capabilities `caps` (their bounding set), or None
/// when unconfined. Reads the profile files and containers.conf, so it runs before the
/// container's namespaces exist, where relative paths and $HOME mean the caller's.
/// `cache_dir`, the user's private `seccomp` state directory, keeps compiled programs
/// (see [`cache`] for why).
pub(crate) fn prepare(
    choice: &Choice,
    caps: &[u32],
    cache_dir: Option<&Path>,
) -> Result<Option<Filter>> {
    let source = match choice {
        Choice::Unconfined => Source::Unconfined,
        Choice::File(path) => Source::File(path.clone(), "given with --security-opt".to_string()),
        Choice::Default => default_source()?,
    };
    let Some(native) = Arch::native() else {
        if source == Source::Unconfined {
            return Ok(None);
        }
        return Err(Error::failure(format!(
            "userns has no seccomp tables for {}",
            std::env::consts::ARCH
        ))
        .fix("run with --security-opt seccomp=unconfined, knowing that the container then has no system call filter"));
    };
    let (text, slot_name, origin) = match source {
        Source::Unconfined => return Ok(None),
        Source::BuiltIn => (
            BUILT_IN_PROFILE.as_bytes().to_vec(),
            b"built-in".to_vec(),
            "the built-in seccomp profile".to_string(),
        ),
        Source::File(path, why) => {
            let origin = format!("seccomp profile {} ({why})", path.display());
            let text = std::fs::read(&path).map_err(|e| Error {
                what: format!("cannot read the {origin}"),
                ..Error::io("read", &path, &e)
            })?;
            (text, path.as_os_str().as_encoded_bytes().to_vec(), origin)
        }
    };
    let names = select::cap_names(caps);
    let host = Host {
        arch: native,
        caps: &names,
        kernel: select::running_kernel(),
        x32_abi: select::kernel_runs_x32(),
    };
    let key = cache::key(&text, &names, &host);
    let slot = cache::slot(&slot_name);
    if let Some(filter) = cache_dir.and_then(|dir| cache::load(dir, &slot, &key)) {
        return Ok(Some(filter));
    }
    let filter = std::str::from_utf8(&text)
        .map_err(|e| format!("not UTF-8 text: {e}"))
        .and_then(|text| compile_text(text, &host))
        .map_err(|e| {
            Error::failure(format!("invalid {origin}"))
                .because(e)
                .fix("correct the profile (the format of containers-common's seccomp.json, which podman reads), or name another with --security-opt seccomp=FILE")
        })?;
    if let (Some(dir), Some(filter)) = (cache_dir, &filter) {
        cache::store(dir, &slot, &key, filter);
    }
    Ok(filter)
}

/// The profile podman would use when no option names one.
fn default_source() -> Result<Source> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    // SAFETY: geteuid has no preconditions and cannot fail.
    let rootless = unsafe { libc::geteuid() } != 0;
    let files = config::conf_files(&env, rootless);
    if let Some(setting) = config::seccomp_profile(&files)? {
        if setting.value == "unconfined" {
            return Ok(Source::Unconfined);
        }
        let why = format!("seccomp_profile in {}", setting.file.display());
        return Ok(Source::File(PathBuf::from(setting.value), why));
    }
    Ok(config::PROFILE_PATHS
        .iter()
        .map(Path::new)
        .find(|p| p.exists())
        .map_or(Source::BuiltIn, |p| {
            Source::File(p.to_path_buf(), "podman's default".to_string())
        }))
}

/// Parse, select and compile a profile's text for `host`: the pure part of [`prepare`].
/// `Ok(None)` for a profile that turns seccomp off (no default action, no rules).
pub(crate) fn compile_text(text: &str, host: &Host) -> std::result::Result<Option<Filter>, String> {
    let Some(profile) = profile::parse(text)? else {
        return Ok(None);
    };
    let arches = select::arches(&profile, host.arch)?;
    let rules = select::rules(&profile, host);
    compile::compile(
        profile.default_action,
        &rules,
        &arches,
        profile.flags,
        host.x32_abi,
    )
    .map(Some)
}
