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

here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/bench/lib-tree.sh"
RUNS=${RUNS:-3}
# One line each: util-linux 2.38 --map-auto maps only the first line.
tree_setup 'ivy:200000:65536\n' hyperfine podman newuidmap python3 setpriv

cat >"$S/bench-as-ivy.sh" <<'EOF'
set -eu
cd "$HOME"
U="$SCRATCH/bin/userns"
# The source tree, built once: dir i and its 1,000 files belong to container id
# 1000 + i % 7, i.e. 7 subordinate ids on the host.
"$U" unshare python3 "$SCRATCH/tree.py" 1000
podman unshare true  # start podman's pause process outside the timing
prepare="$U unshare sh -c 'rm -rf copy; cp -a src copy; sync'"
hyperfine --runs "$RUNS" --style basic $EXPORT \
    --prepare "$prepare" \
    -n "userns clean --yes" "$U clean --yes copy" \
    -n "podman unshare rm -rf" "podman unshare rm -rf copy" \
    -n "unshare --map-auto --map-root-user rm -rf" "unshare --map-auto --map-root-user rm -rf copy"
EOF
tree_run "$@"
