//! The rules about lines shadow 4.13 reads otherwise than they look (see `parse`): what
//! it skips, forms only it reads (hex, octal, signs, blanks, a fourth field), owners
//! written as a uid it does not recognise, and the arithmetic of `find_range`.

use super::{finding, Finding, Passwd, Rule, Severity};
use crate::ids::ID_LIMIT;
use crate::subid::parse::{canonical_uid, format_entry, SubIdEntry, SubIdFile, SHADOW_SKIPS};

/// Lines the parser skipped, each with what shadow does with it.
pub(super) fn malformed(file: &SubIdFile, out: &mut Vec<Finding>) {
    for s in &file.skipped {
        let shadow = s.shadow.as_deref().unwrap_or(SHADOW_SKIPS);
        out.push(finding(
            Severity::Error,
            Rule::Malformed,
            file,
            s.line,
            format!("malformed line: {}", s.reason),
            Some(format!(
                "write it as OWNER:START:COUNT in decimal (e.g. ivy:100000:65536), or comment it out with #; {shadow}"
            )),
        ));
    }
}

/// Entries in a form shadow 4.13 reads (and userns, following newuidmap) but newer shadow
/// refuses or reads otherwise: say what 4.13 reads and how to write it plainly.
pub(super) fn odd_forms(file: &SubIdFile, out: &mut Vec<Finding>) {
    for odd in &file.odd {
        // Entries are in line order: a binary search keeps a file of odd lines linear.
        let plain = file
            .entries
            .binary_search_by_key(&odd.line, |e| e.line)
            .ok()
            .map(|i| &file.entries[i])
            .map(|e| {
                format!(
                    "; newuidmap reads {}",
                    format_entry(&e.owner_text, e.start, e.count)
                )
            })
            .unwrap_or_default();
        out.push(finding(
            Severity::Warning,
            Rule::ShadowOnlyForm,
            file,
            odd.line,
            format!("{}{plain}", odd.note),
            Some(
                "write OWNER:START:COUNT in plain decimal, with nothing after COUNT: newer shadow refuses these forms"
                    .into(),
            ),
        ));
    }
}

/// An owner of digits that is a uid of passwd but not written as shadow prints it
/// (`02000`): newuidmap and getsubids compare the text with `2000`, so no one owns it.
pub(super) fn non_canonical_uid(
    file: &SubIdFile,
    e: &SubIdEntry,
    passwd: &dyn Passwd,
) -> Option<Finding> {
    let text = &e.owner_text;
    if canonical_uid(text).is_some() || text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let uid = text.parse::<u32>().ok()?;
    if passwd.by_name(text).is_some() {
        return None;
    }
    let whose = passwd
        .by_uid(uid)
        .and_then(|a| a.name)
        .map(|n| format!(" ({n})"))
        .unwrap_or_default();
    Some(finding(
        Severity::Warning,
        Rule::NonCanonicalUid,
        file,
        e.line,
        format!(
            "owner {text:?} is not uid {uid}{whose} to shadow: newuidmap and getsubids compare the text with \"{uid}\", so no one can use this range"
        ),
        Some(format!("write the owner as {uid}")),
    ))
}

/// `START:0` at 0: shadow 4.13's `find_range` computes the last id as start+count-1 in an
/// unsigned long, which wraps to 2^64-1, so newuidmap lets the owner map every id.
pub(super) fn zero_at_zero(e: &SubIdEntry) -> &'static str {
    if e.start == 0 && e.count == 0 {
        "; worse, newuidmap 4.13 reads count 0 at start 0 as every id (start+count-1 wraps), so its owner may map any host id, root included"
    } else {
        ""
    }
}

/// What of an overflowing range newuidmap and the kernel still use.
pub(super) fn past_limit(e: &SubIdEntry, own_id: Option<u32>) -> String {
    if e.end() > 1u128 << 64 {
        return "; start+count also passes 2^64, so newuidmap refuses every id of it".into();
    }
    if e.start >= ID_LIMIT {
        return String::new();
    }
    let usable = ID_LIMIT - e.start;
    match own_id {
        Some(id) if (id as u64) >= e.start => String::new(),
        _ => format!(
            "; userns maps its first {usable} ids (up to {})",
            ID_LIMIT - 1
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::run;
    use super::*;

    fn of(findings: &[Finding], line: usize, rule: Rule) -> &Finding {
        findings
            .iter()
            .find(|f| f.line == line && f.rule == rule)
            .unwrap_or_else(|| panic!("no {rule:?} at line {line}: {findings:#?}"))
    }

    const GOOD: &str = "ivy:100000:65536\n";

    #[test]
    fn forms_only_shadow_4_13_reads_are_warnings_that_say_what_it_reads() {
        let f = run(&format!("{GOOD}ivy:010:5\nivy: 0x20:-0:junk\n"), GOOD);
        let octal = of(&f, 2, Rule::ShadowOnlyForm);
        assert_eq!(octal.severity, Severity::Warning);
        assert!(
            octal.message.contains("octal") && octal.message.contains("newuidmap reads ivy:8:5"),
            "{octal}"
        );
        let many = of(&f, 3, Rule::ShadowOnlyForm);
        assert!(
            many.message.contains("white space")
                && many.message.contains("\"-0\" has a - sign")
                && many.message.contains("third field")
                && many.message.contains("ivy:32:0"),
            "{many}"
        );
    }

    #[test]
    fn each_malformed_line_says_what_shadow_does_with_it() {
        let f = run(&format!("{GOOD}+ivy:1:2\nivy:1\n"), GOOD);
        let nis = of(&f, 2, Rule::Malformed);
        assert!(
            nis.fix
                .as_deref()
                .unwrap()
                .ends_with("ignore it (a NIS entry) silently"),
            "{nis}"
        );
        let short = of(&f, 3, Rule::Malformed);
        assert!(
            short.fix.as_deref().unwrap().ends_with(SHADOW_SKIPS),
            "{short}"
        );
    }

    #[test]
    fn count_0_at_0_is_named_as_every_id_to_newuidmap() {
        let f = run(&format!("{GOOD}ivy:0:0\nivy:5:0\n"), GOOD);
        assert!(of(&f, 2, Rule::ZeroCount).message.contains("every id"));
        assert!(!of(&f, 3, Rule::ZeroCount).message.contains("every id"));
    }

    #[test]
    fn a_range_past_the_largest_id_says_what_is_still_mapped() {
        let f = run(
            &format!("{GOOD}ivy:4294967000:1000\nivy:5000:-1\nivy:3000:18446744073709000000\n"),
            GOOD,
        );
        let past = of(&f, 2, Rule::Overflow);
        assert!(past.message.contains("maps its first 295 ids"), "{past}");
        // -1 from 5000 wraps 2^64: newuidmap refuses all of it.
        let wraps = of(&f, 3, Rule::Overflow);
        assert!(wraps.message.contains("passes 2^64"), "{wraps}");
        let huge = of(&f, 4, Rule::Overflow);
        assert!(huge.message.contains("maps its first"), "{huge}");
    }
}
