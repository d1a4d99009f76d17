#!/bin/sh
# Benchmark: move 100,000 files in 100 directories, owned by 7 ids of an old subordinate
# range (200000:65536), to the new range (300000:65536), both granted.
#   userns migrate --yes --from-map OLD_UIDMAP:OLD_GIDMAP DIR   (each id to its own new id,
#                                          keeping setuid bits, ACLs, capabilities)
#   podman unshare chown -R 1000:1000 DIR  (the peer: one id for all, loses those)
# One hyperfine run compares the two, each on a fresh copy made by --prepare (cp -a
# inside podman's namespace, not timed), as the unprivileged fixture user of the hermetic
# scenario (docs/TESTING.md): fixture passwd/group/subuid/subgid bind-mounted over a
# copy of /etc in a private mount namespace; the host's /etc is not touched.
#
# Run as root: bench/migrate.sh [--export-json FILE]
# BIN (default: target/release/userns), RUNS (default 3), KEEP=1 keeps the scratch dir.
set -eu

[ "$(id -u)" = 0 ] || { echo "bench/migrate.sh: run as root (it sets up the fixture user)" >&2; exit 1; }
for tool in hyperfine podman newuidmap python3 setpriv; do
    command -v "$tool" >/dev/null || { echo "bench/migrate.sh: $tool is missing" >&2; exit 1; }
done
here=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$here/target/release/userns}
[ -x "$BIN" ] || { echo "bench/migrate.sh: build first (cargo build --release) or set BIN" >&2; exit 1; }
RUNS=${RUNS:-3}

# Scratch under /var/tmp (far faster than /tmp here for many small files).
S=$(mktemp -d /var/tmp/userns-bench-migrate.XXXXXX)
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
# The new range, and the old one still granted for the move.
printf 'ivy:300000:65536\nivy:200000:65536\n' >"$S/etc/subuid"
printf 'ivy:300000:65536\nivy:200000:65536\n' >"$S/etc/subgid"
chmod 644 "$S/etc/passwd" "$S/etc/group" "$S/etc/subuid" "$S/etc/subgid"
chown 2000:2000 "$S" "$S/home" "$S/run"
chmod 755 "$S" "$S/bin" "$S/bin/userns"
chmod 700 "$S/run"

cat >"$S/bench-as-ivy.sh" <<'EOF'
set -eu
cd "$HOME"
U="$SCRATCH/bin/userns"
# The source tree, built once in podman's namespace: dir i and its 1,000 files belong to
# host id 201000 + i % 7, an old subordinate id. The namespace id is read from the
# namespace's uid_map (podman orders the two ranges its own way: assuming an order once
# gave a tree already owned by new ids, which migrate left alone).
podman unshare python3 - <<'PY'
import os
def inside(host):
    for line in open("/proc/self/uid_map"):
        ns, out, count = map(int, line.split())
        if out <= host < out + count:
            return ns + host - out
    raise SystemExit("host id %d is not mapped in podman's namespace" % host)
os.mkdir("src")
for i in range(100):
    d = "src/d%03d" % i
    os.mkdir(d)
    owner = inside(201000 + i % 7)
    for j in range(1000):
        p = "%s/f%04d" % (d, j)
        os.close(os.open(p, os.O_CREAT | os.O_WRONLY, 0o644))
        os.chown(p, owner, owner)
    os.chown(d, owner, owner)
PY
owner=$(stat -c %u src/d001/f0000)
[ "$owner" = 201001 ] || { echo "bench/migrate.sh: the source tree belongs to $owner, not to the old range's 201001" >&2; exit 1; }
printf '0 2000 1\n1 200000 65536\n' > old-map
prepare="podman unshare sh -c 'rm -rf copy; cp -a src copy; sync'"
hyperfine --runs "$RUNS" --style basic $EXPORT \
    --prepare "$prepare" \
    -n "userns migrate" "$U migrate --yes --from-map old-map:old-map copy" \
    -n "podman unshare chown -R" "podman unshare chown -R 1000:1000 copy"
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
