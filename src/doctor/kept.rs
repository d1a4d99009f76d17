//! The namespaces userns keeps (`unshare --name`, and `containers` for `run`): one whose
//! map went stale when /etc/subuid or /etc/subgid changed still maps the old ranges, and
//! everything made in it gets owners the new ranges do not include.

use super::{Check, Status};

/// One live kept namespace: its name, and why its map is stale, if it is.
pub struct Kept {
    pub name: String,
    pub stale: Option<String>,
}

pub fn judge(kept: &[Kept]) -> Check {
    const NAME: &str = "kept namespaces";
    if kept.is_empty() {
        return Check::pass(NAME, "none");
    }
    let stale: Vec<&Kept> = kept.iter().filter(|k| k.stale.is_some()).collect();
    if stale.is_empty() {
        let names: Vec<&str> = kept.iter().map(|k| k.name.as_str()).collect();
        return Check::pass(NAME, format!("{}: maps current", names.join(", ")));
    }
    let evidence: Vec<String> = stale
        .iter()
        .map(|k| format!("{}: {}", k.name, k.stale.as_deref().unwrap_or("")))
        .collect();
    let stops: Vec<String> = stale
        .iter()
        .map(|k| format!("userns stop {}", k.name))
        .collect();
    Check::new(NAME, Status::Warn, evidence.join("\n")).with_fix(format!(
        "{} (the next `userns run` replaces `containers` by itself)",
        stops.join("; ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(name: &str, stale: Option<&str>) -> Kept {
        Kept {
            name: name.into(),
            stale: stale.map(str::to_string),
        }
    }

    #[test]
    fn none_and_current_pass() {
        assert_eq!(judge(&[]).status, Status::Pass);
        let c = judge(&[kept("dev", None), kept("containers", None)]);
        assert_eq!(c.status, Status::Pass);
        assert_eq!(c.evidence, "dev, containers: maps current");
    }

    #[test]
    fn a_stale_one_warns_with_its_stop() {
        let c = judge(&[kept("dev", Some("/etc/subuid changed")), kept("x", None)]);
        assert_eq!(c.status, Status::Warn);
        assert_eq!(c.evidence, "dev: /etc/subuid changed");
        assert!(c.fix.unwrap().starts_with("userns stop dev"));
    }
}
