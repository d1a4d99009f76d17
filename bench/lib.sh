# Shared by bench/unshare.sh, bench/enter.sh and bench/run.sh (sourced, not run): a scratch
# dir under /var/tmp with the release binary and a copy of /etc that holds the fixture
# user ivy (BENCH_UID) and its subordinate ids. The scripts bind-mount that copy over /etc
# in a private mount namespace, so the host's /etc is never written.
#
# After bench_setup: $repo, $scratch (with userns, etc/, home/, out/, run/ = the user's
# XDG_RUNTIME_DIR). bench_cleanup ends what the benchmark left running and removes it.

BENCH_UID=2000

bench_require() {
    [ "$(id -u)" -eq 0 ] || { echo "needs root (a private mount namespace and setpriv)" >&2; exit 1; }
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null || { echo "needs $tool (see scripts/lib/setup.sh for the packages)" >&2; exit 1; }
    done
}

bench_setup() {
    repo=$PWD
    cargo build --release --quiet
    local target="${CARGO_TARGET_DIR:-$repo/target}"
    scratch=$(mktemp -d /var/tmp/userns-bench.XXXXXX)
    trap bench_cleanup EXIT
    chmod 755 "$scratch"
    install -m 755 "$target/release/userns" "$scratch/userns"
    cp -a /etc "$scratch/etc"
    echo "ivy:x:$BENCH_UID:$BENCH_UID::$scratch/home:/bin/sh" >> "$scratch/etc/passwd"
    echo "ivy:x:$BENCH_UID:" >> "$scratch/etc/group"
    echo "ivy:200000:65536" > "$scratch/etc/subuid"
    echo "ivy:200000:65536" > "$scratch/etc/subgid"
    chmod 644 "$scratch/etc/subuid" "$scratch/etc/subgid"
    install -d -m 755 -o $BENCH_UID -g $BENCH_UID "$scratch/home" "$scratch/out"
    install -d -m 700 -o $BENCH_UID -g $BENCH_UID "$scratch/run"
    echo "machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), kernel $(uname -r)"
}

# End every process that carries this benchmark's XDG_RUNTIME_DIR (podman's pause
# process, a kept namespace), and nothing else: tests may run as the same uid meanwhile.
bench_cleanup() {
    local marker="XDG_RUNTIME_DIR=$scratch/run" env pid
    for env in /proc/[0-9]*/environ; do
        pid=${env#/proc/}; pid=${pid%/environ}
        if { tr '\0' '\n' < "$env"; } 2>/dev/null | grep -qxF "$marker"; then
            kill -9 "$pid" 2>/dev/null || true
        fi
    done
    rm -rf "$scratch"
}
