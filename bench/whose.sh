#!/bin/sh
# Benchmark: summarise by owner 100,000 files in 100 directories owned by 7 subordinate
# ids.
#   userns whose -R DIR
#   du -s DIR                                          (coreutils: the floor of a walk)
# One hyperfine run compares the two on the same tree (read only, page cache warm after
# the warm-up run), as the unprivileged fixture user of the hermetic
# scenario (docs/TESTING.md): fixture passwd/group/subuid/subgid bind-mounted over a
# copy of /etc in a private mount namespace; the host's /etc is not touched.
#
# Run as root: bench/whose.sh [--export-json FILE]
# BIN (default: target/release/userns), RUNS (default 10), KEEP=1 keeps the scratch dir.
set -eu

[ "$(id -u)" = 0 ] || { echo "bench/whose.sh: run as root (it sets up the fixture user)" >&2; exit 1; }
for tool in hyperfine du newuidmap python3 setpriv; do
    command -v "$tool" >/dev/null || { echo "bench/whose.sh: $tool is missing" >&2; exit 1; }
done
here=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$here/target/release/userns}
[ -x "$BIN" ] || { echo "bench/whose.sh: build first (cargo build --release) or set BIN" >&2; exit 1; }
RUNS=${RUNS:-10}

# Scratch under /var/tmp (far faster than /tmp here for many small files).
S=$(mktemp -d /var/tmp/userns-bench-whose.XXXXXX)
cleanup() {
    if [ -f "$S/run/libpod/tmp/pause.pid" ]; then
        kill "$(cat "$S/run/libpod/tmp/pause.pid")" 2>/dev/null || true
    fi
    [ "${KEEP:-0}" = 1 ] || rm -rf "$S"
}
trap cleanup EXIT
mkdir -p "$S/home" "$S/run" "$S/bin"
cp "$BIN" "$S/bin/userns"
cp -a /etc "$S/etc"
grep -v '^ivy:' /etc/passwd >"$S/etc/passwd"
echo "ivy:x:2000:2000::$S/home:/bin/sh" >>"$S/etc/passwd"
grep -v '^ivy:' /etc/group >"$S/etc/group"
echo "ivy:x:2000:" >>"$S/etc/group"
# One line each: util-linux 2.38 --map-auto maps only the first line.
echo "ivy:200000:65536" >"$S/etc/subuid"
echo "ivy:200000:65536" >"$S/etc/subgid"
chmod 644 "$S/etc/passwd" "$S/etc/group" "$S/etc/subuid" "$S/etc/subgid"
chown 2000:2000 "$S" "$S/home" "$S/run"
chmod 755 "$S" "$S/bin" "$S/bin/userns"
chmod 700 "$S/run"

cat >"$S/bench-as-ivy.sh" <<'EOF'
set -eu
cd "$HOME"
U="$SCRATCH/bin/userns"
# The source tree, built once: dir i and its 1,000 files belong to container id
# 1000 + i % 7, i.e. 7 subordinate ids on the host.
"$U" unshare python3 - <<'PY'
import os
os.mkdir("src")
for i in range(100):
    d = "src/d%03d" % i
    os.mkdir(d)
    owner = 1000 + i % 7
    for j in range(1000):
        p = "%s/f%04d" % (d, j)
        fd = os.open(p, os.O_CREAT | os.O_WRONLY, 0o644)
        os.write(fd, b"x" * (j % 5))
        os.close(fd)
        os.chown(p, owner, owner)
    os.chown(d, owner, owner)
PY
hyperfine --runs "$RUNS" --warmup 1 --style basic $EXPORT \
    -n "userns whose -R" "$U whose -R src" \
    -n "du -s" "du -s src"
EOF
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
