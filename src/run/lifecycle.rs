//! What a caller that keeps a container (a record, a monitor: `crate::container`) adds to
//! a run: the container's id, where pid 1's output goes, and word of its start with what
//! `userns exec` needs to know (the user resolved inside, the environment).

use crate::error::Result;
use std::os::fd::OwnedFd;

/// The caller's part in a run (`run::run_with`).
pub struct Lifecycle<'a> {
    /// The container's id, 64 hex digits (its first 12 name the run directory and are the
    /// default hostname).
    pub id: String,
    /// pid 1's stdout and stderr (the write ends of the monitor's pipes); None: the
    /// caller's own.
    pub output: Option<(OwnedFd, OwnedFd)>,
    /// Called once the program has been exec'd.
    pub started: &'a mut dyn FnMut(Started) -> Result<()>,
}

/// pid 1 as it started.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Started {
    /// pid 1, as the host's pid namespace numbers it.
    pub pid1: i32,
    /// The container's user, resolved in its /etc/passwd and /etc/group.
    pub uid: u32,
    pub gid: u32,
    /// The environment pid 1 got (HOME included).
    pub env: Vec<String>,
    pub workdir: String,
    /// The program's words (entrypoint and command resolved).
    pub command: Vec<String>,
    pub hostname: String,
    /// "user", "mnt", "pid", "uts", "ipc", "cgroup", and "net" unless `--net host`.
    pub namespaces: Vec<String>,
    /// `default`, `unconfined`, or the profile's absolute path.
    pub seccomp: String,
    /// `shared:NAME` or `private`.
    pub userns: String,
    pub init: bool,
    /// The image's StopSignal as a number (SIGTERM when it sets none, or one unknown).
    pub stop_signal: i32,
}

/// What the supervisor knows of pid 1 once it has started.
pub(crate) struct Facts<'a> {
    pub pid1: i32,
    pub program: &'a crate::unshare::Program,
    /// The environment before HOME is added (pid 1 adds it from the user's passwd entry).
    pub env: Vec<String>,
    pub workdir: &'a str,
    pub hostname: &'a str,
    /// The image's StopSignal, as written.
    pub stop_signal: Option<&'a str>,
}

/// The start, from what the supervisor knows and what pid 1 wrote up `info` (its user).
pub(crate) fn started(args: &super::RunSpec, facts: Facts, info: OwnedFd) -> Started {
    use std::io::Read;
    let mut text = String::new();
    let _ = std::fs::File::from(info).read_to_string(&mut text);
    let (uid, gid, home) = decode_user(&text).unwrap_or((0, 0, "/".to_string()));
    let mut env = facts.env;
    if !super::spec::has_env(&env, "HOME") {
        super::spec::set_env(&mut env, &format!("HOME={home}"));
    }
    let mut namespaces: Vec<String> = ["user", "mnt", "pid", "uts", "ipc", "cgroup"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    if args.net != super::NetMode::Host {
        namespaces.push("net".to_string());
    }
    Started {
        pid1: facts.pid1,
        uid,
        gid,
        env,
        workdir: facts.workdir.to_string(),
        command: facts
            .program
            .argv
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect(),
        hostname: facts.hostname.to_string(),
        namespaces,
        seccomp: seccomp_choice(&args.security_opt),
        userns: match &args.userns {
            super::UsernsMode::Shared(name) => format!("shared:{name}"),
            super::UsernsMode::Private => "private".to_string(),
        },
        init: args.init,
        stop_signal: facts
            .stop_signal
            .and_then(signal_number)
            .unwrap_or(libc::SIGTERM),
    }
}

/// A signal as podman and images write it: a number, or a name with or without SIG
/// (`SIGTERM`, `term`, `15`).
pub fn signal_number(text: &str) -> Option<i32> {
    if let Ok(n) = text.parse::<i32>() {
        return (1..=64).contains(&n).then_some(n);
    }
    let upper = text.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<nix::sys::signal::Signal>()
        .ok()
        .map(|s| s as i32)
}

/// `--security-opt seccomp=` as the record keeps it: `default`, `unconfined` or an
/// absolute path (made so against the caller's working directory, where run read it).
fn seccomp_choice(opts: &[String]) -> String {
    use crate::seccomp::Choice;
    match crate::seccomp::parse_security_opts(opts) {
        Ok(Choice::Unconfined) => "unconfined".to_string(),
        Ok(Choice::File(path)) => std::env::current_dir()
            .map(|cwd| cwd.join(&path))
            .unwrap_or(path)
            .display()
            .to_string(),
        Ok(Choice::Default) | Err(_) => "default".to_string(),
    }
}

/// In pid 1, first: its stdout and stderr become `out` and `err` (the monitor's pipes);
/// the originals are closed with the rest of userns's descriptors before the exec.
pub(crate) fn redirect_output(out: &OwnedFd, err: &OwnedFd) -> Result<()> {
    let failed = |e: rustix::io::Errno| {
        crate::error::Error::failure("cannot connect the container's output to its log")
            .because(std::io::Error::from(e))
    };
    rustix::stdio::dup2_stdout(out).map_err(failed)?;
    rustix::stdio::dup2_stderr(err).map_err(failed)?;
    Ok(())
}

/// The line pid 1 sends up its info pipe once it has resolved its user: `UID GID HOME`.
pub(crate) fn encode_user(user: &super::user::ExecUser) -> String {
    format!("{} {} {}", user.uid, user.gid, user.home)
}

/// The user of [`encode_user`]'s line.
pub(crate) fn decode_user(text: &str) -> Option<(u32, u32, String)> {
    let mut words = text.splitn(3, ' ');
    let uid = words.next()?.parse().ok()?;
    let gid = words.next()?.parse().ok()?;
    Some((uid, gid, words.next().unwrap_or("/").to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_user_line_round_trips_with_spaces_in_home() {
        let user = crate::run::user::ExecUser {
            uid: 1000,
            gid: 50,
            home: "/home/a b".into(),
        };
        assert_eq!(
            decode_user(&encode_user(&user)),
            Some((1000, 50, "/home/a b".to_string()))
        );
        assert_eq!(decode_user("x"), None);
    }
}
