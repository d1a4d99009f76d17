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

rootfs="$scratch/rootfs"
mkdir -p "$rootfs"/{bin,etc,proc,dev,sys,tmp,root}
cp /bin/busybox "$rootfs/bin/"
for applet in sh true cat ls sleep; do ln -s busybox "$rootfs/bin/$applet"; done
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$rootfs/etc/passwd"
printf 'root:x:0:\n' > "$rootfs/etc/group"
chmod 1777 "$rootfs/tmp"
chown -R $BENCH_UID:$BENCH_UID "$rootfs"
tar -C "$rootfs" -cf "$scratch/rootfs.tar" .
chmod 644 "$scratch/rootfs.tar"

SCRATCH=$scratch BENCH_UID=$BENCH_UID unshare --mount --propagation private -- sh -c '
    set -e
    mount --bind "$SCRATCH/etc" /etc
    # As on a real login, XDG_RUNTIME_DIR is a tmpfs (see bench/run.sh).
    mount -t tmpfs -o "mode=0700,uid=$BENCH_UID,gid=$BENCH_UID,size=256m" tmpfs "$SCRATCH/run"
    as_user() { setpriv --reuid="$BENCH_UID" --regid="$BENCH_UID" --clear-groups \
        env -i PATH=/usr/bin:/bin HOME="$SCRATCH/home" USER=ivy XDG_RUNTIME_DIR="$SCRATCH/run" "$@"; }
    cd "$SCRATCH/out"
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
mkdir -p bench/results
cp "$scratch/out/run-detached.json" "$scratch/out/run-detached.csv" bench/results/
awk -F, '
    $1 == "userns" { u = $4 } $1 == "podman" { p = $4 }
    END {
        printf "median: userns run -d %.2f ms, podman run -d %.2f ms\n", u*1000, p*1000
        printf "userns/podman = %.3f (aim <= 0.1)\n", u/p
    }' bench/results/run-detached.csv
