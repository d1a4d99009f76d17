//! One container's record: what `ps`, `logs`, `stop`, `exec` and `rm` know of it, kept as
//! JSON (`record.json` in the container's directory of the store, see `store`).
//!
//! A record names its processes by pid and start time (field 22 of /proc/PID/stat) and
//! the boot they belong to: a pid alone could be another process after reuse or a reboot.
//! New fields get `#[serde(default)]`, so that records of older versions still read.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// Where a container is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Recorded, not started yet (its monitor is starting it).
    Created,
    /// pid 1 is running (or restarting, between two runs of `--restart`).
    Running,
    /// pid 1 ended and its monitor recorded how (`exit_code`).
    Exited,
    /// The monitor ended without recording an end (killed, or the session or the machine
    /// ended): the exit status is unknown. `refresh` sets this, never a live monitor.
    Gone,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Exited => "exited",
            Status::Gone => "gone",
        }
    }
}

/// A process, named so that a reused pid is never taken for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessRef {
    /// As the host's (the initial) pid namespace numbers it.
    pub pid: i32,
    /// Field 22 of /proc/PID/stat: clock ticks after boot.
    pub start_time: u64,
}

impl ProcessRef {
    /// `pid` as it is now (its start time read from /proc).
    pub fn of(pid: i32) -> Result<ProcessRef> {
        Ok(ProcessRef {
            pid,
            start_time: crate::keep::process::start_time(pid)?,
        })
    }

    /// Whether the process still runs: same pid, same start time, not a zombie.
    pub fn alive(&self) -> bool {
        crate::keep::process::stat_of(self.pid)
            .is_ok_and(|s| s.start_time == self.start_time && !s.zombie)
    }
}

/// `--restart`: what the monitor does when pid 1 ends (podman's policies).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "policy")]
pub enum RestartPolicy {
    /// Never restart (the default).
    #[default]
    No,
    /// Restart when it exits with a status other than 0, at most `max_retries` times
    /// (None: without limit).
    OnFailure { max_retries: Option<u32> },
    /// Restart whatever the status, until stopped (`stop`, `kill`, `rm -f`).
    Always,
}

impl RestartPolicy {
    /// Parse `no`, `on-failure`, `on-failure:N`, `always` (podman's spelling).
    pub fn parse(text: &str) -> std::result::Result<RestartPolicy, String> {
        match text {
            "no" | "" => Ok(RestartPolicy::No),
            "always" => Ok(RestartPolicy::Always),
            "on-failure" => Ok(RestartPolicy::OnFailure { max_retries: None }),
            _ => match text.strip_prefix("on-failure:") {
                Some(n) => n
                    .parse::<u32>()
                    .map(|n| RestartPolicy::OnFailure {
                        max_retries: Some(n),
                    })
                    .map_err(|_| format!("{n:?} is not a number of retries")),
                None => Err("POLICY is no, on-failure[:N] or always".to_string()),
            },
        }
    }

    /// Whether a run that ended with `code`, after `restarts` restarts, is run again.
    pub fn restarts(self, code: u8, restarts: u32) -> bool {
        match self {
            RestartPolicy::No => false,
            RestartPolicy::Always => true,
            RestartPolicy::OnFailure { max_retries } => {
                code != 0 && max_retries.is_none_or(|max| restarts < max)
            }
        }
    }
}

impl std::fmt::Display for RestartPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RestartPolicy::No => write!(f, "no"),
            RestartPolicy::Always => write!(f, "always"),
            RestartPolicy::OnFailure { max_retries: None } => write!(f, "on-failure"),
            RestartPolicy::OnFailure {
                max_retries: Some(n),
            } => write!(f, "on-failure:{n}"),
        }
    }
}

/// What `userns exec` needs to become like the container's process: the user, groups,
/// environment and working directory pid 1 was given, its capabilities, its seccomp
/// filter, no_new_privs, and the namespaces to join. Written by the monitor once pid 1
/// has started (the user is resolved inside, from the container's /etc/passwd).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ExecConfig {
    /// The container's ids (as its user namespace numbers them).
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups: pid 1 clears them (setgroups of none), so empty today.
    #[serde(default)]
    pub additional_gids: Vec<u32>,
    /// pid 1's environment, K=V each, HOME included.
    pub env: Vec<String>,
    /// pid 1's working directory, inside the container.
    pub workdir: String,
    /// Capability names (CAP_CHOWN, ...): effective and permitted (empty for a user other
    /// than root, as the kernel clears them at the switch of uid).
    pub effective_caps: Vec<String>,
    /// The bounding set.
    pub bounding_caps: Vec<String>,
    /// `default` (the profile podman would use), `unconfined`, or an absolute profile
    /// path: `--security-opt seccomp=` as given, the path made absolute.
    pub seccomp: String,
    pub no_new_privs: bool,
    /// The namespaces pid 1 has of its own or joined: "user", "mnt", "pid", "uts", "ipc",
    /// "cgroup", and "net" unless `--net host`.
    pub namespaces: Vec<String>,
    pub hostname: String,
    /// `--userns`: `shared:NAME` (the kept namespace joined) or `private`.
    #[serde(default)]
    pub userns: String,
    /// Whether pid 1 is userns's reaper (`--init`), the program being its child.
    #[serde(default)]
    pub init: bool,
}

/// One container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerRecord {
    /// 64 hex digits (podman's form); the first 12 are the short id.
    pub id: String,
    /// Unique among the user's containers; generated (adjective_noun) when not given.
    pub name: String,
    /// Seconds since the epoch.
    pub created: u64,
    /// The SOURCE of `userns run`, as given.
    pub source: String,
    /// The program's words: as given at creation, the resolved ones (image entrypoint and
    /// command) once started.
    pub command: Vec<String>,
    pub status: Status,
    /// The last run's exit code (podman's: 128+N for signal N).
    #[serde(default)]
    pub exit_code: Option<u8>,
    #[serde(default)]
    pub started_at: Option<u64>,
    #[serde(default)]
    pub finished_at: Option<u64>,
    /// The process that holds pid 1 and records its end: the monitor of `run -d`, or the
    /// foreground `userns run` itself.
    #[serde(default)]
    pub monitor: Option<ProcessRef>,
    /// pid 1 of the container, while it runs.
    #[serde(default)]
    pub pid1: Option<ProcessRef>,
    /// /proc/sys/kernel/random/boot_id when the processes were recorded: after a reboot
    /// none of them runs, whatever the pids say.
    #[serde(default)]
    pub boot_id: String,
    #[serde(default)]
    pub restart: RestartPolicy,
    #[serde(default)]
    pub restart_count: u32,
    /// `--rm`: the monitor removes the record when the container ends.
    #[serde(default)]
    pub remove_on_exit: bool,
    /// Started with `-d` (a monitor of its own, output in the log).
    #[serde(default)]
    pub detached: bool,
    /// The signal `stop` sends first (SIGTERM unless the image says otherwise).
    #[serde(default = "default_stop_signal")]
    pub stop_signal: i32,
    /// `stop`, `kill` or `rm -f` asked for its end: the monitor does not restart it.
    #[serde(default)]
    pub stop_requested: bool,
    /// Why it failed to start, or what went wrong in its monitor.
    #[serde(default)]
    pub error: Option<String>,
    /// Set once pid 1 has started.
    #[serde(default)]
    pub exec: Option<ExecConfig>,
    /// The host uid that made it.
    pub owner_uid: u32,
}

fn default_stop_signal() -> i32 {
    libc::SIGTERM
}

impl ContainerRecord {
    /// The first 12 hex digits of the id.
    pub fn short_id(&self) -> &str {
        &self.id[..self.id.len().min(12)]
    }

    /// Whether `ps` without `-a` lists it.
    pub fn is_running(&self) -> bool {
        matches!(self.status, Status::Running | Status::Created)
    }

    /// Ended, and no monitor left to run it again (`--restart` waits between runs with
    /// the status `exited`): what `wait` and `logs -f` wait for. Reads /proc.
    pub fn ended_for_good(&self) -> bool {
        !self.is_running() && !self.monitor.is_some_and(|m| m.alive())
    }
}

/// A container name: podman's rule `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, at most 128 bytes, and
/// never something `lookup` would take for an id (64 hex digits).
pub fn check_name(name: &str) -> Result<()> {
    let bad = |why: &str| {
        Error::usage(format!("invalid container name {name:?}"))
            .because(why.to_string())
            .fix("use letters, digits, '_', '.' and '-', starting with a letter or digit")
    };
    if name.is_empty() || name.len() > 128 {
        return Err(bad("it must be 1 to 128 bytes long"));
    }
    let first_ok = name.as_bytes()[0].is_ascii_alphanumeric();
    if !first_ok
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
    {
        return Err(bad("it must match [a-zA-Z0-9][a-zA-Z0-9_.-]*"));
    }
    if is_full_id(name) {
        return Err(bad("64 hex digits would be taken for a container id"));
    }
    Ok(())
}

/// 64 lowercase hex digits.
pub fn is_full_id(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A new random id (getrandom(2)).
pub fn new_id() -> Result<String> {
    let mut bytes = [0u8; 32];
    fill_random(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

pub(crate) fn fill_random(bytes: &mut [u8]) -> Result<()> {
    match rustix::rand::getrandom(&mut *bytes, rustix::rand::GetRandomFlags::empty()) {
        Ok(n) if n == bytes.len() => Ok(()),
        Ok(n) => Err(Error::failure("cannot read random bytes")
            .because(format!("getrandom returned {n} of {} bytes", bytes.len()))),
        Err(e) => Err(Error::failure("cannot read random bytes").because(std::io::Error::from(e))),
    }
}

/// Words for generated names: adjective_noun, as podman (from moby's namesgenerator)
/// makes them. Lists of userns's own.
const ADJECTIVES: [&str; 32] = [
    "amber", "brave", "calm", "clever", "cool", "crisp", "daring", "eager", "fair", "fond",
    "gentle", "happy", "jolly", "keen", "kind", "lively", "lucid", "merry", "modest", "nimble",
    "noble", "proud", "quick", "quiet", "rapid", "serene", "sharp", "steady", "swift", "tender",
    "vivid", "witty",
];
const NOUNS: [&str; 32] = [
    "badger", "beaver", "bison", "crane", "dolphin", "eagle", "falcon", "ferret", "finch", "fox",
    "gecko", "heron", "ibis", "jackal", "koala", "lemur", "lynx", "marten", "newt", "otter", "owl",
    "panda", "puffin", "quail", "raven", "salmon", "seal", "stork", "tapir", "walrus", "wombat",
    "yak",
];

/// A generated name; `attempt` > 0 appends a number, so that a store whose every pair is
/// taken still finds a free one.
pub fn generated_name(attempt: u32) -> Result<String> {
    let mut bytes = [0u8; 2];
    fill_random(&mut bytes)?;
    let base = format!(
        "{}_{}",
        ADJECTIVES[bytes[0] as usize % ADJECTIVES.len()],
        NOUNS[bytes[1] as usize % NOUNS.len()]
    );
    Ok(if attempt == 0 {
        base
    } else {
        format!("{base}{attempt}")
    })
}

/// Seconds since the epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// This boot's id (/proc/sys/kernel/random/boot_id), empty when unreadable.
pub fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_policies_parse_and_decide() {
        assert_eq!(RestartPolicy::parse("no").unwrap(), RestartPolicy::No);
        let twice = RestartPolicy::parse("on-failure:2").unwrap();
        assert_eq!(twice.to_string(), "on-failure:2");
        assert!(twice.restarts(1, 0) && twice.restarts(1, 1));
        assert!(!twice.restarts(1, 2), "at most 2 restarts");
        assert!(!twice.restarts(0, 0), "success is not a failure");
        assert!(RestartPolicy::parse("always").unwrap().restarts(0, 99));
        assert!(RestartPolicy::parse("on-failure:x").is_err());
        assert!(RestartPolicy::parse("sometimes").is_err());
    }

    #[test]
    fn names_follow_podmans_rule_and_never_look_like_ids() {
        assert!(check_name("web-1.a_b").is_ok());
        for bad in ["", "-x", ".x", "a/b", "a b", &"x".repeat(129)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        let id = new_id().unwrap();
        assert!(is_full_id(&id));
        assert!(check_name(&id).is_err());
        let name = generated_name(0).unwrap();
        assert!(check_name(&name).is_ok(), "{name}");
        assert!(generated_name(3).unwrap().ends_with('3'));
    }

    #[test]
    fn records_of_older_versions_read_with_defaults() {
        let text = r#"{"id":"ab","name":"n","created":1,"source":"/r","command":["sh"],
            "status":"running","owner_uid":2000}"#;
        let rec: ContainerRecord = serde_json::from_str(text).unwrap();
        assert_eq!(rec.restart, RestartPolicy::No);
        assert_eq!(rec.stop_signal, libc::SIGTERM);
        assert!(rec.exec.is_none() && rec.is_running());
        let again: ContainerRecord =
            serde_json::from_str(&serde_json::to_string(&rec).unwrap()).unwrap();
        assert_eq!(again, rec);
    }
}
