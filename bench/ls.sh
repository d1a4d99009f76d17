#!/usr/bin/env bash
# Benchmark: `userns ls` against util-linux `lsns -t user` with 2,000 extra processes
# (`sleep`, started here and killed after), in ONE hyperfine run, as the same
# unprivileged user, so both see the same processes. Aim: userns ls is no slower.
#
# Needs root (setpriv to the fixture uid), hyperfine and util-linux.
# Usage: bench/ls.sh        writes bench/results/ls.{json,csv}
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
BENCH_UID=2000
PROCS=2000

[ "$(id -u)" -eq 0 ] || { echo "needs root (setpriv)" >&2; exit 1; }
for tool in hyperfine lsns setpriv; do
    command -v "$tool" >/dev/null || { echo "needs $tool (apt-get install hyperfine util-linux)" >&2; exit 1; }
done

cargo build --release --quiet
target="${CARGO_TARGET_DIR:-$repo/target}"
scratch=$(mktemp -d /var/tmp/userns-bench.XXXXXX)
pids=()
cleanup() {
    # End only the sleeps this script started, by pid.
    [ ${#pids[@]} -gt 0 ] && kill "${pids[@]}" 2>/dev/null || true
    rm -rf "$scratch"
}
trap cleanup EXIT
chmod 755 "$scratch"
install -m 755 "$target/release/userns" "$scratch/userns"
install -d -m 755 -o $BENCH_UID -g $BENCH_UID "$scratch/out"
as_user() { setpriv --reuid=$BENCH_UID --regid=$BENCH_UID --clear-groups \
    env -i PATH=/usr/bin:/bin HOME="$scratch/out" XDG_RUNTIME_DIR="$scratch/out" "$@"; }

for _ in $(seq $PROCS); do
    setpriv --reuid=$BENCH_UID --regid=$BENCH_UID --clear-groups sleep 600 &
    pids+=($!)
done
echo "machine: $(nproc) cores, kernel $(uname -r), $(ls -d /proc/[0-9]* | wc -l) processes"
cd "$scratch/out"
as_user hyperfine -N --warmup 3 --runs 30 --style basic \
    -n "userns ls" "$scratch/userns ls" \
    -n "lsns -t user" "lsns -t user" \
    --export-json ls.json --export-csv ls.csv
cd "$repo"
mkdir -p bench/results
cp "$scratch/out/ls.json" "$scratch/out/ls.csv" bench/results/
awk -F, '
    $1 == "userns ls" { u = $4 } $1 == "lsns -t user" { l = $4 }
    END { printf "median: userns ls %.2f ms, lsns %.2f ms, ratio %.2f (aim <= 1)\n", u*1000, l*1000, u/l }
' bench/results/ls.csv
