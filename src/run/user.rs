//! The container's user: `-u UID[:GID]` or names, looked up in the container's own
//! /etc/passwd and /etc/group (never the host's, whose ids mean nothing inside), as
//! runc's `user.GetExecUser` does.

use crate::error::{Error, Result};
use crate::users::passwd;

/// Who the program runs as inside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ExecUser {
    pub uid: u32,
    pub gid: u32,
    /// From passwd when the user has an entry; podman uses "/" otherwise.
    pub home: String,
}

fn group_gid(text: &str, name: &str) -> Option<u32> {
    text.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        (f.len() >= 3 && f[0] == name).then(|| f[2].parse().ok())?
    })
}

/// Resolve `spec` (`USER[:GROUP]`, each a name or a number; empty means root) with the
/// container's passwd and group texts (empty when the files are missing).
pub(crate) fn resolve(spec: &str, passwd: &str, group: &str) -> Result<ExecUser> {
    let (user, group_spec) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let user = if user.is_empty() { "0" } else { user };
    let (uid, mut gid, home) = match (passwd::lookup(passwd, user), user.parse::<u32>()) {
        (Some(entry), _) => (entry.uid, entry.gid, entry.home.to_string()),
        // A numeric uid without an entry runs with gid 0 and HOME=/ (podman, runc).
        (None, Ok(uid)) => (uid, 0, "/".to_string()),
        (None, Err(_)) => {
            return Err(
                Error::failure(format!("no user {user:?} in the container's /etc/passwd"))
                    .fix("give a numeric uid (-u 1000:1000), or add the user to the image"),
            )
        }
    };
    if let Some(g) = group_spec.filter(|g| !g.is_empty()) {
        gid = match (group_gid(group, g), g.parse::<u32>()) {
            (Some(gid), _) | (None, Ok(gid)) => gid,
            (None, Err(_)) => {
                return Err(
                    Error::failure(format!("no group {g:?} in the container's /etc/group"))
                        .fix("give a numeric gid (-u USER:1000), or add the group to the image"),
                )
            }
        };
    }
    let home = if home.is_empty() { "/".into() } else { home };
    Ok(ExecUser { uid, gid, home })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
                          broken line\n\
                          app:x:1000:1001:App:/home/app:/bin/sh\n\
                          1234:x:5:5::/numeric:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nstaff:x:50:\n";

    #[test]
    fn names_and_numbers_resolve_through_the_container_files() {
        let r = |s: &str| resolve(s, PASSWD, GROUP).unwrap();
        assert_eq!(
            r(""),
            ExecUser {
                uid: 0,
                gid: 0,
                home: "/root".into()
            }
        );
        assert_eq!((r("app").uid, r("app").gid), (1000, 1001));
        assert_eq!(r("app").home, "/home/app");
        assert_eq!((r("1000").uid, r("1000").gid), (1000, 1001));
        assert_eq!((r("1000:1000").uid, r("1000:1000").gid), (1000, 1000));
        assert_eq!(r("app:staff").gid, 50);
        // A name that looks like a number is a name first, as shadow matches.
        assert_eq!(r("1234").uid, 5);
        let unknown = r("4242");
        assert_eq!(
            (unknown.uid, unknown.gid, unknown.home.as_str()),
            (4242, 0, "/")
        );
        assert!(resolve("nobody", PASSWD, GROUP).is_err());
        assert!(resolve("app:nogroup", PASSWD, GROUP).is_err());
        assert_eq!(resolve("7:8", "", "").unwrap().gid, 8);
    }
}
