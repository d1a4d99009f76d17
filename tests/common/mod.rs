//! The hermetic rootless scenario of docs/TESTING.md, shared by every end-to-end test.
//!
//! As root, each `Scenario` gets a private mount namespace (`unshare --mount
//! --propagation private`) in which a copy of /etc, holding the fixture passwd, group,
//! subuid and subgid, is bind-mounted over /etc. Then `setpriv` drops to the fixture user
//! (default `ivy`, 2000:2000) with a clean environment and runs the real `userns` binary
//! or a shell script. The setuid helpers `newuidmap`/`newgidmap` run in that mount
//! namespace too, so they read the fixtures; the host's /etc is never touched.
//!
//! Every process between the test and the user's program `exec`s the next one (unshare
//! without --fork, `exec "$@"` in the root script, setpriv, env), so the pid of the
//! `Child` from [`Scenario::spawn_sh`] is the user's shell itself: signals sent to it
//! reach the program under test, not a wrapper.
//!
//! Scenarios are independent (own scratch dir, own mount namespace per run), so tests
//! run in parallel. Set `USERNS_KEEP_SCRATCH=1` to keep scratch dirs for inspection.

#![allow(dead_code)] // each test binary uses a different part of the harness

use std::cell::RefCell;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::io::Read;
use std::os::unix::fs::{chown, MetadataExt, PermissionsExt};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The PATH the fixture user gets; the system directories only, as a login would.
const USER_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A run that takes longer than this is killed and the test fails, so a hung namespace
/// cannot hang CI. Override with USERNS_TEST_TIMEOUT (seconds).
const DEFAULT_TIMEOUT_SECS: u64 = 120;

/// What a scenario's /etc/subuid or /etc/subgid holds.
#[derive(Debug)]
enum SubIdFixture {
    /// `NAME:200000:65536` for the fixture user's name.
    Default,
    Text(String),
    Absent,
}

static SCENARIO_COUNT: AtomicUsize = AtomicUsize::new(0);

/// One hermetic rootless scenario: fixture /etc, fixture user, scratch dir.
#[derive(Debug)]
pub struct Scenario {
    /// The test's name, for messages.
    test: String,
    /// The fixture user's name.
    name: String,
    uid: u32,
    gid: u32,
    omit_passwd_entry: bool,
    extra_passwd: Vec<String>,
    subuid: SubIdFixture,
    subgid: SubIdFixture,
    files: Vec<(String, String)>,
    root_setup: Vec<String>,
    no_new_privs: bool,
    env: Vec<(String, String)>,
    scratch: PathBuf,
    bin: PathBuf,
    /// /etc is copied and the fixtures are written at the first run, so that builder
    /// calls made after `new` all apply, and later runs see what earlier runs changed.
    materialized: OnceLock<()>,
}

impl Scenario {
    /// None (with a "skipped: needs root for the hermetic scenario" line on stderr) when
    /// not root and CI is unset; panics when not root and CI is set (a skip in CI must
    /// fail the run, since these tests cover the product's core).
    pub fn new(test_name: &str) -> Option<Scenario> {
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            if in_ci() {
                panic!(
                    "{test_name}: needs root for the hermetic scenario, and CI is set: \
                     run the tests as root (scripts/test)"
                );
            }
            // Straight to fd 2: the test harness captures eprintln!, and a skip must show.
            let _ = std::io::Write::write_all(
                &mut std::io::stderr(),
                format!("{test_name}: skipped: needs root for the hermetic scenario\n").as_bytes(),
            );
            return None;
        }
        remove_stale_scratch_dirs();
        let n = SCENARIO_COUNT.fetch_add(1, Ordering::Relaxed);
        let safe: String = test_name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let scratch = PathBuf::from(format!(
            "/var/tmp/userns-test.{safe}.{}.{n}",
            std::process::id()
        ));
        if scratch.exists() {
            std::fs::remove_dir_all(&scratch)
                .unwrap_or_else(|e| panic!("cannot remove stale {}: {e}", scratch.display()));
        }
        let mut scenario = Scenario {
            test: test_name.to_string(),
            name: "ivy".to_string(),
            uid: 2000,
            gid: 2000,
            omit_passwd_entry: false,
            extra_passwd: Vec::new(),
            subuid: SubIdFixture::Default,
            subgid: SubIdFixture::Default,
            files: Vec::new(),
            root_setup: Vec::new(),
            no_new_privs: false,
            env: Vec::new(),
            bin: PathBuf::new(),
            scratch,
            materialized: OnceLock::new(),
        };
        for dir in [
            scenario.scratch.clone(),
            scenario.home(),
            scenario.run_dir(),
        ] {
            std::fs::create_dir_all(&dir)
                .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        }
        scenario.chown_scratch();
        scenario.bin = scenario.reachable_binary();
        Some(scenario)
    }

    /// Replace the fixture user (name, uid, gid). Unless `subuid`/`subgid` set them, the
    /// subid files give the new name the default range `200000:65536`.
    pub fn user(mut self, name: &str, uid: u32, gid: u32) -> Self {
        self.name_user(name);
        self.uid = uid;
        self.gid = gid;
        self.chown_scratch();
        self
    }

    /// The fixture user has no passwd line: a numeric-only user (as with LDAP users
    /// whose NSS module is down). USER and LOGNAME are then not set either.
    pub fn omit_passwd_entry(mut self) -> Self {
        self.omit_passwd_entry = true;
        self
    }

    /// One or more extra lines for /etc/passwd (a trailing newline is added if missing).
    pub fn extra_passwd(mut self, line: &str) -> Self {
        self.extra_passwd.push(line.to_string());
        self
    }

    pub fn subuid(mut self, text: &str) -> Self {
        self.subuid = SubIdFixture::Text(text.to_string());
        self
    }

    pub fn subgid(mut self, text: &str) -> Self {
        self.subgid = SubIdFixture::Text(text.to_string());
        self
    }

    /// /etc/subuid and /etc/subgid do not exist in the scenario.
    pub fn no_subid_files(mut self) -> Self {
        self.subuid = SubIdFixture::Absent;
        self.subgid = SubIdFixture::Absent;
        self
    }

    /// Write a file (mode 644) into the scenario's /etc, e.g. ("login.defs", ..) or
    /// ("nsswitch.conf", ..). Written after passwd/group/subuid/subgid, so it may replace them.
    pub fn file(mut self, path_in_etc: &str, contents: &str) -> Self {
        assert!(
            !path_in_etc.starts_with('/') && !path_in_etc.split('/').any(|c| c == ".."),
            "file({path_in_etc:?}): give a path relative to /etc"
        );
        self.files
            .push((path_in_etc.to_string(), contents.to_string()));
        self
    }

    /// Root shell commands run (with `set -e`) inside the private mount namespace, after
    /// the fixture /etc is mounted and before dropping to the user. $SCRATCH is the
    /// scratch dir, $BIN the userns binary. Example: bind-mount a non-setuid copy of
    /// newuidmap over /usr/bin/newuidmap.
    pub fn root_setup(mut self, sh: &str) -> Self {
        self.root_setup.push(sh.to_string());
        self
    }

    /// Run the user's program with `setpriv --no-new-privs` (setuid helpers then fail).
    pub fn no_new_privs(mut self) -> Self {
        self.no_new_privs = true;
        self
    }

    /// Set (or override) a variable in the user's otherwise clean environment.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        assert!(
            !key.is_empty() && !key.contains('='),
            "env({key:?}): not a variable name"
        );
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// The scratch dir: owned by the fixture user, mode 0755, under /var/tmp, removed on
    /// drop. It holds `home/` (the user's HOME), `run/` (XDG_RUNTIME_DIR) and `etc/`.
    pub fn scratch(&self) -> &Path {
        &self.scratch
    }

    /// The fixture user's HOME (`$SCRATCH/home`).
    pub fn home(&self) -> PathBuf {
        self.scratch.join("home")
    }

    /// The copy of /etc that is mounted over /etc in every run; read it after a run to
    /// see what the program wrote (lock files, new subuid contents).
    pub fn etc(&self) -> PathBuf {
        self.scratch.join("etc")
    }

    pub fn uid(&self) -> u32 {
        self.uid
    }

    pub fn gid(&self) -> u32 {
        self.gid
    }

    /// The fixture user's name (also the name in the passwd line, unless omitted).
    pub fn user_name(&self) -> &str {
        &self.name
    }

    /// The userns binary as the fixture user runs it.
    pub fn bin(&self) -> &Path {
        &self.bin
    }

    /// Run the userns binary with `args` as the fixture user.
    pub fn run(&self, args: &[&str]) -> Output {
        let mut argv: Vec<OsString> = vec![self.bin.clone().into()];
        argv.extend(args.iter().map(OsString::from));
        let what = format!("userns {}", shell_words(args));
        self.finish(self.command(argv), what)
    }

    /// Run `sh -c script` as the fixture user, with $USERNS = the binary path.
    pub fn sh(&self, script: &str) -> Output {
        let what = format!("sh -c {}", shell_quote(script));
        self.finish(self.command(self.sh_argv(script)), what)
    }

    /// Like `sh`, but return the running Child (stdin, stdout, stderr piped). Its pid is
    /// the user's shell itself (every layer in between execs), so signals reach it.
    pub fn spawn_sh(&self, script: &str) -> Child {
        let mut cmd = self.command(self.sh_argv(script));
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd.spawn()
            .unwrap_or_else(|e| panic!("cannot start the scenario (unshare): {e}"))
    }

    // ---- the mechanism ----

    fn name_user(&mut self, name: &str) {
        assert!(
            !name.is_empty() && !name.contains([':', '\n']),
            "user({name:?}): not a user name"
        );
        self.name = name.to_string();
    }

    fn run_dir(&self) -> PathBuf {
        self.scratch.join("run")
    }

    fn chown_scratch(&self) {
        for (dir, mode) in [(&self.scratch, 0o755), (&self.home(), 0o755)] {
            set_owner_mode(dir, self.uid, self.gid, mode);
        }
        // XDG_RUNTIME_DIR must be private to its user (podman refuses it otherwise).
        set_owner_mode(&self.run_dir(), self.uid, self.gid, 0o700);
    }

    /// The binary, at a path the fixture user can execute. The build tree may sit under
    /// a directory other users cannot enter (a clone in /root): then link or copy the
    /// binary into the scratch dir.
    fn reachable_binary(&self) -> PathBuf {
        let built = PathBuf::from(env!("CARGO_BIN_EXE_userns"));
        if reachable_by_others(&built) {
            return built;
        }
        let dir = self.scratch.join(".bin");
        std::fs::create_dir_all(&dir).expect("create scratch .bin");
        let copy = dir.join("userns");
        if std::fs::hard_link(&built, &copy).is_err() {
            std::fs::copy(&built, &copy).unwrap_or_else(|e| {
                panic!("cannot copy {} to {}: {e}", built.display(), copy.display())
            });
        }
        std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755))
            .expect("chmod the binary copy");
        copy
    }

    /// Copy /etc and write the fixtures into the copy, once per scenario.
    fn materialize(&self) {
        self.materialized.get_or_init(|| {
            let etc = self.etc();
            let status = Command::new("cp")
                .arg("-a")
                .arg("/etc")
                .arg(&etc)
                .status()
                .expect("run cp -a /etc");
            assert!(status.success(), "cp -a /etc {} failed", etc.display());
            self.write_etc("passwd", &self.passwd_text());
            self.write_etc("group", &self.group_text());
            for (name, text) in [("subuid", &self.subuid), ("subgid", &self.subgid)] {
                match text {
                    SubIdFixture::Default => {
                        self.write_etc(name, &format!("{}:200000:65536\n", self.name))
                    }
                    SubIdFixture::Text(text) => self.write_etc(name, text),
                    SubIdFixture::Absent => {
                        let path = etc.join(name);
                        if path.exists() {
                            std::fs::remove_file(&path).expect("remove subid file from the copy");
                        }
                    }
                }
            }
            for (path, contents) in &self.files {
                self.write_etc(path, contents);
            }
        });
    }

    fn write_etc(&self, path_in_etc: &str, contents: &str) {
        let path = self.etc().join(path_in_etc);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create dir in the /etc copy");
        }
        std::fs::write(&path, contents)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))
            .expect("chmod fixture");
    }

    /// The host's passwd, without lines that would shadow the fixture user (same name or
    /// uid: getpwnam and getpwuid return the first match), plus the fixture lines.
    fn passwd_text(&self) -> String {
        let host = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        let mut text = keep_other_lines(&host, &self.name, self.uid);
        if !self.omit_passwd_entry {
            let _ = writeln!(
                text,
                "{}:x:{}:{}::{}:/bin/sh",
                self.name,
                self.uid,
                self.gid,
                self.home().display()
            );
        }
        for line in &self.extra_passwd {
            text.push_str(line);
            if !line.ends_with('\n') {
                text.push('\n');
            }
        }
        text
    }

    fn group_text(&self) -> String {
        let host = std::fs::read_to_string("/etc/group").unwrap_or_default();
        let mut text = keep_other_lines(&host, &self.name, self.gid);
        let _ = writeln!(text, "{}:x:{}:", self.name, self.gid);
        text
    }

    fn sh_argv(&self, script: &str) -> Vec<OsString> {
        vec!["/bin/sh".into(), "-c".into(), script.into()]
    }

    /// `unshare --mount ... sh -c ROOT_SCRIPT sh setpriv ... env -i ... PROGRAM`: the
    /// user's program and its arguments travel as positional parameters, never through
    /// shell quoting.
    fn command(&self, program: Vec<OsString>) -> Command {
        self.materialize();
        let mut root_script = String::from("set -e\nmount --bind \"$SCRATCH/etc\" /etc\n");
        for setup in &self.root_setup {
            root_script.push_str(setup);
            root_script.push('\n');
        }
        root_script.push_str("cd \"$SCRATCH/home\"\nexec \"$@\"\n");

        let mut cmd = Command::new("unshare");
        cmd.args(["--mount", "--propagation", "private", "--", "/bin/sh", "-c"])
            .arg(root_script)
            .arg("sh")
            .arg("setpriv")
            .arg(format!("--reuid={}", self.uid))
            .arg(format!("--regid={}", self.gid))
            .arg("--clear-groups");
        if self.no_new_privs {
            cmd.arg("--no-new-privs");
        }
        cmd.args(["env", "-i"]);
        for (key, value) in self.user_env() {
            cmd.arg(format!("{key}={value}"));
        }
        cmd.args(program);
        cmd.env_clear()
            .env("PATH", USER_PATH)
            .env("SCRATCH", &self.scratch)
            .env("BIN", &self.bin)
            .current_dir("/");
        cmd
    }

    fn user_env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            ("PATH".to_string(), USER_PATH.to_string()),
            ("HOME".to_string(), self.home().display().to_string()),
        ];
        if !self.omit_passwd_entry {
            env.push(("USER".to_string(), self.name.clone()));
            env.push(("LOGNAME".to_string(), self.name.clone()));
        }
        env.push(("SHELL".to_string(), "/bin/sh".to_string()));
        env.push((
            "XDG_RUNTIME_DIR".to_string(),
            self.run_dir().display().to_string(),
        ));
        env.push(("USERNS".to_string(), self.bin.display().to_string()));
        for (key, value) in &self.env {
            env.retain(|(k, _)| k != key);
            env.push((key.clone(), value.clone()));
        }
        env
    }

    /// Run to completion with a time limit; record the command for the assert helpers.
    fn finish(&self, mut cmd: Command, what: String) -> Output {
        // Own process group, so that a timeout kills everything the run started.
        cmd.process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the scenario (unshare): {e}"));
        let out_reader = drain(child.stdout.take().expect("piped stdout"));
        let err_reader = drain(child.stderr.take().expect("piped stderr"));
        let limit = Duration::from_secs(
            std::env::var("USERNS_TEST_TIMEOUT")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(DEFAULT_TIMEOUT_SECS),
        );
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for the scenario") {
                break status;
            }
            if started.elapsed() > limit {
                // SAFETY: kill(2) on our own child's process group; no memory involved.
                unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
                let _ = child.wait();
                panic!(
                    "[{}] `{what}` did not finish within {} s (USERNS_TEST_TIMEOUT); killed",
                    self.test,
                    limit.as_secs()
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let output = Output {
            status,
            stdout: out_reader.join().expect("stdout reader"),
            stderr: err_reader.join().expect("stderr reader"),
        };
        record(
            &output,
            format!("[as {} {}:{}] {what}", self.name, self.uid, self.gid),
        );
        output
    }
}

impl Drop for Scenario {
    fn drop(&mut self) {
        if std::env::var_os("USERNS_KEEP_SCRATCH").is_some() {
            eprintln!("kept scratch dir {}", self.scratch.display());
            return;
        }
        self.kill_leftover_processes();
        // As root, rm works on files owned by subordinate ids too. A mount left behind
        // lives in a private namespace that died with its processes.
        if let Err(e) = std::fs::remove_dir_all(&self.scratch) {
            eprintln!("warning: cannot remove {}: {e}", self.scratch.display());
        }
    }
}

impl Scenario {
    /// Processes a run left behind on purpose (podman's pause process, a namespace kept
    /// by `userns unshare --name`) would outlive the test and pile up. Every process of
    /// this scenario carries its XDG_RUNTIME_DIR in its environment: end those. Other
    /// scenarios run as the same uid at the same time, so the uid alone cannot decide.
    fn kill_leftover_processes(&self) {
        for pid in self.processes() {
            // SAFETY: kill(2) with a pid read from /proc; a vanished pid is harmless.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
    }

    /// The live processes that carry this scenario's XDG_RUNTIME_DIR in their
    /// environment: what its runs started, wherever they were reparented.
    pub fn processes(&self) -> Vec<i32> {
        let marker = format!("XDG_RUNTIME_DIR={}", self.run_dir().display());
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter_map(|entry| {
                let pid = entry.file_name().to_str()?.parse::<i32>().ok()?;
                let environ = std::fs::read(entry.path().join("environ")).ok()?;
                environ
                    .split(|&b| b == 0)
                    .any(|v| v == marker.as_bytes())
                    .then_some(pid)
            })
            .collect()
    }
}

/// Scratch dirs of test processes that died before their Drop ran (a killed `cargo
/// test`): the name holds the pid, and a pid with no /proc entry is gone. Once per process.
fn remove_stale_scratch_dirs() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let Ok(entries) = std::fs::read_dir("/var/tmp") else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(rest) = name.strip_prefix("userns-test.") else {
                continue;
            };
            // userns-test.NAME.PID.N, and NAME has no dots.
            let pid = rest.rsplit('.').nth(1).and_then(|p| p.parse::<u32>().ok());
            if let Some(pid) = pid {
                if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
    });
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

fn set_owner_mode(path: &Path, uid: u32, gid: u32, mode: u32) {
    chown(path, Some(uid), Some(gid))
        .unwrap_or_else(|e| panic!("cannot chown {}: {e}", path.display()));
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("cannot chmod {}: {e}", path.display()));
}

/// Whether a user that is neither owner nor group member can execute `path`: every
/// ancestor searchable by others and the file readable and executable by others.
fn reachable_by_others(path: &Path) -> bool {
    let file_ok = std::fs::metadata(path).is_ok_and(|m| m.mode() & 0o005 == 0o005);
    file_ok
        && path
            .ancestors()
            .skip(1)
            .all(|dir| std::fs::metadata(dir).is_ok_and(|m| m.mode() & 0o001 != 0))
}

/// The lines of a passwd or group file whose name (field 1) and id (field 3) differ from
/// the fixture's.
fn keep_other_lines(text: &str, name: &str, id: u32) -> String {
    let id = id.to_string();
    let mut kept = String::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split(':').collect();
        if fields.first() == Some(&name) || fields.get(2) == Some(&id.as_str()) {
            continue;
        }
        kept.push_str(line);
        kept.push('\n');
    }
    kept
}

fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        buf
    })
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,@%+".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

fn shell_words(args: &[&str]) -> String {
    args.iter()
        .map(|a| shell_quote(a))
        .collect::<Vec<_>>()
        .join(" ")
}

// ---- assertions ----

thread_local! {
    /// What each run of this test thread was, so that a failed assertion can name the
    /// command behind an `Output` (which does not carry it).
    static RUNS: RefCell<Vec<(Output, String)>> = const { RefCell::new(Vec::new()) };
}

fn record(output: &Output, what: String) {
    RUNS.with(|runs| runs.borrow_mut().push((output.clone(), what)));
}

fn command_of(out: &Output) -> String {
    RUNS.with(|runs| {
        runs.borrow()
            .iter()
            .rev()
            .find(|(o, _)| o == out)
            .map(|(_, what)| what.clone())
            .unwrap_or_else(|| "(not run through Scenario)".to_string())
    })
}

fn describe_status(status: &ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => format!("{status}"),
    }
}

/// A report of a run: command, status, stdout and stderr.
pub fn describe(out: &Output) -> String {
    format!(
        "command: {}\nstatus:  {}\n--- stdout ---\n{}\n--- stderr ---\n{}\n--------------",
        command_of(out),
        describe_status(&out.status),
        stdout(out).trim_end(),
        stderr(out).trim_end()
    )
}

/// Assert the run succeeded; return its stdout.
#[track_caller]
pub fn assert_ok(out: &Output) -> String {
    assert!(out.status.success(), "expected success\n{}", describe(out));
    stdout(out)
}

/// Assert the run exited with `code` (not killed by a signal).
#[track_caller]
pub fn assert_code(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "expected exit code {code}\n{}",
        describe(out)
    );
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A script that prints the user namespace it runs in, then its uid_map; read the output
/// with [`ns_and_map`].
pub const SHOW: &str = "readlink /proc/self/ns/user; cat /proc/self/uid_map";

/// The user namespace and uid_map a run printed with [`SHOW`]: ("user:[4026532...]",
/// "0:2000:1,1:200000:65536").
pub fn ns_and_map(out: &Output) -> (String, String) {
    let text = assert_ok(out);
    let mut lines = text.lines();
    let ns = lines.next().unwrap_or_default().to_string();
    let map: Vec<String> = lines
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(":"))
        .collect();
    (ns, map.join(","))
}

impl Scenario {
    /// Run this userns binary instead of the one cargo built: an installed
    /// /usr/bin/userns, say. It must be executable by the fixture user.
    pub fn binary(mut self, path: &Path) -> Self {
        self.bin = path.to_path_buf();
        self
    }
}
