//! `userns subid show` and `userns subid check` (placeholder: being written).

use crate::cli::{SubidCheckArgs, SubidShowArgs};
use crate::error::Result;

pub fn show(_args: SubidShowArgs) -> Result<u8> {
    todo!()
}

pub fn check(_args: SubidCheckArgs) -> Result<u8> {
    todo!()
}
