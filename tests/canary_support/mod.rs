//! The canary of the escape tests: a scenario whose image cache is in its scratch, with
//! a directory beside it that the fixture user owns, where whatever escaped the image's
//! root would land.

use crate::common::Scenario;
use crate::image_support::path_str;
use std::process::Command;

/// A scenario whose image cache is in its scratch, with a canary directory `outside`
/// beside it that the fixture user owns (what escaped would land there).
pub fn scenario(test: &str) -> Option<Scenario> {
    let scn = Scenario::new(test)?;
    let data = scn.scratch().join("data");
    let outside = scn.scratch().join("outside");
    std::fs::create_dir_all(outside.join("dir")).unwrap();
    std::fs::write(outside.join("canary"), "untouched").unwrap();
    let own = Command::new("chown")
        .arg("-R")
        .arg(format!("{}:{}", scn.uid(), scn.gid()))
        .arg(&outside)
        .status();
    assert!(own.unwrap().success());
    Some(scn.env("XDG_DATA_HOME", path_str(&data)))
}

/// The canary directory, untouched: its file as written, nothing new beside or under it.
#[track_caller]
pub fn assert_canary_untouched(scn: &Scenario) {
    let outside = scn.scratch().join("outside");
    assert_eq!(
        std::fs::read_to_string(outside.join("canary")).unwrap(),
        "untouched"
    );
    let mut names: Vec<String> = std::fs::read_dir(&outside)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["canary", "dir"], "nothing new outside the root");
    assert_eq!(std::fs::read_dir(outside.join("dir")).unwrap().count(), 0);
}
