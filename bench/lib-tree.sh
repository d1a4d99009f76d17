# Shared by bench/clean.sh, bench/whose.sh and bench/migrate.sh (sourced, POSIX sh, not
# run): a scratch dir under /var/tmp with the binary and a copy of /etc that holds the
# fixture user ivy (uid 2000) and its subordinate ids, the benchmark run as ivy of the
# hermetic scenario (docs/TESTING.md): that copy bind-mounted over /etc in a private
# mount namespace, so the host's /etc is not touched.
#
# The caller sets $here (the repository) and RUNS, then tree_setup; writes its steps as
# ivy to "$S/bench-as-ivy.sh" (run by sh in ivy's home, with $SCRATCH, $RUNS and $EXPORT,
# the hyperfine options that export its JSON, if any); then tree_run "$@".
# BIN (default: target/release/userns), KEEP=1 keeps the scratch dir.

tree_me="bench/$(basename "$0")"

# tree_setup SUBUID_LINES TOOL...: needs root and every TOOL; $S, the scratch dir (removed
# on exit), with bin/userns (a copy of $BIN), home/, run/ (ivy's XDG_RUNTIME_DIR), etc/
# whose subuid and subgid hold SUBUID_LINES (printf escapes: '\n' ends a line), and
# tree.py (see tree_py).
tree_setup() {
    tree_subids=$1
    shift
    [ "$(id -u)" = 0 ] || { echo "$tree_me: run as root (it sets up the fixture user)" >&2; exit 1; }
    for tool in "$@"; do
        command -v "$tool" >/dev/null || { echo "$tree_me: $tool is missing" >&2; exit 1; }
    done
    BIN=${BIN:-$here/target/release/userns}
    [ -x "$BIN" ] || { echo "$tree_me: build first (cargo build --release) or set BIN" >&2; exit 1; }

    # Scratch under /var/tmp (far faster than /tmp here for many small files).
    S=$(mktemp -d "/var/tmp/userns-bench-$(basename "$0" .sh).XXXXXX")
    trap tree_cleanup EXIT
    mkdir -p "$S/home" "$S/run" "$S/bin"
    cp "$BIN" "$S/bin/userns"
    cp -a /etc "$S/etc"
    grep -v '^ivy:' /etc/passwd >"$S/etc/passwd"
    echo "ivy:x:2000:2000::$S/home:/bin/sh" >>"$S/etc/passwd"
    grep -v '^ivy:' /etc/group >"$S/etc/group"
    echo "ivy:x:2000:" >>"$S/etc/group"
    printf "$tree_subids" >"$S/etc/subuid"
    printf "$tree_subids" >"$S/etc/subgid"
    chmod 644 "$S/etc/passwd" "$S/etc/group" "$S/etc/subuid" "$S/etc/subgid"
    chown 2000:2000 "$S" "$S/home" "$S/run"
    chmod 755 "$S" "$S/bin" "$S/bin/userns"
    chmod 700 "$S/run"
    tree_py >"$S/tree.py"
    chmod 644 "$S/tree.py"
}

tree_cleanup() {
    if [ -f "$S/run/libpod/tmp/pause.pid" ]; then
        kill "$(cat "$S/run/libpod/tmp/pause.pid")" 2>/dev/null || true
    fi
    [ "${KEEP:-0}" = 1 ] || rm -rf "$S"
}

# The source tree, 100,000 files in 100 directories, made in the current directory by
# `python3 "$SCRATCH/tree.py" BASE [SIZES]` (in a user namespace, which owns the ids):
# ./src/dNNN and its 1,000 files fNNNN belong to id BASE + i % 7 for dir i, i.e. 7 ids;
# file j holds j % SIZES bytes, none without SIZES. BASE as host:N names host id N + i % 7,
# translated through the namespace's uid_map (podman orders its map's ranges its own way:
# assuming an order once gave migrate's benchmark a tree that had nothing to move).
tree_py() {
    cat <<'PY'
import os, sys
def inside(host):
    for line in open("/proc/self/uid_map"):
        ns, out, count = map(int, line.split())
        if out <= host < out + count:
            return ns + host - out
    raise SystemExit("host id %d is not mapped in this namespace" % host)
base = sys.argv[1]
sizes = int(sys.argv[2]) if len(sys.argv) > 2 else 0
os.mkdir("src")
for i in range(100):
    d = "src/d%03d" % i
    os.mkdir(d)
    if base.startswith("host:"):
        owner = inside(int(base[5:]) + i % 7)
    else:
        owner = int(base) + i % 7
    for j in range(1000):
        p = "%s/f%04d" % (d, j)
        fd = os.open(p, os.O_CREAT | os.O_WRONLY, 0o644)
        if sizes:
            os.write(fd, b"x" * (j % sizes))
        os.close(fd)
        os.chown(p, owner, owner)
    os.chown(d, owner, owner)
PY
}

# tree_run [--export-json FILE]: runs "$S/bench-as-ivy.sh" as ivy, the fixture /etc
# bind-mounted over /etc in a private mount namespace; copies hyperfine's JSON to FILE.
tree_run() {
    chmod 644 "$S/bench-as-ivy.sh"
    EXPORT=""
    if [ "${1:-}" = "--export-json" ] && [ -n "${2:-}" ]; then
        EXPORT="--export-json $S/result.json"
    fi
    unshare --mount --propagation private -- /bin/sh -c '
        mount --bind "$0/etc" /etc
        exec setpriv --reuid=2000 --regid=2000 --clear-groups env -i \
            PATH=/usr/local/bin:/usr/bin:/bin HOME="$0/home" USER=ivy LOGNAME=ivy SHELL=/bin/sh \
            XDG_RUNTIME_DIR="$0/run" SCRATCH="$0" RUNS="$1" EXPORT="$2" sh "$0/bench-as-ivy.sh"
    ' "$S" "$RUNS" "$EXPORT"
    if [ -n "$EXPORT" ]; then
        cp "$S/result.json" "$2"
    fi
}
