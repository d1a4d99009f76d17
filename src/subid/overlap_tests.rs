//! Tests of the overlap sweep against the plain O(n²) comparison of every pair, which is
//! what the lint did before the sweep.

use super::*;
use proptest::prelude::*;

fn span(start: u64, count: u128, line: usize, owner: u32) -> Span {
    Span {
        start,
        end: start as u128 + count,
        line,
        owner,
    }
}

/// Every pair compared: the earlier overlapping spans of each span, capped as the sweep
/// caps them (the lowest starts of each kind named, the rest counted).
fn reference(spans: &[Span], cap: usize) -> Vec<Overlaps> {
    spans
        .iter()
        .map(|s| {
            let mut earlier: Vec<usize> = (0..spans.len())
                .filter(|&j| {
                    let t = &spans[j];
                    t.line < s.line && (t.start as u128) < s.end && (s.start as u128) < t.end
                })
                .collect();
            earlier.sort_by_key(|&j| (spans[j].start, spans[j].line));
            let (same, other): (Vec<usize>, Vec<usize>) = earlier
                .into_iter()
                .partition(|&j| spans[j].owner == s.owner);
            let mut named: Vec<usize> = other.iter().take(cap).copied().collect();
            named.extend(same.iter().take(cap));
            named.sort_by_key(|&j| (spans[j].start, spans[j].line));
            let within = |kind: &[usize]| {
                let lo = kind.iter().map(|&j| spans[j].start).min()?;
                let hi = kind.iter().map(|&j| spans[j].end).max()?;
                Some(((lo as u128).max(s.start as u128), hi.min(s.end)))
            };
            Overlaps {
                named,
                more_other: other.len().saturating_sub(cap),
                more_same: same.len().saturating_sub(cap),
                other_within: within(&other),
                same_within: within(&same),
            }
        })
        .collect()
}

fn lines_named(spans: &[Span], o: &Overlaps) -> Vec<usize> {
    o.named.iter().map(|&j| spans[j].line).collect()
}

#[test]
fn nested_ranges_overlap_their_container_only() {
    let spans = [span(0, 100, 1, 0), span(10, 10, 2, 1), span(30, 10, 3, 2)];
    let o = earlier_overlaps(&spans, 3);
    assert_eq!(lines_named(&spans, &o[0]), Vec::<usize>::new());
    assert_eq!(lines_named(&spans, &o[1]), [1]);
    assert_eq!(lines_named(&spans, &o[2]), [1]);
}

#[test]
fn a_container_listed_later_names_what_it_contains() {
    let spans = [span(10, 10, 1, 1), span(30, 10, 2, 1), span(0, 100, 3, 1)];
    let o = earlier_overlaps(&spans, 3);
    assert_eq!(lines_named(&spans, &o[2]), [1, 2]);
    assert_eq!((o[2].more_same, o[2].more_other), (0, 0));
}

#[test]
fn adjacent_ranges_do_not_overlap() {
    let spans = [span(0, 10, 1, 0), span(10, 10, 2, 1), span(20, 1, 3, 0)];
    assert!(earlier_overlaps(&spans, 3)
        .iter()
        .all(|o| *o == Overlaps::default()));
}

#[test]
fn identical_ranges_overlap_each_earlier_one() {
    let spans = [span(5, 5, 1, 0), span(5, 5, 2, 1), span(5, 5, 3, 2)];
    let o = earlier_overlaps(&spans, 3);
    assert_eq!(lines_named(&spans, &o[1]), [1]);
    assert_eq!(lines_named(&spans, &o[2]), [1, 2]);
}

#[test]
fn ranges_at_and_past_the_top_of_the_id_space() {
    let max = u32::MAX as u64;
    let spans = [
        span(max - 9, 10, 1, 0),
        span(max, 1, 2, 1),
        span(max + 1, 5, 3, 2),
        span(u64::MAX, u64::MAX as u128, 4, 3),
        span(u64::MAX - 1, 2, 5, 4),
        span(0, 1 << 65, 6, 5),
    ];
    let o = earlier_overlaps(&spans, usize::MAX);
    assert_eq!(lines_named(&spans, &o[1]), [1]);
    assert_eq!(lines_named(&spans, &o[2]), Vec::<usize>::new());
    assert_eq!(lines_named(&spans, &o[4]), [4]);
    assert_eq!(lines_named(&spans, &o[5]), [1, 2, 3, 5, 4]);
}

#[test]
fn the_cap_names_the_lowest_starts_of_each_kind_and_counts_the_rest() {
    // 4,000 mutually overlapping lines, every fourth of owner 1.
    let spans: Vec<Span> = (0..4000u64)
        .map(|i| span(100_000 + i, 1_000_000, i as usize + 1, (i % 4 == 3) as u32))
        .collect();
    let o = earlier_overlaps(&spans, 3);
    let last = o.last().unwrap();
    // Lines 1-3 are of owner 0 (other), lines 4, 8, 12 of owner 1 (same).
    assert_eq!(lines_named(&spans, last), [1, 2, 3, 4, 8, 12]);
    assert_eq!(last.more_same, 999 - 3);
    assert_eq!(last.more_other, 3000 - 3);
    let named: usize = o.iter().map(|x| x.named.len()).sum();
    assert!(named <= 6 * spans.len());
    assert_eq!(o, reference(&spans, 3));
}

/// Spans with many collisions: small starts and counts, a few owners, shuffled lines.
fn crowded() -> impl Strategy<Value = Vec<Span>> {
    proptest::collection::vec((0u64..60, 1u128..25, 0u32..4), 0..60)
        .prop_flat_map(|raw| {
            let n = raw.len();
            (
                Just(raw),
                Just((1..=n).collect::<Vec<usize>>()).prop_shuffle(),
            )
        })
        .prop_map(|(raw, lines)| {
            raw.into_iter()
                .zip(lines)
                .map(|((start, count, owner), line)| span(start, count, line, owner))
                .collect()
        })
}

/// Spans anywhere in u64, near u32::MAX and u64::MAX included, counts up to u64::MAX.
fn anywhere() -> impl Strategy<Value = Vec<Span>> {
    let start = prop_oneof![
        any::<u64>(),
        (u32::MAX as u64 - 40)..(u32::MAX as u64 + 40),
        (u64::MAX - 40)..=u64::MAX,
    ];
    let count = prop_oneof![1u128..50, 1..=(u64::MAX as u128)];
    proptest::collection::vec((start, count, 0u32..3), 0..40).prop_map(|raw| {
        raw.into_iter()
            .enumerate()
            .map(|(i, (s, c, o))| span(s, c, 3 * i + 7, o))
            .collect()
    })
}

proptest! {
    #[test]
    fn finds_exactly_the_pairs_every_pair_comparison_finds(spans in crowded()) {
        for cap in [0, 1, 3, usize::MAX] {
            prop_assert_eq!(earlier_overlaps(&spans, cap), reference(&spans, cap), "cap {}", cap);
        }
    }

    #[test]
    fn holds_anywhere_in_the_id_space(spans in anywhere()) {
        for cap in [1, usize::MAX] {
            prop_assert_eq!(earlier_overlaps(&spans, cap), reference(&spans, cap), "cap {}", cap);
        }
    }
}
