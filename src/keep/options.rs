//! What a kept namespace was made with, as `userns unshare`'s options spell it, so that a
//! later `unshare --name NAME` that asks for something else is refused instead of
//! silently joining a namespace that lacks it (a user who asked for `--net` would run on
//! the host's network).

use super::record::{KeptOptions, KeptRecord, KeptRequest};
use crate::error::{Error, Result};
use crate::unshare::NsSpec;

/// The option words that made a namespace: namespaces (`--net`, ... as `kinds` lists them,
/// less those another option implies), then the other options, then the map request.
pub(crate) fn words(kinds: &[String], options: &KeptOptions, request: &KeptRequest) -> Vec<String> {
    let mut words = Vec::new();
    for kind in ["pid", "net", "uts", "ipc", "cgroup"] {
        let implied =
            (kind == "pid" && options.mount_proc) || (kind == "uts" && options.hostname.is_some());
        if kinds.iter().any(|k| k == kind) && !implied {
            words.push(format!("--{kind}"));
        }
    }
    if options.mount_proc {
        words.push("--mount-proc".into());
    } else if options.private_mounts {
        words.push("--mount".into());
    }
    if let Some(name) = &options.hostname {
        words.push(format!("--hostname {name}"));
    }
    words.extend(request.map_users.iter().map(|m| format!("--map-users {m}")));
    words.extend(
        request
            .map_groups
            .iter()
            .map(|m| format!("--map-groups {m}")),
    );
    words.extend(request.map_user.map(|u| format!("--map-user {u}")));
    words.extend(request.map_group.map(|g| format!("--map-group {g}")));
    if request.single {
        words.push("--single".into());
    }
    words
}

/// The words of a spec, as `words` gives them for a record.
pub(crate) fn spec_words(spec: &NsSpec) -> Vec<String> {
    let kinds = super::process::kinds_of(spec.extra_flags());
    words(&kinds, &KeptOptions::of(spec), &KeptRequest::of(&spec.map))
}

/// A call that names no option joins NAME as it is; one that names options must name
/// NAME's own, or it is refused with both sets and the two ways out.
pub(crate) fn check_rejoin(rec: &KeptRecord, spec: &NsSpec) -> Result<()> {
    let asked = spec_words(spec);
    if asked.is_empty() {
        return Ok(());
    }
    let mut kept = words(&rec.namespaces, &rec.options, &rec.request);
    let mut sorted_asked = asked.clone();
    kept.sort();
    sorted_asked.sort();
    if kept == sorted_asked {
        return Ok(());
    }
    let kept = words(&rec.namespaces, &rec.options, &rec.request);
    let kept_text = if kept.is_empty() {
        "no options (a user and a mount namespace, mapped with your subordinate ids)".to_string()
    } else {
        kept.join(" ")
    };
    let name = &rec.name;
    Err(Error::failure(format!(
        "kept namespace {name} was made with other options than this call asks for"
    ))
    .because(format!(
        "{name} has {kept_text}; this call asks for {}. A kept namespace's namespaces and maps \
         are fixed when it is made: joining it would drop the difference",
        asked.join(" ")
    ))
    .fix(format!(
        "join it as it is without those options (userns unshare --name {name} COMMAND, or \
         userns enter {name}); or end it and make it anew with them: userns stop {name}"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unshare::{MapRequest, Namespaces};

    fn spec(net: bool, pid: bool, hostname: Option<&str>, single: bool) -> NsSpec {
        NsSpec {
            namespaces: Namespaces {
                net,
                pid,
                ..Namespaces::default()
            },
            hostname: hostname.map(str::to_string),
            mount_proc: false,
            map: MapRequest {
                single,
                ..MapRequest::default()
            },
        }
    }

    #[test]
    fn words_name_each_option_once_with_implied_namespaces_left_out() {
        assert!(spec_words(&NsSpec::default()).is_empty());
        assert_eq!(
            spec_words(&spec(true, true, Some("box"), true)),
            ["--pid", "--net", "--hostname box", "--single"]
        );
        let proc_spec = NsSpec {
            mount_proc: true,
            namespaces: Namespaces {
                pid: true,
                mount: true,
                ..Namespaces::default()
            },
            ..NsSpec::default()
        };
        assert_eq!(spec_words(&proc_spec), ["--mount-proc"]);
        let map = NsSpec {
            map: MapRequest::from_options(&["1:200000:10".into()], &[], Some(0), None, false)
                .unwrap(),
            ..NsSpec::default()
        };
        assert_eq!(
            spec_words(&map),
            ["--map-users 1:200000:10", "--map-user 0"]
        );
    }
}
