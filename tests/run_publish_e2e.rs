//! `userns run -p [IP:]HOST:CONTAINER[/tcp|udp]`: a server inside the container is reached
//! from the host over 127.0.0.1:HOST, through pasta (which -p implies), over TCP and UDP;
//! a host port in use, a privileged one and a malformed value are refused before the
//! container starts, with the cause named.

mod common;
mod run_support;

use common::{assert_code, describe, stderr, Scenario};
use run_support::{pasta_installed, rootfs, tun_with_mode};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// A port that is free on 127.0.0.1 now.
fn free_port(udp: bool) -> u16 {
    if udp {
        UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    } else {
        TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }
}

/// Build the UDP echo server into the rootfs as /bin/udp_echo; None (skipped) without cc
/// outside CI.
fn build_udp_echo(root: &Path) -> Option<()> {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/publish_helper/udp_echo.c");
    let out = Command::new("cc")
        .args(["-Wall", "-Werror", "-O2", "-static", "-o"])
        .arg(root.join("bin/udp_echo"))
        .arg(&source)
        .output();
    match out {
        Ok(out) if out.status.success() => Some(()),
        Ok(out) => panic!("cc failed: {}", String::from_utf8_lossy(&out.stderr)),
        Err(e) if std::env::var_os("CI").is_none() => {
            eprintln!("skipped: cannot run cc (package gcc): {e}");
            None
        }
        Err(e) => panic!("cannot run cc (package gcc) in CI: {e}"),
    }
}

fn setup(name: &str) -> Option<(Scenario, String)> {
    let s = Scenario::new(name)?.root_setup(&tun_with_mode("666"));
    if !pasta_installed() {
        return None;
    }
    let root = rootfs(&s);
    build_udp_echo(&root)?;
    Some((s, root.display().to_string()))
}

/// Connect to 127.0.0.1:port until the server inside answers with a line, at most 20 s.
fn tcp_answer(port: u16) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let _ = stream.write_all(b"ping\n");
            let mut text = String::new();
            let _ = stream.read_to_string(&mut text);
            if !text.is_empty() {
                return Some(text);
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

/// Send datagrams to 127.0.0.1:port until the echo comes back, at most 20 s.
fn udp_answer(port: u16) -> Option<String> {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let _ = socket.send_to(b"udp-ping-31", ("127.0.0.1", port));
        let mut buf = [0u8; 128];
        if let Ok(n) = socket.recv(&mut buf) {
            return Some(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
    None
}

#[test]
fn a_server_inside_is_reached_from_the_host_over_tcp_and_udp() {
    let Some((s, root)) = setup("run_publish_reach") else {
        return;
    };
    let (tcp, udp) = (free_port(false), free_port(true));
    // No --net: -p implies pasta. The TCP server answers each connection with a line.
    // UDP keeps its port number: Debian 12's pasta (2023-03-09) forwards a UDP port
    // whose number changes on the way to nothing (tried by hand: 47011:9000 never
    // arrives, 47011:47011 does), so userns warns about such a -p.
    let mut child = s.spawn_sh(&format!(
        "exec \"$USERNS\" run -p 127.0.0.1:{tcp}:8000 -p 127.0.0.1:{udp}:{udp}/udp {root} \
         sh -c 'udp_echo {udp} & while true; do echo tcp-marker-5a1 | busybox nc -l -p 8000; done'"
    ));
    let tcp_text = tcp_answer(tcp);
    let udp_text = udp_answer(udp);
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        tcp_text.as_deref().map(str::trim),
        Some("tcp-marker-5a1"),
        "no answer over tcp on 127.0.0.1:{tcp}: {}",
        describe(&out)
    );
    assert_eq!(
        udp_text.as_deref(),
        Some("echo:udp-ping-31"),
        "no answer over udp on 127.0.0.1:{udp}: {}",
        describe(&out)
    );
}

#[test]
fn a_host_port_in_use_a_privileged_one_and_bad_syntax_are_refused() {
    let Some((s, root)) = setup("run_publish_refused") else {
        return;
    };
    let held = TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = held.local_addr().unwrap().port();
    let out = s.run(&["run", "-p", &format!("127.0.0.1:{busy}:80"), &root, "true"]);
    assert_code(&out, 125);
    let err = stderr(&out);
    assert!(
        err.contains(&format!("host port {busy}/tcp is in use")),
        "{}",
        describe(&out)
    );
    let out = s.run(&["run", "-p", "80:80", &root, "true"]);
    assert_code(&out, 125);
    let err = stderr(&out);
    assert!(
        err.contains("net.ipv4.ip_unprivileged_port_start") && err.contains("host port 80"),
        "{}",
        describe(&out)
    );
    for (bad, says) in [
        ("8080", "no host port"),
        ("8080:80/sctp", "unknown protocol"),
        ("localhost:8080:80", "not an IP address"),
    ] {
        let out = s.run(&["run", "-p", bad, &root, "true"]);
        assert_code(&out, 125);
        assert!(stderr(&out).contains(says), "{bad}: {}", describe(&out));
    }
    let out = s.run(&["run", "--net", "host", "-p", "18080:80", &root, "true"]);
    assert_code(&out, 125);
    assert!(stderr(&out).contains("--net host"), "{}", describe(&out));
}

/// A detached container publishes its port just the same (the monitor runs the same
/// supervisor), and the host port is free again once the container is removed.
#[test]
fn a_detached_container_publishes_too() {
    let Some((s, root)) = setup("run_publish_detached") else {
        return;
    };
    let tcp = free_port(false);
    let out = s.run(&[
        "run",
        "-d",
        "--name",
        "web",
        "-p",
        &format!("127.0.0.1:{tcp}:8000"),
        &root,
        "sh",
        "-c",
        "while true; do echo detached-marker-c3 | busybox nc -l -p 8000; done",
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    let answer = tcp_answer(tcp);
    let removed = s.run(&["rm", "-f", "web"]);
    assert_eq!(
        answer.as_deref().map(str::trim),
        Some("detached-marker-c3"),
        "no answer on 127.0.0.1:{tcp}"
    );
    assert!(removed.status.success(), "{}", describe(&removed));
    // pasta goes with the container: the port can be bound again.
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpListener::bind(("127.0.0.1", tcp)).is_err() {
        assert!(
            Instant::now() < deadline,
            "port {tcp} still held after rm -f"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
