#!/usr/bin/env bash
# Benchmark: `userns run -d ROOTFS sleep 1000` against `podman --runtime runc run -d
# --network none IMAGE sleep 1000`, in ONE hyperfine run, as the same unprivileged user, on
# the same busybox-static root filesystem (the podman image is `podman import` of a tar of
# it). Each returns once the container's program has started: userns when its monitor says
# pid 1 has exec'd, podman when conmon and runc say it runs.
#
# Before every timed run (--prepare, not timed) the containers of the previous runs are
# removed (`userns rm -f`, `podman rm -fa -t 0`), so that neither side piles them up, and
# 0.3 s passes for the kernel's asynchronous clean-up of their namespaces.
# userns's containers join its kept user namespace `containers`, made by the check run
# before hyperfine starts, as podman's pause process is.
#
# Needs root for the hermetic setup (bench/lib.sh), plus hyperfine, uidmap, podman, runc,
# busybox-static. Usage: bench/run-detached.sh   writes bench/results/run-detached.{json,csv}
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
bench_require hyperfine newuidmap podman runc unshare setpriv /bin/busybox
bench_setup

bench_rootfs sh true cat ls sleep

bench_ns --tmpfs-run '
    as_user podman import -q "$SCRATCH/rootfs.tar" localhost/userns-bench >/dev/null
    # Each must really start a container that runs, or the comparison is void.
    id=$(as_user "$SCRATCH/userns" run -d "$SCRATCH/rootfs" sleep 1000)
    as_user "$SCRATCH/userns" ps | grep -q "${id%${id#????????????}}.*Up " \
        || { echo "userns run -d started nothing" >&2; exit 1; }
    as_user "$SCRATCH/userns" rm -f "$id" >/dev/null
    pid=$(as_user podman --runtime runc run -d --network none localhost/userns-bench sleep 1000)
    as_user podman ps | grep -q "${pid%${pid#????????????}}" \
        || { echo "podman run -d started nothing" >&2; exit 1; }
    as_user podman rm -f -t 0 "$pid" >/dev/null
    cat > "$SCRATCH/out/rm-userns" <<SH
#!/bin/sh
ids=\$("$SCRATCH/userns" ps -aq)
[ -z "\$ids" ] || "$SCRATCH/userns" rm -f \$ids >/dev/null
# Let the kernel finish tearing the namespaces down (it does so asynchronously) before
# the timed run; the same pause follows podman rm below.
sleep 0.3
SH
    printf "#!/bin/sh\npodman rm -fa -t 0 >/dev/null\nsleep 0.3\n" > "$SCRATCH/out/rm-podman"
    chmod 755 "$SCRATCH/out/rm-userns" "$SCRATCH/out/rm-podman"
    as_user hyperfine -N --warmup 3 --runs 40 --style basic \
        --prepare "$SCRATCH/out/rm-userns" \
        -n userns "$SCRATCH/userns run -d $SCRATCH/rootfs sleep 1000" \
        --prepare "$SCRATCH/out/rm-podman" \
        -n podman "podman --runtime runc run -d --network none localhost/userns-bench sleep 1000" \
        --export-json run-detached.json --export-csv run-detached.csv
    as_user "$SCRATCH/out/rm-userns"
    as_user podman rm -fa -t 0 >/dev/null
'
bench_report run-detached u=userns p=podman -- '
    printf "median: userns run -d %.2f ms, podman run -d %.2f ms\n", u*1000, p*1000
    printf "userns/podman = %.3f (aim <= 0.1)\n", u/p'
