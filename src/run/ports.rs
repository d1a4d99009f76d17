//! `-p [IP:]HOST:CONTAINER[/tcp|udp]`: a port of the host that leads to a port of the
//! container, through pasta, as podman publishes ports of rootless containers with
//! `--network pasta` (libpod's networking_pasta.go: one `-t` or `-u` option per port,
//! `[ADDRESS/]HOST:CONTAINER`, and `none` for each direction that has no port, so that
//! pasta's default, `auto`, forwards nothing the user did not ask for).
//!
//! The host's side is checked before the container starts, by binding each port once
//! as pasta will: a port in use, or below net.ipv4.ip_unprivileged_port_start, fails
//! with the cause named, instead of pasta's one-line log.

use crate::error::{Error, Result};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// A transport protocol pasta forwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    fn name(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

/// One `-p`: connections to `host_ip:host_port` (every address when None) reach
/// `container_port` inside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortMapping {
    pub host_ip: Option<IpAddr>,
    pub host_port: u16,
    pub container_port: u16,
    pub protocol: Protocol,
}

impl PortMapping {
    /// A UDP port whose number changes on the way in.
    pub(crate) fn is_translated_udp(&self) -> bool {
        self.protocol == Protocol::Udp && self.host_port != self.container_port
    }
}

impl std::fmt::Display for PortMapping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.host_ip {
            Some(IpAddr::V6(ip)) => write!(f, "[{ip}]:")?,
            Some(ip) => write!(f, "{ip}:")?,
            None => {}
        }
        write!(
            f,
            "{}:{}/{}",
            self.host_port,
            self.container_port,
            self.protocol.name()
        )
    }
}

const FORM: &str =
    "write -p [IP:]HOST:CONTAINER[/tcp|udp], e.g. -p 8080:80 or -p 127.0.0.1:5353:53/udp";

fn port(text: &str, which: &str, spec: &str) -> Result<u16> {
    match text.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(Error::usage(format!("invalid -p {spec:?}"))
            .because(format!(
                "{which} port {text:?} is not a number from 1 to 65535"
            ))
            .fix(FORM)),
    }
}

/// Parse one `-p` value. IPv6 addresses are written in brackets (`[::1]:8080:80`).
pub fn parse_publish(spec: &str) -> Result<PortMapping> {
    let bad = |why: &str| {
        Error::usage(format!("invalid -p {spec:?}"))
            .because(why.to_string())
            .fix(FORM)
    };
    let (ports, protocol) = match spec.rsplit_once('/') {
        Some((p, "tcp")) => (p, Protocol::Tcp),
        Some((p, "udp")) => (p, Protocol::Udp),
        Some((_, other)) => return Err(bad(&format!("unknown protocol {other:?} (tcp or udp)"))),
        None => (spec, Protocol::Tcp),
    };
    let (host_ip, rest) = if let Some(after) = ports.strip_prefix('[') {
        let (ip, rest) = after
            .split_once("]:")
            .ok_or_else(|| bad("an IPv6 address in [ ] must be followed by :HOST:CONTAINER"))?;
        (Some(ip), rest)
    } else {
        match ports.matches(':').count() {
            1 => (None, ports),
            2 => {
                let (ip, rest) = ports.split_once(':').expect("two colons");
                (Some(ip), rest)
            }
            0 => {
                return Err(bad(
                    "no host port: userns publishes a container port on a host port you name",
                ))
            }
            _ => return Err(bad("too many ':' (write an IPv6 address in brackets)")),
        }
    };
    let host_ip = match host_ip {
        None | Some("") => None,
        Some(ip) => Some(
            ip.parse::<IpAddr>()
                .map_err(|_| bad(&format!("{ip:?} is not an IP address")))?,
        ),
    };
    let (host, container) = rest
        .split_once(':')
        .ok_or_else(|| bad("expected HOST:CONTAINER"))?;
    Ok(PortMapping {
        host_ip,
        host_port: port(host, "the host", spec)?,
        container_port: port(container, "the container", spec)?,
        protocol,
    })
}

/// pasta's options for `mappings`: `-t`/`-u` with `[ADDRESS/]HOST:CONTAINER` each, and
/// `none` for a protocol without any (podman's rule), never pasta's `auto`; nor does
/// the container reach the host's loopback through pasta (`-T none -U none`, and
/// `--no-map-gw`, as podman runs it).
pub(crate) fn pasta_args(mappings: &[PortMapping]) -> Vec<String> {
    let mut args = Vec::new();
    for (protocol, option) in [(Protocol::Tcp, "-t"), (Protocol::Udp, "-u")] {
        let mut any = false;
        for m in mappings.iter().filter(|m| m.protocol == protocol) {
            let addr = m.host_ip.map(|ip| format!("{ip}/")).unwrap_or_default();
            args.push(option.to_string());
            args.push(format!("{addr}{}:{}", m.host_port, m.container_port));
            any = true;
        }
        if !any {
            args.extend([option.to_string(), "none".to_string()]);
        }
    }
    args.extend(["-T", "none", "-U", "none", "--no-map-gw"].map(String::from));
    args
}

/// The lowest port an unprivileged process may bind (net.ipv4.ip_unprivileged_port_start,
/// which covers IPv6 too).
fn unprivileged_port_start() -> Option<u16> {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Two `-p` on one host port and protocol (the same address or every address).
fn check_duplicates(mappings: &[PortMapping]) -> Result<()> {
    for (i, a) in mappings.iter().enumerate() {
        for b in &mappings[i + 1..] {
            let overlap = a.host_ip.is_none() || b.host_ip.is_none() || a.host_ip == b.host_ip;
            if a.protocol == b.protocol && a.host_port == b.host_port && overlap {
                return Err(Error::usage(format!(
                    "-p {a} and -p {b} both publish host port {}/{}",
                    a.host_port,
                    a.protocol.name()
                ))
                .fix("give each host port once"));
            }
        }
    }
    Ok(())
}

/// Check that pasta will be able to bind each host port: bind it once here, in the
/// host's network namespace, and let it go.
pub(crate) fn check_host_ports(mappings: &[PortMapping]) -> Result<()> {
    check_duplicates(mappings)?;
    for m in mappings {
        let ip = m.host_ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let addr = SocketAddr::new(ip, m.host_port);
        let bound = match m.protocol {
            Protocol::Tcp => std::net::TcpListener::bind(addr).map(drop),
            Protocol::Udp => std::net::UdpSocket::bind(addr).map(drop),
        };
        let Err(e) = bound else { continue };
        let what = format!("cannot publish -p {m}");
        let err = match e.raw_os_error() {
            Some(libc::EADDRINUSE) => Error::failure(what)
                .because(format!(
                    "host port {}/{} is in use by another program",
                    m.host_port,
                    m.protocol.name()
                ))
                .fix(format!(
                    "choose another host port, or stop what listens there (ss -lnp sport = :{})",
                    m.host_port
                )),
            Some(libc::EACCES) => {
                let start = unprivileged_port_start()
                    .map(|s| format!("net.ipv4.ip_unprivileged_port_start is {s}"))
                    .unwrap_or_else(|| "it is a privileged port".into());
                Error::failure(what)
                    .because(format!(
                        "host port {} is below what a user may bind: {start}",
                        m.host_port
                    ))
                    .fix(format!(
                        "choose a host port of at least {} (e.g. -p 8080:{}), or have root lower \
                         the sysctl (sysctl net.ipv4.ip_unprivileged_port_start={})",
                        unprivileged_port_start().unwrap_or(1024),
                        m.container_port,
                        m.host_port
                    ))
            }
            Some(libc::EADDRNOTAVAIL) => Error::failure(what)
                .because(format!("{ip} is not an address of this host"))
                .fix("give an address of one of the host's interfaces, or none for all"),
            _ => Error::failure(what).because(e),
        };
        return Err(err);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> PortMapping {
        parse_publish(s).unwrap()
    }

    #[test]
    fn the_forms_podman_takes_parse() {
        let m = p("8080:80");
        assert_eq!(
            (m.host_ip, m.host_port, m.container_port, m.protocol),
            (None, 8080, 80, Protocol::Tcp)
        );
        let m = p("127.0.0.1:5353:53/udp");
        assert_eq!(m.host_ip, Some("127.0.0.1".parse().unwrap()));
        assert_eq!(m.protocol, Protocol::Udp);
        let m = p("[::1]:8443:443/tcp");
        assert_eq!(m.host_ip, Some("::1".parse().unwrap()));
        assert_eq!(m.to_string(), "[::1]:8443:443/tcp");
        assert_eq!(p(":8080:80").host_ip, None);
    }

    #[test]
    fn bad_values_say_what_is_wrong() {
        for (spec, says) in [
            ("80", "no host port"),
            ("0:80", "the host port"),
            ("8080:70000", "the container port"),
            ("8080:80/sctp", "unknown protocol"),
            ("host:8080:80", "not an IP address"),
            ("::1:8080:80", "too many ':'"),
            ("a:b", "the host port"),
        ] {
            let err = parse_publish(spec).unwrap_err();
            let text = err.to_string();
            assert!(text.contains(says), "{spec}: {text}");
            assert!(text.contains(spec), "{spec}: {text}");
        }
    }

    #[test]
    fn pasta_gets_each_port_and_none_for_the_rest() {
        let args = pasta_args(&[p("8080:80"), p("127.0.0.1:9090:90")]);
        assert_eq!(
            args,
            [
                "-t",
                "8080:80",
                "-t",
                "127.0.0.1/9090:90",
                "-u",
                "none",
                "-T",
                "none",
                "-U",
                "none",
                "--no-map-gw"
            ]
        );
        let args = pasta_args(&[]);
        assert_eq!(&args[..4], ["-t", "none", "-u", "none"]);
    }

    #[test]
    fn a_port_in_use_or_given_twice_is_refused() {
        let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = held.local_addr().unwrap().port();
        let err = check_host_ports(&[p(&format!("127.0.0.1:{port}:80"))]).unwrap_err();
        assert!(err.to_string().contains("in use"), "{err}");
        let err = check_host_ports(&[p("18080:80"), p("127.0.0.1:18080:81")]).unwrap_err();
        assert!(err.to_string().contains("both publish"), "{err}");
        // The same port for tcp and udp is two ports.
        check_duplicates(&[p("18080:80"), p("18080:80/udp")]).unwrap();
    }
}
