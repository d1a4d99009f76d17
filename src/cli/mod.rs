//! The command line: clap definitions (`args`), one thin file per subcommand (`cmd`), the
//! fast parse of `enter` (`quick`), and table and JSON output (`render`). It is the
//! binary's own; the library below it knows nothing of it.

pub mod args;
pub mod cmd;
pub mod quick;
pub mod render;
