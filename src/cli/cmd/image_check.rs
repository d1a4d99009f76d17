//! `userns image check SOURCE`: the owners of an image's files against the map `run`
//! would unpack it in (or the one given); exit 1 when some do not fit.

use crate::cli::args::ImageCheckArgs;
use userns::error::Result;
use userns::image::cache::short_id;
use userns::image::idcheck::{self, FixBasis, KindReport, SourceCheck};
use userns::subid::SubIdPaths;
use userns::unshare::MapRequest;
use userns::users::Account;

pub fn run(args: ImageCheckArgs) -> Result<u8> {
    super::pull::quiet_if(&args.registry);
    let account = Account::current();
    let explicit = !args.map_users.is_empty() || !args.map_groups.is_empty();
    let request = explicit
        .then(|| MapRequest::from_options(&args.map_users, &args.map_groups, None, None, false))
        .transpose()?;
    let target = userns::run::map_target(&args.userns, request.as_ref(), &account)?;
    // Without readable subid files there is still a report, only no range to suggest.
    let basis = FixBasis::read(&account, &SubIdPaths::default()).ok();
    let text = args.source.to_str().unwrap_or("");
    let checked = if userns::registry::pull::looks_like_reference(text) {
        // From a registry: the layers downloaded, verified and scanned as they stream
        // (the census `pull` checks), then the stage removed (nothing is unpacked or
        // kept).
        let mut spec = super::pull::spec(text.to_string(), &args.registry);
        spec.always_stage = true;
        let cache = userns::image::ImageCache::for_user(&account);
        let progress = userns::registry::pull::progress_bar(args.registry.quiet);
        let fetched = userns::registry::fetch(&spec, &cache, &account, &progress)?;
        fetched.remove_stage();
        let Some(census) = fetched.census.as_ref() else {
            return Err(userns::error::Error::failure(
                "the pull scanned no layers to check",
            ));
        };
        idcheck::check_streamed(
            std::path::PathBuf::from(fetched.origin()),
            fetched.id.clone(),
            census,
            &target,
            basis.as_ref(),
        )
    } else {
        idcheck::check_source(&args.source, &target, basis.as_ref())?
    };
    let code = if checked.report.fits {
        userns::exit::OK
    } else {
        userns::exit::PROBLEMS
    };
    if args.json {
        crate::cli::render::json::print_json(&checked)?;
    } else {
        crate::cli::render::out::print(human(&checked))?;
    }
    Ok(code)
}

/// `uids 0-65536`.
fn held(k: &KindReport) -> String {
    format!("{}s {}", k.kind, idcheck::report::inside_spans(&k.map))
}

fn human(c: &SourceCheck) -> String {
    let r = &c.report;
    let mut out = format!(
        "{} ({}, {}, {} layer{}, {} entries)\nmap: {}: {}; {}\n",
        c.source.display(),
        c.kind,
        short_id(&c.id),
        r.layers,
        if r.layers == 1 { "" } else { "s" },
        r.entries,
        r.map_origin,
        held(&r.uids),
        held(&r.gids),
    );
    if r.fits {
        let highest = |k: &KindReport| {
            k.highest
                .map_or("none".to_string(), |h| format!("highest {h}"))
        };
        out.push_str(&format!(
            "every owner fits: {} uids ({}), {} gids ({})\n",
            r.uids.distinct,
            highest(&r.uids),
            r.gids.distinct,
            highest(&r.gids)
        ));
        return out;
    }
    let mut rows = Vec::new();
    for k in [&r.uids, &r.gids] {
        for u in &k.unmapped {
            let mut paths = u.paths.join(", ");
            let more = u.entries.saturating_sub(u.paths.len() as u64);
            if more > 0 {
                paths.push_str(&format!(" (+{more})"));
            }
            rows.push(vec![
                k.kind.to_string(),
                u.id.to_string(),
                u.entries.to_string(),
                paths,
            ]);
        }
        if let Some(u) = k.unlisted {
            rows.push(vec![
                k.kind.to_string(),
                format!("{}-{}", u.lowest, u.highest),
                u.entries.to_string(),
                "(more ids than are listed one by one)".to_string(),
            ]);
        }
    }
    out.push_str(&crate::cli::render::table::render(
        &["KIND", "ID", "ENTRIES", "PATHS"],
        &rows,
    ));
    for k in [&r.uids, &r.gids] {
        if k.fits() {
            continue;
        }
        let highest = k.highest.unwrap_or(0);
        let fix = k
            .fix
            .as_ref()
            .map_or("give yourself more subordinate ids".to_string(), |f| {
                f.to_string()
            });
        out.push_str(&format!(
            "highest {} needed: {highest}; fix: {fix}\n",
            k.kind
        ));
    }
    out
}
