//! Tests of idmap::proc: the parser, fixture trees under fixtures/proc, and this process.

use super::*;

fn triples(p: &ParsedMap) -> Vec<(u32, u32, u32)> {
    p.map
        .entries
        .iter()
        .map(|e| (e.inside, e.outside, e.count))
        .collect()
}

fn fixtures() -> ProcRoot {
    ProcRoot::new(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/proc"))
}

#[test]
fn parses_kernel_padding() {
    let p = parse_map(
        IdKind::Uid,
        b"         0       1000          1\n         1     100000      65536\n",
    );
    assert_eq!(triples(&p), [(0, 1000, 1), (1, 100000, 65536)]);
    assert!(p.skipped.is_empty());
    assert_eq!(map_state(&p.map), MapState::Mapped);
    let id = parse_map(IdKind::Gid, b"         0          0 4294967295\n");
    assert_eq!(map_state(&id.map), MapState::Identity);
    assert_eq!(id.map.kind, IdKind::Gid);
}

#[test]
fn empty_text_is_unmapped() {
    for text in [&b""[..], b"\n", b"   \n\n"] {
        let p = parse_map(IdKind::Uid, text);
        assert_eq!(map_state(&p.map), MapState::Unmapped);
        assert!(p.skipped.is_empty());
    }
}

#[test]
fn keeps_good_lines_around_bad_ones() {
    let p = parse_map(
        IdKind::Uid,
        b"0 1000 1\n1 2\nx 5 5\n5 6 0\n1 4294967290 10\n7 1000 3\n\xff 1 1\n1 100000 10\n-1 3 3\n0x1 2 2\n2 4294967296 1\n",
    );
    assert_eq!(triples(&p), [(0, 1000, 1), (1, 100000, 10)]);
    let reasons: Vec<(usize, &str)> = p
        .skipped
        .iter()
        .map(|s| (s.line, s.reason.as_str()))
        .collect();
    assert_eq!(
        reasons,
        [
            (2, "expected 3 fields INSIDE OUTSIDE COUNT, found 2"),
            (3, "INSIDE \"x\" is not a decimal number"),
            (4, "count is 0; the kernel never maps an empty range"),
            (5, "the range passes 4294967295, the largest id"),
            (6, "overlaps line 1 outside the namespace"),
            (7, "not valid UTF-8"),
            (9, "INSIDE \"-1\" is not a decimal number"),
            (10, "INSIDE \"0x1\" is not a decimal number"),
            (11, "OUTSIDE 4294967296 is larger than 4294967295"),
        ]
    );
    assert_eq!(p.skipped[1].text, "x 5 5");
}

#[test]
fn inside_overlap_is_skipped() {
    let p = parse_map(IdKind::Uid, b"0 1000 10\n5 2000 10\n");
    assert_eq!(triples(&p), [(0, 1000, 10)]);
    assert_eq!(p.skipped[0].reason, "overlaps line 1 inside the namespace");
}

proptest::proptest! {
    // The fuzz target (fuzz/fuzz_targets/map_parse.rs) checks the same invariants on
    // arbitrary bytes; this runs them on map-like text in every `cargo test`.
    #[test]
    fn never_panics_and_keeps_only_kernel_lines(text in "([ 0-9]{0,12}[ \t]?[0-9a-x-]{0,11}\n?){0,12}") {
        let p = parse_map(IdKind::Uid, text.as_bytes());
        let ok = matches!(
            p.map.validate(),
            Ok(()) | Err(crate::idmap::MapError::Empty)
        );
        proptest::prop_assert!(ok, "{:?}", p.map.validate());
        let again = parse_map(IdKind::Uid, p.map.to_proc_text().as_bytes());
        proptest::prop_assert!(again.skipped.is_empty());
        proptest::prop_assert_eq!(&again.map, &p.map);
        for e in &p.map.entries {
            proptest::prop_assert_eq!(p.map.to_host(e.inside), Some(e.outside));
        }
    }
}

#[test]
fn setgroups_text() {
    assert_eq!(parse_setgroups("allow\n"), Some(SetGroups::Allow));
    assert_eq!(parse_setgroups("deny\n"), Some(SetGroups::Deny));
    assert_eq!(parse_setgroups("maybe\n"), None);
}

#[test]
fn pid_argument() {
    assert_eq!(parse_pid("1234"), Ok(1234));
    assert!(parse_pid("abc").unwrap_err().contains("not a number"));
    assert!(parse_pid("-5").unwrap_err().contains("not a number"));
    assert!(parse_pid("").unwrap_err().contains("not a number"));
    assert!(parse_pid("0").unwrap_err().contains("not a process"));
    assert!(parse_pid("99999999999").unwrap_err().contains("too large"));
}

#[test]
fn reads_fixture_trees() {
    let root = fixtures();
    let podman = root.dir(ProcTarget::Pid(4242));
    assert!(podman.ends_with("4242"));
    let (u, g) = ProcRoot::new(root.base().join("podman"))
        .read_maps(4242)
        .unwrap();
    assert_eq!(u.to_short(), "0:1000:1,1:100000:65536");
    assert_eq!(g.to_short(), "0:1000:1,1:100000:65536");
    let r = ProcRoot::new(root.base().join("podman"));
    assert_eq!(
        r.setgroups_of(ProcTarget::Pid(4242)).unwrap(),
        SetGroups::Allow
    );

    let r = ProcRoot::new(root.base().join("unmapped"));
    let (u, g) = r.read_maps(4343).unwrap();
    assert_eq!(map_state(&u), MapState::Unmapped);
    assert_eq!(map_state(&g), MapState::Unmapped);
    assert_eq!(
        r.setgroups_of(ProcTarget::Pid(4343)).unwrap(),
        SetGroups::Allow
    );

    let r = ProcRoot::new(root.base().join("identity"));
    let (u, _) = r.self_maps().unwrap();
    assert!(u.is_identity());

    let r = ProcRoot::new(root.base().join("many-lines"));
    let (u, g) = r.read_maps(5555).unwrap();
    assert_eq!(u.entries.len(), 340);
    assert!(u.validate().is_ok());
    assert_eq!(u.to_host(339), Some(1000 + 339 * 2));
    assert!(g.validate().is_ok());
    assert_eq!(g.entries.len(), 340);

    let r = ProcRoot::new(root.base().join("malformed"));
    let (u, _) = r.read_proc_maps(ProcTarget::Pid(6666)).unwrap();
    assert_eq!(u.parsed.map.to_short(), "0:1000:1,1:100000:65536");
    let lines: Vec<usize> = u.parsed.skipped.iter().map(|s| s.line).collect();
    assert_eq!(lines, [2, 3, 5]);
}

#[test]
fn missing_process_is_a_clear_error() {
    let r = ProcRoot::new(fixtures().base().join("podman"));
    let e = r.read_maps(1).unwrap_err();
    assert_eq!(e.what, "no process 1");
    assert!(e.fix.unwrap().contains("ps -p 1"));
    let e = r.setgroups_of(ProcTarget::Pid(1)).unwrap_err();
    assert_eq!(e.what, "no process 1");
}

#[test]
fn missing_map_file_of_a_live_process_names_the_kernel() {
    // fixtures/proc/no-userns/7777 has a setgroups file but no map files.
    let r = ProcRoot::new(fixtures().base().join("no-userns"));
    let e = r.read_maps(7777).unwrap_err();
    assert!(e.what.contains("uid_map"), "{e}");
    assert!(e.fix.unwrap().contains("CONFIG_USER_NS"));
}

#[test]
fn reads_this_process() {
    // Every Linux process can read its own maps and namespace inode.
    let r = ProcRoot::system();
    let (u, g) = r.self_maps().unwrap();
    assert!(!u.entries.is_empty() && !g.entries.is_empty());
    let pid = std::process::id() as i32;
    assert!(r.userns_inode_of(ProcTarget::Pid(pid)).unwrap() > 0);
    assert_eq!(
        r.owner_uid_of(ProcTarget::Pid(pid)).unwrap(),
        nix::unistd::geteuid().as_raw()
    );
    assert!(r.setgroups_of(ProcTarget::Pid(pid)).is_ok());
}
