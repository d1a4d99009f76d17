//! `userns run`: a thin layer over `userns::run`, and over `userns::container` for the
//! containers that keep a record (`-d`, `--name`).

use crate::cli::args::RunArgs;
use userns::container::{LaunchSpec, Launched};
use userns::error::Result;
use userns::run::{NetMode, RunSpec};

pub fn run(args: RunArgs) -> Result<u8> {
    super::pull::quiet_if(&args.registry);
    let launch = LaunchSpec {
        name: args.name.clone(),
        detach: args.detach,
        remove: args.rm,
        restart: args.restart,
        log_size_max: userns::container::log::parse_size_max(&args.log_size_max)?,
    };
    let spec = spec(args);
    if !userns::container::wants_record(&launch) {
        return userns::run::run(&spec);
    }
    match userns::container::launch(&spec, &launch)? {
        Launched::Detached(id) => {
            crate::cli::render::out::println(id)?;
            Ok(userns::exit::OK)
        }
        Launched::Exited(code) => Ok(code),
    }
}
/// The container the options ask for (`--rm` is the default, so it changes nothing).
fn spec(args: RunArgs) -> RunSpec {
    RunSpec {
        init: args.init,
        hostname: args.hostname,
        // podman's rule: -p without --network means pasta.
        net: match args.net {
            Some(net) => net.into(),
            None if !args.publish.is_empty() => NetMode::Pasta,
            None => NetMode::None,
        },
        userns: args.userns,
        rootfs_rw: args.rootfs_rw,
        read_only: args.read_only,
        volumes: args.volumes,
        env: args.env,
        env_file: args.env_file,
        workdir: args.workdir,
        user: args.user,
        security_opt: args.security_opt,
        interactive: args.interactive,
        tty: args.tty,
        preserve_fds: args.preserve_fds,
        keep: args.keep,
        source: args.source,
        command: args.command,
        entrypoint: args.entrypoint,
        pull: super::pull::spec(String::new(), &args.registry),
        quiet: args.registry.quiet,
        publish: args.publish,
    }
}
