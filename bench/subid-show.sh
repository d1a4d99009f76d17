#!/usr/bin/env bash
# Benchmark: `userns subid show USER` against shadow's `getsubids USER`, for a user whose
# line is the last of a 100,000-line /etc/subuid (the worst case for a linear scan).
#
# getsubids reads only /etc/subuid, so the big file is bind-mounted over /etc/subuid in a
# private mount namespace (the host's /etc is untouched), with a fixture passwd holding
# the user. Both commands run as that unprivileged user, in ONE hyperfine run (ratios are
# stable on shared machines, absolute times are not). userns also reads /etc/subgid (a
# one-line file here); getsubids does not, so userns does slightly more work.
#
# Needs root (mount namespace, setpriv), hyperfine and getsubids (package uidmap).
# Usage: bench/subid-show.sh            writes bench/results/subid-show.{json,csv}
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

BENCH_USER=ivy
BENCH_UID=2000
LINES=100000

[ "$(id -u)" -eq 0 ] || { echo "needs root (a private mount namespace and setpriv)" >&2; exit 1; }
for tool in hyperfine getsubids unshare setpriv; do
    command -v "$tool" >/dev/null || { echo "needs $tool (apt-get install hyperfine uidmap)" >&2; exit 1; }
done

cargo build --release --quiet
target="${CARGO_TARGET_DIR:-$repo/target}"

scratch=$(mktemp -d /var/tmp/userns-bench.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
chmod 755 "$scratch"
# A copy the unprivileged user can execute wherever the build tree is.
install -m 755 "$target/release/userns" "$scratch/userns"

# 99,999 other users, 40,000 ids each (so that every range fits in 32 bits), then ours.
# (%.0f, not %d: mawk caps %d at 2^31-1.)
awk -v n="$LINES" -v user="$BENCH_USER" 'BEGIN {
    for (i = 1; i < n; i++) printf "user%d:%.0f:40000\n", i, 100000 + i * 40000
    printf "%s:%.0f:40000\n", user, 100000 + n * 40000
}' > "$scratch/subuid"
echo "$BENCH_USER:200000:65536" > "$scratch/subgid"
cp /etc/passwd "$scratch/passwd"
echo "$BENCH_USER:x:$BENCH_UID:$BENCH_UID::$scratch:/bin/sh" >> "$scratch/passwd"
chmod 644 "$scratch/subuid" "$scratch/subgid" "$scratch/passwd"
mkdir -m 755 "$scratch/out" && chown "$BENCH_UID:$BENCH_UID" "$scratch/out"
expected_start=$((100000 + LINES * 40000))

echo "machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), kernel $(uname -r)"
echo "subuid: $(wc -l < "$scratch/subuid") lines, $BENCH_USER's line last"

SCRATCH=$scratch BENCH_USER=$BENCH_USER BENCH_UID=$BENCH_UID EXPECTED=$expected_start \
unshare --mount --propagation private -- sh -c '
    set -e
    mount --bind "$SCRATCH/subuid" /etc/subuid
    mount --bind "$SCRATCH/subgid" /etc/subgid
    mount --bind "$SCRATCH/passwd" /etc/passwd
    as_user() { setpriv --reuid="$BENCH_UID" --regid="$BENCH_UID" --clear-groups \
        env -i PATH=/usr/bin:/bin HOME="$SCRATCH" "$@"; }
    # Time the real work, not an error path: both must find the last line.
    as_user getsubids "$BENCH_USER" | grep -q " $EXPECTED 40000\$" \
        || { echo "getsubids does not find the last line" >&2; exit 1; }
    as_user "$SCRATCH/userns" subid show "$BENCH_USER" | grep -q "$EXPECTED" \
        || { echo "userns subid show does not find the last line" >&2; exit 1; }
    cd "$SCRATCH/out"
    as_user hyperfine -N --warmup 20 --style basic \
        -n getsubids "getsubids $BENCH_USER" \
        -n userns "$SCRATCH/userns subid show $BENCH_USER" \
        --export-json subid-show.json --export-csv subid-show.csv
'
mkdir -p bench/results
cp "$scratch/out/subid-show.json" "$scratch/out/subid-show.csv" bench/results/

# CSV columns: command,mean,stddev,median,user,system,min,max (seconds).
awk -F, '
    $1 == "getsubids" { peer = $4 }
    $1 == "userns"    { ours = $4 }
    END {
        printf "median: getsubids %.2f ms, userns %.2f ms; ratio userns/getsubids = %.2f (%s)\n",
            peer * 1000, ours * 1000, ours / peer, ours < peer ? "userns faster" : "getsubids faster"
    }' bench/results/subid-show.csv
