#!/usr/bin/env bash
# Benchmark: `userns exec NAME true` into a running container against `podman --runtime
# runc exec NAME true` into a running podman container, and against `userns enter
# containers true` (the user namespace alone), in ONE hyperfine run, as the same
# unprivileged user, on the same busybox-static root filesystem (the podman image is
# `podman import` of a tar of it).
#
# Both containers run `sleep 1000` and are started (run -d) before hyperfine; every timed
# run joins all of its container's namespaces and runs `true` there: userns through a
# pidfd of pid 1 (one setns), as the container's user with its capabilities, seccomp
# filter and no_new_privs; podman through conmon and `runc exec`. `userns enter
# containers` joins only the kept user namespace `containers` (the one the container's
# user namespace is), with no filter, no fork for a pid namespace, nothing to look up.
#
# Needs root for the hermetic setup (bench/lib.sh), plus hyperfine, uidmap, podman, runc,
# busybox-static. Usage: bench/exec.sh   writes bench/results/exec.{json,csv}
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
bench_require hyperfine newuidmap podman runc unshare setpriv /bin/busybox
bench_setup

bench_rootfs sh true cat ls sleep

bench_ns --tmpfs-run '
    as_user podman import -q "$SCRATCH/rootfs.tar" localhost/userns-bench >/dev/null
    as_user "$SCRATCH/userns" run -d --name bench "$SCRATCH/rootfs" sleep 1000 >/dev/null
    as_user podman --runtime runc run -d --name bench --network none localhost/userns-bench sleep 1000 >/dev/null
    # Each must really run in the container, or the comparison is void: pid 1 is sleep.
    as_user "$SCRATCH/userns" exec bench cat /proc/1/cmdline | grep -q "^sleep" \
        || { echo "userns exec does not see the container" >&2; exit 1; }
    as_user podman --runtime runc exec bench cat /proc/1/cmdline | grep -q "^sleep" \
        || { echo "podman exec does not see the container" >&2; exit 1; }
    as_user "$SCRATCH/userns" enter containers cat /proc/self/uid_map | grep -q " 200000 " \
        || { echo "userns enter containers does not join the kept namespace" >&2; exit 1; }
    as_user hyperfine -N --warmup 5 --runs 100 --style basic \
        -n userns-exec "$SCRATCH/userns exec bench true" \
        -n podman-exec "podman --runtime runc exec bench true" \
        -n userns-enter "$SCRATCH/userns enter containers true" \
        --export-json exec.json --export-csv exec.csv
    as_user "$SCRATCH/userns" rm -f bench >/dev/null
    as_user podman rm -f -t 0 bench >/dev/null
'
bench_report exec u=userns-exec p=podman-exec e=userns-enter -- '
    printf "median: userns exec %.2f ms, podman exec %.2f ms, userns enter %.2f ms\n", u*1000, p*1000, e*1000
    printf "userns exec/podman exec = %.3f (aim <= 0.1), userns exec/userns enter = %.2f (aim <= 2)\n", u/p, u/e'
