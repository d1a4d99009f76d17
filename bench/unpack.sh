#!/usr/bin/env bash
# Benchmark: the unpacker, old against new. `userns run ARCHIVE true` with the image cache
# removed before every run (hyperfine --prepare), so each run unpacks the whole image:
# a docker-archive of busybox and a layer of 2,000 small files (real text: the first
# 2,000 files under 16 KiB of /usr/lib/python3*, in 20 directories), plain, and the same
# as an OCI layout with gzip layers. OLD is a release build of another commit (main),
# given as USERNS_OLD; NEW is this checkout's release build; both in ONE hyperfine run,
# as the same unprivileged user, on a journaled ext4 home (bench_ns --journaled-home: the
# VM's nojournal root makes every file created after a removal cost ~150 us).
#
# Then the system calls of one unpack of each (perf trace -s, as root over the user's
# run, summed over every thread), divided by the files of the layer.
#
# Then `userns image check` of the gzip layout, old against new: it inflates the whole
# layer to read its headers, so it weighs the gzip decoder (flate2's backend) alone.
#
# Usage: USERNS_OLD=/path/to/userns-of-main [NAME=unpack] bench/unpack.sh
#        writes bench/results/NAME.{json,csv}, NAME-check.{json,csv}, NAME-syscalls.txt,
#        NAME-turns.txt
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
bench_require hyperfine newuidmap unshare setpriv perf python3 gzip /bin/busybox
[ -x "${USERNS_OLD:-}" ] || { echo "set USERNS_OLD to a release build of main" >&2; exit 1; }
bench_setup
install -m 755 "$USERNS_OLD" "$scratch/userns-old"

FILES=2000
NAME=${NAME:-unpack}
python3 - "$scratch" "$FILES" <<'EOF'
import glob, json, os, sys
scratch, want = sys.argv[1], int(sys.argv[2])
paths = sorted(p for p in glob.glob("/usr/lib/python3*/**/*", recursive=True)
               if os.path.isfile(p) and not os.path.islink(p) and os.path.getsize(p) < 16384)
paths = paths[:want]
assert len(paths) == want, f"only {len(paths)} small files under /usr/lib/python3*"
spec = []
per_dir = want // 20
for i, p in enumerate(paths):
    d = f"srv/d{i // per_dir:02}"
    if i % per_dir == 0:
        spec.append({"path": f"{d}/", "type": "dir"})
    spec.append({"path": f"{d}/f{i:05}", "file": p})
json.dump(spec, open(f"{scratch}/files.json", "w"))
busybox = [{"path": "bin/", "type": "dir"},
           {"path": "bin/busybox", "file": "/bin/busybox", "mode": 0o755},
           {"path": "bin/true", "type": "symlink", "target": "busybox"}]
json.dump(busybox, open(f"{scratch}/busybox.json", "w"))
json.dump({"config": {}}, open(f"{scratch}/config.json", "w"))
EOF
mktar="python3 fixtures/images/mktar.py"
$mktar layer "$scratch/files.tar" "$scratch/files.json"
$mktar layer "$scratch/busybox.tar" "$scratch/busybox.json"
$mktar docker-archive "$scratch/plain.tar" "$scratch/config.json" "$scratch/busybox.tar" "$scratch/files.tar"
gzip -k -6 "$scratch/files.tar" "$scratch/busybox.tar"
$mktar oci-layout "$scratch/gzip" "$scratch/config.json" "$scratch/busybox.tar.gz" "$scratch/files.tar.gz"
chmod -R a+rX "$scratch/plain.tar" "$scratch/gzip"
echo "layer: $FILES files, $(du -k "$scratch/files.tar" | cut -f1) KiB tar, $(du -k "$scratch/files.tar.gz" | cut -f1) KiB gzip"

bench_ns --journaled-home '
    images=$SCRATCH/home/.local/share/userns/images
    for bin in userns-old userns; do
        for src in plain.tar gzip; do
            as_user "$SCRATCH/$bin" run "$SCRATCH/$src" true \
                || { echo "$bin run $src fails" >&2; exit 1; }
            n=$(find "$images"/*/rootfs/srv -type f | wc -l)
            [ "$n" -eq '"$FILES"' ] || { echo "$bin unpacked $n files of $src" >&2; exit 1; }
            as_user rm -rf "$images"
        done
    done
    as_user hyperfine -N --warmup 2 --runs 15 --style basic \
        --prepare "rm -rf $images" \
        -n old "$SCRATCH/userns-old run $SCRATCH/plain.tar true" \
        -n new "$SCRATCH/userns run $SCRATCH/plain.tar true" \
        -n old-gzip "$SCRATCH/userns-old run $SCRATCH/gzip true" \
        -n new-gzip "$SCRATCH/userns run $SCRATCH/gzip true" \
        --export-json '"$NAME"'.json --export-csv '"$NAME"'.csv
    as_user hyperfine -N --warmup 2 --runs 20 --style basic \
        -n old-check "$SCRATCH/userns-old image check $SCRATCH/gzip" \
        -n new-check "$SCRATCH/userns image check $SCRATCH/gzip" \
        --export-json '"$NAME"'-check.json --export-csv '"$NAME"'-check.csv
    # The same, old and new taking turns (25 pairs, medians in ms): on a busy machine the
    # load moves between hyperfine'"'"'s blocks of runs, much less between two turns.
    for src in plain.tar gzip; do
        : > old.us; : > new.us
        for i in $(seq 25); do
            for bin in userns-old userns; do
                as_user rm -rf "$images"
                t0=$(date +%s%N)
                as_user "$SCRATCH/$bin" run "$SCRATCH/$src" true 2>/dev/null
                echo $(( ($(date +%s%N) - t0) / 1000 )) >> "${bin#userns-}.us"
            done
        done
        mv userns.us new.us
        o=$(sort -n old.us | awk "{ v[NR] = \$1 } END { print v[int((NR + 1) / 2)] }")
        n=$(sort -n new.us | awk "{ v[NR] = \$1 } END { print v[int((NR + 1) / 2)] }")
        awk -v src="$src" -v o="$o" -v n="$n" "BEGIN {
            printf \"%s, taking turns: median old %.1f ms, new %.1f ms, new/old = %.3f\\n\", src, o / 1000, n / 1000, n / o }"
    done > '"$NAME"'-turns.txt
    # System calls of one unpack of the plain archive, every thread of the run.
    for bin in userns-old userns; do
        as_user rm -rf "$images"
        perf trace -s -o "perf-$bin.txt" -- setpriv --reuid="$BENCH_UID" --regid="$BENCH_UID" \
            --clear-groups env -i PATH=/usr/bin:/bin HOME="$SCRATCH/home" USER=ivy \
            XDG_RUNTIME_DIR="$SCRATCH/run" "$SCRATCH/$bin" run "$SCRATCH/plain.tar" true
        awk -v bin="$bin" -v files='"$FILES"' "
            \$2 ~ /^[0-9]+\$/ && \$1 ~ /^[a-z_0-9]+\$/ { calls[\$1] += \$2; total += \$2 }
            END {
                printf \"%s: %d system calls, %.2f per file of the layer;\", bin, total, total / files
                n = split(\"openat2 openat newfstatat fstat statx write fchown fchownat fchmod fchmodat utimensat mkdirat symlinkat close\", names, \" \")
                for (i = 1; i <= n; i++) if (calls[names[i]]) printf \" %s %d\", names[i], calls[names[i]]
                printf \"\\n\"
            }" "perf-$bin.txt"
    done > '"$NAME"'-syscalls.txt
'
cp "$scratch/out/$NAME-syscalls.txt" "$scratch/out/$NAME-turns.txt" bench/results/
cat "bench/results/$NAME-syscalls.txt" "bench/results/$NAME-turns.txt"
bench_report "$NAME-check" o=old-check n=new-check -- '
    printf "image check of the gzip layout: old %.1f ms, new %.1f ms, new/old = %.3f\n", o*1000, n*1000, n/o'
bench_report -v files=$FILES "$NAME" o=old n=new og=old-gzip ng=new-gzip -- '
    printf "median: old %.1f ms, new %.1f ms (plain); old %.1f ms, new %.1f ms (gzip)\n", o*1000, n*1000, og*1000, ng*1000
    printf "per file: old %.1f us, new %.1f us (plain); new/old = %.3f plain, %.3f gzip\n", o/files*1e6, n/files*1e6, n/o, ng/og'
