//! Unit tests of `lint`: one per rule, and none firing on a clean pair of files.

use super::across::union_len;
use super::*;
use crate::subid::parse::parse;

/// A passwd table: ivy and bob are ordinary users; bob's primary gid differs from his uid.
pub(crate) struct Table(pub(crate) Vec<Account>);

impl Passwd for Table {
    fn by_name(&self, name: &str) -> Option<Account> {
        self.0
            .iter()
            .find(|a| a.name.as_deref() == Some(name))
            .cloned()
    }
    fn by_uid(&self, uid: u32) -> Option<Account> {
        self.0.iter().find(|a| a.uid == uid).cloned()
    }
}

/// A large passwd database, indexed like NSS would be.
struct Indexed(HashMap<String, Account>);

impl Passwd for Indexed {
    fn by_name(&self, name: &str) -> Option<Account> {
        self.0.get(name).cloned()
    }
    fn by_uid(&self, uid: u32) -> Option<Account> {
        self.0.values().find(|a| a.uid == uid).cloned()
    }
}

fn account(name: &str, uid: u32, gid: u32) -> Account {
    Account {
        name: Some(name.into()),
        uid,
        gid,
        home: None,
    }
}

fn passwd() -> Table {
    Table(vec![
        account("root", 0, 0),
        account("ivy", 2000, 2000),
        account("bob", 2001, 3000),
    ])
}

fn files(subuid: &str, subgid: &str) -> (SubIdFile, SubIdFile) {
    (
        parse(Path::new("/etc/subuid"), subuid.as_bytes()),
        parse(Path::new("/etc/subgid"), subgid.as_bytes()),
    )
}

/// Lint with shadow's default login.defs.
pub(super) fn run(subuid: &str, subgid: &str) -> Vec<Finding> {
    let (u, g) = files(subuid, subgid);
    lint(&u, &g, &LoginDefs::defaults(), &passwd())
}

/// (file name, line, rule) of each finding, for compact assertions.
fn rules(findings: &[Finding]) -> Vec<(String, usize, Rule)> {
    findings
        .iter()
        .map(|f| {
            let name = f.file.file_name().unwrap().to_string_lossy().into_owned();
            (name, f.line, f.rule)
        })
        .collect()
}

fn at(file: &str, line: usize, rule: Rule) -> (String, usize, Rule) {
    (file.to_string(), line, rule)
}

const CLEAN: &str = "# allocated by useradd\nivy:100000:65536\n2001:165536:65536\n";

#[test]
fn a_clean_pair_of_files_has_no_findings() {
    let f = run(CLEAN, CLEAN);
    assert_eq!(f, vec![]);
    assert_eq!(
        summary(&f, &[Path::new("/etc/subuid"), Path::new("/etc/subgid")]),
        "0 errors, 0 warnings in /etc/subuid, /etc/subgid"
    );
}

#[test]
fn several_lines_of_one_owner_adding_up_are_clean() {
    let text = "ivy:100000:30000\nivy:200000:35536\n";
    assert_eq!(run(text, text), vec![]);
}

#[test]
fn malformed_lines_are_errors_with_the_parser_reason() {
    let f = run(
        "ivy:100000:65536\nivy:0x10:5\nbroken\n",
        "ivy:100000:65536\n",
    );
    assert_eq!(
        rules(&f),
        vec![
            at("subuid", 2, Rule::ShadowOnlyForm),
            at("subuid", 3, Rule::Malformed)
        ]
    );
    assert_eq!(f[0].severity, Severity::Warning);
    assert!(
        f[0].message.contains("START \"0x10\" is hexadecimal")
            && f[0].message.contains("newuidmap reads ivy:16:5"),
        "{}",
        f[0]
    );
    assert_eq!(f[1].severity, Severity::Error);
    assert!(f[1].message.contains("expected 3 fields"), "{}", f[1]);
    assert!(
        f[1].fix
            .as_deref()
            .unwrap()
            .ends_with("shadow's tools skip it silently"),
        "{}",
        f[1]
    );
}

#[test]
fn count_zero_is_an_error() {
    let f = run("ivy:100000:65536\nivy:300000:0\n", "ivy:100000:65536\n");
    assert_eq!(rules(&f), vec![at("subuid", 2, Rule::ZeroCount)]);
    assert_eq!(f[0].severity, Severity::Error);
}

#[test]
fn ranges_past_the_largest_id_are_errors() {
    // 4294901759 + 65536 = 2^32 - 1: the last id is 4294967294, still usable.
    let ok = "ivy:100000:65536\nivy:4294901759:65536\n";
    assert_eq!(run(ok, "ivy:100000:65536\n"), vec![]);
    let f = run(
        "ivy:100000:65536\nivy:4294901760:65536\nivy:5000000000:1\n",
        "ivy:100000:65536\n",
    );
    assert_eq!(
        rules(&f),
        vec![
            at("subuid", 2, Rule::Overflow),
            at("subuid", 3, Rule::Overflow)
        ]
    );
    assert!(f[0].message.contains("4294901760-4294967295"), "{}", f[0]);
}

#[test]
fn duplicates_name_the_first_line_and_match_name_and_uid() {
    let f = run(
        "ivy:100000:65536\nbob:200000:65536\nivy:100000:65536\n2000:100000:65536\n",
        "ivy:100000:65536\nbob:200000:65536\n",
    );
    assert_eq!(
        rules(&f),
        vec![
            at("subuid", 3, Rule::Duplicate),
            at("subuid", 4, Rule::Duplicate)
        ]
    );
    assert!(f[0].message.contains("duplicates line 1"), "{}", f[0]);
    assert!(f[1].message.contains("2000 (ivy)"), "{}", f[1]);
    assert!(f[1].message.contains("duplicates line 1"), "{}", f[1]);
}

#[test]
fn overlaps_between_owners_name_both_lines_and_owners() {
    let f = run(
        "ivy:100000:65536\nbob:150000:65536\n",
        "ivy:100000:65536\nbob:165536:65536\n",
    );
    assert_eq!(rules(&f), vec![at("subuid", 2, Rule::OwnersOverlap)]);
    let m = &f[0].message;
    assert!(m.contains("150000-215535 of bob"), "{m}");
    assert!(m.contains("line 1 (ivy, range 100000-165535)"), "{m}");
    assert_eq!(f[0].severity, Severity::Error);
}

#[test]
fn an_owner_by_name_and_by_uid_is_one_owner() {
    // Lines 1 and 2 overlap but both belong to ivy (uid 2000): a warning, not an error.
    let f = run(
        "ivy:100000:65536\n2000:160000:10000\n",
        "2000:100000:70000\n",
    );
    assert_eq!(rules(&f), vec![at("subuid", 2, Rule::SameOwnerOverlap)]);
    assert_eq!(f[0].severity, Severity::Warning);
}

#[test]
fn adjacent_ranges_do_not_overlap() {
    let text = "ivy:100000:65536\nbob:165536:65536\n";
    assert_eq!(run(text, text), vec![]);
}

#[test]
fn a_range_containing_the_owners_own_id_is_an_error() {
    // bob is uid 2001 with primary gid 3000: subuid checks 2001, subgid checks 3000.
    let f = run(
        "bob:100000:65536\nbob:2001:1\n",
        "bob:100000:65536\nbob:2001:1\nbob:3000:1\n",
    );
    let own: Vec<_> = rules(&f)
        .into_iter()
        .filter(|r| r.2 == Rule::ContainsOwnId)
        .collect();
    assert_eq!(
        own,
        vec![
            at("subuid", 2, Rule::ContainsOwnId),
            at("subgid", 3, Rule::ContainsOwnId)
        ]
    );
    let gid = f
        .iter()
        .find(|x| x.file.ends_with("subgid") && x.rule == Rule::ContainsOwnId);
    assert!(gid.unwrap().message.contains("primary gid 3000"));
}

#[test]
fn unknown_owners_are_warnings() {
    let f = run(
        "ghost:100000:65536\n4242:200000:65536\n",
        "ghost:100000:65536\n4242:200000:65536\n",
    );
    let unknown: Vec<_> = rules(&f)
        .into_iter()
        .filter(|r| r.2 == Rule::UnknownOwner)
        .collect();
    assert_eq!(
        unknown,
        vec![
            at("subuid", 1, Rule::UnknownOwner),
            at("subuid", 2, Rule::UnknownOwner),
            at("subgid", 1, Rule::UnknownOwner),
            at("subgid", 2, Rule::UnknownOwner)
        ]
    );
    // Nothing else: a usermod fix (missing subgids, small totals) cannot run for them.
    assert_eq!(unknown.len(), f.len());
}

#[test]
fn an_unknown_numeric_owner_still_must_not_contain_its_uid() {
    let f = run("4242:4200:100\n", "");
    assert!(rules(&f).contains(&at("subuid", 1, Rule::ContainsOwnId)));
}

#[test]
fn subuids_without_subgids_and_the_reverse_are_warnings() {
    let f = run("ivy:100000:65536\n", "bob:200000:65536\n");
    assert_eq!(
        rules(&f),
        vec![
            at("subuid", 1, Rule::MissingOtherKind),
            at("subgid", 1, Rule::MissingOtherKind)
        ]
    );
    assert_eq!(
        f[0].fix.as_deref(),
        Some(
            "as root: usermod --add-subgids 100000-165535 ivy (the same range is the usual choice)"
        )
    );
    assert!(f[1].message.contains("none in /etc/subuid"));
}

#[test]
fn small_totals_are_warnings_once_per_owner() {
    let f = run(
        "ivy:100000:1000\nivy:200000:1000\nivy:200500:1000\n",
        "ivy:100000:65536\n",
    );
    let small: Vec<&Finding> = f.iter().filter(|x| x.rule == Rule::SmallTotal).collect();
    assert_eq!(small.len(), 1);
    assert_eq!(small[0].line, 1);
    // The overlap of lines 2 and 3 counts once: 1000 + 1500.
    assert!(
        small[0].message.contains("only 2500 usable subuids"),
        "{}",
        small[0]
    );
}

#[test]
fn an_owner_with_nothing_usable_gets_errors_not_a_small_total() {
    let f = run("ivy:100000:0\n", "ivy:100000:65536\n");
    assert_eq!(rules(&f), vec![at("subuid", 1, Rule::ZeroCount)]);
}

#[test]
fn ranges_over_account_ids_are_warnings_with_login_defs_bounds() {
    let text = "ivy:100000:65536\nbob:34464:65536\n";
    let f = run(text, text);
    assert_eq!(
        rules(&f),
        vec![
            at("subuid", 2, Rule::AccountIds),
            at("subgid", 2, Rule::AccountIds)
        ]
    );
    assert!(
        f[0].message
            .contains("UID_MIN..UID_MAX (1000-60000, per shadow's default)"),
        "{}",
        f[0]
    );
    assert!(f[1].message.contains("GID_MIN..GID_MAX"), "{}", f[1]);

    // Raise the bounds: now 34464-99999 is below UID_MIN for subuid, still inside GID range.
    let (u, g) = files(text, text);
    let defs = LoginDefs::parse("UID_MIN 200000\nUID_MAX 300000\n");
    let f = lint(&u, &g, &defs, &passwd());
    assert_eq!(rules(&f), vec![at("subgid", 2, Rule::AccountIds)]);
}

#[test]
fn numeric_owners_with_leading_zeros_are_warnings() {
    let f = run("02000:100000:65536\n", "2000:100000:65536\n");
    // "02000" is no one to shadow, so uid 2000 has subgids but no subuids.
    assert_eq!(
        rules(&f),
        vec![
            at("subuid", 1, Rule::NonCanonicalUid),
            at("subgid", 1, Rule::MissingOtherKind)
        ]
    );
    assert!(f[0].message.contains("is not uid 2000 (ivy)"), "{}", f[0]);
    assert_eq!(f[0].fix.as_deref(), Some("write the owner as 2000"));
}

#[test]
fn unreadable_login_defs_numbers_are_warnings() {
    let (u, g) = files(CLEAN, CLEAN);
    let mut defs = LoginDefs::parse("UID_MIN\t1000\nUID_MAX lots\n");
    defs.path = Some(PathBuf::from("/tmp/login.defs"));
    let f = lint(&u, &g, &defs, &passwd());
    assert_eq!(rules(&f), vec![at("login.defs", 2, Rule::LoginDefsValue)]);
    assert!(f[0].message.contains("shadow uses the default 60000"));
}

#[test]
fn findings_print_like_a_compiler_and_summarise() {
    let f = run("ivy:100000:65536\nivy:100000:65536\n", "ivy:100000:65536\n");
    assert_eq!(
        f[0].to_string(),
        "/etc/subuid:2: error: subuid range 100000-165535 of ivy duplicates line 1\n    fix: delete line 2"
    );
    assert_eq!(
        summary(&f, &[Path::new("/etc/subuid"), Path::new("/etc/subgid")]),
        "1 error, 0 warnings in /etc/subuid, /etc/subgid"
    );
}

#[test]
fn findings_are_ordered_by_file_then_line() {
    let f = run(
        "ghost:1:0\nivy:100000:65536\nbroken\n",
        "zed:5:0\nivy:100000:65536\n",
    );
    let order: Vec<(String, usize)> = rules(&f).into_iter().map(|(f, l, _)| (f, l)).collect();
    let mut sorted = order.clone();
    sorted.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    assert_eq!(order, sorted);
}

#[test]
fn many_disjoint_lines_of_many_users_are_clean() {
    // 20,000 users, as on a large site; also exercises the overlap sweep's early stop.
    let mut text = String::new();
    let mut table = HashMap::new();
    for i in 0..20_000u32 {
        let name = format!("u{i}");
        text.push_str(&format!("{name}:{}:65536\n", 100_000 + i as u64 * 65536));
        table.insert(name.clone(), account(&name, 1000 + i, 1000 + i));
    }
    let (u, g) = files(&text, &text);
    let f = lint(&u, &g, &LoginDefs::defaults(), &Indexed(table));
    assert_eq!(f, vec![]);
}

#[test]
fn union_len_counts_overlaps_once() {
    assert_eq!(union_len(vec![]), 0);
    assert_eq!(union_len(vec![(0, 10), (5, 15), (20, 30)]), 25);
    assert_eq!(union_len(vec![(0, 100), (10, 20)]), 100);
}

/// The overlap findings of one file as the lint made them before the sweep: every pair
/// compared, one finding at the later line naming the earlier. Returns, per later line,
/// the earlier lines (start, line, same owner, message) in the old order and wording.
fn every_pair(file: &SubIdFile) -> HashMap<usize, Vec<(u64, usize, bool, String)>> {
    let table = passwd();
    let mut resolver = Resolver::default();
    let lines: Vec<Resolved> = file
        .entries
        .iter()
        .map(|e| resolver.resolve(e, &table))
        .collect();
    let mut seen = HashSet::new();
    let kept: Vec<&Resolved> = lines
        .iter()
        .filter(|r| seen.insert((r.owner, r.entry.start, r.entry.count)))
        .filter(|r| r.entry.count > 0)
        .collect();
    let mut pairs: HashMap<usize, Vec<(u64, usize, bool, String)>> = HashMap::new();
    for a in &kept {
        for b in &kept {
            let overlap =
                (a.entry.start as u128) < b.entry.end() && (b.entry.start as u128) < a.entry.end();
            if a.entry.line >= b.entry.line || !overlap {
                continue;
            }
            let (first, later) = (a, b);
            let same = first.owner == later.owner;
            let message = if same {
                format!(
                    "subuid range {} of {} overlaps its own line {} (range {}); a map using both is rejected by the kernel",
                    span(later.entry), later.who(), first.entry.line, span(first.entry)
                )
            } else {
                format!(
                    "subuid range {} of {} overlaps line {} ({}, range {}); each owner can reach the other's files",
                    span(later.entry), later.who(), first.entry.line, first.who(), span(first.entry)
                )
            };
            pairs.entry(later.entry.line).or_default().push((
                first.entry.start,
                first.entry.line,
                same,
                message,
            ));
        }
    }
    pairs
}

mod overlap_props {
    use super::*;
    use proptest::prelude::*;

    fn text() -> impl Strategy<Value = String> {
        let owner = prop::sample::select(vec!["ivy", "bob", "2000", "2001", "ghost", "4242"]);
        proptest::collection::vec((owner, 0u64..40, 0u64..15), 0..40).prop_map(|lines| {
            lines
                .iter()
                .map(|(o, s, c)| format!("{o}:{}:{c}\n", 100_000 + s))
                .collect()
        })
    }

    proptest! {
        /// Up to the cap the findings are the old ones, word for word and in order;
        /// past it, one finding per kind counts the rest.
        #[test]
        fn overlap_findings_are_the_pairs_of_the_old_algorithm_capped(subuid in text()) {
            let (u, g) = files(&subuid, "");
            let found = lint(&u, &g, &LoginDefs::defaults(), &passwd());
            let mut expected = every_pair(&u);
            for line in u.entries.iter().map(|e| e.line) {
                let got: Vec<&Finding> = found
                    .iter()
                    .filter(|f| f.file.ends_with("subuid") && f.line == line)
                    .filter(|f| matches!(f.rule, Rule::OwnersOverlap | Rule::SameOwnerOverlap))
                    .collect();
                let mut pairs = expected.remove(&line).unwrap_or_default();
                pairs.sort_by_key(|p| (p.0, p.1));
                let (same, other): (Vec<_>, Vec<_>) = pairs.iter().partition(|p| p.2);
                let named: Vec<&String> = pairs
                    .iter()
                    .filter(|p| {
                        let kind = if p.2 { &same } else { &other };
                        kind.iter().position(|q| q.1 == p.1).unwrap() < NAMED
                    })
                    .map(|p| &p.3)
                    .collect();
                let got_named: Vec<&String> = got
                    .iter()
                    .filter(|f| !f.message.contains(" more "))
                    .map(|f| &f.message)
                    .collect();
                prop_assert_eq!(got_named, named, "line {}", line);
                for (kind, rule) in [(&other, Rule::OwnersOverlap), (&same, Rule::SameOwnerOverlap)] {
                    let more: Vec<&&Finding> = got
                        .iter()
                        .filter(|f| f.rule == rule && f.message.contains(" more "))
                        .collect();
                    if kind.len() > NAMED {
                        prop_assert_eq!(more.len(), 1, "line {}", line);
                        let n = format!("overlaps {} more ", kind.len() - NAMED);
                        prop_assert!(more[0].message.contains(&n), "{}", more[0]);
                    } else {
                        prop_assert!(more.is_empty(), "line {}", line);
                    }
                }
            }
        }
    }

    const NAMED: usize = across::NAMED_OVERLAPS;
}

#[test]
fn mutually_overlapping_lines_make_a_linear_report() {
    // 4,000 lines over the same ids: 7,998,000 pairs; every fourth line is bob's.
    let text: String = (0..4000u64)
        .map(|i| {
            let owner = if i % 4 == 3 { "bob" } else { "ivy" };
            format!("{owner}:{}:1000000\n", 100_000 + i)
        })
        .collect();
    let (u, g) = files(&text, &text);
    let f = lint(&u, &g, &LoginDefs::defaults(), &passwd());
    assert!(f.len() <= 2 * 4000 * 8, "{} findings", f.len());
    let last: Vec<String> = f
        .iter()
        .filter(|x| x.file.ends_with("subuid") && x.line == 4000)
        .map(|x| x.to_string())
        .collect();
    assert_eq!(last.len(), 8, "{last:#?}");
    assert_eq!(
        last[6],
        "/etc/subuid:4000: error: subuid range 103999-1103998 of bob overlaps 2997 more earlier lines of other owners (at most 3 are named per line), all within ids 103999-1103997; each owner can reach the other's files\n    fix: give one of the owners a free range; every subordinate id must belong to one user"
    );
    assert!(
        last[7].contains("overlaps 996 more of its own earlier lines"),
        "{}",
        last[7]
    );
    assert!(last[0].contains("overlaps line 1 (ivy, range 100000-1099999)"));
}
