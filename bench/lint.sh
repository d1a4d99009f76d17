#!/usr/bin/env bash
# Benchmark: `userns subid check` and `userns doctor` on a site-sized /etc/subuid and
# /etc/subgid (200,000 lines: 49,999 users known to passwd with 4 interleaved lines each,
# and the fixture user ivy's 4) and on 4,000 mutually overlapping lines (owners user0..
# user99 and ivy), in one hyperfine run per file, as ivy.
#
# The peer is shadow's `getsubids ivy; getsubids -g ivy` on the same files: one parse of
# each file and one passwd lookup. It lints nothing, so it is a floor, not a rival: the
# ratio says what linting (every owner looked up, overlaps, totals) or doctor's checks
# (the lint of ivy's lines, the map plan, the setuid helpers' own read of both files in
# the live test) cost on top of reading the files the way shadow does. `doctor --no-live`
# is timed too: doctor without the namespace its live test creates through newuidmap
# and newgidmap, which read both files again (shadow's share of doctor's time).
#
# Both files are bind-mounted over /etc/subuid and /etc/subgid, with a passwd holding
# the 49,999 users and ivy, in a private mount namespace: the host's /etc is untouched.
# Output sizes are printed, since a quadratic lint shows first in its output.
#
# Needs root for that setup, plus hyperfine and getsubids (package uidmap).
# Usage: bench/lint.sh     writes bench/results/lint-200k.{json,csv} and lint-overlap.{json,csv}
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
bench_require hyperfine getsubids unshare setpriv
bench_setup

USERS=50000 # user0..user49998, and ivy in the place of the last
LINES=200000
OVERLAP=4000

awk -v n=$((USERS - 1)) 'BEGIN {
    for (u = 0; u < n; u++) printf "user%d:x:%d:%d::/nonexistent:/usr/sbin/nologin\n", u, 10000 + u, 10000 + u
}' >> "$scratch/etc/passwd"
# Line i belongs to user (i mod USERS): each user's 4 lines lie 50,000 lines apart, 20,000
# ids each, none overlapping. (%.0f, not %d: mawk caps %d at 2^31-1.)
awk -v n=$LINES -v users=$USERS 'BEGIN {
    for (i = 0; i < n; i++) {
        u = i % users
        printf "%s:%.0f:20000\n", (u == users - 1 ? "ivy" : "user" u), 100000 + i * 20000
    }
}' > "$scratch/big.subid"
# Every line overlaps every other: 1,000,000 ids from 300000+i; every fourth is ivy's.
awk -v n=$OVERLAP 'BEGIN {
    for (i = 0; i < n; i++) printf "%s:%d:1000000\n", (i % 4 == 3 ? "ivy" : "user" (i % 100)), 300000 + i
}' > "$scratch/overlap.subid"
printf '#!/bin/sh\ngetsubids ivy >/dev/null && getsubids -g ivy >/dev/null\n' > "$scratch/getsubids-both"
chmod 644 "$scratch/big.subid" "$scratch/overlap.subid"
chmod 755 "$scratch/getsubids-both"
echo "files: $(wc -l < "$scratch/big.subid") lines ($(wc -c < "$scratch/big.subid") bytes), $(wc -l < "$scratch/overlap.subid") overlapping lines; passwd: $(wc -l < "$scratch/etc/passwd") lines"

for set in big overlap; do
    name=$([ $set = big ] && echo lint-200k || echo lint-overlap)
    echo "== $name, load: $(cut -d' ' -f1-3 /proc/loadavg)"
    SET=$set NAME=$name bench_ns '
        mount --bind "$SCRATCH/$SET.subid" /etc/subuid
        mount --bind "$SCRATCH/$SET.subid" /etc/subgid
        # Time the real work: the peer must find ivy, doctor must run its live test.
        as_user getsubids ivy | grep -q "ivy" || { echo "getsubids does not find ivy" >&2; exit 1; }
        for cmd in "subid check" "doctor"; do
            bytes=$(as_user "$SCRATCH/userns" $cmd 2>&1 | wc -c)
            echo "userns $cmd: $bytes bytes of output"
        done
        as_user "$SCRATCH/userns" doctor | grep -q "^pass  live test" \
            || { echo "doctor did not pass its live test" >&2; exit 1; }
        # -i: on the overlapping file, check and doctor find problems and exit 1.
        as_user hyperfine -N -i --warmup 2 --runs 10 --style basic \
            -n getsubids "$SCRATCH/getsubids-both" \
            -n check "$SCRATCH/userns subid check" \
            -n doctor "$SCRATCH/userns doctor" \
            -n doctor-no-live "$SCRATCH/userns doctor --no-live" \
            --export-json "$NAME.json" --export-csv "$NAME.csv"
    '
    bench_report -v name=$name $name g=getsubids c=check d=doctor n=doctor-no-live -- '
        printf "%s median: getsubids (both files) %.1f ms, check %.1f ms, doctor %.1f ms (--no-live %.1f ms)\n", name, g*1000, c*1000, d*1000, n*1000
        printf "%s ratio: check/getsubids = %.2f, doctor/getsubids = %.2f, doctor --no-live/getsubids = %.2f\n", name, c/g, d/g, n/g'
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
