//! `userns subid add` and `userns subid del` (root): a thin layer over `subid::alloc`
//! (what to change) and `subid::write` (how to change it safely beside shadow's tools).
//!
//! `add` decides as useradd and usermod do: a user who already has a usable range gets
//! nothing more unless `--count` or `--range` asks for another (usermod --add-subuids);
//! otherwise the first free range of SUB_UID_COUNT ids between SUB_UID_MIN and
//! SUB_UID_MAX. Every change is computed for both files before either is written, so a
//! refusal leaves both untouched.

use crate::cli::args::{SubidAddArgs, SubidDelArgs, SubidWriteOptions};
use std::path::{Path, PathBuf};
use std::time::Duration;
use userns::error::{Error, Result};
use userns::exit;
use userns::ids::IdKind;
use userns::subid::alloc::{self, AllocError, Conflict, Explicit, LineEdit, Pool};
use userns::subid::login_defs::LoginDefs;
use userns::subid::write::{self, LinkLock, PasswdLock};
use userns::subid::{lookup, nss, SubIdFile, SubIdRange};
use userns::users::{passwd, Account};

/// The tree being administered: `/` or `--root DIR`.
struct Tree {
    root: Option<PathBuf>,
}

impl Tree {
    fn etc(&self, name: &str) -> PathBuf {
        match &self.root {
            Some(dir) => dir.join("etc").join(name),
            None => Path::new("/etc").join(name),
        }
    }

    fn subid(&self, kind: IdKind) -> PathBuf {
        self.etc(kind.subid_name())
    }

    /// USER in this tree's passwd: NSS for the live system; DIR/etc/passwd parsed for
    /// an image tree, whose users NSS does not know.
    fn account(&self, spec: &str) -> Result<Account> {
        let Some(dir) = &self.root else {
            let account = Account::resolve(spec)?;
            if account.name.is_none() {
                return Err(no_such_user(spec, "the passwd database (getent passwd)"));
            }
            return Ok(account);
        };
        let path = dir.join("etc/passwd");
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io("read", &path, &e))?;
        passwd_lookup(&text, spec).ok_or_else(|| no_such_user(spec, &path.display().to_string()))
    }

    fn lock_passwd(&self) -> Result<Option<PasswdLock>> {
        // lckpwdf() always locks the live /etc/.pwd.lock; an image tree is not the live
        // system, and shadow's --prefix mode skips it too.
        match self.root {
            None => PasswdLock::acquire().map(Some),
            Some(_) => Ok(None),
        }
    }
}

fn no_such_user(spec: &str, db: &str) -> Error {
    Error::failure(format!("no such user: {spec}"))
        .because(format!("{db} has no entry of that name or uid"))
        .fix("create the user first (useradd), or check the spelling")
}

/// Find USER (a name first, then a numeric uid, as shadow does) in passwd text.
fn passwd_lookup(text: &str, spec: &str) -> Option<Account> {
    passwd::lookup(text, spec).map(Account::from)
}

fn require_root(verb: &str, user: &str) -> Result<()> {
    if nix::unistd::geteuid().is_root() {
        return Ok(());
    }
    Err(
        Error::failure(format!("userns subid {verb} must run as root"))
            .because("it writes /etc/subuid and /etc/subgid, which only root may change")
            .fix(format!("sudo userns subid {verb} {user} ...")),
    )
}

fn kinds(uids_only: bool, gids_only: bool) -> Vec<IdKind> {
    match (uids_only, gids_only) {
        (true, _) => vec![IdKind::Uid],
        (_, true) => vec![IdKind::Gid],
        _ => IdKind::BOTH.to_vec(),
    }
}

/// START:COUNT as given on the command line.
fn parse_range(text: &str) -> Result<SubIdRange> {
    let bad = || {
        Error::usage(format!("invalid range {text:?}"))
            .because("expected START:COUNT in decimal, e.g. 100000:65536")
    };
    let (start, count) = text.split_once(':').ok_or_else(bad)?;
    let start: u32 = start.parse().map_err(|_| bad())?;
    let count: u32 = count.parse().map_err(|_| bad())?;
    if count == 0 {
        return Err(bad().because("COUNT must be at least 1"));
    }
    Ok(SubIdRange::new(start, count))
}

/// Say so when NSS serves the subids: the files written here are then not what
/// newuidmap reads.
fn warn_if_nss(tree: &Tree) {
    let nsswitch = tree.etc("nsswitch.conf");
    if let Some(module) = nss::configured(&nsswitch) {
        userns::warn(format!(
            "{} names `subid: {module}`: newuidmap and getsubids read ranges from that service, not from the files changed here",
            nsswitch.display()
        ));
    }
}

/// Lock the files of `kinds` in shadow's order (subuid before subgid).
fn lock_files(tree: &Tree, kinds: &[IdKind], timeout: u64) -> Result<Vec<LinkLock>> {
    kinds
        .iter()
        .map(|&k| LinkLock::acquire(&tree.subid(k), Duration::from_secs(timeout)))
        .collect()
}

/// One file's pending change.
struct Change {
    kind: IdKind,
    path: PathBuf,
    text: Vec<u8>,
    edits: Vec<LineEdit>,
    messages: Vec<String>,
}

fn read_file(path: &Path) -> Result<(Vec<u8>, SubIdFile)> {
    let text = write::read_or_empty(path)?;
    let file = userns::subid::parse::parse(path, &text);
    Ok((text, file))
}

/// What `add` and `del` hold while they work: the tree, the user, the files to change, and
/// the locks shadow takes (lckpwdf, then each file's link lock), released on drop.
struct Session {
    tree: Tree,
    account: Account,
    kinds: Vec<IdKind>,
    _pwd: Option<PasswdLock>,
    _locks: Vec<LinkLock>,
}

impl Session {
    fn open(verb: &str, user: &str, opts: &SubidWriteOptions) -> Result<Session> {
        require_root(verb, user)?;
        let tree = Tree {
            root: opts.root.clone(),
        };
        let account = tree.account(user)?;
        let kinds = kinds(opts.uids_only, opts.gids_only);
        warn_if_nss(&tree);
        let pwd = tree.lock_passwd()?;
        let locks = lock_files(&tree, &kinds, opts.lock_timeout)?;
        Ok(Session {
            tree,
            account,
            kinds,
            _pwd: pwd,
            _locks: locks,
        })
    }
}

pub fn add(args: SubidAddArgs) -> Result<u8> {
    let explicit = args.range.as_deref().map(parse_range).transpose()?;
    let Session {
        tree,
        account,
        kinds,
        _pwd,
        _locks,
    } = Session::open("add", &args.user, &args.write)?;
    let defs = LoginDefs::read(&tree.etc("login.defs"))?;
    let mut changes = Vec::new();
    for &kind in &kinds {
        let path = tree.subid(kind);
        let (text, file) = read_file(&path)?;
        let mut change = Change {
            kind,
            path: path.clone(),
            text,
            edits: Vec::new(),
            messages: Vec::new(),
        };
        plan_add(&args, &account, &defs, explicit, &file, &mut change)?;
        changes.push(change);
    }
    commit(&changes)?;
    Ok(exit::OK)
}

fn plan_add(
    args: &SubidAddArgs,
    account: &Account,
    defs: &LoginDefs,
    explicit: Option<SubIdRange>,
    file: &SubIdFile,
    change: &mut Change,
) -> Result<()> {
    let (kind, who) = (change.kind, account.display_name());
    let sub = kind.subid_name();
    let shown = file.path.display();
    let range = match explicit {
        Some(range) => match alloc::check_explicit(kind, file, account, range) {
            Ok(Explicit::Add) => range,
            Ok(Explicit::AlreadyOwned(lines)) => {
                change.messages.push(format!(
                    "{sub}: {who} already has {range} ({shown}:{}); nothing to do",
                    lines[0]
                ));
                return Ok(());
            }
            Err(conflict) => {
                return Err(conflict_error(
                    kind,
                    &shown.to_string(),
                    &who,
                    range,
                    conflict,
                ))
            }
        },
        None => {
            let usable: Vec<usize> = lookup::entries_for(file, account)
                .into_iter()
                .filter(|e| lookup::usability(e, Some(account.own_id(kind))).is_usable())
                .map(|e| e.line)
                .collect();
            if args.count.is_none() && !usable.is_empty() {
                change.messages.push(format!(
                    "{sub}: {who} already has usable ranges ({shown}:{}); nothing to do (give --count or --range to add another)",
                    usable.iter().map(|l| l.to_string()).collect::<Vec<_>>().join(",")
                ));
                return Ok(());
            }
            let (pool, default_count) = Pool::from_login_defs(defs, kind);
            let count = args.count.map_or(default_count, u64::from);
            alloc::first_fit(file, pool, count, Some(account.own_id(kind)))
                .map_err(|e| alloc_error(kind, &shown.to_string(), e))?
        }
    };
    change.edits.push(alloc::add_line(account, range));
    change
        .messages
        .push(format!("{sub}: gave {who} {range} in {shown}"));
    Ok(())
}

fn conflict_error(kind: IdKind, file: &str, who: &str, range: SubIdRange, c: Conflict) -> Error {
    let sub = kind.subid_name();
    let e = Error::failure(format!("cannot give {who} the {sub} range {range}"));
    match c {
        Conflict::Unusable(why) => e
            .because(why)
            .fix("choose a range above UID_MAX that does not contain the user's own id"),
        Conflict::OtherOwner(other) => e
            .because(format!(
                "it overlaps {file}:{} ({}:{}:{}), which belongs to {}",
                other.line, other.owner_text, other.start, other.count, other.owner_text
            ))
            .fix("leave out --range to get the first free range, or pick one that no line uses"),
        Conflict::OwnPartly(own) => e
            .because(format!(
                "it overlaps {who}'s own line {file}:{} ({}:{}:{}) without lying inside it",
                own.line, own.owner_text, own.start, own.count
            ))
            .fix(format!(
                "remove the old range first (userns subid del {who} {}:{}), or pick a range that does not overlap it",
                own.start, own.count
            )),
    }
}

fn alloc_error(kind: IdKind, file: &str, e: AllocError) -> Error {
    let key = format!("SUB_{}", kind.name().to_uppercase());
    let err = Error::failure(format!(
        "cannot allocate {} ids in {file}",
        kind.subid_name()
    ))
    .because(&e);
    match e {
        AllocError::Exhausted { .. } => err.fix(format!(
            "raise {key}_MAX in login.defs, remove ranges of users that are gone (userns subid del), or ask for a smaller --count"
        )),
        AllocError::BadRequest(_) => err.fix("give --count of 1 or more"),
    }
}

/// Write every change that has edits, then print what was done.
fn commit(changes: &[Change]) -> Result<()> {
    for c in changes.iter().filter(|c| !c.edits.is_empty()) {
        let new = alloc::apply(&c.text, &c.edits);
        write::replace_file(&c.path, &new)?;
    }
    for c in changes {
        for m in &c.messages {
            crate::cli::render::out::println(m)?;
        }
    }
    Ok(())
}

pub fn del(args: SubidDelArgs) -> Result<u8> {
    let span = args.range.as_deref().map(parse_range).transpose()?;
    let Session {
        tree,
        account,
        kinds,
        _pwd,
        _locks,
    } = Session::open("del", &args.user, &args.write)?;
    let mut changes = Vec::new();
    let who = account.display_name();
    for &kind in &kinds {
        let path = tree.subid(kind);
        let (text, file) = read_file(&path)?;
        let edits = alloc::remove(&file, &account, span);
        let sub = kind.subid_name();
        let mut messages = Vec::new();
        for edit in &edits {
            let (line, after) = match edit {
                LineEdit::Delete { line } => (*line, "removed".to_string()),
                LineEdit::Replace { line, with } => (*line, format!("now {}", with.join(" and "))),
                LineEdit::Append(_) => continue,
            };
            let before = file.entries.iter().find(|e| e.line == line);
            let before = before.map_or(String::new(), |e| {
                userns::subid::parse::format_entry(&e.owner_text, e.start, e.count)
            });
            messages.push(format!(
                "{sub}: {}:{line}: {before}: {after}",
                path.display()
            ));
        }
        if edits.is_empty() {
            messages.push(match span {
                Some(r) => format!(
                    "{sub}: {who} has no ids in {r} in {}; nothing to do",
                    path.display()
                ),
                None => format!(
                    "{sub}: {who} has no ranges in {}; nothing to do",
                    path.display()
                ),
            });
        }
        changes.push(Change {
            kind,
            path,
            text,
            edits,
            messages,
        });
    }
    commit(&changes)?;
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_strictly() {
        assert_eq!(
            parse_range("100000:65536").unwrap(),
            SubIdRange::new(100_000, 65536)
        );
        for bad in ["100000", "a:1", "1:0", "1:-2", "4294967296:1", ""] {
            assert!(parse_range(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwd_is_searched_by_name_then_uid() {
        let text = "root:x:0:0:root:/root:/bin/bash\n# c\n3000:x:5:5::/h:/bin/sh\nivy:x:3000:3001::/home/ivy:/bin/sh\n";
        let a = passwd_lookup(text, "ivy").unwrap();
        assert_eq!((a.uid, a.gid), (3000, 3001));
        // A name that looks like a number wins over the uid, as in shadow.
        assert_eq!(passwd_lookup(text, "3000").unwrap().uid, 5);
        assert_eq!(
            passwd_lookup(text, "0").unwrap().name.as_deref(),
            Some("root")
        );
        assert!(passwd_lookup(text, "nobody").is_none());
    }
}
