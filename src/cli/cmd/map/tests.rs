//! Tests of `userns map`'s rendering, kept apart from it for length.

use super::*;
use std::path::Path;
use userns::idmap::plan::plan_map;
use userns::idmap::proc::parse_map;
use userns::subid::parse::parse;

/// The fixture user, as the library's own tests have it (`Account::ivy`).
fn ivy() -> Account {
    Account {
        name: Some("ivy".into()),
        uid: 2000,
        gid: 2000,
        home: None,
    }
}

fn report(uid_text: &str, gid_text: &str) -> MapReport {
    let subuid = parse(Path::new("/etc/subuid"), b"ivy:100000:65536\n");
    let subgid = parse(Path::new("/etc/subgid"), b"ivy:100000:65536\n");
    let u = parse_map(IdKind::Uid, uid_text.as_bytes());
    let g = parse_map(IdKind::Gid, gid_text.as_bytes());
    MapReport {
        pid: Some(4242),
        owner_uid: 2000,
        owner_name: Some("ivy".into()),
        userns_inode: Some(4026532000),
        userns_inode_error: None,
        setgroups: Some(SetGroups::Allow),
        setgroups_error: None,
        maps: vec![
            map_view("u".into(), &u.map, &u.skipped, &subuid, &[ivy()]),
            map_view("g".into(), &g.map, &g.skipped, &subgid, &[ivy()]),
        ],
    }
}

#[test]
fn renders_owners_per_line() {
    let r = report(
        "         0       2000          1\n         1     100000      65536\n",
        "",
    );
    let text = render_report(&r);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "process 4242, owned by ivy (uid 2000)");
    assert_eq!(lines[1], "user namespace: 4026532000");
    assert_eq!(lines[2], "setgroups: allow");
    let cols = |l: &str| l.split_whitespace().map(String::from).collect::<Vec<_>>();
    assert_eq!(
        cols(lines[5]),
        ["uid", "0", "2000", "1", "own", "uid", "of", "ivy"]
    );
    assert_eq!(
        cols(lines[6]),
        [
            "uid",
            "1",
            "100000",
            "65536",
            "subuid",
            "of",
            "ivy",
            "(/etc/subuid:1)"
        ]
    );
    assert!(lines[7].starts_with("gid"));
    assert!(lines[7].contains("unmapped: nothing written to gid_map yet; every gid reads as 65534"));
    assert_eq!(r.maps[1].state, MapState::Unmapped);
}

#[test]
fn own_ids_are_seen_from_the_parent() {
    let u = parse_map(IdKind::Uid, b"0 2000 1\n1 200000 65535\n").map;
    let g = parse_map(IdKind::Gid, b"0 2001 1\n").map;
    let inside_root = Account {
        name: Some("root".into()),
        uid: 0,
        gid: 0,
        home: None,
    };
    let unmapped = Account {
        name: None,
        uid: 70000,
        gid: 0,
        home: None,
    };
    let out = accounts_outside(&[inside_root, unmapped], &u, &g, |uid| {
        (uid == 2000).then(|| "ivy".to_string())
    });
    assert_eq!(out.len(), 1);
    assert_eq!(
        (out[0].name.as_deref(), out[0].uid, out[0].gid),
        (Some("ivy"), 2000, 2001)
    );
}

#[test]
fn identity_map_says_so() {
    let id = "         0          0 4294967295\n";
    let r = report(id, id);
    let text = render_report(&r);
    assert_eq!(text.matches("identity (initial namespace)").count(), 2);
}

#[test]
fn plan_table_and_helper_lines() {
    let file = parse(Path::new("/etc/subuid"), b"ivy:100000:65536\nivy:1990:20\n");
    let subids = UserSubIds::from_file(IdKind::Uid, &file, &ivy());
    let plan = plan_map(IdKind::Uid, 2000, 0, &subids);
    let view = plan_view(&plan, &file, &ivy());
    assert_eq!(view.command, "newuidmap PID 0 2000 1 1 100000 65536");
    // The left-out line 2 contains ivy's own uid, and the table says so.
    assert_eq!(
        view.entries[0].owner,
        "own uid of ivy, subuid of ivy (/etc/subuid:2)"
    );
    assert_eq!(view.entries[1].owner, "subuid of ivy (/etc/subuid:1)");
    assert_eq!(view.left_out.len(), 1);
    assert_eq!(view.left_out[0].line, 2);
    let r = PlanReport {
        user: Some("ivy".into()),
        uid: 2000,
        gid: 2000,
        plans: vec![view],
        nested: None,
    };
    let text = render_plan(&r);
    assert!(
        text.ends_with("\nnewuidmap PID 0 2000 1 1 100000 65536\n"),
        "{text}"
    );
}

#[test]
fn identity_plan_is_written_directly() {
    let plan = MapPlan {
        map: IdMap::identity(IdKind::Gid),
        left_out: vec![],
        needs_helper: true,
    };
    assert_eq!(
        plan_command(&plan),
        "as root, userns writes /proc/PID/gid_map itself: 0 0 4294967295"
    );
}
