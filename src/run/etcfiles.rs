//! /etc/hosts, /etc/hostname and /etc/resolv.conf of a container, as podman provides
//! them: written into the container's runtime dir and bind-mounted, never into the image.

use super::spec::NetMode;

/// /etc/hostname.
pub(crate) fn hostname_file(hostname: &str) -> String {
    format!("{hostname}\n")
}

/// /etc/hosts: loopback names and the container's own name. With the host's network the
/// host's own entries come first, so that its names still resolve.
pub(crate) fn hosts_file(hostname: &str, net: NetMode, host_hosts: &str) -> String {
    let mut text = String::new();
    if net == NetMode::Host {
        text.push_str(host_hosts);
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
    } else {
        text.push_str("127.0.0.1\tlocalhost localhost.localdomain\n");
        text.push_str("::1\tlocalhost localhost.localdomain ip6-localhost ip6-loopback\n");
    }
    // slirp4netns gives the container 10.0.2.100; elsewhere the name is a loopback one.
    let own = if net == NetMode::Slirp4netns {
        "10.0.2.100"
    } else {
        "127.0.1.1"
    };
    text.push_str(&format!("{own}\t{hostname}\n"));
    text
}

fn is_loopback_nameserver(line: &str) -> bool {
    let mut words = line.split_whitespace();
    if words.next() != Some("nameserver") {
        return false;
    }
    match words.next() {
        Some(addr) => addr.starts_with("127.") || addr == "::1",
        None => false,
    }
}

/// /etc/resolv.conf. The host's as it is for the host's network. In a network namespace
/// of its own a loopback nameserver (systemd-resolved's 127.0.0.53) is unreachable, so
/// those lines are dropped; slirp4netns forwards DNS at 10.0.2.3.
pub(crate) fn resolv_conf(net: NetMode, host_resolv: &str) -> String {
    match net {
        NetMode::Host => host_resolv.to_string(),
        NetMode::Slirp4netns => {
            let mut text: String = host_resolv
                .lines()
                .filter(|l| !l.trim_start().starts_with("nameserver"))
                .map(|l| format!("{l}\n"))
                .collect();
            text.push_str("nameserver 10.0.2.3\n");
            text
        }
        NetMode::None | NetMode::Pasta => host_resolv
            .lines()
            .filter(|l| !is_loopback_nameserver(l))
            .map(|l| format!("{l}\n"))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RESOLV: &str = "search lan\nnameserver 127.0.0.53\nnameserver 192.0.2.1\noptions edns0\n";

    #[test]
    fn resolv_conf_drops_loopback_servers_in_own_netns() {
        assert_eq!(resolv_conf(NetMode::Host, RESOLV), RESOLV);
        assert_eq!(
            resolv_conf(NetMode::None, RESOLV),
            "search lan\nnameserver 192.0.2.1\noptions edns0\n"
        );
        assert_eq!(
            resolv_conf(NetMode::Slirp4netns, RESOLV),
            "search lan\noptions edns0\nnameserver 10.0.2.3\n"
        );
    }

    #[test]
    fn hosts_name_the_container() {
        let h = hosts_file("abc123", NetMode::None, "ignored");
        assert!(h.starts_with("127.0.0.1\tlocalhost"), "{h}");
        assert!(h.ends_with("127.0.1.1\tabc123\n"), "{h}");
        let h = hosts_file("abc123", NetMode::Host, "10.0.0.1 box");
        assert!(h.starts_with("10.0.0.1 box\n"), "{h}");
        assert_eq!(hostname_file("abc"), "abc\n");
    }
}
