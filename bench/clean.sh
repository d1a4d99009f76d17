#!/bin/sh
# Benchmark: remove 100,000 files in 100 directories owned by 7 subordinate ids.
#   userns clean --yes DIR
#   podman unshare rm -rf DIR
#   unshare --map-auto --map-root-user rm -rf DIR      (util-linux)
# One hyperfine run compares the three, each on a fresh copy made by --prepare (cp -a
# inside the namespace, not timed), as the unprivileged fixture user of the hermetic
# scenario (docs/TESTING.md): fixture passwd/group/subuid/subgid bind-mounted over a
# copy of /etc in a private mount namespace; the host's /etc is not touched.
#
# Run as root: bench/clean.sh [--export-json FILE]
# BIN (default: target/release/userns), RUNS (default 3), KEEP=1 keeps the scratch dir.
set -eu

[ "$(id -u)" = 0 ] || { echo "bench/clean.sh: run as root (it sets up the fixture user)" >&2; exit 1; }
for tool in hyperfine podman newuidmap python3 setpriv; do
    command -v "$tool" >/dev/null || { echo "bench/clean.sh: $tool is missing" >&2; exit 1; }
done
here=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$here/target/release/userns}
[ -x "$BIN" ] || { echo "bench/clean.sh: build first (cargo build --release) or set BIN" >&2; exit 1; }
RUNS=${RUNS:-3}

# Scratch under /var/tmp (far faster than /tmp here for many small files).
S=$(mktemp -d /var/tmp/userns-bench-clean.XXXXXX)
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
        os.close(os.open(p, os.O_CREAT | os.O_WRONLY, 0o644))
        os.chown(p, owner, owner)
    os.chown(d, owner, owner)
PY
podman unshare true  # start podman's pause process outside the timing
prepare="$U unshare sh -c 'rm -rf copy; cp -a src copy; sync'"
hyperfine --runs "$RUNS" --style basic $EXPORT \
    --prepare "$prepare" \
    -n "userns clean --yes" "$U clean --yes copy" \
    -n "podman unshare rm -rf" "podman unshare rm -rf copy" \
    -n "unshare --map-auto --map-root-user rm -rf" "unshare --map-auto --map-root-user rm -rf copy"
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
