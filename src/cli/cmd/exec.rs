//! `userns exec CONTAINER COMMAND...`: a thin layer over `userns::container::exec`.

use crate::cli::args::ExecArgs;
use std::ffi::OsString;
use userns::container::exec::{ExecOptions, ExecTarget};
use userns::error::{Error, Result};

pub fn run(args: ExecArgs, words: &[OsString]) -> Result<u8> {
    super::check_command_words(&args.command, words)?;
    let target = target(&args.container)?;
    let options = ExecOptions {
        interactive: args.interactive,
        tty: args.tty,
        user: args.user,
        env: args.env,
        env_file: args.env_file,
        workdir: args.workdir,
        command: args.command,
    };
    userns::container::exec::exec(&target, &options)
}

/// TEMPORARY until the container store lands: `pid:N` names a container by its pid 1.
fn target(container: &str) -> Result<ExecTarget> {
    let Some(pid) = container.strip_prefix("pid:").and_then(|p| p.parse().ok()) else {
        return Err(Error::failure(format!("no container {container:?}")));
    };
    Ok(ExecTarget {
        shown: format!("container {container}"),
        pid,
        start_time: std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| {
                s[s.rfind(')')? + 1..]
                    .split_whitespace()
                    .nth(19)?
                    .parse()
                    .ok()
            })
            .unwrap_or(0),
        namespaces: ["pid", "net", "uts", "ipc", "cgroup"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        env: vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()],
        workdir: "/".into(),
        capabilities: vec![0, 1, 3, 4, 5, 10, 31, 6, 8, 7, 18],
        no_new_privs: true,
        ..ExecTarget::default()
    })
}
