//! What the man pages say beyond the options: EXIT STATUS, ENVIRONMENT, EXAMPLES and
//! SEE ALSO, one `Page` per command. tests/man_pages.rs renders them after clap's
//! sections and fails when a command (a new one too) has no entry here, names an
//! environment variable `VARIABLES` does not describe, or when a variable the source
//! reads is on no page. It is data only, compiled by that test (the binary has no use for
//! it), so it needs nothing but core Rust.
//!
//! Adding a command: one arm in `page`, keyed by its words after `userns` ("subid show").
//! Text may quote commands and values in `backticks`: the pages print them in bold.

/// A command's extra sections.
pub struct Page {
    /// The exit codes, by the convention the command follows.
    pub exit: Exit,
    /// Environment variables it reads (each described in `VARIABLES`).
    pub reads: &'static [&'static str],
    /// Variables it sets for the program it runs (each described in `VARIABLES`).
    pub sets: &'static [&'static str],
    /// (command line, what it does), at least one.
    pub examples: &'static [(&'static str, &'static str)],
    /// Other pages, as `name(section)`.
    pub see_also: &'static [&'static str],
}

/// The exit codes of a command (src/exit.rs decides them).
pub enum Exit {
    /// Inspection and administration: 0 ok, 1 failure (and the problems named here), 2
    /// usage.
    Inspect { problems: &'static str },
    /// A command that runs the user's program: podman's 125/126/127 convention.
    Program,
}

/// Every environment variable a page names, and what userns does with it.
pub const VARIABLES: &[(&str, &str)] = &[
    ("HOME", "The home directory, for the default paths below (else the passwd entry's). `clean` and `chown -R` refuse it, and the passwd entry's home, as a target."),
    ("SHELL", "The program run when no COMMAND is given (else /bin/sh)."),
    ("PATH", "Where COMMAND is searched for when it has no slash (run: where pasta and slirp4netns are found; the container gets its image's PATH); pull: where registry credential helpers (docker-credential-NAME) are found."),
    ("XDG_RUNTIME_DIR", "Where kept namespaces are registered (XDG_RUNTIME_DIR/userns), where podman's pause process is found (XDG_RUNTIME_DIR/libpod/tmp/pause.pid), and where containers keep their run-time state; also podman's runroot."),
    ("XDG_DATA_HOME", "Where the image cache and kept container layers live (XDG_DATA_HOME/userns, default ~/.local/share/userns), and podman's default graphroot."),
    ("XDG_STATE_HOME", "Where userns records the maps it planned (XDG_STATE_HOME/userns/plans.json, default ~/.local/state/userns), which `migrate` takes as the old map, and where `migrate` keeps its journal."),
    ("XDG_CONFIG_HOME", "Where the user's containers.conf and storage.conf are read (default ~/.config/containers)."),
    ("CONTAINERS_STORAGE_CONF", "The user's storage.conf instead of XDG_CONFIG_HOME/containers/storage.conf, as podman reads it (graphroot and runroot; `rootless_storage_path` may name other variables, expanded as podman does)."),
    ("CONTAINERS_CONF", "The only containers.conf read (seccomp_profile), as podman reads it."),
    ("CONTAINERS_REGISTRIES_CONF", "The only registries.conf read (search registries, aliases, rewrites, mirrors, `insecure`, `blocked`), as podman reads it; else ~/.config/containers/registries.conf, else /etc/containers/registries.conf, with their registries.conf.d."),
    ("REGISTRY_AUTH_FILE", "The auth file read first for registry credentials (as `podman login` writes it), instead of XDG_RUNTIME_DIR/containers/auth.json; `--authfile` overrides it."),
    ("DOCKER_CONFIG", "The directory whose config.json is the last auth file read (default ~/.docker), as podman falls back to it."),
    ("USERNS_CLEAN_WORKERS", "How many threads remove files (1 to 64; default one per core, at most 8)."),
    ("USERNS_UNPACK_MAX_FILE", "The largest file an image may hold, in bytes or with K, M, G, T (default 64G)."),
    ("USERNS_UNPACK_MAX_IMAGE", "The most file data an image may unpack to, in bytes or with K, M, G, T (default 256G)."),
    ("USERNS_UNPACK_SERIAL", "Set to 1: an image is unpacked on one thread: every file is finished (data, owner, mode, attributes, times) by the thread that creates it, and an archive's layers are decompressed and hashed there too, as before userns did those on threads of their own; for comparing the two."),
    ("_CONTAINERS_USERNS_CONFIGURED", "Set to `done`, as `podman unshare` sets it: podman run inside uses the namespace it is in."),
    ("_CONTAINERS_ROOTLESS_UID", "Set to your uid outside, as `podman unshare` sets it."),
    ("_CONTAINERS_ROOTLESS_GID", "Set to your gid outside, as `podman unshare` sets it."),
    ("CONTAINERS_GRAPHROOT", "Set to podman's graphroot (its image and container storage), as `podman unshare` sets it."),
    ("CONTAINERS_RUNROOT", "Set to podman's runroot, as `podman unshare` sets it."),
    ("USERNS_MIGRATE_KILL_AFTER", "For tests of resuming: `migrate` kills itself (SIGKILL) after that many changes, as an interruption would; the next run finishes the job from its journal."),
    ("USERNS_CREDENTIAL_HELPER_TIMEOUT", "Seconds a registry credential helper (`docker-credential-NAME get`, named by `credHelpers` in an auth file or `credential-helpers` in registries.conf) may take before it is killed and the pull fails (default 30)."),
    ("container", "Set to `userns` in the container, as podman sets it to `podman`: systemd and others tell a container by it."),
];

const STORAGE: &[&str] = &[
    "HOME",
    "XDG_RUNTIME_DIR",
    "XDG_DATA_HOME",
    "XDG_CONFIG_HOME",
    "CONTAINERS_STORAGE_CONF",
];
/// What a pull reads: registries.conf, the auth files, certs.d, and the cache.
const PULL: &[&str] = &[
    "HOME",
    "XDG_RUNTIME_DIR",
    "XDG_DATA_HOME",
    "XDG_CONFIG_HOME",
    "CONTAINERS_REGISTRIES_CONF",
    "REGISTRY_AUTH_FILE",
    "DOCKER_CONFIG",
    "USERNS_UNPACK_MAX_FILE",
    "USERNS_UNPACK_MAX_IMAGE",
    "PATH",
    "USERNS_CREDENTIAL_HELPER_TIMEOUT",
    "USERNS_UNPACK_SERIAL",
];
const PODMAN_UNSHARE_ENV: &[&str] = &[
    "_CONTAINERS_USERNS_CONFIGURED",
    "_CONTAINERS_ROOTLESS_UID",
    "_CONTAINERS_ROOTLESS_GID",
    "CONTAINERS_GRAPHROOT",
    "CONTAINERS_RUNROOT",
];

/// The extra sections of the page of `command` (its words after `userns`; "" for
/// userns(1) itself), None for a command that has none yet (the test fails then).
pub fn page(command: &str) -> Option<Page> {
    let inspect = |problems| Exit::Inspect { problems };
    Some(match command {
        "" => Page {
            exit: inspect("a failure, or problems found (each command's page says which)"),
            reads: &[
                "HOME", "SHELL", "PATH", "XDG_RUNTIME_DIR", "XDG_DATA_HOME", "XDG_CONFIG_HOME",
                "CONTAINERS_STORAGE_CONF", "CONTAINERS_CONF", "USERNS_CLEAN_WORKERS",
                "USERNS_UNPACK_MAX_FILE", "USERNS_UNPACK_MAX_IMAGE", "USERNS_MIGRATE_KILL_AFTER", "XDG_STATE_HOME",
                "CONTAINERS_REGISTRIES_CONF", "REGISTRY_AUTH_FILE", "DOCKER_CONFIG",
                "USERNS_CREDENTIAL_HELPER_TIMEOUT", "USERNS_UNPACK_SERIAL",
            ],
            sets: &[],
            examples: &[
                ("userns doctor", "check that rootless namespaces work here, with a fix for each problem"),
                ("userns unshare id", "run `id` as root of a namespace mapped with all your subordinate ids"),
                ("userns run --rm alpine.tar sh", "run a shell in a container from an image archive"),
            ],
            see_also: &["userns-unshare(1)", "userns-run(1)", "userns-doctor(1)", "user_namespaces(7)", "newuidmap(1)", "podman-unshare(1)"],
        },
        "subid" => Page {
            exit: inspect("as each subcommand's page says"),
            reads: &[],
            sets: &[],
            examples: &[("userns subid show", "your ranges"), ("userns subid check", "lint both files")],
            see_also: &["userns-subid-show(1)", "userns-subid-check(1)", "userns-subid-add(1)", "userns-subid-del(1)", "subuid(5)"],
        },
        "subid show" => Page {
            exit: inspect("USER has no range in one of the files, or a file cannot be read"),
            reads: &[],
            sets: &[],
            examples: &[
                ("userns subid show", "your ranges in /etc/subuid and /etc/subgid"),
                ("userns subid show --json alice", "alice's ranges, for a script"),
            ],
            see_also: &["userns-subid-check(1)", "getsubids(1)", "subuid(5)", "subgid(5)"],
        },
        "subid check" => Page {
            exit: inspect("errors found (and warnings, with `--strict`)"),
            reads: &[],
            sets: &[],
            examples: &[
                ("userns subid check", "lint /etc/subuid and /etc/subgid"),
                ("userns subid check --strict --subuid ./subuid --subgid ./subgid", "lint copies, failing on warnings too (a CI check)"),
            ],
            see_also: &["userns-subid-show(1)", "subuid(5)", "subgid(5)", "login.defs(5)"],
        },
        "subid add" => Page {
            exit: inspect("the files cannot be locked, read or written, or the range is taken"),
            reads: &[],
            sets: &[],
            examples: &[
                ("userns subid add alice", "give alice the first free 65536 uids and gids, as useradd does"),
                ("userns subid add alice --range 300000:65536 --uids-only", "give her exactly that range of uids"),
            ],
            see_also: &["userns-subid-del(1)", "usermod(8)", "useradd(8)", "subuid(5)"],
        },
        "subid del" => Page {
            exit: inspect("the files cannot be locked, read or written"),
            reads: &[],
            sets: &[],
            examples: &[
                ("userns subid del alice", "remove every range of alice"),
                ("userns subid del alice 300000:65536", "remove that range only"),
            ],
            see_also: &["userns-subid-add(1)", "usermod(8)", "subuid(5)"],
        },
        "map" => Page {
            exit: inspect("a map has lines that could not be read, or the process cannot be read"),
            reads: &[],
            sets: &[],
            examples: &[
                ("userns map $(pgrep -n catatonit)", "the maps of a podman pause process, each range with its owner"),
                ("userns map --plan", "the maps `userns unshare` would ask for"),
            ],
            see_also: &["userns-translate(1)", "userns-unshare(1)", "user_namespaces(7)"],
        },
        "translate" => Page {
            exit: inspect("an id is not mapped"),
            reads: &[],
            sets: &[],
            examples: &[
                ("userns translate --pid $(pgrep -n catatonit) 0 1000", "the host uids of uid 0 and 1000 in podman's namespace"),
                ("userns translate --pid 1234 --to-ns 200999", "which uid inside host uid 200999 is"),
            ],
            see_also: &["userns-map(1)", "userns-stat(1)", "user_namespaces(7)"],
        },
        "unshare" => Page {
            exit: Exit::Program,
            reads: &["SHELL", "PATH", "HOME", "XDG_RUNTIME_DIR", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CONFIG_HOME", "CONTAINERS_STORAGE_CONF"],
            sets: PODMAN_UNSHARE_ENV,
            examples: &[
                ("userns unshare id", "run `id` as root of a namespace mapped with your own id and all your subordinate ids"),
                ("userns unshare rm -rf ~/.local/share/containers", "remove podman storage owned by subordinate ids"),
                ("userns unshare --map-users 0:100000:1000 --map-groups auto id", "map 1000 uids explicitly and the planned gids"),
                ("userns unshare --name dev --net --mount sh", "keep the namespace as `dev` for `userns enter dev`"),
                ("userns unshare -- --weird-name", "run a program whose name starts with -"),
            ],
            see_also: &["userns-enter(1)", "userns-stop(1)", "userns-map(1)", "unshare(1)", "podman-unshare(1)", "newuidmap(1)", "user_namespaces(7)"],
        },
        "enter" => Page {
            exit: Exit::Program,
            reads: &["SHELL", "PATH", "HOME", "XDG_RUNTIME_DIR", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "CONTAINERS_STORAGE_CONF"],
            sets: PODMAN_UNSHARE_ENV,
            examples: &[
                ("userns enter dev", "a shell in the namespace kept as `dev`"),
                ("userns enter podman ls -ln ~/.local/share/containers/storage", "list podman's storage as podman's namespace sees it"),
                ("userns enter --all 1234 sh", "join every namespace of process 1234"),
            ],
            see_also: &["userns-unshare(1)", "userns-ls(1)", "userns-stop(1)", "nsenter(1)", "podman-unshare(1)"],
        },
        "ls" => Page {
            exit: inspect("nothing but a failed write: namespaces that cannot be read are left out"),
            reads: &["XDG_RUNTIME_DIR"],
            sets: &[],
            examples: &[
                ("userns ls", "your namespaces, their maps and kept names"),
                ("userns ls --tree", "the same as a tree of parents and children"),
                ("userns ls --json", "everything, command lines whole, for a script"),
            ],
            see_also: &["userns-map(1)", "userns-enter(1)", "lsns(8)"],
        },
        "stop" => Page {
            exit: inspect("NAME is neither a container nor a kept namespace, or it could not be ended (2: NAME is both; say which with `--kept` or the container's id)"),
            reads: &["HOME", "XDG_RUNTIME_DIR", "XDG_DATA_HOME"],
            sets: &[],
            examples: &[
                ("userns stop web", "stop the container `web`: SIGTERM (or its image's StopSignal), SIGKILL after 10 seconds"),
                ("userns stop -t 1 web", "the same, SIGKILL after one second"),
                ("userns stop dev", "end the namespace kept as `dev`"),
                ("userns stop --all", "end every namespace you keep"),
            ],
            see_also: &["userns-run(1)", "userns-kill(1)", "userns-unshare(1)", "userns-ls(1)", "podman-stop(1)"],
        },
        "clean" => Page {
            exit: inspect("something could not be removed (each named on stderr), or a PATH was refused"),
            reads: &["USERNS_CLEAN_WORKERS", "HOME", "XDG_RUNTIME_DIR", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "CONTAINERS_STORAGE_CONF"],
            sets: &[],
            examples: &[
                ("userns clean -n", "what removing your podman storage would remove, by owner"),
                ("userns clean --yes", "remove it without asking"),
                ("userns clean ./rootfs", "remove a tree that podman or a container left owned by subordinate ids"),
            ],
            see_also: &["userns-chown(1)", "podman-system-reset(1)", "podman-unshare(1)"],
        },
        "chown" => Page {
            exit: inspect("something could not be changed, or a PATH was refused"),
            reads: &["HOME"],
            sets: &[],
            examples: &[
                ("userns chown -R 1000:1000 ./data", "give ./data to uid 1000 of your containers"),
                ("userns chown --from-host 200999 ./file", "give ./file to host uid 200999 (one of your subordinate ids)"),
            ],
            see_also: &["chown(1)", "userns-stat(1)", "podman-unshare(1)"],
        },
        "stat" => Page {
            exit: inspect("a PATH cannot be read"),
            reads: &[],
            sets: &[],
            examples: &[("userns stat ~/.local/share/containers/storage/overlay/*/diff/etc/shadow", "who owns a container's file, as the host and your namespace see it")],
            see_also: &["stat(1)", "userns-translate(1)", "userns-chown(1)"],
        },
        "doctor" => Page {
            exit: inspect("a check failed"),
            reads: STORAGE,
            sets: &[],
            examples: &[
                ("userns doctor", "check this machine for you"),
                ("sudo userns doctor", "check the machine: the files and every user with ranges"),
                ("userns doctor --user alice --no-live --json", "check for alice without creating a namespace"),
            ],
            see_also: &["userns-subid-check(1)", "userns-map(1)", "subuid(5)", "newuidmap(1)"],
        },
        "run" => Page {
            exit: Exit::Program,
            reads: &[
                "PATH", "HOME", "XDG_RUNTIME_DIR", "XDG_DATA_HOME", "XDG_CONFIG_HOME",
                "CONTAINERS_CONF", "USERNS_UNPACK_MAX_FILE", "USERNS_UNPACK_MAX_IMAGE",
                "CONTAINERS_REGISTRIES_CONF", "REGISTRY_AUTH_FILE", "DOCKER_CONFIG",
                "USERNS_CREDENTIAL_HELPER_TIMEOUT", "USERNS_UNPACK_SERIAL",
            ],
            sets: &["container"],
            examples: &[
                ("userns run ./rootfs id", "run `id` in a container of a root filesystem directory"),
                ("podman save -o alpine.tar alpine && userns run -it alpine.tar sh", "run a shell in a container of an image archive"),
                ("userns run --net pasta -v $PWD:/src:ro alpine.tar ls /src", "with a network and a read-only volume"),
                ("userns run --entrypoint '[\"/bin/sh\", \"-c\"]' alpine.tar 'echo $HOSTNAME'", "replace the image's Entrypoint (its Cmd is then not used), as podman does"),
                ("userns run docker.io/library/alpine:3.20 cat /etc/os-release", "pull an image from a registry (unless cached) and run it"),
            ],
            see_also: &["userns-images(1)", "userns-unshare(1)", "podman-run(1)", "pasta(1)", "slirp4netns(1)"],
        },
        "images" => Page {
            exit: inspect("the cache cannot be read"),
            reads: &["HOME", "XDG_DATA_HOME"],
            sets: &[],
            examples: &[("userns images", "the images unpacked in your cache"), ("userns images --json", "the same for a script")],
            see_also: &["userns-run(1)", "podman-images(1)"],
        },
        "completions" => Page {
            exit: inspect("nothing but a failed write"),
            reads: &[],
            sets: &[],
            examples: &[
                ("userns completions bash > ~/.local/share/bash-completion/completions/userns", "bash completion for you"),
                ("userns completions zsh > ~/.zfunc/_userns", "zsh completion (with ~/.zfunc in fpath)"),
            ],
            see_also: &["userns(1)"],
        },
        "image" => Page {
            exit: inspect("as each subcommand's page says"),
            reads: &[],
            sets: &[],
            examples: &[
                ("userns image check alpine.tar", "which files of an image your map cannot own, before unpacking it"),
                ("userns image pull docker.io/library/alpine", "pull an image (as `userns pull`)"),
            ],
            see_also: &["userns-image-check(1)", "userns-image-ls(1)", "userns-image-pull(1)", "userns-image-rm(1)", "podman-image(1)"],
        },
        "image check" => Page {
            exit: inspect("some of the image's uids or gids do not fit the map, or a layer cannot be read"),
            // A reference is downloaded and scanned as `pull` does (nothing is unpacked).
            reads: &[
                "HOME", "XDG_RUNTIME_DIR", "XDG_DATA_HOME", "XDG_CONFIG_HOME",
                "CONTAINERS_REGISTRIES_CONF", "REGISTRY_AUTH_FILE", "DOCKER_CONFIG", "PATH",
                "USERNS_CREDENTIAL_HELPER_TIMEOUT", "USERNS_UNPACK_MAX_FILE",
            ],
            sets: &[],
            examples: &[
                ("userns image check alpine.tar", "the ids of an image archive your namespace cannot hold, with the paths that carry them and the usermod fix"),
                ("userns image check --json --userns private oci-dir", "the same for an OCI layout and a private namespace's map, for a script"),
            ],
            see_also: &["userns-run(1)", "userns-subid-add(1)", "usermod(8)", "podman-load(1)"],
        },
        "pull" | "image pull" => Page {
            exit: inspect("the image could not be pulled (not found, refused credentials or TLS, a digest that does not match, a broken download) or its owners do not fit your map"),
            reads: PULL,
            sets: &[],
            examples: &[
                ("userns pull docker.io/library/alpine:3.20", "pull an image by tag; the image id is printed"),
                ("userns pull alpine", "a short name, resolved through registries.conf aliases and search registries"),
                ("podman login --tls-verify=false localhost:5000 && userns pull --tls-verify=false localhost:5000/app@sha256:...", "by digest from a test registry, with the credentials podman login stored"),
                ("userns pull --platform linux/arm64 docker.io/library/alpine", "another platform's image from a multi-platform index"),
            ],
            see_also: &["userns-images(1)", "userns-rmi(1)", "userns-run(1)", "podman-pull(1)", "containers-registries.conf(5)", "containers-auth.json(5)", "containers-certs.d(5)"],
        },
        "rmi" | "image rm" => Page {
            exit: inspect("an image is not known, or is used by a running container or a kept layer (without -f)"),
            reads: &["HOME", "XDG_RUNTIME_DIR", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "CONTAINERS_REGISTRIES_CONF"],
            sets: &[],
            examples: &[
                ("userns rmi docker.io/library/alpine:3.20", "untag it, and remove the image when no other name is left"),
                ("userns image rm -f 0123456789ab", "remove an image by id, even when a kept layer uses it"),
            ],
            see_also: &["userns-images(1)", "userns-pull(1)", "podman-rmi(1)"],
        },
        "image ls" => Page {
            exit: inspect("the cache cannot be read"),
            reads: &["HOME", "XDG_DATA_HOME"],
            sets: &[],
            examples: &[("userns image ls", "the images of your cache with their names"), ("userns image ls --json", "the same for a script")],
            see_also: &["userns-images(1)", "podman-image-ls(1)"],
        },
        "ps" => Page {
            exit: inspect("the container records cannot be read"),
            reads: &["HOME", "XDG_DATA_HOME"],
            sets: &[],
            examples: &[
                ("userns ps", "your running containers"),
                ("userns ps -a --json", "all of them, ended ones too, for a script"),
                ("userns rm $(userns ps -aq)", "remove every container that has ended"),
            ],
            see_also: &["userns-run(1)", "userns-rm(1)", "podman-ps(1)"],
        },
        "logs" => Page {
            exit: inspect("no such container, or its log cannot be read"),
            reads: &["HOME", "XDG_DATA_HOME"],
            sets: &[],
            examples: &[
                ("userns logs web", "what the container `web` wrote, stdout to stdout and stderr to stderr"),
                ("userns logs -f --tail 10 web", "its last 10 lines, then follow until it ends"),
            ],
            see_also: &["userns-run(1)", "podman-logs(1)"],
        },
        "kill" => Page {
            exit: inspect("no such container, it is not running, or the signal cannot be sent (2: an unknown signal)"),
            reads: &["HOME", "XDG_DATA_HOME"],
            sets: &[],
            examples: &[("userns kill web", "SIGKILL the container's pid 1"), ("userns kill -s HUP web", "send it SIGHUP")],
            see_also: &["userns-stop(1)", "podman-kill(1)", "signal(7)"],
        },
        "rm" => Page {
            exit: inspect("a container is running (without -f), or cannot be found or removed"),
            reads: &["HOME", "XDG_RUNTIME_DIR", "XDG_DATA_HOME"],
            sets: &[],
            examples: &[("userns rm web", "remove the ended container `web`"), ("userns rm -f web", "kill it first if it runs")],
            see_also: &["userns-ps(1)", "userns-stop(1)", "podman-rm(1)"],
        },
        "wait" => Page {
            exit: inspect("no such container, or its end was not recorded (its monitor was killed)"),
            reads: &["HOME", "XDG_DATA_HOME"],
            sets: &[],
            examples: &[("userns wait web", "wait for `web` to end and print its exit code")],
            see_also: &["userns-run(1)", "podman-wait(1)"],
        },
        "exec" => Page {
            exit: Exit::Program,
            reads: &["HOME", "XDG_DATA_HOME"],
            sets: &[],
            examples: &[
                ("userns exec web cat /proc/1/cmdline", "run a command in every namespace of the running container `web`, as its user"),
                ("userns exec -it -u 0 web sh", "a root shell on a terminal in it"),
            ],
            see_also: &["userns-run(1)", "userns-enter(1)", "podman-exec(1)", "setns(2)"],
        },
        "whose" => Page {
            exit: inspect("a PATH cannot be read"),
            reads: &["HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "CONTAINERS_STORAGE_CONF", "USERNS_CLEAN_WORKERS"],
            sets: &[],
            examples: &[
                ("userns whose ~/.local/share/containers/storage/overlay/*/diff/etc/shadow", "who owns each file, by which subordinate range, as which id inside, from which podman image"),
                ("userns whose -R ~/.local/share/containers", "files and bytes per owner of a whole tree"),
            ],
            see_also: &["userns-stat(1)", "userns-migrate(1)", "userns-subid-show(1)", "subuid(5)"],
        },
        "migrate" => Page {
            exit: inspect("some ids cannot be moved (the fix says which range to add), or a tree cannot be changed"),
            reads: &["HOME", "XDG_RUNTIME_DIR", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CONFIG_HOME", "CONTAINERS_STORAGE_CONF", "USERNS_CLEAN_WORKERS", "USERNS_MIGRATE_KILL_AFTER"],
            sets: &[],
            examples: &[
                ("userns migrate -n", "what moving podman's and userns's storage to your current ranges would change"),
                ("userns migrate --yes", "move it: each file keeps its owner, group, setuid bits, ACLs and capabilities as seen inside"),
                ("userns migrate --from-subuid /etc/subuid.old --from-subgid /etc/subgid.old ~/volumes", "move a tree from the ranges of old copies of the files"),
                ("userns migrate --as alice --yes", "as root, when alice's old ranges are already gone"),
            ],
            see_also: &["userns-whose(1)", "userns-chown(1)", "userns-clean(1)", "podman-system-migrate(1)", "usermod(8)"],
        },
        _ => return None,
    })
}
