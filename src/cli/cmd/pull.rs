//! `userns pull` / `image pull` and `userns rmi` / `image rm`.

use crate::cli::args::{PullArgs, RegistryArgs, RmiArgs};
use userns::error::Result;
use userns::registry::PullSpec;
use userns::run::images::Removal;
use userns::users::Account;

/// The library's pull options from the command line's.
pub fn spec(reference: String, args: &RegistryArgs) -> PullSpec {
    PullSpec {
        reference,
        platform: args.platform.clone(),
        tls_verify: args.tls_verify,
        authfile: args.authfile.clone(),
        creds: args.creds.clone(),
        always_stage: false,
    }
}

/// `-q`: no progress bar, and no word of the steps either (podman's `pull -q` prints
/// the image id alone).
pub fn quiet_if(args: &RegistryArgs) {
    if args.quiet {
        userns::be_quiet();
    }
}

pub fn run(args: PullArgs) -> Result<u8> {
    quiet_if(&args.registry);
    let account = Account::current();
    let progress = userns::registry::pull::progress_bar(args.registry.quiet);
    let image =
        userns::registry::pull::pull(&spec(args.reference, &args.registry), &account, &progress)?;
    // As podman: the image id on stdout, for scripts.
    crate::cli::render::out::println(image.id.strip_prefix("sha256:").unwrap_or(&image.id))?;
    Ok(userns::exit::OK)
}

pub fn rmi(args: RmiArgs) -> Result<u8> {
    let account = Account::current();
    for removal in userns::run::images::remove(&args.images, args.force, &account)? {
        match removal {
            Removal::Untagged(name) => {
                crate::cli::render::out::println(format!("Untagged: {name}"))?
            }
            Removal::Deleted(id) => crate::cli::render::out::println(format!(
                "Deleted: {}",
                id.strip_prefix("sha256:").unwrap_or(&id)
            ))?,
        }
    }
    Ok(userns::exit::OK)
}
