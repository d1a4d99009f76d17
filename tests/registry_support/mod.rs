//! A real registry for the pull tests: Debian's `docker-registry` (distribution 2.8) on
//! 127.0.0.1 at a free port, with htpasswd (bcrypt) auth, storage in a scratch dir; images
//! pushed with `skopeo copy`. And a throttling TCP relay in front of it, so that a test
//! can kill the registry while a layer is on its way.

#![allow(dead_code)] // each test binary uses a different part

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::{assert_ok, Scenario};
use crate::image_support::Scratch;
use serde_json::{json, Value};

pub mod token;

pub const USER: &str = "tester";
pub const PASSWORD: &str = "s3cret-pass";

pub struct Registry {
    pub dir: PathBuf,
    pub port: u16,
    config: PathBuf,
    child: Option<Child>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a free port")
        .port()
}

fn wait_for_port(port: u16, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("docker-registry exited at start: {status}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("docker-registry did not listen on 127.0.0.1:{port} within 20 s");
}

/// `openssl ARGS` in `dir`, which must succeed.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(out.status.success(), "openssl {args:?}: {out:?}");
}

/// A CA and a server certificate for 127.0.0.1 (and 127.0.0.2, the token service's
/// address) signed by it (openssl): `(ca.crt,
/// server.crt, server.key)` in `dir`. A self-signed server certificate would not do:
/// rustls (webpki) refuses a CA certificate as a server's.
fn make_certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let run = |args: &[&str]| openssl(dir, args);
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509", "-days", "2", "-subj", "/CN=userns test CA"];
    ca.extend(ec);
    ca.extend(["-keyout", "ca.key", "-out", "ca.crt"]);
    run(&ca);
    let mut csr = vec!["req", "-subj", "/CN=127.0.0.1"];
    csr.extend(ec);
    csr.extend(["-keyout", "server.key", "-out", "server.csr"]);
    run(&csr);
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,IP:127.0.0.2\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "server.ext",
        "-out",
        "server.crt",
    ]);
    (
        dir.join("ca.crt"),
        dir.join("server.crt"),
        dir.join("server.key"),
    )
}

impl Registry {
    /// Start a registry whose files live under `dir` (created), over plain HTTP.
    pub fn start(dir: &Path) -> Registry {
        Registry::start_with(dir, false)
    }

    /// Start one over HTTPS, with a certificate of a CA of its own (`ca_cert()`).
    pub fn start_tls(dir: &Path) -> Registry {
        Registry::start_with(dir, true)
    }

    /// The CA that signed an HTTPS registry's certificate.
    pub fn ca_cert(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }

    /// Start one that trusts the tokens of `service` (distribution's token auth), over
    /// HTTPS when `tls`.
    pub fn start_token(dir: &Path, service: &token::TokenServer, tls: bool) -> Registry {
        Registry::start_token_at(dir, service, &service.realm(), tls)
    }

    /// Like `start_token`, with the challenge naming `realm` as the token service.
    /// A registry behind a token service of its own (plain HTTP, in `scratch`) that
    /// refuses anonymous requests: only a login pulls.
    pub fn start_login_only(scratch: &Scratch) -> (token::TokenServer, Registry) {
        let tokens = token::TokenServer::start(
            &scratch.path("token"),
            false,
            token::Policy {
                refuse_anonymous: true,
                ..token::Policy::default()
            },
        );
        let registry = Registry::start_token(&scratch.path("registry"), &tokens, false);
        (tokens, registry)
    }

    pub fn start_token_at(
        dir: &Path,
        service: &token::TokenServer,
        realm: &str,
        tls: bool,
    ) -> Registry {
        let auth = format!(
            "{{token: {{realm: \"{realm}\", service: {}, issuer: {}, rootcertbundle: {}}}}}",
            token::SERVICE,
            token::ISSUER,
            service.cert.display()
        );
        Registry::start_with_auth(dir, tls, &auth)
    }

    fn start_with(dir: &Path, tls: bool) -> Registry {
        std::fs::create_dir_all(dir).unwrap();
        let htpasswd = dir.join("htpasswd");
        let out = Command::new("htpasswd")
            .args(["-Bbc"])
            .arg(&htpasswd)
            .args([USER, PASSWORD])
            .output()
            .expect("run htpasswd (apt-get install apache2-utils)");
        assert!(out.status.success(), "htpasswd: {out:?}");
        let auth = format!(
            "{{htpasswd: {{realm: test, path: {}}}}}",
            htpasswd.display()
        );
        Registry::start_with_auth(dir, tls, &auth)
    }

    /// Start one with `auth` (the YAML of the config's `auth` section).
    fn start_with_auth(dir: &Path, tls: bool, auth: &str) -> Registry {
        std::fs::create_dir_all(dir.join("storage")).unwrap();
        let port = free_port();
        let config = dir.join("config.yml");
        let tls = if tls {
            let (_, cert, key) = make_certificates(dir);
            format!(
                ", tls: {{certificate: {}, key: {}}}",
                cert.display(),
                key.display()
            )
        } else {
            String::new()
        };
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog: {{level: error, accesslog: {{disabled: true}}}}\n\
                 storage: {{filesystem: {{rootdirectory: {}}}}}\n\
                 http: {{addr: 127.0.0.1:{port}{tls}}}\n\
                 auth: {auth}\n",
                dir.join("storage").display(),
            ),
        )
        .unwrap();
        let mut registry = Registry {
            dir: dir.to_path_buf(),
            port,
            config,
            child: None,
        };
        registry.restart();
        registry
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Start it (again, on the same port and storage).
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "the registry is running");
        let mut child = Command::new("/usr/bin/docker-registry")
            .arg("serve")
            .arg(&self.config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start docker-registry (apt-get install docker-registry)");
        wait_for_port(self.port, &mut child);
        self.child = Some(child);
    }

    /// Kill it (SIGKILL, by its pid) and reap it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// `skopeo copy [--all] SOURCE docker://ADDR/DEST`; `digest_file` gets the manifest
    /// digest skopeo pushed.
    pub fn push(&self, source: &str, dest: &str, all: bool) -> String {
        let digest_file = self.dir.join("digest");
        let mut cmd = Command::new("skopeo");
        cmd.args(["copy", "-q", "--dest-tls-verify=false"])
            .arg(format!("--dest-creds={USER}:{PASSWORD}"))
            .arg("--digestfile")
            .arg(&digest_file);
        if all {
            cmd.arg("--all");
        }
        let out = cmd
            .arg(source)
            .arg(format!("docker://{}/{dest}", self.addr()))
            .output()
            .expect("run skopeo (apt-get install skopeo)");
        assert!(
            out.status.success(),
            "skopeo copy {source} {dest}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::read_to_string(&digest_file)
            .unwrap()
            .trim()
            .to_string()
    }

    /// The file the registry keeps a blob in.
    pub fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").expect("sha256 digest");
        self.dir
            .join("storage/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A TCP relay from a port of its own to the registry's, passing the registry's answers
/// on at `rate` bytes a second (0: unlimited), counting what it passed, and keeping what
/// clients sent the registry (`sent`).
pub struct Relay {
    pub port: u16,
    pub rate: Arc<AtomicU64>,
    pub passed: Arc<AtomicU64>,
    pub sent: Arc<std::sync::Mutex<Vec<u8>>>,
    stop: Arc<AtomicBool>,
}

impl Relay {
    pub fn start(upstream: u16, rate: u64) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the relay");
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let rate = Arc::new(AtomicU64::new(rate));
        let passed = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (r, p, s, w) = (rate.clone(), passed.clone(), stop.clone(), sent.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let (r, p, w) = (r.clone(), p.clone(), w.clone());
                        std::thread::spawn(move || relay(client, upstream, r, p, w));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Relay {
            port,
            rate,
            passed,
            sent,
            stop,
        }
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn relay(
    client: TcpStream,
    upstream: u16,
    rate: Arc<AtomicU64>,
    passed: Arc<AtomicU64>,
    sent: Arc<std::sync::Mutex<Vec<u8>>>,
) {
    client.set_nonblocking(false).ok();
    let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
        let _ = client.shutdown(Shutdown::Both);
        return;
    };
    let (mut c_in, mut s_out) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 << 10];
        while let Ok(n) = c_in.read(&mut buf) {
            if n == 0 || s_out.write_all(&buf[..n]).is_err() {
                break;
            }
            sent.lock().unwrap().extend_from_slice(&buf[..n]);
        }
        let _ = s_out.shutdown(Shutdown::Write);
    });
    let (mut s_in, mut c_out) = (server, client);
    let mut buf = [0u8; 16 << 10];
    loop {
        let n = match s_in.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if c_out.write_all(&buf[..n]).is_err() {
            break;
        }
        passed.fetch_add(n as u64, Ordering::Relaxed);
        let r = rate.load(Ordering::Relaxed);
        if r > 0 {
            std::thread::sleep(Duration::from_secs_f64(n as f64 / r as f64));
        }
    }
    let _ = c_out.shutdown(Shutdown::Both);
}

// ---- what the pull tests share ----

pub const APPLETS: &[&str] = &["sh", "cat", "true", "wc", "sha256sum", "ls", "sleep"];

/// A layer with busybox and its applets, a marker file, and `extra` entries.
pub fn busybox_layer(scratch: &Scratch, name: &str, marker: &str, extra: &[Value]) -> PathBuf {
    let mut spec = vec![
        json!({"path": "bin/", "type": "dir"}),
        json!({"path": "bin/busybox", "file": "/bin/busybox", "mode": 0o755}),
        json!({"path": "etc/", "type": "dir"}),
        json!({"path": "etc/passwd", "data": "root:x:0:0:root:/root:/bin/sh\n"}),
        json!({"path": "etc/group", "data": "root:x:0:\n"}),
        json!({"path": "marker", "data": format!("{marker}\n")}),
    ];
    for a in APPLETS {
        spec.push(json!({"path": format!("bin/{a}"), "type": "symlink", "target": "busybox"}));
    }
    spec.extend(extra.iter().cloned());
    scratch.layer(name, Value::Array(spec))
}

pub fn config(arch: &str) -> Value {
    json!({"architecture": arch, "os": "linux", "config": {"Cmd": ["/bin/sh"]}})
}

/// A scenario whose registries.conf allows plain HTTP to `addr` (the test registry).
pub fn scenario(test: &str, addr: &str, extra_conf: &str) -> Option<Scenario> {
    let scn = Scenario::new(test)?;
    let dir = scn.home().join(".config/containers");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("registries.conf"),
        // Top-level keys first: after a table header they would belong to the table.
        format!("{extra_conf}\n[[registry]]\nlocation = \"{addr}\"\ninsecure = true\n"),
    )
    .unwrap();
    chown_tree(&scn.home(), scn.uid());
    Some(scn)
}

pub fn chown_tree(path: &Path, uid: u32) {
    let ok = Command::new("chown")
        .arg("-R")
        .arg(format!("{uid}:{uid}"))
        .arg(path)
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

pub fn images_json(scn: &Scenario) -> Value {
    serde_json::from_str(&assert_ok(&scn.run(&["images", "--json"]))).unwrap()
}

pub fn cache_dir(scn: &Scenario) -> PathBuf {
    scn.home().join(".local/share/userns/images")
}

/// The entries of the image cache, hidden ones (stages, unpacks) included.
pub fn cache_entries(scn: &Scenario) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(cache_dir(scn))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with(".names") && n != "names.json")
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Kill `registry` under the pull `child`, then check what a broken-off pull leaves: exit
/// 1 with the way to resume, no image, and in the cache only the stage.
pub fn kill_mid_pull(registry: &mut Registry, child: Child, scn: &Scenario) {
    registry.kill();
    let out = child.wait_with_output().unwrap();
    crate::common::assert_code(&out, 1);
    let err = crate::common::stderr(&out);
    assert!(
        err.contains("pull again when the registry is back"),
        "{err}"
    );
    assert_eq!(images_json(scn), json!([]));
    let entries = cache_entries(scn);
    assert!(
        entries.len() == 1 && entries[0].starts_with(".pull-"),
        "{entries:?}"
    );
}
