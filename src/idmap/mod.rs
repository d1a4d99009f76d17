//! uid_map / gid_map: read, plan, validate, translate, write.

pub mod map;
pub mod owners;
pub mod plan;
pub mod proc;
pub mod record;

pub use map::{IdMap, IdMapEntry, MapError};
pub use plan::{plan_for_user, plan_map, LeftOut, MapPlan};
