use super::*;
use crate::subid::parse::parse;
use std::path::Path;

fn file(text: &str) -> SubIdFile {
    parse(Path::new("/etc/subuid"), text.as_bytes())
}

fn ivy() -> Account {
    Account::ivy()
}

const POOL: Pool = Pool {
    min: 100_000,
    max: 600_100_000,
};

#[test]
fn first_fit_in_an_empty_file_starts_at_min() {
    let r = first_fit(&file(""), POOL, 65536, Some(2000)).unwrap();
    assert_eq!(r, SubIdRange::new(100_000, 65536));
}

#[test]
fn first_fit_takes_the_lowest_gap_that_is_large_enough() {
    // Gap 165536..200000 (34464 ids) is too small for 65536; 200010.. is the first fit.
    let f = file("a:100000:65536\nb:200000:10\nc:400000:65536\n");
    assert_eq!(
        first_fit(&f, POOL, 65536, None).unwrap(),
        SubIdRange::new(200_010, 65536)
    );
    // A small request fits in the first gap.
    assert_eq!(
        first_fit(&f, POOL, 1000, None).unwrap(),
        SubIdRange::new(165_536, 1000)
    );
    // Order of lines does not matter, nor comments and malformed lines.
    let shuffled = file("# x\nc:400000:65536\nbroken\nb:200000:10\na:100000:65536\n");
    assert_eq!(
        first_fit(&shuffled, POOL, 65536, None).unwrap(),
        SubIdRange::new(200_010, 65536)
    );
}

#[test]
fn ranges_below_min_and_empty_lines_do_not_block() {
    let f = file("a:0:100000\nb:150000:0\n");
    assert_eq!(
        first_fit(&f, POOL, 65536, None).unwrap(),
        SubIdRange::new(100_000, 65536)
    );
    // A range straddling min pushes the start past it.
    let f = file("a:90000:20000\n");
    assert_eq!(
        first_fit(&f, POOL, 10, None).unwrap(),
        SubIdRange::new(110_000, 10)
    );
}

#[test]
fn max_is_the_last_usable_id() {
    let pool = Pool { min: 100, max: 199 };
    assert_eq!(
        first_fit(&file(""), pool, 100, None).unwrap(),
        SubIdRange::new(100, 100)
    );
    assert_eq!(
        first_fit(&file(""), pool, 101, None),
        Err(AllocError::Exhausted { pool, count: 101 })
    );
    // The pool is clipped to the kernel's id space.
    let huge = Pool {
        min: u32::MAX as u64 - 5,
        max: u64::MAX,
    };
    assert_eq!(
        first_fit(&file(""), huge, 5, None).unwrap(),
        SubIdRange::new(u32::MAX - 5, 5)
    );
    assert!(matches!(
        first_fit(&file(""), huge, 6, None),
        Err(AllocError::Exhausted { .. })
    ));
}

#[test]
fn exhaustion_is_an_error_naming_the_pool() {
    let pool = Pool {
        min: 100_000,
        max: 231_071,
    };
    let f = file("a:100000:65536\nb:165536:65536\n");
    let err = first_fit(&f, pool, 1, None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "no free range of 1 ids between 100000 and 231071"
    );
    assert!(matches!(
        first_fit(&f, POOL, 0, None),
        Err(AllocError::BadRequest(_))
    ));
}

#[test]
fn the_owners_own_id_is_skipped() {
    let pool = Pool {
        min: 0,
        max: 10_000,
    };
    assert_eq!(
        first_fit(&file(""), pool, 100, Some(50)).unwrap(),
        SubIdRange::new(51, 100)
    );
}

#[test]
fn from_login_defs_reads_the_kind_and_defaults() {
    let defs =
        crate::subid::login_defs::LoginDefs::parse("SUB_UID_MIN 200000\nSUB_GID_COUNT 1000\n");
    let (uid_pool, uid_count) = Pool::from_login_defs(&defs, IdKind::Uid);
    assert_eq!(
        (uid_pool.min, uid_pool.max, uid_count),
        (200_000, 600_100_000, 65536)
    );
    let (gid_pool, gid_count) = Pool::from_login_defs(&defs, IdKind::Gid);
    assert_eq!((gid_pool.min, gid_count), (100_000, 1000));
}

#[test]
fn explicit_ranges_are_checked_against_every_owner() {
    let f = file("bob:100000:65536\nivy:300000:65536\n2000:500000:10\n");
    let r = |s, c| SubIdRange::new(s, c);
    assert_eq!(
        check_explicit(IdKind::Uid, &f, &ivy(), r(165_536, 100)),
        Ok(Explicit::Add)
    );
    match check_explicit(IdKind::Uid, &f, &ivy(), r(165_000, 1000)) {
        Err(Conflict::OtherOwner(e)) => assert_eq!((e.owner_text.as_str(), e.line), ("bob", 1)),
        other => panic!("expected a conflict with bob, got {other:?}"),
    }
    assert_eq!(
        check_explicit(IdKind::Uid, &f, &ivy(), r(300_100, 10)),
        Ok(Explicit::AlreadyOwned(vec![2]))
    );
    // The numeric line 3 is ivy's too.
    assert_eq!(
        check_explicit(IdKind::Uid, &f, &ivy(), r(500_000, 10)),
        Ok(Explicit::AlreadyOwned(vec![3]))
    );
    assert!(matches!(
        check_explicit(IdKind::Uid, &f, &ivy(), r(365_000, 1000)),
        Err(Conflict::OwnPartly(e)) if e.line == 2
    ));
    assert!(matches!(
        check_explicit(IdKind::Uid, &f, &ivy(), r(1000, 2000)),
        Err(Conflict::Unusable(why)) if why.contains("2000")
    ));
    assert!(matches!(
        check_explicit(IdKind::Uid, &f, &ivy(), r(u32::MAX - 1, 2)),
        Err(Conflict::Unusable(_))
    ));
}

#[test]
fn remove_all_deletes_name_and_uid_lines_only() {
    let f = file("ivy:1:2\nbob:3:4\n2000:5:6\nivy2:7:8\n");
    let edits = remove(&f, &ivy(), None);
    assert_eq!(
        edits,
        vec![LineEdit::Delete { line: 1 }, LineEdit::Delete { line: 3 }]
    );
    let text = apply(b"ivy:1:2\nbob:3:4\n2000:5:6\nivy2:7:8\n", &edits);
    assert_eq!(text, b"bob:3:4\nivy2:7:8\n");
}

#[test]
fn remove_a_span_cuts_and_splits_like_shadow() {
    let text = b"ivy:100:100\nbob:100:100\nivy:300:10\n";
    let f = file(std::str::from_utf8(text).unwrap());
    let r = |s, c| Some(SubIdRange::new(s, c));
    // The middle: the line splits in two, in place.
    let out = apply(text, &remove(&f, &ivy(), r(120, 10)));
    assert_eq!(out, b"ivy:100:20\nivy:130:70\nbob:100:100\nivy:300:10\n");
    // The head, the tail, and a span covering a whole line and part of another.
    assert_eq!(
        apply(text, &remove(&f, &ivy(), r(50, 60))),
        b"ivy:110:90\nbob:100:100\nivy:300:10\n"
    );
    assert_eq!(
        apply(text, &remove(&f, &ivy(), r(150, 1000))),
        b"ivy:100:50\nbob:100:100\n"
    );
    // Nothing of ivy's there: no edits.
    assert!(remove(&f, &ivy(), r(200, 100)).is_empty());
}

#[test]
fn apply_keeps_other_lines_byte_for_byte() {
    let text = b"# site ranges\nbroken line\r\nbob:1:2";
    let out = apply(text, &[LineEdit::Append("ivy:100000:65536".into())]);
    assert_eq!(
        out,
        b"# site ranges\nbroken line\r\nbob:1:2\nivy:100000:65536\n".to_vec()
    );
    assert_eq!(apply(b"", &[LineEdit::Append("a:1:2".into())]), b"a:1:2\n");
    assert_eq!(apply(b"\n\n", &[]), b"\n\n");
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Allocating for many users one after another never gives overlapping ranges,
        /// and each lies in the pool.
        #[test]
        fn successive_allocations_never_overlap(
            existing in proptest::collection::vec((100_000u32..2_000_000, 1u32..200_000), 0..12),
            counts in proptest::collection::vec(1u64..100_000, 1..12),
        ) {
            let pool = Pool { min: 100_000, max: 3_000_000 };
            let mut text: String = existing
                .iter()
                .enumerate()
                .map(|(i, (s, c))| format!("old{i}:{s}:{c}\n"))
                .collect();
            for (i, count) in counts.iter().enumerate() {
                let f = file(&text);
                match first_fit(&f, pool, *count, None) {
                    Ok(r) => {
                        prop_assert!(r.start as u64 >= pool.min && r.end() - 1 <= pool.max);
                        for e in &f.entries {
                            prop_assert!(!e.range().unwrap().overlaps(&r), "{r} overlaps {e:?}");
                        }
                        text.push_str(&format!("new{i}:{}:{}\n", r.start, r.count));
                    }
                    Err(AllocError::Exhausted { .. }) => {}
                    Err(e) => prop_assert!(false, "{e}"),
                }
            }
        }
    }
}

#[test]
fn the_usermod_fix_names_what_subid_add_would_allocate() {
    use crate::subid::login_defs::LoginDefs;
    let defs = LoginDefs::parse("");
    // 100000-165535 is alice's: the fix must not hand it to ivy.
    let f = file("alice:100000:65536\n");
    assert_eq!(usermod_range(&f, &defs, IdKind::Uid, 2000), "165536-231071");
    assert_eq!(
        usermod_range(&file(""), &defs, IdKind::Uid, 2000),
        "100000-165535"
    );
    // login.defs bounds and count, as `subid add` reads them.
    let defs = LoginDefs::parse("SUB_UID_MIN 300000\nSUB_UID_COUNT 1000\nSUB_UID_MAX 300999\n");
    assert_eq!(usermod_range(&f, &defs, IdKind::Uid, 2000), "300000-300999");
    let full = file("bob:300000:10\n");
    assert_eq!(usermod_range(&full, &defs, IdKind::Uid, 2000), "START-END");
}
