//! `userns stat PATH...`: a file's owner as the host sees it and as your namespace sees it
//! (translated through the planned maps; no namespace is entered), with type, mode, size.

use crate::cli::args::StatArgs;
use serde::Serialize;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use userns::error::{Error, Result};
use userns::exit;
use userns::idmap::IdMap;
use userns::subid::SubIdPaths;
use userns::unshare::{plan_mapping, MapRequest};
use userns::users::Account;

#[derive(Debug, Serialize)]
pub struct Ids {
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

#[derive(Debug, Serialize)]
pub struct FileOwners {
    pub path: String,
    #[serde(rename = "type")]
    pub file_type: &'static str,
    /// Permission bits in octal, e.g. "0755".
    pub mode: String,
    pub size: u64,
    pub host: Ids,
    /// None where the host id is not mapped (the namespace shows it as the overflow id).
    pub namespace: Ids,
}

/// Describe one file without following a symlink in its last component.
pub fn describe(path: &Path, uid_map: &IdMap, gid_map: &IdMap) -> Result<FileOwners> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| Error::io("inspect", path, &e))?;
    let st = userns::clean::fs::FileStat {
        dev: meta.dev(),
        ino: meta.ino(),
        mode: meta.mode(),
        uid: meta.uid(),
        gid: meta.gid(),
        size: meta.size(),
        nlink: meta.nlink(),
    };
    Ok(FileOwners {
        path: userns::clean::fs::display_bytes(path.as_os_str().as_encoded_bytes()),
        file_type: st.type_name(),
        mode: format!("{:04o}", st.mode & 0o7777),
        size: st.size,
        host: Ids {
            uid: Some(st.uid),
            gid: Some(st.gid),
        },
        namespace: Ids {
            uid: uid_map.to_ns(st.uid),
            gid: gid_map.to_ns(st.gid),
        },
    })
}

fn show(id: Option<u32>) -> String {
    id.map_or_else(|| "unmapped".to_string(), |i| i.to_string())
}

pub fn run(args: StatArgs) -> Result<u8> {
    let account = Account::current();
    let mapping = plan_mapping(&MapRequest::default(), &account, &SubIdPaths::default())?;
    let mut rows = Vec::new();
    let mut code = exit::OK;
    for path in &args.paths {
        match describe(path, &mapping.uid, &mapping.gid) {
            Ok(r) => rows.push(r),
            Err(e) => {
                userns::note(e);
                code = exit::PROBLEMS;
            }
        }
    }
    if args.json {
        crate::cli::render::json::print_json(&rows)?;
    } else if !rows.is_empty() {
        let table: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                vec![
                    r.path.clone(),
                    r.file_type.to_string(),
                    r.mode.clone(),
                    r.size.to_string(),
                    format!("{}:{}", show(r.host.uid), show(r.host.gid)),
                    format!("{}:{}", show(r.namespace.uid), show(r.namespace.gid)),
                ]
            })
            .collect();
        crate::cli::render::out::print(crate::cli::render::table::render(
            &["PATH", "TYPE", "MODE", "SIZE", "HOST", "NAMESPACE"],
            &table,
        ))?;
    }
    Ok(code)
}
