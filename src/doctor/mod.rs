//! `userns doctor`: why rootless user namespaces fail on this machine, one check a line,
//! each with its evidence and the one-line fix (the questions users keep asking: podman
//! #2788-style "newuidmap: Operation not permitted", Ubuntu 24.04's AppArmor switch,
//! missing subuid lines, storage left over from another map).

pub mod checks;
pub mod kept;
pub mod live;
pub mod machine;
pub mod nested;
pub mod storage;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Warn,
    Fail,
    /// Not applicable here (a sysctl this kernel lacks, a live test not asked for).
    Skip,
}

impl Status {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
            Status::Skip => "skip",
        }
    }
}

/// One line of the checklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// A short stable name: "newuidmap", "user.max_user_namespaces".
    pub name: String,
    pub status: Status,
    /// What was seen: a value, a path, a line.
    pub evidence: String,
    pub fix: Option<String>,
    /// The maps the evidence names, in the structured form every `--json` output gives
    /// a map (`{"kind", "entries": [{"inside", "outside", "count"}]}`); none for most
    /// checks.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub maps: Vec<crate::idmap::IdMap>,
}

impl Check {
    pub fn new(name: impl Into<String>, status: Status, evidence: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            status,
            evidence: evidence.into(),
            fix: None,
            maps: Vec::new(),
        }
    }

    pub(crate) fn pass(name: impl Into<String>, evidence: impl Into<String>) -> Check {
        Check::new(name, Status::Pass, evidence)
    }

    pub fn with_fix(mut self, fix: impl Into<String>) -> Check {
        self.fix = Some(fix.into());
        self
    }

    pub(crate) fn with_maps(mut self, maps: Vec<crate::idmap::IdMap>) -> Check {
        self.maps = maps;
        self
    }
}

/// Render the checklist as aligned text lines.
pub fn render(checks: &[Check]) -> String {
    let width = checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
    let mut out = String::new();
    for c in checks {
        let mut lines = c.evidence.lines();
        out.push_str(&format!(
            "{:<4}  {:<width$}  {}\n",
            c.status.label(),
            c.name,
            lines.next().unwrap_or("")
        ));
        for more in lines {
            out.push_str(&format!("{:<4}  {:<width$}  {more}\n", "", ""));
        }
        if let Some(fix) = &c.fix {
            if c.status != Status::Pass {
                for (i, line) in fix.lines().enumerate() {
                    let head = if i == 0 { "fix:" } else { "" };
                    out.push_str(&format!("{:<4}  {:<width$}  {head:<4} {line}\n", "", ""));
                }
            }
        }
    }
    let count = |s: Status| checks.iter().filter(|c| c.status == s).count();
    out.push_str(&format!(
        "{} passed, {} warnings, {} failed\n",
        count(Status::Pass),
        count(Status::Warn),
        count(Status::Fail)
    ));
    out
}
