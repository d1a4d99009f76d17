//! The live test: really create a namespace with the helpers and read its maps back.

use super::{Check, Status};
use crate::idmap::IdMap;
use std::process::{Command, Stdio};

/// Run `userns unshare cat /proc/self/uid_map /proc/self/gid_map` and compare with the plan.
pub fn run(plan_uid: Option<&IdMap>, plan_gid: Option<&IdMap>) -> Check {
    let name = "live test";
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            return Check::new(
                name,
                Status::Fail,
                format!("cannot find the userns binary: {e}"),
            )
        }
    };
    let out = Command::new(&exe)
        .args([
            "unshare",
            "--",
            "cat",
            "/proc/self/uid_map",
            "/proc/self/gid_map",
        ])
        .stdin(Stdio::null())
        .output();
    let out = match out {
        Ok(o) => o,
        Err(e) => {
            return Check::new(
                name,
                Status::Fail,
                format!("cannot run {}: {e}", exe.display()),
            )
        }
    };
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let mut lines = err.lines().filter(|l| !l.trim_start().starts_with("fix:"));
        let first = lines
            .next()
            .unwrap_or("(no message)")
            .trim_start_matches("userns: ");
        return Check::new(name, Status::Fail, format!("userns unshare failed: {first}"))
            .with_fix("the checks above name the cause; or run `userns unshare true` to see the whole message");
    }
    let seen = normalize(&String::from_utf8_lossy(&out.stdout));
    let expected = match (plan_uid, plan_gid) {
        (Some(u), Some(g)) => normalize(&(u.to_proc_text() + &g.to_proc_text())),
        _ => {
            return Check::pass(
                name,
                format!("namespace created; maps: {}", seen.replace('\n', "; ")),
            )
        }
    };
    if seen == expected {
        Check::pass(
            name,
            format!(
                "namespace created with the planned maps ({} lines)",
                seen.lines().count()
            ),
        )
    } else {
        Check::new(
            name,
            Status::Fail,
            format!(
                "maps differ from the plan:\n seen: {}\n plan: {}",
                seen.replace('\n', "; "),
                expected.replace('\n', "; ")
            ),
        )
        .with_fix("report this: the helpers wrote something else than asked")
    }
}

fn normalize(text: &str) -> String {
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}
