//! Output for people (tables) and for scripts (JSON).

pub mod json;
pub mod table;
