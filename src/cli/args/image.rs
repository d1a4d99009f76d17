//! Images: `images`, `pull`, `rmi` and the `image` verbs, and how to reach a registry.

use super::*;

#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Print JSON instead of a table
    #[arg(long)]
    pub json: bool,
}
/// How to reach a registry: podman's options of `pull`, and of `run` for a SOURCE to pull.
#[derive(Debug, Clone, Args, Default)]
pub struct RegistryArgs {
    /// Credentials for the registry, instead of those `podman login` stored
    #[arg(long, value_name = "USER[:PASSWORD]")]
    pub creds: Option<String>,
    /// Read credentials from FILE alone (default: $REGISTRY_AUTH_FILE; when neither is
    /// given, $XDG_RUNTIME_DIR/containers/auth.json, where `podman login` writes, then
    /// ~/.config/containers/auth.json, ~/.docker/config.json and ~/.dockercfg)
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub authfile: Option<PathBuf>,
    /// Require HTTPS with a verified certificate (true), or allow plain HTTP and any
    /// certificate (false). Default: as registries.conf says (`insecure = true` allows)
    #[arg(
        long,
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true"
    )]
    pub tls_verify: Option<bool>,
    /// From a multi-platform image, pull the one for OS/ARCH[/VARIANT] (default: this
    /// machine's, e.g. linux/amd64)
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<String>,
    /// Print no progress: neither the bar (shown only on a terminal anyway) nor the steps
    /// ("unpacking ...", "trying to pull ...")
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct PullArgs {
    /// The image: [REGISTRY[:PORT]/]NAME[:TAG][@sha256:DIGEST]; a short NAME is resolved
    /// through registries.conf ([aliases], then unqualified-search-registries)
    #[arg(value_name = "REFERENCE")]
    pub reference: String,
    #[command(flatten)]
    pub registry: Box<RegistryArgs>,
}

#[derive(Debug, Args)]
pub struct RmiArgs {
    /// Remove the image even when a running container or a kept layer (run --keep) uses it
    #[arg(short, long)]
    pub force: bool,
    /// Names (REPOSITORY[:TAG]) or ids. A name whose image has other names is only
    /// untagged; the last name, or the id, removes the image
    #[arg(value_name = "IMAGE", required = true)]
    pub images: Vec<String>,
}
/// `userns image VERB`, as podman's `image` verbs.
#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// List the images of your image cache, with their names (same as `userns images`)
    #[command(visible_alias = "list")]
    Ls(ImagesArgs),
    /// Pull an image from a registry (same as `userns pull`)
    Pull(PullArgs),
    /// Remove images (same as `userns rmi`)
    #[command(visible_alias = "remove")]
    Rm(RmiArgs),
    /// Check that your user namespace can map every owner of an image's files; exit 1 if not
    ///
    /// Reads only the layers' tar headers (a plain layer's file data is sought over, a
    /// compressed one's decompressed and dropped), and lists every uid and gid the map
    /// cannot hold, with the paths that carry them, the highest id needed, and the
    /// `usermod --add-subuids` / `--add-subgids` (a range free in /etc/subuid and
    /// /etc/subgid) that would make them fit. `userns run` makes the same check before it
    /// unpacks an image, and refuses one that does not fit.
    Check(ImageCheckArgs),
}

#[derive(Debug, Args)]
pub struct ImageCheckArgs {
    /// Print one JSON object instead of a table
    #[arg(long)]
    pub json: bool,
    /// Check against this map of user ids instead of run's (repeatable), as `userns
    /// unshare --map-users` takes it; checked against your subuid ranges
    #[arg(long = "map-users", value_name = "INNER:OUTER:COUNT")]
    pub map_users: Vec<String>,
    /// Check against this map of group ids instead of run's (repeatable), as `userns
    /// unshare --map-groups` takes it; checked against your subgid ranges
    #[arg(long = "map-groups", value_name = "INNER:OUTER:COUNT")]
    pub map_groups: Vec<String>,
    /// The user namespace `userns run --userns MODE` would use, whose map is checked
    /// against: shared (the default: the kept namespace `containers`'s map when it runs,
    /// else all your subordinate ids), shared:NAME, or private
    #[arg(
        long,
        value_name = "MODE",
        default_value = "shared",
        value_parser = UsernsMode::parse
    )]
    pub userns: UsernsMode,
    /// An image archive (docker-archive or OCI, as `podman save` writes them), an OCI
    /// layout, or an image reference (as `userns pull` takes it): its layers are
    /// downloaded and verified, checked, and not kept
    #[arg(value_name = "SOURCE", value_hint = ValueHint::AnyPath)]
    pub source: PathBuf,
    /// For a SOURCE that is an image reference: how to reach its registry
    #[command(flatten)]
    pub registry: Box<RegistryArgs>,
}
