//! `userns image rm`: untag and remove cached images, as `podman rmi` does, refusing an
//! image that a running container or a kept layer (`run --keep NAME`, whose upper layer
//! only makes sense over it) uses, unless forced.
//!
//! An argument is a name (`REPOSITORY[:TAG]`, short names resolved as a pull would) or
//! an image id (or its unique prefix, with or without `sha256:`). A name whose image has
//! other names is only untagged; the last name, or an id, removes the image: renamed out
//! of the cache first, then deleted inside the mapped namespace, where its files of
//! subordinate ids may be deleted.

use super::dirs::{image_users, ImageUser};
use crate::error::{Error, Result};
use crate::image::names::Names;
use crate::image::ImageCache;
use crate::registry::config::RegistriesConf;
use crate::unshare::NsSpec;
use crate::users::Account;

/// What happened to one argument, in podman's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removal {
    Untagged(String),
    Deleted(String),
}

/// An image id for `text` when it is one (or a unique prefix) of a cached image.
fn by_id(text: &str, cache: &ImageCache) -> Result<Option<String>> {
    let hex = text.strip_prefix("sha256:").unwrap_or(text);
    if hex.len() < 3 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let matches: Vec<String> = cache
        .list()?
        .into_iter()
        .map(|i| i.id)
        .filter(|id| {
            id.strip_prefix("sha256:")
                .is_some_and(|h| h.starts_with(hex))
        })
        .collect();
    match matches.len() {
        0 => Ok(None),
        1 => Ok(matches.into_iter().next()),
        n => Err(
            Error::failure(format!("{text} is the start of {n} image ids"))
                .fix("give more of the id (userns images lists them)"),
        ),
    }
}

fn not_known(text: &str) -> Error {
    Error::failure(format!("{text}: image not known"))
        .fix("userns images lists the cached images by name and id")
}

/// Untag or remove each of `targets`; `force` removes images in use too.
pub fn remove(targets: &[String], force: bool, account: &Account) -> Result<Vec<Removal>> {
    let cache = ImageCache::for_user(account);
    let conf = RegistriesConf::load(account.home.as_deref())?;
    let mut names = Names::lock(&cache)?;
    let mut out = Vec::new();
    let mut doomed: Vec<String> = Vec::new();
    for text in targets {
        let id = match by_id(text, &cache)? {
            Some(id) => {
                let gone: Vec<String> = names.of_image(&id).map(shown).collect();
                names.entries.retain(|n| n.id != id);
                out.extend(gone.into_iter().map(Removal::Untagged));
                id
            }
            None => {
                let (candidates, _) = conf.resolve(text).map_err(|_| not_known(text))?;
                let found = candidates.iter().find_map(|r| {
                    names
                        .find(&r.name(), r.tag.as_deref(), r.digest.as_deref())
                        .cloned()
                });
                let Some(name) = found else {
                    return Err(not_known(text));
                };
                names.entries.retain(|n| n != &name);
                out.push(Removal::Untagged(shown(&name)));
                if names.of_image(&name.id).next().is_some() {
                    continue;
                }
                name.id
            }
        };
        if cache.lookup(&id)?.is_none() {
            continue;
        }
        let users = image_users(account, &id);
        if !users.is_empty() && !force {
            let listed: Vec<String> = users.iter().map(ImageUser::to_string).collect();
            return Err(Error::failure(format!(
                "image {} is in use",
                crate::image::cache::short_id(&id)
            ))
            .because(format!("used by: {}", listed.join(", ")))
            .fix(
                "stop the container or remove the kept layer first, or give -f to remove it anyway",
            ));
        }
        doomed.push(id);
    }
    names.save()?;
    if doomed.is_empty() {
        return Ok(out);
    }
    // The image's files belong to subordinate ids: only the mapped namespace may delete
    // them (the same map every container and unpack uses).
    crate::unshare::enter(&NsSpec::default(), account)?;
    for id in doomed {
        if cache.remove(&id)? {
            out.push(Removal::Deleted(id));
        }
    }
    Ok(out)
}

fn shown(n: &crate::image::names::ImageName) -> String {
    match &n.tag {
        Some(t) => format!("{}:{t}", n.repository),
        None => format!("{}@{}", n.repository, n.digest),
    }
}
