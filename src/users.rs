//! The passwd database, through NSS (so LDAP/SSSD users resolve like `id` resolves them),
//! and passwd files read as text (`passwd`).

pub mod passwd;

use crate::error::{Error, Result};
use serde::Serialize;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// A user as the subid files and the helpers see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Account {
    /// None when the uid has no passwd entry (then only numeric subid lines can match).
    pub name: Option<String>,
    pub uid: u32,
    /// Primary gid: the id a subgid range must not contain.
    pub gid: u32,
    pub home: Option<PathBuf>,
}

impl Account {
    /// The invoking user (real uid), as newuidmap identifies its caller.
    ///
    /// Root inside a user namespace (`userns unshare`, `podman unshare`) is the user
    /// outside: its home is $HOME, which it kept, not passwd's home of uid 0 (the host's
    /// /root, closed to it), as podman inside `podman unshare` keeps using the user's
    /// storage (containers/storage homedir.Get reads $HOME first).
    pub fn current() -> Account {
        let uid = nix::unistd::getuid().as_raw();
        let mut account = Self::by_uid(uid).unwrap_or(Account {
            name: None,
            uid,
            gid: nix::unistd::getgid().as_raw(),
            home: std::env::var_os("HOME").map(PathBuf::from),
        });
        if uid == 0 && !crate::sys::ns::in_initial_user_namespace() {
            if let Some(home) = std::env::var_os("HOME")
                .map(PathBuf::from)
                .filter(|h| h.is_absolute())
            {
                account.home = Some(home);
            }
        }
        account
    }

    /// The invoking user's uid, gid and $HOME without a passwd lookup, where nothing
    /// else is needed (podman's environment and storage paths): NSS is the costliest
    /// step of `userns enter`. Its `name` is None, so it cannot match subid lines by
    /// name: use `current` for anything that plans a map.
    pub fn current_ids_and_home() -> Option<Account> {
        let home = std::env::var_os("HOME").filter(|h| !h.is_empty())?;
        Some(Account {
            name: None,
            uid: nix::unistd::getuid().as_raw(),
            gid: nix::unistd::getgid().as_raw(),
            home: Some(PathBuf::from(home)),
        })
    }

    /// The fixture user of the unit tests: ivy, uid and gid 2000, no home.
    #[cfg(test)]
    pub(crate) fn ivy() -> Account {
        Account {
            name: Some("ivy".into()),
            uid: 2000,
            gid: 2000,
            home: None,
        }
    }

    pub fn by_uid(uid: u32) -> Option<Account> {
        uzers::get_user_by_uid(uid).map(|u| from_user(&u))
    }

    pub(crate) fn by_name(name: &str) -> Option<Account> {
        uzers::get_user_by_name(name).map(|u| from_user(&u))
    }

    /// Resolve USER as given on a command line: a name first (as shadow does), then a
    /// numeric uid, which need not exist in passwd (numeric subid lines still match it).
    pub fn resolve(spec: &str) -> Result<Account> {
        if let Some(a) = Self::by_name(spec) {
            return Ok(a);
        }
        if let Ok(uid) = spec.parse::<u32>() {
            return Ok(Self::by_uid(uid).unwrap_or(Account {
                name: None,
                uid,
                gid: uid,
                home: None,
            }));
        }
        Err(Error::failure(format!("no such user: {spec}"))
            .because("the passwd database (getent passwd) has no entry of that name")
            .fix("check the spelling, or give a numeric uid"))
    }

    /// The user's name, or the uid as text when there is none.
    pub fn display_name(&self) -> String {
        self.name.clone().unwrap_or_else(|| self.uid.to_string())
    }

    /// The id a subid range of `kind` must not contain.
    pub fn own_id(&self, kind: crate::ids::IdKind) -> u32 {
        match kind {
            crate::ids::IdKind::Uid => self.uid,
            crate::ids::IdKind::Gid => self.gid,
        }
    }
}

impl From<passwd::PasswdEntry<'_>> for Account {
    fn from(e: passwd::PasswdEntry<'_>) -> Account {
        Account {
            name: Some(e.name.to_string()),
            uid: e.uid,
            gid: e.gid,
            home: Some(PathBuf::from(e.home)),
        }
    }
}

fn from_user(u: &uzers::User) -> Account {
    use uzers::os::unix::UserExt;
    Account {
        name: Some(String::from_utf8_lossy(u.name().as_bytes()).into_owned()),
        uid: u.uid(),
        gid: u.primary_group_id(),
        home: Some(PathBuf::from(OsStr::new(u.home_dir()))),
    }
}

/// The passwd database for many lookups, as `subid check` makes one per distinct owner.
///
/// The first `DIRECT_LOOKUPS` go to NSS one by one (getpwnam, getpwuid): cheapest for a
/// handful. Past that, the database is enumerated once (getpwent, as `getent passwd`)
/// and answered from memory: each getpwnam through the files source scans /etc/passwd,
/// so one per owner is quadratic on a site whose passwd and subuid both list every user.
/// A name the enumeration lacks is still asked of NSS, unless every passwd source in
/// nsswitch.conf enumerates what it knows (`files`, `compat`, `systemd`): sssd enumerates
/// nothing by default (`enumerate = false`), nor winbind (`winbind enum users = no`).
/// Such a lookup scans /etc/passwd again before asking the module, which is why the
/// `systemd` of Debian's default `passwd: files systemd` counts as enumerating: its
/// getpwent lists homed, dynamic and drop-in users. It leaves out the users of machined's
/// containers (vu-NAME-UID), which no subuid line names in practice, and root and nobody
/// when it synthesizes them (systemd 246+ does not when iterating): those two are
/// always asked of NSS when missing.
#[derive(Default)]
pub(crate) struct PasswdIndex {
    lookups: std::cell::Cell<usize>,
    table: std::cell::OnceCell<PasswdTable>,
}

#[derive(Default)]
struct PasswdTable {
    accounts: Vec<Account>,
    /// Indices into `accounts`.
    by_name: std::collections::HashMap<String, usize>,
    by_uid: std::collections::HashMap<u32, usize>,
    complete: bool,
}

/// The uid nss-systemd gives its synthesized nobody.
const NOBODY: u32 = 65534;

/// Lookups made of NSS one by one before the database is enumerated.
const DIRECT_LOOKUPS: usize = 16;

impl PasswdIndex {
    pub(crate) fn by_name(&self, name: &str) -> Option<Account> {
        match self.table() {
            Some(t) => match t.by_name.get(name) {
                Some(&i) => Some(t.accounts[i].clone()),
                None if t.complete && !matches!(name, "root" | "nobody") => None,
                None => Account::by_name(name),
            },
            None => Account::by_name(name),
        }
    }

    pub(crate) fn by_uid(&self, uid: u32) -> Option<Account> {
        match self.table() {
            Some(t) => match t.by_uid.get(&uid) {
                Some(&i) => Some(t.accounts[i].clone()),
                None if t.complete && uid != 0 && uid != NOBODY => None,
                None => Account::by_uid(uid),
            },
            None => Account::by_uid(uid),
        }
    }

    /// The enumerated table, once enough lookups were made to be worth it.
    fn table(&self) -> Option<&PasswdTable> {
        let n = self.lookups.get() + 1;
        self.lookups.set(n);
        if n <= DIRECT_LOOKUPS {
            return None;
        }
        Some(self.table.get_or_init(|| {
            let nsswitch = std::fs::read_to_string("/etc/nsswitch.conf").unwrap_or_default();
            let mut table = PasswdTable {
                complete: enumeration_is_complete(&nsswitch),
                ..Default::default()
            };
            // SAFETY: getpwent's iteration state is process-wide; nothing else in this
            // single-threaded command enumerates passwd while the iterator lives.
            for user in unsafe { uzers::all_users() } {
                let account = from_user(&user);
                let i = table.accounts.len();
                // getpwnam and getpwuid return the first match; so does the table.
                table.by_uid.entry(account.uid).or_insert(i);
                if let Some(name) = &account.name {
                    table.by_name.entry(name.clone()).or_insert(i);
                }
                table.accounts.push(account);
            }
            table
        }))
    }
}

/// Whether enumerating passwd lists every user a lookup would find: true when each
/// source on the `passwd:` line of nsswitch.conf is `files`, `compat` or `systemd`
/// (glibc uses `files` when there is no such line).
pub(crate) fn enumeration_is_complete(nsswitch: &str) -> bool {
    let line = nsswitch.lines().find_map(|l| {
        let l = l.split('#').next().unwrap_or("");
        l.trim_start().strip_prefix("passwd:")
    });
    let Some(line) = line else {
        return true;
    };
    let mut in_action = false;
    for word in line.split_whitespace() {
        // `[NOTFOUND=return]` and the like are actions, not sources.
        if word.starts_with('[') {
            in_action = true;
        }
        if in_action {
            in_action = !word.ends_with(']');
            continue;
        }
        if !matches!(word, "files" | "compat" | "systemd") {
            return false;
        }
    }
    true
}

/// A per-user base directory of the XDG Base Directory specification, with `userns`
/// under it: $VAR/userns when VAR is set and absolute (a relative one is ignored, as the
/// specification says), else HOME (or the passwd entry's home) joined with `under_home`
/// (e.g. ".local/share/userns"). None without any home.
pub(crate) fn xdg_dir(
    account: &Account,
    var: &str,
    under_home: &str,
) -> Option<std::path::PathBuf> {
    use std::path::PathBuf;
    if let Some(d) = std::env::var_os(var)
        .map(PathBuf::from)
        .filter(|d| d.is_absolute())
    {
        return Some(d.join("userns"));
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .or_else(|| account.home.clone())?;
    Some(home.join(under_home))
}

#[cfg(test)]
mod tests {
    use super::{enumeration_is_complete, Account, PasswdIndex, DIRECT_LOOKUPS};

    #[test]
    fn the_index_answers_as_nss_before_and_after_enumerating() {
        let index = PasswdIndex::default();
        for _ in 0..DIRECT_LOOKUPS + 2 {
            assert_eq!(index.by_name("root"), Account::by_name("root"));
            assert_eq!(index.by_uid(0), Account::by_uid(0));
            assert_eq!(index.by_name("no-such-user-of-userns"), None);
        }
        assert!(index.table.get().is_some(), "enumerated past the threshold");
    }

    #[test]
    fn files_compat_and_systemd_enumerate_completely() {
        assert!(enumeration_is_complete(
            "passwd: files\ngroup: files systemd\n"
        ));
        assert!(enumeration_is_complete("# none here\n"));
        assert!(enumeration_is_complete(
            "passwd: compat [NOTFOUND=return] files # x\n"
        ));
        assert!(enumeration_is_complete("passwd:         files systemd\n"));
        assert!(!enumeration_is_complete("passwd: files sss\n"));
        assert!(!enumeration_is_complete(
            "passwd: files [ NOTFOUND=return ] ldap\n"
        ));
    }
}
