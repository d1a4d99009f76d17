//! Output for people (tables) and for scripts (JSON), all of it through `out`.

pub mod json;
pub mod out;
pub mod table;
