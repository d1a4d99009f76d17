#!/usr/bin/env bash
# Benchmark: joining a kept namespace (`userns enter NAME true`) against creating one
# (`userns unshare true`, two setuid helper runs) and `podman unshare true` (which joins
# podman's own pause process), in ONE hyperfine run, as the same unprivileged user.
# Aim: joining costs at most half of creating, and under a tenth of podman.
#
# The fixture user and its subuid/subgid lines are bind-mounted over /etc in a private
# mount namespace: the host's /etc is untouched.
#
# Needs root for that setup, plus hyperfine, uidmap and podman.
# Usage: bench/enter.sh        writes bench/results/enter.{json,csv}
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
bench_require hyperfine newuidmap podman unshare setpriv
bench_setup
bench_ns '
    as_user "$SCRATCH/userns" unshare --name bench true
    # All three must land in a namespace mapping the subordinate range.
    for cmd in "$SCRATCH/userns enter bench" "$SCRATCH/userns unshare" "podman unshare"; do
        as_user $cmd cat /proc/self/uid_map | grep -q " 200000 " \
            || { echo "$cmd does not map the subordinate ids" >&2; exit 1; }
    done
    as_user hyperfine -N --warmup 10 --runs 200 --style basic \
        -n "userns enter" "$SCRATCH/userns enter bench true" \
        -n "userns unshare" "$SCRATCH/userns unshare true" \
        -n podman "podman unshare true" \
        --export-json enter.json --export-csv enter.csv
'
bench_report enter 'e=userns enter' 'u=userns unshare' p=podman -- '
    printf "median: enter %.2f ms, unshare %.2f ms, podman unshare %.2f ms\n", e*1000, u*1000, p*1000
    printf "ratio enter/unshare = %.2f (aim <= 0.5), enter/podman = %.3f (aim < 0.1)\n", e/u, e/p'
