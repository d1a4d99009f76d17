//! registries.conf (version 2) as podman reads it (containers/image
//! `pkg/sysregistriesv2`, containers-registries.conf(5)):
//!
//! - the file is `$CONTAINERS_REGISTRIES_CONF` when set; else
//!   `~/.config/containers/registries.conf` when it exists, and then only the user's
//!   `registries.conf.d` is read with it; else `/etc/containers/registries.conf`, then
//!   the drop-ins of `/etc/containers/registries.conf.d` and of the user's
//!   `registries.conf.d` (`*.conf`, in name order, each over the ones before);
//! - `unqualified-search-registries` (a later file's list replaces an earlier one),
//!   `short-name-mode`, `[aliases]` (merged by name; Debian ships shortnames.conf as a
//!   drop-in), and `[[registry]]` tables, matched by the longest `prefix` (a later one of
//!   the same prefix replaces the earlier), whose `location` rewrites the name, with
//!   `insecure`, `blocked` and `[[registry.mirror]]` (tried first, in order, then the
//!   location itself; `mirror-by-digest-only` keeps them to pulls by digest);
//! - `credential-helpers` (a later file's list replaces an earlier one): where
//!   credentials are looked for, in order (`registry::auth::lookup`).

use super::reference::{self, Parsed, Reference};
use crate::error::{Error, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const SYSTEM_FILE: &str = "/etc/containers/registries.conf";
const SYSTEM_DIR: &str = "/etc/containers/registries.conf.d";

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct ConfFile {
    #[serde(default)]
    unqualified_search_registries: Option<Vec<String>>,
    #[serde(default)]
    short_name_mode: Option<String>,
    #[serde(default)]
    credential_helpers: Option<Vec<String>>,
    #[serde(default)]
    aliases: BTreeMap<String, String>,
    #[serde(default)]
    registry: Vec<RegistryTable>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
struct RegistryTable {
    #[serde(default)]
    prefix: String,
    #[serde(default)]
    location: String,
    #[serde(default)]
    insecure: bool,
    #[serde(default)]
    blocked: bool,
    #[serde(default)]
    mirror_by_digest_only: bool,
    #[serde(default)]
    mirror: Vec<MirrorTable>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
struct MirrorTable {
    location: String,
    #[serde(default)]
    insecure: bool,
}

/// The merged configuration, with the files it came from (for messages).
#[derive(Debug, Clone, Default)]
pub struct RegistriesConf {
    pub search: Vec<String>,
    /// `enforcing`, `permissive` (containers/image's default when no file sets it) or
    /// `disabled`.
    pub short_name_mode: Option<String>,
    aliases: BTreeMap<String, (String, PathBuf)>,
    registries: Vec<RegistryTable>,
    /// `credential-helpers` and the file that set it (a later file's list replaces an
    /// earlier one; an empty list means the default).
    credential_helpers: Option<(Vec<String>, PathBuf)>,
    pub files: Vec<PathBuf>,
}

/// Where to pull a reference from: one registry endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The reference as this endpoint names it (after a `location` rewrite or mirror).
    pub reference: Reference,
    /// Plain HTTP allowed and TLS not verified (`insecure = true`).
    pub insecure: bool,
    pub mirror: bool,
}

/// How a short name was resolved, for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    Qualified,
    /// An `[aliases]` entry in this file.
    Alias(PathBuf),
    /// `unqualified-search-registries`, tried in order.
    Search,
}

fn config_home(home: &Path) -> PathBuf {
    std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .unwrap_or_else(|| home.join(".config"))
}

impl RegistriesConf {
    /// Load as podman does for a user whose home is `home`.
    pub fn load(home: Option<&Path>) -> Result<RegistriesConf> {
        let user_dir = home.map(|h| config_home(h).join("containers"));
        let user_file = user_dir.as_ref().map(|d| d.join("registries.conf"));
        let user_d = user_dir.as_ref().map(|d| d.join("registries.conf.d"));
        let mut conf = RegistriesConf::default();
        let (main, dirs): (PathBuf, Vec<PathBuf>) =
            if let Some(path) = std::env::var_os("CONTAINERS_REGISTRIES_CONF") {
                (PathBuf::from(path), vec![])
            } else if let Some(file) = user_file.filter(|f| f.exists()) {
                (file, user_d.into_iter().collect())
            } else {
                let mut dirs = vec![PathBuf::from(SYSTEM_DIR)];
                dirs.extend(user_d);
                (PathBuf::from(SYSTEM_FILE), dirs)
            };
        conf.merge_file(&main)?;
        for dir in dirs {
            for f in crate::drop_ins::files(&dir) {
                conf.merge_file(&f)?;
            }
        }
        Ok(conf)
    }

    fn merge_file(&mut self, path: &Path) -> Result<()> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::io("read", path, &e)),
        };
        self.merge_text(path, &text)
    }

    fn merge_text(&mut self, path: &Path, text: &str) -> Result<()> {
        let file: ConfFile = toml::from_str(text).map_err(|e| {
            Error::failure(format!("{} is not a valid registries.conf", path.display()))
                .because(e.to_string())
                .fix("correct it as containers-registries.conf(5) describes (version 2)")
        })?;
        self.files.push(path.to_path_buf());
        if let Some(search) = file.unqualified_search_registries {
            self.search = search;
        }
        if file.short_name_mode.is_some() {
            self.short_name_mode = file.short_name_mode;
        }
        if let Some(helpers) = file.credential_helpers {
            self.credential_helpers = Some((helpers, path.to_path_buf()));
        }
        for (name, target) in file.aliases {
            self.aliases.insert(name, (target, path.to_path_buf()));
        }
        for mut table in file.registry {
            if table.prefix.is_empty() {
                table.prefix = table.location.clone();
            }
            if table.prefix.is_empty() {
                return Err(Error::failure(format!(
                    "{}: a [[registry]] has neither prefix nor location",
                    path.display()
                ))
                .fix("give it a prefix (or a location)"));
            }
            self.registries.retain(|r| r.prefix != table.prefix);
            self.registries.push(table);
        }
        Ok(())
    }

    /// The references to try for `text`, in order, and how a short name was resolved.
    pub fn resolve(&self, text: &str) -> Result<(Vec<Reference>, Resolution)> {
        let (name, tag, digest) = match reference::parse(text)? {
            Parsed::Qualified(r) => return Ok((vec![r], Resolution::Qualified)),
            Parsed::Short { name, tag, digest } => (name, tag, digest),
        };
        if let Some((target, file)) = self.aliases.get(&name) {
            let Parsed::Qualified(mut r) = reference::parse(target)? else {
                return Err(Error::failure(format!(
                    "{}: the alias {name:?} = {target:?} is not fully qualified",
                    file.display()
                ))
                .fix("an alias must name a registry: registry.example.com/name"));
            };
            if tag.is_some() || digest.is_some() {
                r.tag = tag;
                r.digest = digest;
            }
            return Ok((vec![r], Resolution::Alias(file.clone())));
        }
        if self.search.is_empty() {
            return Err(Error::failure(format!(
                "short-name {text:?} did not resolve to an alias and no \
                 unqualified-search-registries are defined"
            ))
            .because(format!("read: {}", self.shown_files()))
            .fix(format!(
                "give the full name (docker.io/library/{text}), or set \
                 unqualified-search-registries in ~/.config/containers/registries.conf"
            )));
        }
        let candidates: Vec<Reference> = self
            .search
            .iter()
            .map(|reg| reference::qualify(reg, &name, tag.as_deref(), digest.as_deref()))
            .collect();
        let enforcing = self.short_name_mode.as_deref().unwrap_or("permissive") == "enforcing";
        if enforcing && candidates.len() > 1 {
            // podman prompts on a terminal and refuses without one ("short-name resolution
            // enforced but cannot prompt without a TTY"); userns never prompts.
            let names: Vec<String> = candidates.iter().map(|c| c.to_string()).collect();
            return Err(Error::failure(format!(
                "short-name {text:?} is ambiguous: it could be any of {}",
                names.join(", ")
            ))
            .because(
                "short-name-mode is enforcing and there is more than one search registry \
                 (short-name resolution enforced; userns does not prompt)",
            )
            .fix(format!(
                "give the full name, or add an alias (\"{name}\" = \"{}\") under [aliases] in \
                 ~/.config/containers/registries.conf",
                candidates[0].name()
            )));
        }
        Ok((candidates, Resolution::Search))
    }

    fn shown_files(&self) -> String {
        if self.files.is_empty() {
            return "no registries.conf".to_string();
        }
        let shown: Vec<String> = self.files.iter().map(|f| f.display().to_string()).collect();
        shown.join(", ")
    }

    /// The `[[registry]]` whose prefix matches `name` longest (`*.example.com` matches
    /// hosts under example.com).
    fn table_for(&self, name: &str) -> Option<&RegistryTable> {
        self.registries
            .iter()
            .filter(|r| prefix_matches(&r.prefix, name))
            .max_by_key(|r| r.prefix.len())
    }

    /// The endpoints to try for `r`: mirrors first, then the (rewritten) location.
    pub fn endpoints(&self, r: &Reference) -> Result<Vec<Endpoint>> {
        let name = r.name();
        let Some(table) = self.table_for(&name) else {
            return Ok(vec![Endpoint {
                reference: r.clone(),
                insecure: false,
                mirror: false,
            }]);
        };
        if table.blocked {
            return Err(
                Error::failure(format!("registry {} is blocked", r.registry))
                    .because(format!(
                        "a [[registry]] with prefix {:?} says blocked = true ({})",
                        table.prefix,
                        self.shown_files()
                    ))
                    .fix("pull from another registry, or ask whoever set the block"),
            );
        }
        let rewrite = |location: &str| -> Result<Reference> {
            if location.is_empty() || table.prefix.starts_with("*.") {
                return Ok(r.clone());
            }
            let rest = &name[table.prefix.len()..];
            r.relocated(&format!("{location}{rest}"))
        };
        let mut out = Vec::new();
        if !table.mirror_by_digest_only || r.digest.is_some() {
            for m in &table.mirror {
                out.push(Endpoint {
                    reference: rewrite(&m.location)?,
                    insecure: m.insecure,
                    mirror: true,
                });
            }
        }
        out.push(Endpoint {
            reference: rewrite(&table.location)?,
            insecure: table.insecure,
            mirror: false,
        });
        Ok(out)
    }

    /// Where credentials are looked for, in order (`credential-helpers`; containers/image's
    /// default is the auth files alone), and where that was said, for messages.
    pub fn credential_helpers(&self) -> (Vec<String>, String) {
        match &self.credential_helpers {
            Some((list, file)) if !list.is_empty() => (
                list.clone(),
                format!("credential-helpers of {}", file.display()),
            ),
            _ => (
                vec![super::auth::AUTH_FILES.to_string()],
                "the default credential-helpers".to_string(),
            ),
        }
    }

    /// Whether `host` is marked insecure (for `--tls-verify` defaults and certs).
    pub fn insecure_host(&self, host: &str) -> bool {
        self.table_for(&format!("{host}/x"))
            .is_some_and(|t| t.insecure)
    }
}

/// containers/image's prefix rule: the prefix, then the end or a `/`, `:` or `@`;
/// `*.domain` matches any host ending in `.domain`.
fn prefix_matches(prefix: &str, name: &str) -> bool {
    if let Some(domain) = prefix.strip_prefix("*.") {
        let host = name.split('/').next().unwrap_or("");
        let host = host.split(':').next().unwrap_or(host);
        return host.ends_with(&format!(".{domain}"));
    }
    match name.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with(['/', ':', '@']),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(text: &str) -> RegistriesConf {
        let mut c = RegistriesConf::default();
        c.merge_text(Path::new("/test/registries.conf"), text)
            .unwrap();
        c
    }

    fn q(text: &str) -> Reference {
        match reference::parse(text).unwrap() {
            Parsed::Qualified(r) => r,
            _ => panic!(),
        }
    }

    #[test]
    fn short_names_resolve_by_alias_then_search() {
        let c = conf(
            r#"unqualified-search-registries = ["127.0.0.1:5000"]
               [aliases]
               "tool" = "quay.io/team/tool"
            "#,
        );
        let (refs, how) = c.resolve("tool:2").unwrap();
        assert_eq!(refs[0].to_string(), "quay.io/team/tool:2");
        assert!(matches!(how, Resolution::Alias(_)));
        let (refs, how) = c.resolve("app").unwrap();
        assert_eq!(refs[0].to_string(), "127.0.0.1:5000/app:latest");
        assert_eq!(how, Resolution::Search);
        let (refs, _) = c.resolve("docker.io/app").unwrap();
        assert_eq!(refs[0].repository, "library/app");
    }

    #[test]
    fn ambiguous_short_names_are_refused_when_enforcing() {
        let two = r#"unqualified-search-registries = ["a.example", "b.example"]
                      short-name-mode = "enforcing""#;
        let e = conf(two).resolve("app").unwrap_err();
        assert!(
            e.what.contains("a.example/app") && e.what.contains("b.example/app"),
            "{e}"
        );
        let c = conf(r#"unqualified-search-registries = ["a.example", "b.example"]"#);
        assert_eq!(c.resolve("app").unwrap().0.len(), 2);
        assert!(conf("").resolve("app").is_err());
    }

    #[test]
    fn registry_tables_rewrite_block_and_mirror() {
        let c = conf(
            r#"[[registry]]
               prefix = "example.com/team"
               location = "internal.example:5000/mirror/team"
               insecure = true
               [[registry.mirror]]
               location = "cache.example/team"
               [[registry]]
               prefix = "evil.example"
               blocked = true
               [[registry]]
               location = "127.0.0.1:5000"
               insecure = true
            "#,
        );
        let ends = c.endpoints(&q("example.com/team/app:1")).unwrap();
        assert_eq!(ends.len(), 2);
        assert_eq!(ends[0].reference.to_string(), "cache.example/team/app:1");
        assert!(ends[0].mirror && !ends[0].insecure);
        assert_eq!(
            ends[1].reference.to_string(),
            "internal.example:5000/mirror/team/app:1"
        );
        assert!(ends[1].insecure);
        // Not a match: the prefix must end at a component boundary.
        assert_eq!(c.endpoints(&q("example.com/teams/app")).unwrap().len(), 1);
        assert!(c.endpoints(&q("evil.example/x")).is_err());
        assert!(c.endpoints(&q("127.0.0.1:5000/x")).unwrap()[0].insecure);
        assert!(c.insecure_host("127.0.0.1:5000"));
        assert!(!c.insecure_host("127.0.0.1:50001"));
    }

    #[test]
    fn a_later_file_replaces_search_and_same_prefix_tables() {
        let mut c = conf(r#"unqualified-search-registries = ["a.example"]"#);
        c.merge_text(
            Path::new("/d/1.conf"),
            r#"unqualified-search-registries = ["b.example"]
               [aliases]
               "x" = "b.example/x""#,
        )
        .unwrap();
        assert_eq!(c.search, vec!["b.example"]);
        assert!(c.aliases.contains_key("x"));
        assert_eq!(c.credential_helpers().0, vec!["containers-auth.json"]);
        c.merge_text(
            Path::new("/d/2.conf"),
            r#"credential-helpers = ["ecr-login", "containers-auth.json"]"#,
        )
        .unwrap();
        c.merge_text(Path::new("/d/3.conf"), "").unwrap();
        let (helpers, named_in) = c.credential_helpers();
        assert_eq!(helpers, vec!["ecr-login", "containers-auth.json"]);
        assert!(named_in.contains("/d/2.conf"), "{named_in}");
        c.merge_text(Path::new("/d/4.conf"), "credential-helpers = []")
            .unwrap();
        assert_eq!(c.credential_helpers().0, vec!["containers-auth.json"]);
        let bad = RegistriesConf::default().merge_text(Path::new("/bad.conf"), "[[registry]]\n");
        assert!(bad.unwrap_err().what.contains("/bad.conf"));
    }
}
