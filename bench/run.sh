#!/usr/bin/env bash
# Benchmark: `userns run ROOTFS true` against `podman --runtime runc run --rm --network none IMAGE true`
# and `bwrap --unshare-all --bind ROOTFS / --proc /proc --dev /dev true`, in ONE hyperfine
# run, as the same unprivileged user, on the same busybox-static root filesystem (the
# podman image is `podman import` of a tar of it, made by that user).
#
# userns runs twice: with its default `--userns shared` (the container joins the user
# namespace userns keeps as `containers`, made by the check run below, before hyperfine
# starts; podman's pause process plays the same part for podman) and with `--userns
# private` (a new user namespace every run, hence newuidmap and newgidmap every run).
#
# What each does: userns maps all the user's subordinate ids (newuidmap/newgidmap: once, for
# the kept namespace, when shared; every run when private), mounts
# an overlay, /proc, /dev, /sys, pivots, drops capabilities; podman does that and more
# (storage, conmon, runc); all three get a network namespace with loopback only (podman's
# default, slirp4netns, would add a helper userns does not start by default); bwrap maps only the user's own id (no helpers, no overlay).
#
# The fixture user and its subuid/subgid lines are bind-mounted over /etc in a private
# mount namespace: the host's /etc is untouched.
#
# Needs root for that setup, plus hyperfine, uidmap, podman, runc, bubblewrap, busybox-static.
# Usage: bench/run.sh        writes bench/results/run.{json,csv}
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
bench_require hyperfine newuidmap podman runc bwrap unshare setpriv /bin/busybox
bench_setup

bench_rootfs sh true cat ls

bench_ns --tmpfs-run '
    as_user podman import -q "$SCRATCH/rootfs.tar" localhost/userns-bench >/dev/null
    # Each must really run in the root filesystem, or the comparison is void.
    # The first shared run also makes the kept namespace `containers`.
    as_user "$SCRATCH/userns" run "$SCRATCH/rootfs" cat /proc/self/uid_map | grep -q " 200000 " \
        || { echo "userns run does not map the subordinate ids" >&2; exit 1; }
    as_user "$SCRATCH/userns" ls | grep -q "containers" \
        || { echo "userns run kept no containers namespace" >&2; exit 1; }
    as_user "$SCRATCH/userns" run --userns private "$SCRATCH/rootfs" cat /proc/self/uid_map | grep -q " 200000 " \
        || { echo "userns run --userns private does not map the subordinate ids" >&2; exit 1; }
    as_user podman --runtime runc run --rm --network none localhost/userns-bench ls /bin/busybox >/dev/null \
        || { echo "podman run fails" >&2; exit 1; }
    as_user bwrap --unshare-all --bind "$SCRATCH/rootfs" / --proc /proc --dev /dev ls /bin/busybox >/dev/null \
        || { echo "bwrap fails" >&2; exit 1; }
    as_user hyperfine -N --warmup 5 --runs 100 --style basic \
        -n userns "$SCRATCH/userns run $SCRATCH/rootfs true" \
        -n userns-private "$SCRATCH/userns run --userns private $SCRATCH/rootfs true" \
        -n podman "podman --runtime runc run --rm --network none localhost/userns-bench true" \
        -n bwrap "bwrap --unshare-all --bind $SCRATCH/rootfs / --proc /proc --dev /dev true" \
        --export-json run.json --export-csv run.csv
'
bench_report run u=userns v=userns-private p=podman b=bwrap -- '
    printf "median: userns %.2f ms, userns --userns private %.2f ms, podman %.2f ms, bwrap %.2f ms\n", u*1000, v*1000, p*1000, b*1000
    printf "shared:  userns/podman = %.3f (aim < 0.1), userns/bwrap = %.2f (aim <= 1.5)\n", u/p, u/b
    printf "private: userns/podman = %.3f, userns/bwrap = %.2f\n", v/p, v/b'
