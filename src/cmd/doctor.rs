//! `userns doctor` (placeholder: being written).

use crate::cli::DoctorArgs;
use crate::error::Result;

pub fn run(_args: DoctorArgs) -> Result<u8> {
    todo!("userns doctor")
}
