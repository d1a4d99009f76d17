//! passwd files read as text, where NSS is not the database: an image tree's
//! (`subid add --root DIR`) and a container's own (`run -u USER`).
//!
//! One set of rules, glibc's (nss_files' passwd parser), which is what programs in that
//! tree or container will use: blank lines and `#` comments are skipped, and so are NIS
//! compat lines (`+name`, `-name`), which name no user of their own; a line needs a name,
//! a password field and decimal uid and gid; gecos, home and shell may be missing and are
//! then empty. A user is found as shadow and runc find one: by exact name first, then, for
//! a number, by uid; the first matching line wins.

/// One line of a passwd file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswdEntry<'a> {
    pub name: &'a str,
    pub uid: u32,
    pub gid: u32,
    /// Empty when the line has none.
    pub home: &'a str,
}

/// The entries of a passwd file, in order; lines that are not entries are skipped.
pub(crate) fn entries(text: &str) -> impl Iterator<Item = PasswdEntry<'_>> {
    text.lines().filter_map(entry)
}

fn entry(line: &str) -> Option<PasswdEntry<'_>> {
    if line.starts_with(['#', '+', '-']) {
        return None;
    }
    let mut fields = line.split(':');
    let name = fields.next().filter(|n| !n.is_empty())?;
    let _password = fields.next()?;
    let uid = decimal(fields.next()?)?;
    let gid = decimal(fields.next()?)?;
    let _gecos = fields.next();
    let home = fields.next().unwrap_or("");
    Some(PasswdEntry {
        name,
        uid,
        gid,
        home,
    })
}

/// An id field: decimal digits only (no sign, no blanks), as shadow writes them.
fn decimal(field: &str) -> Option<u32> {
    if field.is_empty() || !field.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    field.parse().ok()
}

/// USER (a name, or a numeric uid) in passwd text: the entry of that name, else the first
/// entry with that uid.
pub fn lookup<'a>(text: &'a str, user: &str) -> Option<PasswdEntry<'a>> {
    entries(text).find(|e| e.name == user).or_else(|| {
        let uid: u32 = user.parse().ok()?;
        entries(text).find(|e| e.uid == uid)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
                          # a comment:x:1:1::/c:/bin/sh\n\
                          \n\
                          broken line\n\
                          +nis:x:7:7::/nis:/bin/sh\n\
                          bad:x:1x:1::/bad:/bin/sh\n\
                          :x:8:8::/noname:/bin/sh\n\
                          short:x:10:11\n\
                          1234:x:5:5::/numeric:/bin/sh\n\
                          app:x:1000:1001:App:/home/app:/bin/sh\n\
                          app:x:1002:1002::/second:/bin/sh\n";

    #[test]
    fn only_entries_are_read() {
        let names: Vec<&str> = entries(PASSWD).map(|e| e.name).collect();
        assert_eq!(names, ["root", "short", "1234", "app", "app"]);
        let short = lookup(PASSWD, "short").unwrap();
        assert_eq!((short.uid, short.gid, short.home), (10, 11, ""));
    }

    #[test]
    fn a_name_wins_over_a_uid_and_the_first_line_over_later_ones() {
        assert_eq!(lookup(PASSWD, "1234").unwrap().uid, 5);
        assert_eq!(lookup(PASSWD, "5").unwrap().name, "1234");
        assert_eq!(lookup(PASSWD, "app").unwrap().home, "/home/app");
        assert_eq!(lookup(PASSWD, "1002").unwrap().home, "/second");
        assert!(lookup(PASSWD, "7").is_none());
        assert!(lookup(PASSWD, "nobody").is_none());
    }
}
