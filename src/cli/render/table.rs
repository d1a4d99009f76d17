//! Table output, behind one small function so the renderer can be swapped.

use comfy_table::{presets, ContentArrangement, Table};

/// Render rows under a header as plain aligned columns (no borders), easy to read and to grep.
pub fn render(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut table = Table::new();
    table
        .load_style(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header.iter().copied());
    for row in rows {
        table.add_row(row.iter().cloned());
    }
    // comfy-table pads every line with a leading space under this preset; trim it and
    // the trailing blanks so output diffs cleanly.
    let mut out = String::new();
    for line in table.to_string().lines() {
        out.push_str(line.strip_prefix(' ').unwrap_or(line).trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn renders_aligned_columns() {
        let t = super::render(
            &["INSIDE", "OUTSIDE"],
            &[
                vec!["0".into(), "1000".into()],
                vec!["1".into(), "100000".into()],
            ],
        );
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("INSIDE"));
        assert_eq!(lines[1].find("1000"), lines[0].find("OUTSIDE"));
    }
}
