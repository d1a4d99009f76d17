//! `userns run --net pasta`: the container gets pasta's network (a copy of the host's
//! addresses and routes on its own interface), pasta ends with the container, and a
//! machine without pasta gets an error that names the package.

mod common;
mod run_support;

use common::{assert_code, assert_ok, stderr, Scenario};
use run_support::{pasta_installed, rootfs, run_sh, tun_with_mode};

/// Live processes started as `program` (its file name in argv[0]: pasta re-executes
/// itself as passt.avx2, so its comm does not say pasta) that carry this scenario's
/// XDG_RUNTIME_DIR (other scenarios run as the same uid at the same time).
fn scenario_processes(s: &Scenario, program: &str) -> Vec<i32> {
    s.processes()
        .into_iter()
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                let argv0 = c.split(|&b| b == 0).next().unwrap_or_default();
                argv0.rsplit(|&b| b == b'/').next() == Some(program.as_bytes())
            })
        })
        .collect()
}

#[test]
fn pasta_gives_the_host_network_and_ends_with_the_container() {
    let Some(s) = Scenario::new("run_pasta").map(|s| s.root_setup(&tun_with_mode("666"))) else {
        return;
    };
    if !pasta_installed() {
        return;
    }
    let root = rootfs(&s).display().to_string();
    let out = run_sh(&s, &root, &["--net", "pasta"], "ls /sys/class/net");
    let text = assert_ok(&out);
    let interfaces: Vec<&str> = text.lines().collect();
    assert!(interfaces.contains(&"lo"), "{text}");
    assert!(
        interfaces.len() >= 2,
        "pasta added no interface of its own: {text}"
    );
    // userns sends pasta SIGTERM as the container ends; give it a moment to go.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !scenario_processes(&s, "pasta").is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "pasta outlived the container by 5 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn missing_pasta_names_its_package() {
    // Hide pasta in the scenario's private mount namespace, wherever it is installed.
    let Some(s) = Scenario::new("run_pasta_missing").map(|s| {
        s.root_setup(
            "for p in /usr/bin/pasta /usr/sbin/pasta /bin/pasta; do \
             if [ -e $p ]; then mount --bind /dev/null $p; fi; done",
        )
    }) else {
        return;
    };
    let root = rootfs(&s).display().to_string();
    let out = run_sh(&s, &root, &["--net", "pasta"], "true");
    assert_code(&out, 125);
    let err = stderr(&out);
    assert!(err.contains("pasta is not installed"), "{err}");
    assert!(err.contains("apt-get install passt"), "{err}");
}

/// Without access to /dev/net/tun (mode 0600 here, as on some hosts) pasta cannot make
/// the container's interface: userns says so, with the fix, and exits 125.
#[test]
fn pasta_without_tun_access_names_the_device() {
    let Some(s) = Scenario::new("run_pasta_no_tun").map(|s| s.root_setup(&tun_with_mode("600")))
    else {
        return;
    };
    if !pasta_installed() {
        return;
    }
    let root = rootfs(&s).display().to_string();
    let out = run_sh(&s, &root, &["--net", "pasta"], "true");
    assert_code(&out, 125);
    let err = stderr(&out);
    assert!(
        err.contains("pasta could not set up the container's network"),
        "{err}"
    );
    assert!(err.contains("exit status"), "{err}");
    assert!(err.contains("/dev/net/tun readable and writable"), "{err}");
}
