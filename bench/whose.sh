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

here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/bench/lib-tree.sh"
RUNS=${RUNS:-10}
# One line each: util-linux 2.38 --map-auto maps only the first line.
tree_setup 'ivy:200000:65536\n' hyperfine du newuidmap python3 setpriv

cat >"$S/bench-as-ivy.sh" <<'EOF'
set -eu
cd "$HOME"
U="$SCRATCH/bin/userns"
# The source tree, built once: dir i and its 1,000 files belong to container id
# 1000 + i % 7, i.e. 7 subordinate ids on the host.
"$U" unshare python3 "$SCRATCH/tree.py" 1000 5
hyperfine --runs "$RUNS" --warmup 1 --style basic $EXPORT \
    -n "userns whose -R" "$U whose -R src" \
    -n "du -s" "du -s src"
EOF
tree_run "$@"
