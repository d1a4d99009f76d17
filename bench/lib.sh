# Shared by the bash benchmarks (unshare, enter, run, lint, run-detached, ps, exec,
# image-check, pull; sourced, not run): a scratch dir under /var/tmp with the release binary and a copy of /etc that holds the fixture
# user ivy (BENCH_UID) and its subordinate ids. The scripts bind-mount that copy over /etc
# in a private mount namespace, so the host's /etc is never written.
#
# After bench_setup: $repo, $scratch (with userns, etc/, home/, out/, run/ = the user's
# XDG_RUNTIME_DIR). bench_cleanup ends what the benchmark left running and removes it.
# bench_rootfs makes a busybox root filesystem, bench_ns runs a script as root in the
# private mount namespace, with as_user for the fixture user, and bench_report keeps
# hyperfine's exports in bench/results and prints their medians and ratios.

BENCH_UID=2000

bench_require() {
    [ "$(id -u)" -eq 0 ] || { echo "needs root (a private mount namespace and setpriv)" >&2; exit 1; }
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null || { echo "needs $tool (see scripts/lib/setup.sh for the packages)" >&2; exit 1; }
    done
}

bench_setup() {
    repo=$PWD
    cargo build --release --quiet
    local target="${CARGO_TARGET_DIR:-$repo/target}"
    scratch=$(mktemp -d /var/tmp/userns-bench.XXXXXX)
    trap bench_cleanup EXIT
    chmod 755 "$scratch"
    install -m 755 "$target/release/userns" "$scratch/userns"
    cp -a /etc "$scratch/etc"
    echo "ivy:x:$BENCH_UID:$BENCH_UID::$scratch/home:/bin/sh" >> "$scratch/etc/passwd"
    echo "ivy:x:$BENCH_UID:" >> "$scratch/etc/group"
    echo "ivy:200000:65536" > "$scratch/etc/subuid"
    echo "ivy:200000:65536" > "$scratch/etc/subgid"
    chmod 644 "$scratch/etc/subuid" "$scratch/etc/subgid"
    install -d -m 755 -o $BENCH_UID -g $BENCH_UID "$scratch/home" "$scratch/out"
    install -d -m 700 -o $BENCH_UID -g $BENCH_UID "$scratch/run"
    echo "machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), kernel $(uname -r)"
}

# End every process that carries this benchmark's XDG_RUNTIME_DIR (podman's pause
# process, a kept namespace), and nothing else: tests may run as the same uid meanwhile.
bench_cleanup() {
    local marker="XDG_RUNTIME_DIR=$scratch/run" env pid
    for env in /proc/[0-9]*/environ; do
        pid=${env#/proc/}; pid=${pid%/environ}
        if { tr '\0' '\n' < "$env"; } 2>/dev/null | grep -qxF "$marker"; then
            kill -9 "$pid" 2>/dev/null || true
        fi
    done
    rm -rf "$scratch"
}

# bench_rootfs APPLET...: $rootfs ($scratch/rootfs), a busybox-static root filesystem with
# those applets, owned by the user (uid 0 inside, as podman's unpacked images are), and
# $scratch/rootfs.tar of it, for `podman import`.
bench_rootfs() {
    rootfs="$scratch/rootfs"
    mkdir -p "$rootfs"/{bin,etc,proc,dev,sys,tmp,root}
    cp /bin/busybox "$rootfs/bin/"
    local applet
    for applet in "$@"; do ln -s busybox "$rootfs/bin/$applet"; done
    printf 'root:x:0:0:root:/root:/bin/sh\n' > "$rootfs/etc/passwd"
    printf 'root:x:0:\n' > "$rootfs/etc/group"
    chmod 1777 "$rootfs/tmp"
    chown -R $BENCH_UID:$BENCH_UID "$rootfs"
    tar -C "$rootfs" -cf "$scratch/rootfs.tar" .
    chmod 644 "$scratch/rootfs.tar"
}

# bench_ns [--tmpfs-run] [--journaled-home] SCRIPT: runs the sh SCRIPT as root in a private mount namespace
# where the fixture /etc is bind-mounted over /etc, in $SCRATCH/out, with `set -e` and
# as_user CMD... (CMD as the fixture user, in a clean environment). SCRIPT sees SCRATCH
# and BENCH_UID, and whatever the caller puts before the call (REF=$ref bench_ns ...).
#
# --tmpfs-run: XDG_RUNTIME_DIR is /run/user/UID on a real login: a tmpfs that
# systemd-logind makes, mode 0700, owned by the user. userns and podman put per-container
# files there (userns: the overlay upper and work dirs), and on the ext4 of /var/tmp
# creating and removing them plus the checks of the overlay work dir cost ~2.4 ms a run,
# on tmpfs ~0. So mount one here (in this private mount namespace, at the same path, so
# that bench_cleanup still finds what carries XDG_RUNTIME_DIR=$SCRATCH/run).
#
# --journaled-home: the user's home (and so both tools' storage) on an ext4 with a
# journal, as a standard Debian or Ubuntu install has, in a file mounted through a loop
# device in this mount namespace (gone with it). This VM's root file system is ext4
# without a journal, where allocating an inode passes over every inode freed in the last
# 5 s, or 305 s while its inode table block is dirty, which the first new inode in the
# block makes it (fs/ext4/ialloc.c, recently_deleted(): it guards against reuse before
# the deletion is on disk, which a journal orders instead). A benchmark that removes an
# image and pulls it again then pays ~150 us per file created, for both tools.
bench_ns() {
    local tmpfs="" journaled=""
    while :; do
        case "$1" in
            --tmpfs-run) tmpfs=1 ;;
            --journaled-home) journaled=1 ;;
            *) break ;;
        esac
        shift
    done
    if [ -n "$journaled" ]; then
        truncate -s 8G "$scratch/home.img"
        mkfs.ext4 -q -F -d "$scratch/home" "$scratch/home.img"
    fi
    SCRATCH=$scratch BENCH_UID=$BENCH_UID TMPFS_RUN=$tmpfs JOURNALED=$journaled unshare --mount --propagation private -- sh -c '
    set -e
    mount --bind "$SCRATCH/etc" /etc
    if [ -n "$JOURNALED" ]; then
        mount -o loop "$SCRATCH/home.img" "$SCRATCH/home"
        chown "$BENCH_UID:$BENCH_UID" "$SCRATCH/home"
        chmod 755 "$SCRATCH/home"
    fi
    if [ -n "$TMPFS_RUN" ]; then
        mount -t tmpfs -o "mode=0700,uid=$BENCH_UID,gid=$BENCH_UID,size=256m" tmpfs "$SCRATCH/run"
    fi
    as_user() { setpriv --reuid="$BENCH_UID" --regid="$BENCH_UID" --clear-groups \
        env -i PATH=/usr/bin:/bin HOME="$SCRATCH/home" USER=ivy XDG_RUNTIME_DIR="$SCRATCH/run" "$@"; }
    cd "$SCRATCH/out"
'"$1"
}

# bench_report [-v VAR=VALUE]... NAME VAR=COMMAND... -- AWK: copies hyperfine's exports
# $scratch/out/NAME.{json,csv} to bench/results/, then runs the awk statements AWK at the
# end of its CSV (columns: command,mean,stddev,median,user,system,min,max, in seconds),
# with each VAR holding the median of the COMMAND so named (hyperfine -n) and each -v
# VAR set to VALUE, to print the medians and ratios.
bench_report() {
    local vars=() medians=""
    while [ "$1" = -v ]; do
        vars+=(-v "$2")
        shift 2
    done
    local name=$1
    shift
    while [ "$1" != -- ]; do
        medians+="\$1 == \"${1#*=}\" { ${1%%=*} = \$4 } "
        shift
    done
    mkdir -p "$repo/bench/results"
    cp "$scratch/out/$name.json" "$scratch/out/$name.csv" "$repo/bench/results/"
    awk -F, "${vars[@]}" "$medians END { $2 }" "$repo/bench/results/$name.csv"
}
