//! Credential helpers: the protocol of docker-credential-helpers
//! (`client.Get`), as containers/image runs them for `credHelpers` entries of auth files
//! and for the `credential-helpers` of registries.conf.
//!
//! `docker-credential-NAME get` is found on `PATH` by that name only, is given the
//! registry's host (`quay.io`, `127.0.0.1:5000`; containers/image sends the host, not
//! docker's `https://index.docker.io/v1/`) on stdin and nothing else, and answers
//! `{"ServerURL": .., "Username": .., "Secret": ..}` on stdout. A user name of `<token>`
//! makes the secret an identity token (a refresh token for the token service). Exit 1
//! with "credentials not found in native keychain" on stdout means it has none.
//!
//! The interaction is bounded, as a program userns does not know may misbehave: a
//! timeout (after which the helper and what it started in its process group are
//! killed), at most [`MAX_ANSWER`] bytes of answer, and only the start of its
//! complaints kept for the message. The secret is never put in a message: an answer
//! that does not parse is described by where it stops parsing, not by its text.

use super::credentials::Credentials;
use crate::error::{Error, Result};
use rustix::event::{poll, PollFd, PollFlags, Timespec};
use serde::Deserialize;
use std::io::{Read, Write};
use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The name a helper `NAME` has on `PATH`.
pub use super::credentials::HELPER_PREFIX as PREFIX;
/// Seconds a helper may take (default [`DEFAULT_TIMEOUT`]).
pub const TIMEOUT_VAR: &str = "USERNS_CREDENTIAL_HELPER_TIMEOUT";
/// Long enough for a helper that asks a cloud's metadata service or refreshes a token
/// (ecr-login, gcloud), short enough that a hung one does not hang a pull.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// An answer is three short strings; a megabyte is garbage, not credentials.
pub const MAX_ANSWER: usize = 1 << 20;
/// How much of a helper's complaint (stderr, or stdout when it failed) is shown.
const MAX_SHOWN: usize = 2048;
/// docker-credential-helpers' `credentials.errCredentialsNotFoundMessage`.
const NOT_FOUND: &str = "credentials not found in native keychain";
/// The user name by which a helper hands out an identity token.
const TOKEN_USER: &str = "<token>";

/// A helper's answer, when it has credentials.
#[derive(Deserialize)]
struct Answer {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

/// The helper's timeout: `$USERNS_CREDENTIAL_HELPER_TIMEOUT` seconds, or the default.
pub fn timeout() -> Result<Duration> {
    timeout_from(std::env::var(TIMEOUT_VAR).ok().as_deref())
}

fn timeout_from(value: Option<&str>) -> Result<Duration> {
    let Some(v) = value.filter(|v| !v.trim().is_empty()) else {
        return Ok(DEFAULT_TIMEOUT);
    };
    match v.trim().parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 && s <= 3600.0 => Ok(Duration::from_secs_f64(s)),
        _ => Err(
            Error::failure(format!("{TIMEOUT_VAR}={v:?} is not a number of seconds")).fix(format!(
                "set {TIMEOUT_VAR} to seconds between 0 and 3600 (default {})",
                DEFAULT_TIMEOUT.as_secs()
            )),
        ),
    }
}

/// One helper asked for one registry.
pub struct HelperCall<'a> {
    /// `NAME` of `docker-credential-NAME`.
    pub helper: &'a str,
    /// The registry's host, the only thing the helper is told.
    pub registry: &'a str,
    /// Where the helper was named, for messages: "registries.conf credential-helpers",
    /// "credHelpers in /home/u/.config/containers/auth.json".
    pub named_in: &'a str,
    pub timeout: Duration,
}

impl HelperCall<'_> {
    fn program(&self) -> String {
        format!("{PREFIX}{}", self.helper)
    }

    fn error(&self, what: &str) -> Error {
        Error::failure(format!(
            "the credential helper {} {what} for {}",
            self.program(),
            self.registry
        ))
    }

    /// The credentials the helper has for the registry; None when it has none.
    pub fn get(&self) -> Result<Option<Credentials>> {
        let path = self.find()?;
        let mut child = Command::new(&path)
            .arg("get")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group: on a timeout, what it started dies with it.
            .process_group(0)
            .spawn()
            .map_err(|e| {
                self.error("could not be started").because(e).fix(format!(
                    "check that {} is an executable program",
                    path.display()
                ))
            })?;
        let outcome = self.converse(&mut child);
        if outcome.is_err() {
            kill_group(&child);
        }
        // Reaped in every case: nothing of it outlives the call.
        let status = child.wait();
        let (stdout, stderr) = outcome?;
        let status = status.map_err(|e| self.error("could not be waited for").because(e))?;
        if !status.success() {
            let said = String::from_utf8_lossy(&stdout);
            if said.trim() == NOT_FOUND {
                return Ok(None);
            }
            let how = match (status.code(), status.signal()) {
                (Some(code), _) => format!("exited with status {code}"),
                (None, Some(signal)) => format!("was killed by signal {signal}"),
                (None, None) => status.to_string(),
            };
            return Err(self.failed(&how, said.trim(), &stderr));
        }
        self.parse(&stdout, &stderr)
    }

    /// `docker-credential-NAME` in a directory of `PATH`.
    fn find(&self) -> Result<PathBuf> {
        let valid = !self.helper.is_empty()
            && !self.helper.contains('/')
            && !self.helper.starts_with('-')
            && !self.helper.chars().any(char::is_control);
        if !valid {
            return Err(Error::failure(format!(
                "{:?} is not a credential helper's name ({})",
                self.helper, self.named_in
            ))
            .because(format!(
                "a helper is named by NAME, and run as {PREFIX}NAME from PATH"
            ))
            .fix(format!("correct it in {}", self.named_in)));
        }
        let program = self.program();
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path)
            .filter(|d| d.is_absolute())
            .map(|d| d.join(&program))
            .find(|p| is_executable(p))
            .ok_or_else(|| {
                self.error("is not installed")
                    .because(format!(
                        "no executable {program} in any directory of PATH ({} names it)",
                        self.named_in
                    ))
                    .fix(format!(
                        "install {program} in a directory of PATH, or remove {:?} from {}",
                        self.helper, self.named_in
                    ))
            })
    }

    /// Send the registry, read the answer and the complaints, within the timeout.
    fn converse(&self, child: &mut Child) -> Result<(Vec<u8>, Vec<u8>)> {
        let deadline = Instant::now() + self.timeout;
        if let Some(mut stdin) = child.stdin.take() {
            // As docker's client does: the server URL, no newline. A helper that exits
            // without reading it closes the pipe (EPIPE, not a signal: Rust's runtime
            // ignores SIGPIPE); its exit status says what happened.
            let _ = stdin.write_all(self.registry.as_bytes());
        }
        let (Some(mut out), Some(mut err)) = (child.stdout.take(), child.stderr.take()) else {
            return Err(self
                .error("could not be started")
                .because("its pipes are missing"));
        };
        let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
        let (mut out_open, mut err_open) = (true, true);
        let mut chunk = [0u8; 8192];
        while out_open || err_open {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(self.timed_out(&stderr));
            }
            let mut fds = Vec::new();
            if out_open {
                fds.push(PollFd::new(&out, PollFlags::IN));
            }
            if err_open {
                fds.push(PollFd::new(&err, PollFlags::IN));
            }
            let wait = Timespec {
                tv_sec: left.as_secs() as i64,
                tv_nsec: left.subsec_nanos() as i64,
            };
            match poll(&mut fds, Some(&wait)) {
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => {
                    return Err(self
                        .error("could not be read")
                        .because(std::io::Error::from(e)))
                }
            }
            let ready: Vec<bool> = fds.iter().map(|f| !f.revents().is_empty()).collect();
            drop(fds);
            let mut i = 0;
            if out_open {
                if ready[i] {
                    match out.read(&mut chunk) {
                        Ok(0) => out_open = false,
                        Ok(n) => stdout.extend_from_slice(&chunk[..n]),
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(self.error("could not be read").because(e)),
                    }
                    if stdout.len() > MAX_ANSWER {
                        return Err(self.error("answered too much").because(format!(
                            "more than {MAX_ANSWER} bytes on stdout, where an answer is a few \
                             short strings"
                        )).fix(format!(
                            "check that {} is a credential helper (run `echo -n {} | {} get` to see what it says)",
                            self.program(), self.registry, self.program()
                        )));
                    }
                }
                i += 1;
            }
            if err_open && ready[i] {
                match err.read(&mut chunk) {
                    Ok(0) => err_open = false,
                    // Only the start is kept; the rest is drained so the helper never
                    // blocks on a full pipe.
                    Ok(n) => {
                        let room = MAX_SHOWN.saturating_sub(stderr.len());
                        stderr.extend_from_slice(&chunk[..n.min(room)]);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(self.error("could not be read").because(e)),
                }
            }
        }
        // Both pipes closed: it exits now, or it is waiting for something else.
        while child
            .try_wait()
            .map_err(|e| self.error("could not be waited for").because(e))?
            .is_none()
        {
            if Instant::now() >= deadline {
                return Err(self.timed_out(&stderr));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok((stdout, stderr))
    }

    fn timed_out(&self, stderr: &[u8]) -> Error {
        let mut cause = format!(
            "it did not answer within {:.0?} and was killed",
            self.timeout
        );
        let said = shown(stderr);
        if !said.is_empty() {
            cause.push_str(&format!("; it said on stderr: {said}"));
        }
        self.error("timed out").because(cause).fix(format!(
            "check that `echo -n {} | {} get` answers (a login it waits for, a network it \
             cannot reach), or allow it longer: {TIMEOUT_VAR}=SECONDS",
            self.registry,
            self.program()
        ))
    }

    fn failed(&self, status: &str, stdout: &str, stderr: &[u8]) -> Error {
        let mut said: Vec<String> = Vec::new();
        let out = shown(stdout.as_bytes());
        if !out.is_empty() {
            said.push(out);
        }
        let err = shown(stderr);
        if !err.is_empty() {
            said.push(err);
        }
        let said = if said.is_empty() {
            "nothing".to_string()
        } else {
            said.join("; ")
        };
        self.error("failed")
            .because(format!("it {status} and said: {said}"))
            .fix(format!(
                "log in with the helper's own tool (its message above says how), or remove \
                 {:?} from {}",
                self.helper, self.named_in
            ))
    }

    /// The answer on stdout, without ever echoing it (it holds the secret).
    fn parse(&self, stdout: &[u8], stderr: &[u8]) -> Result<Option<Credentials>> {
        let answer: Answer = serde_json::from_slice(stdout).map_err(|e| {
            use serde_json::error::Category;
            let how = match e.classify() {
                Category::Eof => "it ends early",
                Category::Syntax => "it is not JSON",
                Category::Data => "a field is missing or of the wrong type",
                Category::Io => "it could not be read",
            };
            let mut cause = format!(
                "its answer ({} bytes) is not the JSON of docker-credential-helpers \
                 ({{\"ServerURL\", \"Username\", \"Secret\"}}): {how}, at line {} column {}",
                stdout.len(),
                e.line(),
                e.column()
            );
            let said = shown(stderr);
            if !said.is_empty() {
                cause.push_str(&format!("; it said on stderr: {said}"));
            }
            self.error("gave an answer userns cannot read")
                .because(cause)
                .fix(format!(
                    "check that {} is a docker credential helper, or remove {:?} from {}",
                    self.program(),
                    self.helper,
                    self.named_in
                ))
        })?;
        // containers/image takes an empty answer for "none" too.
        if answer.username.is_empty() && answer.secret.is_empty() {
            return Ok(None);
        }
        if answer.username == TOKEN_USER {
            return Ok(Some(Credentials::identity_token(answer.secret)));
        }
        Ok(Some(Credentials {
            username: answer.username,
            password: answer.secret,
            identity_token: None,
        }))
    }
}

/// A complaint as shown: trimmed, bounded, one line.
fn shown(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_SHOWN)]);
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn is_executable(path: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// SIGKILL the helper's process group (it leads it: `process_group(0)`).
fn kill_group(child: &Child) {
    if let Some(pid) = rustix::process::Pid::from_raw(child.id() as i32) {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(helper: &str) -> HelperCall<'_> {
        HelperCall {
            helper,
            registry: "reg.example",
            named_in: "credHelpers of /test/auth.json",
            timeout: DEFAULT_TIMEOUT,
        }
    }

    #[test]
    fn a_helper_is_named_not_pathed() {
        for bad in ["", "../../bin/sh", "/bin/sh", "a/b", "-rf", "x\ny"] {
            let e = call(bad).find().unwrap_err();
            assert!(
                e.what.contains("is not a credential helper's name")
                    && e.to_string().contains("/test/auth.json"),
                "{bad:?}: {e}"
            );
        }
        let e = call("userns-surely-not-installed").find().unwrap_err();
        assert!(
            e.what
                .contains("docker-credential-userns-surely-not-installed is not installed"),
            "{e}"
        );
    }

    #[test]
    fn timeouts_are_seconds_within_bounds() {
        assert_eq!(timeout_from(None).unwrap(), DEFAULT_TIMEOUT);
        assert_eq!(timeout_from(Some(" ")).unwrap(), DEFAULT_TIMEOUT);
        assert_eq!(
            timeout_from(Some("1.5")).unwrap(),
            Duration::from_millis(1500)
        );
        for bad in ["0", "-1", "soon", "NaN", "inf", "3601"] {
            let e = timeout_from(Some(bad)).unwrap_err();
            assert!(e.what.contains(TIMEOUT_VAR), "{bad}: {e}");
        }
    }

    #[test]
    fn complaints_are_shown_on_one_bounded_line() {
        assert_eq!(shown(b"  locked\n\tkeyring \n"), "locked keyring");
        let long = vec![b'x'; 10 * MAX_SHOWN];
        assert_eq!(shown(&long).len(), MAX_SHOWN);
    }

    #[test]
    fn answers_parse_without_echoing_the_secret() {
        let c = call("t");
        let creds = c
            .parse(
                br#"{"ServerURL":"reg.example","Username":"u","Secret":"hunter2"}"#,
                b"",
            )
            .unwrap()
            .unwrap();
        assert_eq!(
            (creds.username.as_str(), creds.password.as_str()),
            ("u", "hunter2")
        );
        let token = c
            .parse(br#"{"Username":"<token>","Secret":"refresh"}"#, b"")
            .unwrap()
            .unwrap();
        assert_eq!(token.identity_token.as_deref(), Some("refresh"));
        assert!(c
            .parse(br#"{"Username":"","Secret":""}"#, b"")
            .unwrap()
            .is_none());
        for bad in [
            &br#"{"Username":"u","Secret":"hunter2""#[..],
            br#"{"Username":"u","Secret":7777777}"#,
            b"Username=u Secret=hunter2",
        ] {
            let e = c.parse(bad, b"").expect_err("refused");
            let text = e.to_string();
            assert!(
                !text.contains("hunter2") && !text.contains("7777777"),
                "{text}"
            );
            assert!(
                text.contains("not the JSON of docker-credential-helpers"),
                "{text}"
            );
        }
    }
}
