//! `userns run`: a thin layer over `userns::run`.

use crate::cli::args::RunArgs;
use userns::error::Result;
use userns::run::RunSpec;

pub fn run(args: RunArgs) -> Result<u8> {
    userns::run::run(&spec(args))
}

/// The container the options ask for (`--rm` is the default, so it changes nothing).
fn spec(args: RunArgs) -> RunSpec {
    RunSpec {
        init: args.init,
        hostname: args.hostname,
        net: args.net.into(),
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
    }
}
