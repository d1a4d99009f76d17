//! Which earlier lines of a subid file each line overlaps, in O(n log n + reported).
//!
//! The lint reports an overlap at the later of the two lines, naming the earlier one. A
//! file of n mutually overlapping lines has n(n-1)/2 such pairs, so listing them all is
//! quadratic in time and output (4,000 lines printed gigabytes). Instead, for every line,
//! this finds the overlapping earlier lines of other owners and of its own owner,
//! names at most `cap` of each (those with the lowest starts, ties by line) and counts
//! the rest.
//!
//! How: lines are visited in line order, so the lines already inserted are exactly the
//! earlier ones. An inserted line overlaps [s, e) when its start is below e and its end
//! above s. Positions sort the lines by (start, line), so "start below e" is a prefix of
//! positions; a max-tree over positions holding each inserted line's end (as a rank)
//! then finds, leftmost first, the positions in that prefix whose end passes s, each in
//! O(log n). Its nodes also keep the largest end of an owner other than the largest's
//! owner, which makes "of another owner" just as exact. Counts come from two Fenwick
//! trees: inserted lines overlapping [s, e) = (inserted with start < e) - (inserted with
//! end <= s), since no nonempty line can both start at or after e and end at or before s.
//! Lines of one owner get the same structures of their own.

use std::collections::HashMap;

/// A nonempty half-open range of one line: `start < end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    pub start: u64,
    /// One past the last id; may pass 2^64 on a line with huge numbers.
    pub end: u128,
    /// The line number; distinct for distinct spans.
    pub line: usize,
    /// Who owns it: spans of equal `owner` belong to one owner.
    pub owner: u32,
}

/// The overlapping earlier lines of one span.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Overlaps {
    /// Indices into the input of the named earlier spans, at most `cap` of other owners
    /// and `cap` of the same owner, in (start, line) order.
    pub named: Vec<usize>,
    /// How many more earlier spans of other owners overlap it, not named.
    pub more_other: usize,
    /// How many more earlier spans of the same owner overlap it, not named.
    pub more_same: usize,
    /// The ids of this span that earlier spans of other owners overlap lie within this
    /// half-open range (None: no such span).
    pub other_within: Option<(u128, u128)>,
    /// The same for earlier spans of its own owner.
    pub same_within: Option<(u128, u128)>,
}

/// For each span, the earlier spans (lower line number) that overlap it.
pub(crate) fn earlier_overlaps(spans: &[Span], cap: usize) -> Vec<Overlaps> {
    debug_assert!(spans.iter().all(|s| (s.start as u128) < s.end));
    let all: Vec<usize> = (0..spans.len()).collect();
    // A clean file, the usual case, needs none of the structures below.
    if !any_overlap(spans, &all) {
        return vec![Overlaps::default(); spans.len()];
    }
    let mut whole = Sweep::new(spans, all);
    let mut groups: HashMap<u32, Vec<usize>> = HashMap::new();
    for (i, s) in spans.iter().enumerate() {
        groups.entry(s.owner).or_default().push(i);
    }
    // Each span's own owner's sweep, and its index there; lone owners need none.
    let mut group_sweeps: Vec<Sweep> = Vec::new();
    let mut in_group: Vec<Option<(usize, usize)>> = vec![None; spans.len()];
    // Only owners whose own lines overlap need a sweep of their own: on a site's file the
    // owners are many, and visiting each one's structures in line order is slow.
    for members in groups.into_values().filter(|m| any_overlap(spans, m)) {
        for (local, &i) in members.iter().enumerate() {
            in_group[i] = Some((group_sweeps.len(), local));
        }
        group_sweeps.push(Sweep::new(spans, members));
    }

    let mut by_line: Vec<usize> = (0..spans.len()).collect();
    by_line.sort_unstable_by_key(|&i| spans[i].line);
    let mut result = vec![Overlaps::default(); spans.len()];
    for i in by_line {
        let span = &spans[i];
        let other = whole.earlier(i, Some(span.owner), cap);
        let mut named = other.named;
        let named_other = named.len();
        let (mut same_total, mut same_within) = (0, None);
        if let Some((g, local)) = in_group[i] {
            let sweep = &mut group_sweeps[g];
            let same = sweep.earlier(local, None, cap);
            named.extend(same.named.iter().map(|&l| sweep.members[l]));
            same_total = same.total;
            same_within = same.within;
            sweep.insert(local);
        }
        whole.insert(i);
        let named_same = named.len() - named_other;
        named.sort_unstable_by_key(|&j| (spans[j].start, spans[j].line));
        let clamp =
            |(lo, hi): (u64, u128)| ((lo as u128).max(span.start as u128), hi.min(span.end));
        result[i] = Overlaps {
            named,
            more_other: other.total - same_total - named_other,
            more_same: same_total - named_same,
            other_within: other.within.map(clamp),
            same_within: same_within.map(clamp),
        };
    }
    result
}

/// Whether any two of the spans `members` overlap.
fn any_overlap(spans: &[Span], members: &[usize]) -> bool {
    let mut sorted: Vec<(u64, u128)> = members
        .iter()
        .map(|&i| (spans[i].start, spans[i].end))
        .collect();
    sorted.sort_unstable();
    let mut reach = 0;
    for (start, end) in sorted {
        if (start as u128) < reach {
            return true;
        }
        reach = reach.max(end);
    }
    false
}

/// What `Sweep::earlier` finds.
struct Found {
    /// Local indices of at most `cap` matching spans, by position.
    named: Vec<usize>,
    /// How many inserted spans overlap, of every owner.
    total: usize,
    /// The lowest start and the highest end of the matching spans.
    within: Option<(u64, u128)>,
}

/// The search structures over some spans (all of them, or one owner's), indexed locally.
struct Sweep<'a> {
    spans: &'a [Span],
    /// Local index -> index into `spans`.
    members: Vec<usize>,
    /// Local index -> position in (start, line) order.
    position: Vec<usize>,
    /// Starts in position order.
    starts: Vec<u64>,
    /// Distinct ends, ascending; a span's end rank is 1 + its index here.
    ends: Vec<u128>,
    end_rank: Vec<u32>,
    /// Inserted spans by position, and by end rank.
    started: Fenwick,
    ended: Fenwick,
    tree: EndTree,
}

impl<'a> Sweep<'a> {
    fn new(spans: &'a [Span], members: Vec<usize>) -> Sweep<'a> {
        let n = members.len();
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_unstable_by_key(|&l| (spans[members[l]].start, spans[members[l]].line));
        let mut position = vec![0; n];
        for (p, &l) in order.iter().enumerate() {
            position[l] = p;
        }
        let starts = order.iter().map(|&l| spans[members[l]].start).collect();
        let mut ends: Vec<u128> = members.iter().map(|&i| spans[i].end).collect();
        ends.sort_unstable();
        ends.dedup();
        let end_rank = members
            .iter()
            .map(|&i| ends.partition_point(|&e| e < spans[i].end) as u32 + 1)
            .collect();
        Sweep {
            spans,
            members,
            position,
            starts,
            ends,
            end_rank,
            started: Fenwick::new(n),
            ended: Fenwick::new(n),
            tree: EndTree::new(n),
        }
    }

    /// The inserted spans overlapping local span `l` that are not of owner `exclude`.
    fn earlier(&self, l: usize, exclude: Option<u32>, cap: usize) -> Found {
        let span = &self.spans[self.members[l]];
        let prefix = self.starts.partition_point(|&s| (s as u128) < span.end);
        // Ranks up to `below` are ends at or before span.start: those spans end before it.
        let below = self.ends.partition_point(|&e| e <= span.start as u128) as u32;
        let total = self.started.sum(prefix) - self.ended.sum(below as usize);
        let Some(first) = self.tree.first_above(0, prefix, below, exclude) else {
            return Found {
                named: Vec::new(),
                total,
                within: None,
            };
        };
        // The highest end in the prefix passes `below`, since `first` does.
        let highest = self.tree.highest_before(prefix, exclude);
        let mut found = Vec::new();
        let mut next = Some(first);
        while let Some(p) = next.filter(|_| found.len() < cap) {
            found.push(self.tree.local_at(p));
            next = self.tree.first_above(p + 1, prefix, below, exclude);
        }
        Found {
            named: found,
            total,
            within: Some((self.starts[first], self.ends[highest as usize - 1])),
        }
    }

    fn insert(&mut self, l: usize) {
        let rank = self.end_rank[l];
        let owner = self.spans[self.members[l]].owner;
        self.started.add(self.position[l]);
        self.ended.add(rank as usize - 1);
        self.tree.insert(self.position[l], l, rank, owner);
    }
}

/// Counts of inserted items by index, with prefix sums, in O(log n).
struct Fenwick(Vec<usize>);

impl Fenwick {
    fn new(n: usize) -> Fenwick {
        Fenwick(vec![0; n + 1])
    }

    fn add(&mut self, index: usize) {
        let mut i = index + 1;
        while i < self.0.len() {
            self.0[i] += 1;
            i += i & i.wrapping_neg();
        }
    }

    /// How many were added at indices below `n`.
    fn sum(&self, n: usize) -> usize {
        let mut i = n;
        let mut total = 0;
        while i > 0 {
            total += self.0[i];
            i -= i & i.wrapping_neg();
        }
        total
    }
}

/// One node of the max-tree: the largest end rank below it (0: none inserted), that
/// span's owner, and the largest end rank of any other owner.
#[derive(Debug, Clone, Copy, Default)]
struct Node {
    best: u32,
    owner: u32,
    other: u32,
}

impl Node {
    fn merge(a: Node, b: Node) -> Node {
        let (hi, lo) = if a.best >= b.best { (a, b) } else { (b, a) };
        let lo_other = if lo.owner != hi.owner || lo.best == 0 {
            lo.best
        } else {
            lo.other
        };
        Node {
            best: hi.best,
            owner: hi.owner,
            other: hi.other.max(lo_other),
        }
    }

    /// Whether a span below this node has an end rank above `below`, of an owner other
    /// than `exclude` when given.
    fn has_above(&self, below: u32, exclude: Option<u32>) -> bool {
        match exclude {
            Some(x) if self.owner == x => self.other > below,
            _ => self.best > below,
        }
    }
}

/// A max-tree over positions (a power of two of leaves), with the local index of the
/// span at each inserted leaf.
struct EndTree {
    leaves: usize,
    nodes: Vec<Node>,
    local: Vec<usize>,
}

impl EndTree {
    fn new(n: usize) -> EndTree {
        let leaves = n.next_power_of_two().max(1);
        EndTree {
            leaves,
            nodes: vec![Node::default(); 2 * leaves],
            local: vec![0; n],
        }
    }

    fn insert(&mut self, position: usize, local: usize, rank: u32, owner: u32) {
        self.local[position] = local;
        let mut i = self.leaves + position;
        self.nodes[i] = Node {
            best: rank,
            owner,
            other: 0,
        };
        while i > 1 {
            i /= 2;
            self.nodes[i] = Node::merge(self.nodes[2 * i], self.nodes[2 * i + 1]);
        }
    }

    fn local_at(&self, position: usize) -> usize {
        self.local[position]
    }

    /// The highest end rank among inserted spans at positions below `to` (not of owner
    /// `exclude`), 0 when there is none.
    fn highest_before(&self, to: usize, exclude: Option<u32>) -> u32 {
        let mut acc = Node::default();
        let (mut lo, mut hi) = (self.leaves, self.leaves + to);
        while lo < hi {
            if lo & 1 == 1 {
                acc = Node::merge(acc, self.nodes[lo]);
                lo += 1;
            }
            if hi & 1 == 1 {
                hi -= 1;
                acc = Node::merge(acc, self.nodes[hi]);
            }
            lo /= 2;
            hi /= 2;
        }
        match exclude {
            Some(x) if acc.owner == x => acc.other,
            _ => acc.best,
        }
    }

    /// The lowest position in [from, to) of an inserted span whose end rank passes
    /// `below` (and whose owner is not `exclude`).
    fn first_above(
        &self,
        from: usize,
        to: usize,
        below: u32,
        exclude: Option<u32>,
    ) -> Option<usize> {
        self.descend(1, 0, self.leaves, from, to, below, exclude)
    }

    #[allow(clippy::too_many_arguments)]
    fn descend(
        &self,
        node: usize,
        lo: usize,
        hi: usize,
        from: usize,
        to: usize,
        below: u32,
        exclude: Option<u32>,
    ) -> Option<usize> {
        if hi <= from || to <= lo || !self.nodes[node].has_above(below, exclude) {
            return None;
        }
        if hi - lo == 1 {
            return Some(lo);
        }
        let mid = (lo + hi) / 2;
        self.descend(2 * node, lo, mid, from, to, below, exclude)
            .or_else(|| self.descend(2 * node + 1, mid, hi, from, to, below, exclude))
    }
}

#[cfg(test)]
#[path = "overlap_tests.rs"]
mod tests;
