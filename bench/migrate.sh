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

here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/bench/lib-tree.sh"
RUNS=${RUNS:-3}
# The new range, and the old one still granted for the move.
tree_setup 'ivy:300000:65536\nivy:200000:65536\n' hyperfine podman newuidmap python3 setpriv

cat >"$S/bench-as-ivy.sh" <<'EOF'
set -eu
cd "$HOME"
U="$SCRATCH/bin/userns"
# The source tree, built once in podman's namespace: dir i and its 1,000 files belong to
# host id 201000 + i % 7, an old subordinate id (checked: migrate must have work to do).
podman unshare python3 "$SCRATCH/tree.py" host:201000
owner=$(stat -c %u src/d001/f0000)
[ "$owner" = 201001 ] || { echo "bench/migrate.sh: the source tree belongs to $owner, not to the old range's 201001" >&2; exit 1; }
printf '0 2000 1\n1 200000 65536\n' > old-map
prepare="podman unshare sh -c 'rm -rf copy; cp -a src copy; sync'"
hyperfine --runs "$RUNS" --style basic $EXPORT \
    --prepare "$prepare" \
    -n "userns migrate" "$U migrate --yes --from-map old-map:old-map copy" \
    -n "podman unshare chown -R" "podman unshare chown -R 1000:1000 copy"
EOF
tree_run "$@"
