#!/usr/bin/env bash
# Benchmark: `userns unshare true` against util-linux `unshare --map-auto --map-root-user
# true` and `podman unshare true`, in ONE hyperfine run, as the same unprivileged user.
# All three create a user namespace and have it mapped by the setuid helpers
# newuidmap/newgidmap (util-linux maps one id fewer; podman maps the same as userns).
# Also reports userns's peak memory (max RSS of the process, /usr/bin/time).
#
# The fixture user and its subuid/subgid lines are bind-mounted over /etc in a private
# mount namespace: the host's /etc is untouched.
#
# Needs root for that setup, plus hyperfine, uidmap and podman.
# Usage: bench/unshare.sh        writes bench/results/unshare.{json,csv}
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
bench_require hyperfine newuidmap podman unshare setpriv /usr/bin/time
bench_setup
bench_ns '
    # Each must really map the subordinate range, or the comparison is void.
    for cmd in "$SCRATCH/userns unshare" "unshare --map-auto --map-root-user" "podman unshare"; do
        as_user $cmd cat /proc/self/uid_map | grep -q " 200000 " \
            || { echo "$cmd does not map the subordinate ids" >&2; exit 1; }
    done
    as_user hyperfine -N --warmup 10 --runs 200 --style basic \
        -n userns "$SCRATCH/userns unshare true" \
        -n util-linux "unshare --map-auto --map-root-user true" \
        -n podman "podman unshare true" \
        --export-json unshare.json --export-csv unshare.csv
    echo "peak memory (max RSS, KiB) of userns unshare true: $(as_user /usr/bin/time -f %M "$SCRATCH/userns" unshare true 2>&1 | tail -1)"
    echo "peak memory (max RSS, KiB) of unshare --map-auto -r true: $(as_user /usr/bin/time -f %M unshare --map-auto --map-root-user true 2>&1 | tail -1)"
'
bench_report unshare u=userns l=util-linux p=podman -- '
    printf "median: userns %.2f ms, util-linux %.2f ms, podman %.2f ms\n", u*1000, l*1000, p*1000
    printf "ratio userns/util-linux = %.2f, userns/podman = %.3f\n", u/l, u/p'
