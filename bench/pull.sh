#!/usr/bin/env bash
# Benchmark: `userns pull REF` against `podman pull REF`, from scratch each time, from the
# same local registry (Debian's docker-registry on 127.0.0.1, plain HTTP, allowed for
# both by the user's ~/.config/containers/registries.conf `insecure = true`), in ONE
# hyperfine run, as the same unprivileged user.
#
# Two images, each in two layers pushed by skopeo from a docker-archive (skopeo gzips the
# layers), each timed in a hyperfine run of its own:
# - `small`, alpine-sized: busybox-static, 500 small files in 10 directories and 4 MiB of
#   random data (5 MiB compressed, 6 MiB unpacked; alpine 3 is 3.5 and 8 MiB);
# - `large`: busybox-static, 2,000 small files in 40 directories and 16 MiB of random data
#   (17 MiB compressed, 25 MiB unpacked).
# Each run starts with the image absent: hyperfine's --prepare removes it (`userns rmi
# -f`, `podman rmi -f`) and syncs, none of it timed. The user's home, where both tools
# keep their storage, is an ext4 with a journal (bench_ns --journaled-home: a loop-mounted
# file), as on a standard Debian or Ubuntu install: on this VM's own root file system,
# ext4 without a journal, every inode allocated within 5 minutes of a removal in the same
# inode table block passes over the freed inodes one by one (fs/ext4/ialloc.c,
# recently_deleted()), which made each file created right after the removal cost ~150 us
# for both tools and buried the difference between them. BENCH_HOME=root measures there
# anyway.
#
# What each does: both fetch the manifest and the two layers, verify their digests and
# diff_ids, and unpack them with the layers' owners on the user's subordinate ids (userns
# in a user namespace mapped by newuidmap/newgidmap, every run; podman in the one its pause
# process keeps, into its overlay storage).
#
# Needs root for the setup (fixture /etc bind-mounted in a private mount namespace), plus
# hyperfine, uidmap, podman, docker-registry, skopeo, python3, busybox-static.
# Usage: bench/pull.sh       writes bench/results/pull-{small,large}.{json,csv}
#        BENCH_BASELINE=/path/to/other/userns bench/pull.sh
#                            times that binary too (as userns-base), in the same hyperfine
#                            runs, to compare a branch with main on a shared machine.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
bench_require hyperfine newuidmap podman docker-registry skopeo python3 /bin/busybox
bench_setup
base=
if [ -n "${BENCH_BASELINE:-}" ]; then
    install -m 755 "$BENCH_BASELINE" "$scratch/userns-base"
    base=yes
fi

# The image, as two layer tars and a docker-archive (fixtures/images/mktar.py).
img="$scratch/img"
mkdir -p "$img"
make_image() { # NAME DIRS RANDOM_FILES
python3 - "$img/$1" "$2" "$3" <<'EOF'
import json, os, sys
d, dirs, randoms = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.makedirs(d, exist_ok=True)
base = [{"path": p, "type": "dir"} for p in ("bin/", "etc/", "tmp/", "data/")]
base.append({"path": "bin/busybox", "file": "/bin/busybox", "mode": 0o755})
base += [{"path": f"bin/{a}", "type": "symlink", "target": "busybox"} for a in ("sh", "true", "ls")]
base.append({"path": "etc/passwd", "data": "root:x:0:0:root:/root:/bin/sh\n"})
for i in range(randoms):
    name = os.path.join(d, f"random{i}")
    with open(name, "wb") as f:
        f.write(os.urandom(4 << 20))
    base.append({"path": f"data/random{i}", "file": name, "uid": 1000, "gid": 1000})
small = []
for i in range(dirs):
    small.append({"path": f"data/d{i}/", "type": "dir", "uid": 33, "gid": 33})
    for j in range(50):
        small.append({"path": f"data/d{i}/f{j}", "data": f"file {i}/{j}\n" * 20, "uid": 33, "gid": 33})
json.dump(base, open(os.path.join(d, "base.json"), "w"))
json.dump(small, open(os.path.join(d, "small.json"), "w"))
json.dump({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"]}},
          open(os.path.join(d, "config.json"), "w"))
EOF
python3 fixtures/images/mktar.py layer "$img/$1/base.tar" "$img/$1/base.json"
python3 fixtures/images/mktar.py layer "$img/$1/small.tar" "$img/$1/small.json"
python3 fixtures/images/mktar.py docker-archive "$img/$1/image.tar" "$img/$1/config.json" \
    "$img/$1/base.tar" "$img/$1/small.tar"
}
make_image small 10 1
make_image large 40 4

# The registry, at a free port, its storage in the scratch dir; ended by its pid.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$scratch/registry"
cat > "$scratch/registry/config.yml" <<EOF
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $scratch/registry/storage}}
http: {addr: 127.0.0.1:$port}
EOF
docker-registry serve "$scratch/registry/config.yml" >/dev/null 2>&1 &
registry_pid=$!
trap 'kill $registry_pid 2>/dev/null || true; bench_cleanup' EXIT
for _ in $(seq 100); do
    (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break
    sleep 0.1
done
ref="127.0.0.1:$port/bench/image"
for size in small large; do
    skopeo copy -q --dest-tls-verify=false "docker-archive:$img/$size/image.tar" "docker://$ref:$size"
done

install -d -m 755 -o $BENCH_UID -g $BENCH_UID "$scratch/home/.config" "$scratch/home/.config/containers"
printf '[[registry]]\nlocation = "127.0.0.1:%s"\ninsecure = true\n' "$port" \
    > "$scratch/home/.config/containers/registries.conf"
chown $BENCH_UID:$BENCH_UID "$scratch/home/.config/containers/registries.conf"

home_opt=--journaled-home
[ "${BENCH_HOME:-}" = root ] && home_opt=
REF=$ref BASE=$base bench_ns --tmpfs-run $home_opt '
    for size in small large; do
        # Each must really pull the image, or the comparison is void.
        as_user "$SCRATCH/userns" pull -q "$REF:$size" >/dev/null
        as_user "$SCRATCH/userns" run "$REF:$size" ls /data/d9/f49 >/dev/null \
            || { echo "userns pull left no runnable image" >&2; exit 1; }
        as_user podman pull -q "$REF:$size" >/dev/null
        as_user podman run --rm --runtime runc --network none "$REF:$size" ls /data/d9/f49 >/dev/null \
            || { echo "podman pull left no runnable image" >&2; exit 1; }
        set --
        if [ -n "$BASE" ]; then
            as_user "$SCRATCH/userns-base" pull -q "$REF:$size" >/dev/null
            set -- -n userns-base \
                --prepare "sh -c \"$SCRATCH/userns-base rmi -f $REF:$size >/dev/null 2>&1; sync; sleep 2\"" \
                "$SCRATCH/userns-base pull -q $REF:$size"
        fi
        echo "== $size"
        as_user hyperfine -N --warmup 1 --runs 10 --style basic \
            -n userns --prepare "sh -c \"$SCRATCH/userns rmi -f $REF:$size >/dev/null 2>&1; sync; sleep 2\"" \
                "$SCRATCH/userns pull -q $REF:$size" \
            -n podman --prepare "sh -c \"podman rmi -f $REF:$size >/dev/null 2>&1; sync; sleep 2\"" \
                "podman pull -q $REF:$size" "$@" \
            --export-json pull-$size.json --export-csv pull-$size.csv
    done
'
for size in small large; do
    bench_report -v size=$size pull-$size u=userns p=podman -- '
        printf "%s: median userns pull %.1f ms, podman pull %.1f ms\n", size, u*1000, p*1000
        printf "%s: userns/podman = %.3f (aim <= 0.25)\n", size, u/p'
    [ -z "$base" ] || bench_report -v size=$size pull-$size b=userns-base p=podman -- '
        printf "%s: median userns-base pull %.1f ms, its ratio to podman %.3f\n", size, b*1000, b/p'
done
# BENCH_TURNS=N, with BENCH_BASELINE: then the large image is pulled N times by each of
# userns-base, userns, and userns with USERNS_UNPACK_SERIAL=1 (its unpack on one thread),
# taking turns; medians in bench/results/pull-turns.txt. On a busy machine the load moves
# between hyperfine's blocks of runs, much less between turns.
if [ -n "${BENCH_TURNS:-}" ] && [ -n "$base" ]; then
    REF=$ref TURNS=$BENCH_TURNS bench_ns --tmpfs-run $home_opt '
        for bin in userns-base userns; do as_user "$SCRATCH/$bin" pull -q "$REF:large" >/dev/null; done
        : > base.us; : > new.us; : > serial.us
        for i in $(seq "$TURNS"); do
            for v in base new serial; do
                case $v in
                    base) bin=userns-base; serial=0;;
                    new) bin=userns; serial=0;;
                    serial) bin=userns; serial=1;;
                esac
                as_user "$SCRATCH/$bin" rmi -f "$REF:large" >/dev/null 2>&1; sync
                t0=$(date +%s%N)
                as_user env USERNS_UNPACK_SERIAL=$serial "$SCRATCH/$bin" pull -q "$REF:large" >/dev/null
                echo $(( ($(date +%s%N) - t0) / 1000 )) >> $v.us
            done
        done
        for v in base new serial; do
            sort -n $v.us | awk -v v=$v -v n="$TURNS" "{ a[NR] = \$1 } END {
                printf \"large, %d turns: userns-%s median %.1f ms\\n\", n, v, a[int((NR + 1) / 2)] / 1000 }"
        done > pull-turns.txt
    '
    cp "$scratch/out/pull-turns.txt" bench/results/
    cat bench/results/pull-turns.txt
fi
