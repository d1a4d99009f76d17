//! `userns ls` end to end: what it lists is checked against /proc, read by the test as
//! root, for namespaces made by the fixture user with the real helpers.

mod common;

use common::{assert_ok, describe, Scenario};
use std::os::unix::fs::MetadataExt;

/// Start `userns unshare` (optionally nested) holding `sleep`, run `userns ls ARGS`
/// while it lives, and return the ls output and what /proc said of the holder meanwhile.
fn ls_while_held(s: &Scenario, nested: bool, args: &str) -> (String, Held) {
    let holder = if nested {
        "sh -c '\"$USERNS\" unshare --single sh -c \"echo \\$\\$ > $HOME/pid; exec sleep 30\"; true'"
    } else {
        "sh -c 'echo $$ > \"$HOME/pid\"; exec sleep 30'"
    };
    let out = s.sh(&format!(
        "\"$USERNS\" unshare {holder} >/dev/null 2>&1 & \
         i=0; while ! test -s \"$HOME/pid\" && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; \
         p=$(cat \"$HOME/pid\"); readlink /proc/$p/ns/user; \
         echo $(cat /proc/$p/uid_map); echo $(cat /proc/$p/gid_map); \
         \"$USERNS\" ls {args}; kill $! $p"
    ));
    let text = assert_ok(&out);
    let mut lines = text.splitn(4, '\n');
    let mut next = || lines.next().unwrap_or_else(|| panic!("{}", describe(&out)));
    let ns = next()
        .trim_start_matches("user:[")
        .trim_end_matches(']')
        .parse();
    let uid_map = squeeze(next());
    let gid_map = squeeze(next());
    let held = Held {
        ns: ns.expect("an inode"),
        uid_map,
        gid_map,
    };
    (next().to_string(), held)
}

/// The holder's namespace and maps, as the fixture user read them from /proc.
struct Held {
    ns: u64,
    uid_map: String,
    gid_map: String,
}

/// A map as JSON gives it (`{"kind", "entries": [{"inside", "outside", "count"}]}`) in
/// the short form "0:2000:1,1:...".
fn short(map: &serde_json::Value) -> String {
    let entries = map["entries"]
        .as_array()
        .unwrap_or_else(|| panic!("not a map: {map}"));
    entries
        .iter()
        .map(|e| format!("{}:{}:{}", e["inside"], e["outside"], e["count"]))
        .collect::<Vec<_>>()
        .join(",")
}

/// "0 2000 1 1 200000 65536" (the map's words) to the short form "0:2000:1,1:...".
fn squeeze(line: &str) -> String {
    let numbers: Vec<&str> = line.split_whitespace().collect();
    numbers
        .chunks(3)
        .map(|c| c.join(":"))
        .collect::<Vec<_>>()
        .join(",")
}

#[test]
fn json_matches_proc() {
    let Some(s) = Scenario::new("ls_json_matches_proc") else {
        return;
    };
    let (out, held) = ls_while_held(&s, false, "--json");
    let list: Vec<serde_json::Value> = serde_json::from_str(&out).expect("JSON array");
    let ns = list
        .iter()
        .find(|n| n["id"].as_u64() == Some(held.ns))
        .unwrap_or_else(|| panic!("namespace {} not listed: {out}", held.ns));
    assert_eq!(ns["owner_uid"].as_u64(), Some(2000));
    assert_eq!(short(&ns["uid_map"]), held.uid_map);
    assert_eq!(short(&ns["gid_map"]), held.gid_map);
    assert_eq!(short(&ns["uid_map"]), "0:2000:1,1:200000:65536");
    assert_eq!(ns["init"], false);
    let host = std::fs::metadata("/proc/self/ns/user").unwrap().ino();
    assert_eq!(ns["parent"]["id"].as_u64(), Some(host), "{ns}");
    let init = list
        .iter()
        .find(|n| n["init"] == true)
        .expect("init listed");
    assert_eq!(init["id"].as_u64(), Some(host));
    assert_eq!(short(&init["uid_map"]), "0:0:4294967295");
    // Only namespaces the fixture user can see: none of root's other namespaces.
    for n in &list {
        assert!(n["owner_uid"] == 2000 || n["init"] == true, "{n}");
    }
}

#[test]
fn tree_nests_children_under_parents() {
    let Some(s) = Scenario::new("ls_tree_nests") else {
        return;
    };
    let (out, held) = ls_while_held(&s, true, "--tree");
    let inner = held.ns;
    let lines: Vec<&str> = out.lines().collect();
    let depth = |ino: u64| {
        lines
            .iter()
            .find(|l| l.trim_start().starts_with(&ino.to_string()))
            .map(|l| l.len() - l.trim_start().len())
            .unwrap_or_else(|| panic!("{ino} not in\n{out}"))
    };
    let host = std::fs::metadata("/proc/self/ns/user").unwrap().ino();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("{host} (init)"))),
        "{out}"
    );
    // host (depth 0) > userns unshare (2) > the nested --single namespace (4).
    assert_eq!(depth(host), 0, "{out}");
    assert_eq!(depth(inner), 4, "{out}");
}

/// A namespace whose last process has exited lives on while a child namespace holds it
/// (kernel: a user namespace keeps a reference to its parent). `ls` still shows it, with
/// no processes, between the host and the child.
#[test]
fn ancestor_without_processes_is_listed_between() {
    let Some(s) = Scenario::new("ls_ancestor_without_processes") else {
        return;
    };
    let out = s.sh(
        "\"$USERNS\" unshare --single sh -c \
             'readlink /proc/self/ns/user > \"$HOME/outer\"; \
              unshare --user --map-root-user sleep 30 >/dev/null 2>&1 & echo $! > \"$HOME/pid\"'; \
         i=0; while ! test -s \"$HOME/pid\" && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; \
         p=$(cat \"$HOME/pid\"); \
         i=0; while [ \"$(readlink /proc/$p/ns/user)\" = \"$(cat \"$HOME/outer\")\" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; \
         cat \"$HOME/outer\"; readlink /proc/$p/ns/user; \
         \"$USERNS\" ls --json; echo TREE; \"$USERNS\" ls --tree; kill $p",
    );
    let text = assert_ok(&out);
    let mut lines = text.lines();
    let mut inode = || -> u64 {
        let l = lines.next().unwrap_or_else(|| panic!("{}", describe(&out)));
        l.trim_start_matches("user:[")
            .trim_end_matches(']')
            .parse()
            .unwrap_or_else(|_| panic!("{l}: {}", describe(&out)))
    };
    let (outer, inner) = (inode(), inode());
    assert_ne!(outer, inner, "{}", describe(&out));
    let rest: Vec<&str> = lines.collect();
    let split = rest.iter().position(|l| *l == "TREE").expect("marker");
    let json = rest[..split].join("\n");
    let list: Vec<serde_json::Value> = serde_json::from_str(&json).expect("JSON array");
    let host = std::fs::metadata("/proc/self/ns/user").unwrap().ino();
    let find = |id: u64| {
        list.iter()
            .find(|n| n["id"].as_u64() == Some(id))
            .unwrap_or_else(|| panic!("{id} not listed: {json}"))
    };
    let ancestor = find(outer);
    assert_eq!(ancestor["processes"], 0, "{ancestor}");
    assert!(ancestor["pid"].is_null(), "{ancestor}");
    assert_eq!(ancestor["owner_uid"], 2000, "{ancestor}");
    assert_eq!(ancestor["parent"]["id"].as_u64(), Some(host), "{ancestor}");
    assert_eq!(find(inner)["parent"]["id"].as_u64(), Some(outer), "{json}");
    let tree = &rest[split + 1..];
    let depth = |ino: u64| {
        tree.iter()
            .find(|l| l.trim_start().starts_with(&ino.to_string()))
            .map(|l| l.len() - l.trim_start().len())
            .unwrap_or_else(|| panic!("{ino} not in {tree:#?}"))
    };
    assert_eq!(depth(host), 0, "{tree:#?}");
    assert_eq!(depth(outer), 2, "{tree:#?}");
    assert_eq!(depth(inner), 4, "{tree:#?}");
}

/// A namespace root makes with an identity map (userns maps all ids one to one for
/// root) is not the initial one: it is listed under its parent, not as "(init)".
#[test]
fn an_identity_mapped_child_of_root_is_not_taken_for_the_initial_namespace() {
    if !nix::unistd::geteuid().is_root() {
        assert!(std::env::var("CI").is_err(), "CI runs the tests as root");
        eprintln!("skipped: needs root");
        return;
    }
    let userns = env!("CARGO_BIN_EXE_userns");
    let mut holder = std::process::Command::new(userns)
        .args(["unshare", "sleep", "30"])
        .spawn()
        .expect("userns unshare");
    let pid = holder.id();
    let own = std::fs::metadata("/proc/self/ns/user").unwrap().ino();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let child = loop {
        let ino = std::fs::metadata(format!("/proc/{pid}/ns/user")).map(|m| m.ino());
        match ino {
            Ok(ino) if ino != own => break ino,
            _ => {}
        }
        assert!(std::time::Instant::now() < deadline, "no namespace made");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let map = std::fs::read_to_string(format!("/proc/{pid}/uid_map")).unwrap();
    let out = std::process::Command::new(userns)
        .args(["ls", "--json"])
        .output()
        .unwrap();
    let _ = holder.kill();
    let _ = holder.wait();
    let text = assert_ok(&out);
    assert_eq!(
        map.split_whitespace().collect::<Vec<_>>(),
        ["0", "0", "4294967295"]
    );
    let list: Vec<serde_json::Value> = serde_json::from_str(&text).expect("JSON array");
    let ns = list
        .iter()
        .find(|n| n["id"].as_u64() == Some(child))
        .unwrap_or_else(|| panic!("{child} not listed: {text}"));
    assert_eq!(ns["init"], false, "{ns}");
    assert_eq!(ns["parent"]["id"].as_u64(), Some(own), "{ns}");
    let inits: Vec<_> = list.iter().filter(|n| n["init"] == true).collect();
    assert_eq!(inits.len(), 1, "{inits:?}");
    assert_eq!(inits[0]["id"].as_u64(), Some(own));
}
