#!/usr/bin/env bash
# Benchmark: `userns ps` against `podman ps`, each with 50 running containers of its own
# (`sleep 1000` on the same busybox-static root filesystem; podman's image is `podman
# import` of a tar of it), in ONE hyperfine run, as the same unprivileged user. Both list
# what runs: userns reads its 50 records and checks each monitor in /proc (start time, so
# that a dead or reused pid is never shown as running); podman asks its database and runc.
#
# Needs root for the hermetic setup (bench/lib.sh), plus hyperfine, uidmap, podman, runc,
# busybox-static. Usage: bench/ps.sh   writes bench/results/ps.{json,csv}
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
bench_require hyperfine newuidmap podman runc unshare setpriv /bin/busybox
bench_setup

bench_rootfs sh true cat ls sleep

bench_ns --tmpfs-run '
    as_user podman import -q "$SCRATCH/rootfs.tar" localhost/userns-bench >/dev/null
    for i in $(seq 50); do
        as_user "$SCRATCH/userns" run -d "$SCRATCH/rootfs" sleep 1000 >/dev/null
        as_user podman --runtime runc run -d --network none localhost/userns-bench sleep 1000 >/dev/null
    done
    # Both must list the 50 (a header line, then one per container).
    [ "$(as_user "$SCRATCH/userns" ps | grep -c " Up ")" -eq 50 ] \
        || { echo "userns ps does not list 50 running containers" >&2; exit 1; }
    [ "$(as_user podman ps | grep -c " Up ")" -eq 50 ] \
        || { echo "podman ps does not list 50 running containers" >&2; exit 1; }
    as_user hyperfine -N --warmup 3 --runs 50 --style basic \
        -n userns "$SCRATCH/userns ps" \
        -n podman "podman ps" \
        --export-json ps.json --export-csv ps.csv
    as_user podman rm -fa -t 0 >/dev/null
'
bench_report ps u=userns p=podman -- '
    printf "median: userns ps %.2f ms, podman ps %.2f ms (50 running containers each)\n", u*1000, p*1000
    printf "userns/podman = %.3f (aim <= 0.1)\n", u/p'
