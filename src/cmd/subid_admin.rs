//! `userns subid add` and `userns subid del` (placeholder: being written).

use crate::cli::{SubidAddArgs, SubidDelArgs};
use crate::error::Result;

pub fn add(_args: SubidAddArgs) -> Result<u8> {
    todo!()
}

pub fn del(_args: SubidDelArgs) -> Result<u8> {
    todo!()
}
