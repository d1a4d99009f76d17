//! `userns map PID` labels each range by its owner in the files, whoever the process is:
//! a container's process running as a subordinate id (uid 1000 inside is 200999 on the
//! host) is not a user, and its id is not "own uid of 200999" (issue 12).

mod common;

use common::{assert_ok, Scenario};

/// Run `userns map PID --json` (as ivy, or as root) on a process that runs as uid 1000 inside a
/// `userns unshare` namespace of ivy, with a one-line label per map line.
fn owners_seen(s: &Scenario, as_root: bool) -> Vec<String> {
    let script = r#"
      "$USERNS" unshare setpriv --reuid 1000 --regid 1000 --clear-groups sleep 30 &
      # userns execs setpriv, which execs sleep: the same pid throughout. (Not pgrep -u
      # 200999: another test's process may run as that host uid at the same time.)
      pid=
      for _ in $(seq 100); do
        if [ "$(cat /proc/$!/comm 2>/dev/null)" = sleep ]           && [ "$(stat -c %u /proc/$! 2>/dev/null)" = 200999 ]; then
          pid=$!; break
        fi
        sleep 0.1
      done
      echo "$pid"
    "#;
    let mut child = s.spawn_sh(&format!("{script}\nwait"));
    let mut line = String::new();
    use std::io::BufRead;
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let pid = line.trim().to_string();
    assert!(!pid.is_empty(), "the process as uid 200999 did not start");
    let out = if as_root {
        // As root on the host, in the scenario's files (the /etc copy exists since the
        // spawn above): nothing of ivy's is known from the caller.
        std::process::Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg(format!(
                "mount --bind {} /etc && {} map {pid} --json",
                s.etc().display(),
                s.bin().display()
            ))
            .output()
            .unwrap()
    } else {
        s.run(&["map", &pid, "--json"])
    };
    let _ = std::process::Command::new("kill").arg(&pid).status();
    let _ = child.wait();
    let text = assert_ok(&out);
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut labels = Vec::new();
    for map in v["maps"].as_array().unwrap() {
        for e in map["entries"].as_array().unwrap() {
            labels.push(format!(
                "{} {} {} {}: {}",
                map["kind"].as_str().unwrap(),
                e["inside"],
                e["outside"],
                e["count"],
                e["owner"].as_str().unwrap()
            ));
        }
    }
    labels
}

fn expected() -> Vec<String> {
    [
        "uid 0 2000 1: own uid of ivy",
        "uid 1 200000 65536: subuid of ivy (/etc/subuid:1)",
        "gid 0 2000 1: own gid of ivy",
        "gid 1 200000 65536: subgid of ivy (/etc/subgid:1)",
    ]
    .map(String::from)
    .to_vec()
}

#[test]
fn a_process_running_as_a_subordinate_id_is_labelled_by_the_files() {
    let Some(s) = Scenario::new("map_owner_subordinate") else {
        return;
    };
    assert_eq!(owners_seen(&s, false), expected());
}

#[test]
fn root_sees_the_same_owners() {
    let Some(s) = Scenario::new("map_owner_subordinate_root") else {
        return;
    };
    assert_eq!(owners_seen(&s, true), expected());
}
