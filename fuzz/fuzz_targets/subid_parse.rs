//! Fuzz the parser of /etc/subuid and /etc/subgid (`subid::parse::parse`): it must never
//! panic, and it must account for every line: a blank or comment line is neither an entry
//! nor skipped; every other line is exactly one of the two; line numbers ascend.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;
use userns::subid::parse::{format_entry, parse, parse_line};

fuzz_target!(|data: &[u8]| {
    let file = parse(Path::new("/etc/subuid"), data);
    let lines: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();

    for list in [
        file.entries.iter().map(|e| e.line).collect::<Vec<_>>(),
        file.skipped.iter().map(|s| s.line).collect::<Vec<_>>(),
    ] {
        assert!(list.windows(2).all(|w| w[0] < w[1]), "line numbers ascend");
        assert!(list.iter().all(|&n| n >= 1 && n <= lines.len()));
    }

    let mut entries = file.entries.iter().peekable();
    let mut skipped = file.skipped.iter().peekable();
    for (index, raw) in lines.iter().enumerate() {
        let n = index + 1;
        let is_entry = entries.next_if(|e| e.line == n).is_some();
        let is_skipped = skipped.next_if(|s| s.line == n).is_some();
        let ignorable = match std::str::from_utf8(raw) {
            Ok(t) => t.trim().is_empty() || t.trim_start().starts_with('#'),
            Err(_) => false,
        };
        if ignorable {
            assert!(!is_entry && !is_skipped, "line {n}: blank or comment was kept");
        } else {
            assert!(is_entry ^ is_skipped, "line {n}: must be an entry or skipped");
        }
    }

    assert!(entries.peek().is_none() && skipped.peek().is_none());

    for e in &file.entries {
        assert!(!e.owner_text.is_empty() && !e.owner_text.contains(':'));
        // Writing an entry back and reading it again gives the same entry.
        let text = format_entry(&e.owner_text, e.start, e.count);
        assert_eq!(parse_line(&text, e.line).as_ref(), Ok(e), "{text}");
    }
    for s in &file.skipped {
        assert!(!s.reason.is_empty());
    }
});
