//! Fuzz the parser of /proc/PID/uid_map text (`idmap::proc::parse_map`): it must never
//! panic, and what it keeps must be a map the kernel could have printed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use userns::idmap::map::MapError;
use userns::idmap::proc::parse_map;
use userns::ids::IdKind;

fuzz_target!(|data: &[u8]| {
    let parsed = parse_map(IdKind::Uid, data);
    let lines = data.split(|&b| b == b'\n').count();
    let mut last = 0;
    for s in &parsed.skipped {
        assert!(
            s.line > last && s.line <= lines,
            "skipped line numbers ascend within the input"
        );
        last = s.line;
    }
    // Kept lines: non-empty, inside the id limit, no overlaps. Only the sizes of one write
    // may exceed the kernel's (a huge input can hold more than 340 good lines).
    match parsed.map.validate() {
        Ok(()) | Err(MapError::TooManyLines { .. }) | Err(MapError::TooLong { .. }) => {}
        Err(MapError::Empty) => assert!(parsed.map.entries.is_empty()),
        Err(e) => panic!("kept a line the kernel would never print: {e}"),
    }
    for e in &parsed.map.entries {
        assert_eq!(parsed.map.to_host(e.inside), Some(e.outside));
        assert_eq!(parsed.map.to_ns(e.outside), Some(e.inside));
    }
    // What is kept reads back the same from the text the kernel would print.
    let again = parse_map(IdKind::Uid, parsed.map.to_proc_text().as_bytes());
    assert!(again.skipped.is_empty());
    assert_eq!(again.map, parsed.map);
});
