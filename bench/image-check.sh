#!/usr/bin/env bash
# Benchmark: `userns image check ARCHIVE` against `podman load -i ARCHIVE`, in ONE
# hyperfine run, as the same unprivileged user, on a ~100 MB docker-archive of 4 gzip
# layers (1,000 files of 25 KiB of random data each, owned by 0, 33 and 1000, so that
# podman can load them). podman's image is removed before each of its runs (--prepare,
# not timed); podman load unpacks every layer into its storage, which is what userns
# check spares before a run that would fail.
#
# The same image with plain (uncompressed) layers, as `podman save` writes them, is
# measured in the same run too: there userns check seeks over the file data and reads
# only the tar headers.
#
# The fixture user and its subuid/subgid lines are bind-mounted over /etc in a private
# mount namespace: the host's /etc is untouched.
#
# Needs root for that setup, plus hyperfine, uidmap, podman, python3.
# Usage: bench/image-check.sh      writes bench/results/image-check.{json,csv}
#        BENCH_BASELINE=/path/to/other/userns bench/image-check.sh
#                                  times that binary's check of the gzip archive too (as
#                                  userns-base), in the same hyperfine run.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
bench_require hyperfine newuidmap podman unshare setpriv python3
bench_setup
base=
if [ -n "${BENCH_BASELINE:-}" ]; then
    install -m 755 "$BENCH_BASELINE" "$scratch/userns-base"
    base=yes
fi

# The layers: written by tarfile (PAX), gzip-compressed; the archive by mktar.py, as
# podman save lays out a docker-archive (manifest.json, config with diff_ids, layers).
python3 - "$scratch" <<'PY'
import gzip, io, os, sys, tarfile
out = sys.argv[1]
owners = [0, 33, 1000]
for n in range(4):
    path = f"{out}/layer{n}.tar"
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        d = tarfile.TarInfo(f"data{n}")
        d.type = tarfile.DIRTYPE
        d.mode = 0o755
        tar.addfile(d)
        for i in range(1000):
            data = os.urandom(25 << 10)
            info = tarfile.TarInfo(f"data{n}/f{i:04d}")
            info.size = len(data)
            info.uid = info.gid = owners[i % 3]
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    with open(path, "rb") as f, gzip.open(path + ".gz", "wb", compresslevel=1) as g:
        g.write(f.read())
PY
echo '{"config": {"Cmd": ["/bin/true"]}}' > "$scratch/config.json"
python3 fixtures/images/mktar.py docker-archive "$scratch/image.tar" "$scratch/config.json" \
    "$scratch"/layer{0,1,2,3}.tar.gz
python3 fixtures/images/mktar.py docker-archive "$scratch/image-plain.tar" "$scratch/config.json" \
    "$scratch"/layer{0,1,2,3}.tar
chmod 644 "$scratch/image.tar" "$scratch/image-plain.tar"
echo "archive: $(du -m "$scratch/image.tar" | cut -f1) MB (gzip layers), $(du -m "$scratch/image-plain.tar" | cut -f1) MB (plain)"

BASE=$base bench_ns --tmpfs-run '
    # Each must really do its work, or the comparison is void: userns reads every layer
    # (1,001 entries in each of the 4 layers, the highest uid 1000) and says it fits.
    for a in image.tar image-plain.tar; do
        as_user "$SCRATCH/userns" image check --json "$SCRATCH/$a" > check.json
        grep -q "\"entries\": 4004" check.json && grep -q "\"fits\": true" check.json \
            || { echo "userns image check did not read the whole image" >&2; cat check.json >&2; exit 1; }
    done
    as_user podman load -q -i "$SCRATCH/image.tar" >/dev/null \
        || { echo "podman load fails" >&2; exit 1; }
    as_user podman rmi -f localhost/test:latest >/dev/null
    rmi="podman rmi -f localhost/test:latest >/dev/null 2>&1 || true"
    set --
    [ -z "$BASE" ] || set -- --prepare true -n userns-base "$SCRATCH/userns-base image check $SCRATCH/image.tar"
    as_user hyperfine --runs 5 --warmup 1 --style basic \
        --prepare true -n userns "$SCRATCH/userns image check $SCRATCH/image.tar" \
        --prepare "$rmi" -n podman "podman load -q -i $SCRATCH/image.tar" \
        --prepare true -n userns-plain "$SCRATCH/userns image check $SCRATCH/image-plain.tar" \
        --prepare "$rmi" -n podman-plain "podman load -q -i $SCRATCH/image-plain.tar" "$@" \
        --export-json image-check.json --export-csv image-check.csv
    as_user podman rmi -f localhost/test:latest >/dev/null 2>&1 || true
'
bench_report image-check u=userns p=podman v=userns-plain q=podman-plain -- '
    printf "median: userns image check %.1f ms, podman load %.1f ms (gzip layers)\n", u*1000, p*1000
    printf "gzip layers:  userns/podman = %.3f (aim <= 0.1)\n", u/p
    printf "plain layers: userns %.1f ms, podman %.1f ms, userns/podman = %.4f\n", v*1000, q*1000, v/q'
[ -z "$base" ] || bench_report image-check b=userns-base p=podman -- '
    printf "gzip layers: userns-base %.1f ms, its ratio to podman %.3f\n", b*1000, b/p'
