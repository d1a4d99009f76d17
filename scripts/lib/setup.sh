# Shared by scripts/run and scripts/test (sourced, not run): make sure the system packages
# and cargo are there. Installs only as root on Debian/Ubuntu; elsewhere it says what is
# missing and goes on, since the tests report what they cannot do.

# Packages the program and its tests use:
#   uidmap          newuidmap/newgidmap (the setuid helpers) and getsubids, the peer
#   podman runc     peers for `enter podman` and the container tests (runc: crun refuses
#                   the hybrid cgroup layout of these machines)
#   busybox-static  a static /bin/busybox for a tiny test rootfs
#   bubblewrap hyperfine   peers and the benchmark runner
#   gcc             the linker cargo needs;  groff-base: tests/man_pages.rs checks the pages
#   util-linux      unshare, setpriv (the hermetic test scenario);  ca-certificates: crates.io
#   time            /usr/bin/time, for peak memory in bench/unshare.sh
#   catatonit slirp4netns fuse-overlayfs   podman's rootless pause process, network and
#                   storage: only Recommends of podman, which --no-install-recommends skips
#   passt           pasta, for `userns run --net pasta` and its test
#   libsubid4       libsubid, which the NSS tests load (uidmap depends on it too)
#   python3         builds the test image layers (fixtures/images/mktar.py)
#   strace          holds `userns exec`'s joining process before its execve, so that
#                   tests/exec_escape.rs attacks it from inside the container meanwhile
#   dpkg-dev        dpkg-shlibdeps, which scripts/package (cargo-deb) runs for Depends
#   lintian man-db bash-completion   tests/package_e2e.rs: lint the package, find its man
#                   pages with `man -w`, load its completion as bash-completion does
#   docker-registry skopeo apache2-utils zstd   tests/pull_e2e.rs and bench/pull.sh: a real
#                   registry, skopeo to push to it, htpasswd for its auth, zstd layers
#   acl libcap2-bin setfacl/getfacl, setcap/getcap: tests/migrate_e2e.rs sets ACLs and caps
#   openssl         test CAs and certificates, and the RS256 signatures of the test token
#                   service (tests/registry_support); ca-certificates pulls it in, said here
USERNS_APT_PACKAGES=(uidmap podman runc busybox-static bubblewrap hyperfine gcc libc6-dev
    groff-base util-linux ca-certificates time catatonit slirp4netns fuse-overlayfs libsubid4
    python3 passt dpkg-dev lintian man-db bash-completion strace docker-registry skopeo
    apache2-utils zstd acl libcap2-bin openssl)

is_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

# ensure_packages [PACKAGE...]: the given packages, by default USERNS_APT_PACKAGES.
ensure_packages() {
    local missing=() pkg wanted=("$@")
    [ ${#wanted[@]} -gt 0 ] || wanted=("${USERNS_APT_PACKAGES[@]}")
    command -v dpkg-query >/dev/null || {
        echo "note: not Debian/Ubuntu; make sure these are installed: ${wanted[*]}" >&2
        return 0
    }
    for pkg in "${wanted[@]}"; do
        is_installed "$pkg" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "note: missing packages (run as root to install them): ${missing[*]}" >&2
        return 0
    fi
    echo "installing: ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

ensure_cargo() {
    # rustup installs into ~/.cargo/bin, which a non-login shell may not have on PATH.
    if ! command -v cargo >/dev/null && [ -x "$HOME/.cargo/bin/cargo" ]; then
        export PATH="$HOME/.cargo/bin:$PATH"
    fi
    command -v cargo >/dev/null && return 0
    cat >&2 <<'MSG'
cargo not found. userns needs Rust 1.88 or newer (Debian 12's `cargo` package is too old).
Install it with rustup, then run this script again:
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal -c clippy,rustfmt
    . "$HOME/.cargo/env"
MSG
    exit 1
}
