//! The compiler's programs, run by the test interpreter on chosen system calls.

use super::super::bpf::run;
use super::super::select::{cap_names, Host};
use super::super::syscalls::{Arch, AUDIT_ARCH_I386, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT};
use super::Filter;

const ALLOW: u32 = 0x7fff_0000;
const KILL_PROCESS: u32 = 0x8000_0000;
const AUDIT_ARCH_AARCH64: u32 = 183 | 0x8000_0000 | 0x4000_0000;

fn errno(e: u32) -> u32 {
    0x0005_0000 | e
}

fn host_with(caps: &[&'static str]) -> Host<'static> {
    Host {
        arch: Arch::X86_64,
        caps: Box::leak(caps.to_vec().into_boxed_slice()),
        kernel: (6, 1),
        x32_abi: true,
    }
}

fn podman_host() -> Host<'static> {
    host_with(&cap_names(&crate::run::process::DEFAULT_CAPS))
}

fn compile(text: &str) -> Filter {
    crate::seccomp::compile_text(text, &podman_host())
        .unwrap()
        .expect("a filter")
}

/// What the filter returns for `name` on x86_64 with `args`.
fn call(f: &Filter, name: &str, args: [u64; 6]) -> u32 {
    let nr = Arch::X86_64.nr(name).unwrap();
    run(&f.program, nr, AUDIT_ARCH_X86_64, args)
}

const X86_ALL: &str = r#""archMap": [{"architecture": "SCMP_ARCH_X86_64",
    "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]}]"#;

#[test]
fn names_get_their_action_and_the_rest_the_default_errno() {
    let f = compile(&format!(
        r#"{{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38, {X86_ALL},
            "syscalls": [
              {{"names": ["read", "write", "mkdir", "exit_group", "nosuchcall"], "action": "SCMP_ACT_ALLOW"}},
              {{"names": ["mount"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}},
              {{"names": ["umount2"], "action": "SCMP_ACT_ERRNO"}},
              {{"names": ["kill"], "action": "SCMP_ACT_KILL_PROCESS"}}
            ]}}"#
    ));
    assert_eq!(call(&f, "read", [0; 6]), ALLOW);
    assert_eq!(call(&f, "mkdir", [0; 6]), ALLOW);
    assert_eq!(call(&f, "mount", [0; 6]), errno(1));
    assert_eq!(
        call(&f, "umount2", [0; 6]),
        errno(1),
        "ERRNO without errnoRet is EPERM"
    );
    assert_eq!(call(&f, "kill", [0; 6]), KILL_PROCESS);
    assert_eq!(call(&f, "mkdirat", [0; 6]), errno(38));
    for nr in [1000, X32_SYSCALL_BIT - 1] {
        assert_eq!(run(&f.program, nr, AUDIT_ARCH_X86_64, [0; 6]), errno(38));
    }
    // The same rules for the companion architectures, in their own numbers.
    assert_eq!(run(&f.program, 39, AUDIT_ARCH_I386, [0; 6]), ALLOW);
    assert_eq!(
        run(&f.program, 21, AUDIT_ARCH_I386, [0; 6]),
        errno(1),
        "i386 mount"
    );
    assert_eq!(
        run(&f.program, 296, AUDIT_ARCH_I386, [0; 6]),
        errno(38),
        "i386 mkdirat"
    );
    let x32_mkdir = X32_SYSCALL_BIT + 83;
    assert_eq!(run(&f.program, x32_mkdir, AUDIT_ARCH_X86_64, [0; 6]), ALLOW);
    assert_eq!(
        run(&f.program, X32_SYSCALL_BIT + 165, AUDIT_ARCH_X86_64, [0; 6]),
        errno(1)
    );
    assert_eq!(
        run(&f.program, u32::MAX, AUDIT_ARCH_X86_64, [0; 6]),
        errno(38)
    );
    assert_eq!(run(&f.program, 0, AUDIT_ARCH_AARCH64, [0; 6]), KILL_PROCESS);
}

#[test]
fn architectures_left_out_of_the_profile_are_killed_not_let_through() {
    // Only x86_64: i386 (`int 0x80`) and x32 calls must not reach the kernel unfiltered.
    let f = compile(
        r#"{"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}"#,
    );
    assert_eq!(call(&f, "mkdir", [0; 6]), errno(13));
    assert_eq!(call(&f, "read", [0; 6]), ALLOW);
    assert_eq!(run(&f.program, 39, AUDIT_ARCH_I386, [0; 6]), KILL_PROCESS);
    assert_eq!(run(&f.program, 3, AUDIT_ARCH_I386, [0; 6]), KILL_PROCESS);
    let x32_mkdir = X32_SYSCALL_BIT + 83;
    assert_eq!(
        run(&f.program, x32_mkdir, AUDIT_ARCH_X86_64, [0; 6]),
        KILL_PROCESS
    );
    // -1, a tracer's "skip this call", is no x32 call.
    assert_eq!(run(&f.program, u32::MAX, AUDIT_ARCH_X86_64, [0; 6]), ALLOW);
    // With x86 in, an i386 mkdir meets the same rule.
    let f = compile(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86"],
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}"#,
    );
    assert_eq!(run(&f.program, 39, AUDIT_ARCH_I386, [0; 6]), errno(13));
    assert_eq!(
        run(&f.program, x32_mkdir, AUDIT_ARCH_X86_64, [0; 6]),
        KILL_PROCESS
    );
}

#[test]
fn without_the_x32_abi_x32_numbers_get_the_kernels_enosys() {
    let text = format!(
        r#"{{"defaultAction": "SCMP_ACT_KILL_PROCESS", {X86_ALL},
            "syscalls": [{{"names": ["mkdir", "exit_group"], "action": "SCMP_ACT_ALLOW"}}]}}"#
    );
    let host = Host {
        x32_abi: false,
        ..podman_host()
    };
    let short = crate::seccomp::compile_text(&text, &host).unwrap().unwrap();
    let full = compile(&text);
    assert!(short.program.len() < full.program.len());
    let x32 =
        |f: &Filter, nr: u32| run(&f.program, X32_SYSCALL_BIT + nr, AUDIT_ARCH_X86_64, [0; 6]);
    assert_eq!(x32(&full, 83), ALLOW);
    assert_eq!(x32(&full, 84), KILL_PROCESS);
    assert_eq!(x32(&short, 83), errno(38));
    assert_eq!(x32(&short, 84), errno(38));
    for f in [&short, &full] {
        assert_eq!(call(f, "mkdir", [0; 6]), ALLOW);
        assert_eq!(call(f, "rmdir", [0; 6]), KILL_PROCESS);
        assert_eq!(run(&f.program, 39, AUDIT_ARCH_I386, [0; 6]), ALLOW);
        assert_eq!(run(&f.program, 40, AUDIT_ARCH_I386, [0; 6]), KILL_PROCESS);
    }
    // Not covered by the profile: killed, x32 in the kernel or not.
    let only64 = r#"{"defaultAction": "SCMP_ACT_ALLOW"}"#;
    let f = crate::seccomp::compile_text(only64, &host)
        .unwrap()
        .unwrap();
    assert_eq!(x32(&f, 83), KILL_PROCESS);
}

#[test]
fn arguments_are_compared_as_64_bit_unsigned_values() {
    let big = 0x1_0000_0005u64;
    let rule = |name: &str, op: &str, value: u64, two: u64| {
        format!(
            r#"{{"names": ["{name}"], "action": "SCMP_ACT_ALLOW",
                "args": [{{"index": 1, "value": {value}, "valueTwo": {two}, "op": "SCMP_CMP_{op}"}}]}}"#
        )
    };
    let f = compile(&format!(
        r#"{{"defaultAction": "SCMP_ACT_ERRNO", {X86_ALL}, "syscalls": [{}]}}"#,
        [
            rule("read", "EQ", big, 0),
            rule("write", "NE", big, 0),
            rule("open", "LT", big, 0),
            rule("close", "LE", big, 0),
            rule("stat", "GE", big, 0),
            rule("fstat", "GT", big, 0),
            rule("lstat", "MASKED_EQ", 0xff00_0000_00ff, 0x1200_0000_0034),
        ]
        .join(",")
    ));
    let with = |v: u64| [0, v, 0, 0, 0, 0];
    let probes = [0, 5, big - 1, big, big + 1, 0x2_0000_0000, 0x5, u64::MAX];
    for v in probes {
        let expect = |holds: bool| if holds { ALLOW } else { errno(1) };
        assert_eq!(call(&f, "read", with(v)), expect(v == big), "EQ {v:#x}");
        assert_eq!(call(&f, "write", with(v)), expect(v != big), "NE {v:#x}");
        assert_eq!(call(&f, "open", with(v)), expect(v < big), "LT {v:#x}");
        assert_eq!(call(&f, "close", with(v)), expect(v <= big), "LE {v:#x}");
        assert_eq!(call(&f, "stat", with(v)), expect(v >= big), "GE {v:#x}");
        assert_eq!(call(&f, "fstat", with(v)), expect(v > big), "GT {v:#x}");
    }
    assert_eq!(call(&f, "lstat", with(0x12ab_cdef_0034)), ALLOW);
    assert_eq!(call(&f, "lstat", with(0x1300_0000_0034)), errno(1));
    assert_eq!(call(&f, "lstat", with(0x1200_0000_0035)), errno(1));
    // Another argument than the one named leaves the rule unmatched.
    assert_eq!(call(&f, "read", [big, 0, 0, 0, 0, 0]), errno(1));
    // i386 compares the low half only: the kernel never sees the high one.
    let i386_read = Arch::X86.nr("read").unwrap();
    assert_eq!(run(&f.program, i386_read, AUDIT_ARCH_I386, with(5)), ALLOW);
    assert_eq!(
        run(
            &f.program,
            i386_read,
            AUDIT_ARCH_I386,
            with(0xdead_0000_0005)
        ),
        ALLOW
    );
    assert_eq!(
        run(&f.program, i386_read, AUDIT_ARCH_I386, with(6)),
        errno(1)
    );
}

#[test]
fn conditions_of_one_rule_are_anded_unless_an_argument_repeats() {
    let f = compile(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": 22, "args": [
                {"index": 0, "value": 16, "op": "SCMP_CMP_EQ"},
                {"index": 2, "value": 9, "op": "SCMP_CMP_EQ"}]},
            {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "args": [
                {"index": 0, "value": 8, "op": "SCMP_CMP_EQ"},
                {"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}]}]}"#,
    );
    assert_eq!(call(&f, "socket", [16, 3, 9, 0, 0, 0]), errno(22));
    assert_eq!(call(&f, "socket", [16, 3, 0, 0, 0, 0]), ALLOW);
    assert_eq!(call(&f, "socket", [2, 3, 9, 0, 0, 0]), ALLOW);
    // runc's rule: two comparisons of argument 0 become two rules (either matches).
    assert_eq!(call(&f, "personality", [8, 0, 0, 0, 0, 0]), errno(1));
    assert_eq!(call(&f, "personality", [0, 0, 0, 0, 0, 0]), errno(1));
    assert_eq!(call(&f, "personality", [0x40000, 0, 0, 0, 0, 0]), ALLOW);
}

#[test]
fn rules_combine_as_libseccomp_combines_them() {
    let f = compile(
        r#"{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38, "syscalls": [
            {"names": ["setns"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["setns"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
            {"names": ["clone"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
             "args": [{"index": 0, "value": 268435456, "valueTwo": 268435456, "op": "SCMP_CMP_MASKED_EQ"}]},
            {"names": ["clone"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
            {"names": ["mkdir"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 1, "value": 448, "op": "SCMP_CMP_EQ"}]}]}"#,
    );
    // The first argument-free rule wins; a later one is ignored.
    assert_eq!(call(&f, "setns", [0; 6]), ALLOW);
    // An argument-free rule replaces the conditional rules before it.
    assert_eq!(call(&f, "clone", [0x1000_0000, 0, 0, 0, 0, 0]), ALLOW);
    // A rule with the default action is left out, so it hides nothing after it.
    assert_eq!(call(&f, "mkdir", [0, 0o700, 0, 0, 0, 0]), ALLOW);
    assert_eq!(call(&f, "mkdir", [0, 0o755, 0, 0, 0, 0]), errno(38));
}

#[test]
fn capabilities_decide_between_includes_and_excludes() {
    let text = r#"{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38, "syscalls": [
        {"names": ["sethostname"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
        {"names": ["sethostname"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1, "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
        {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64"]}},
        {"names": ["set_tls"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["arm"]}}]}"#;
    let f = compile(text);
    assert_eq!(call(&f, "sethostname", [0; 6]), errno(1));
    assert_eq!(call(&f, "arch_prctl", [0; 6]), ALLOW);
    let admin = crate::seccomp::compile_text(text, &host_with(&["CAP_SYS_ADMIN"]))
        .unwrap()
        .unwrap();
    assert_eq!(call(&admin, "sethostname", [0; 6]), ALLOW);
}

#[test]
fn the_built_in_profile_compiles_to_a_working_filter() {
    let f = compile(crate::seccomp::BUILT_IN_PROFILE);
    assert!(f.program.len() < 1000, "{} instructions", f.program.len());
    assert_eq!(call(&f, "read", [0; 6]), ALLOW);
    assert_eq!(call(&f, "execve", [0; 6]), ALLOW);
    assert_eq!(call(&f, "clone", [0x7e02_0000, 0, 0, 0, 0, 0]), ALLOW);
    assert_eq!(call(&f, "personality", [8, 0, 0, 0, 0, 0]), ALLOW);
    assert_eq!(
        call(&f, "personality", [0x0040000, 0, 0, 0, 0, 0]),
        errno(38)
    );
    assert_eq!(call(&f, "add_key", [0; 6]), errno(38));
    assert_eq!(call(&f, "kexec_load", [0; 6]), errno(1));
    assert_eq!(call(&f, "sethostname", [0; 6]), errno(1));
    assert_eq!(
        call(&f, "chroot", [0; 6]),
        ALLOW,
        "podman grants CAP_SYS_CHROOT"
    );
    assert_eq!(call(&f, "socket", [16, 3, 9, 0, 0, 0]), errno(22));
    assert_eq!(call(&f, "socket", [2, 1, 0, 0, 0, 0]), ALLOW);
    assert_eq!(call(&f, "arch_prctl", [0; 6]), ALLOW);
    let i386 = |name: &str| Arch::X86.nr(name).unwrap();
    assert_eq!(
        run(&f.program, i386("socketcall"), AUDIT_ARCH_I386, [0; 6]),
        ALLOW
    );
    assert_eq!(
        run(&f.program, i386("vm86"), AUDIT_ARCH_I386, [0; 6]),
        errno(1)
    );
}

/// The sha256 of /usr/share/containers/seccomp.json in Debian 12's containers-common
/// (golang-github-containers-common 0.50.1+ds1-4), whose rules the built-in profile has.
const DEBIAN_12_PROFILE: &str = "cc374cf23846ce1f62f4dc807a8e2b8673c783c6f56cb475467621035d281e6c";

/// The built-in profile stands in for containers-common's when that is not installed:
/// where that version is installed, both must compile to the very same program.
#[test]
fn the_built_in_profile_matches_the_installed_one() {
    use sha2::Digest;
    let Ok(installed) = std::fs::read_to_string("/usr/share/containers/seccomp.json") else {
        eprintln!("skipped: no /usr/share/containers/seccomp.json (containers-common)");
        return;
    };
    let digest = sha2::Sha256::digest(installed.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    if hex != DEBIAN_12_PROFILE {
        eprintln!("skipped: /usr/share/containers/seccomp.json is another version ({hex})");
        return;
    }
    assert_eq!(
        compile(&installed),
        compile(crate::seccomp::BUILT_IN_PROFILE)
    );
}

/// What a `userns run` spends on its filter, stage by stage. Not a check (timings on
/// shared machines say little alone); run it when changing the compiler:
/// `cargo test --release --lib seccomp_compile_timing -- --ignored --nocapture`.
#[test]
#[ignore]
fn seccomp_compile_timing() {
    use crate::seccomp::{profile, select};
    let host = podman_host();
    let text = crate::seccomp::BUILT_IN_PROFILE;
    let n = 500u32;
    let mut t = [std::time::Duration::ZERO; 3];
    for _ in 0..n {
        let a = std::time::Instant::now();
        let p = profile::parse(text).unwrap().unwrap();
        let b = std::time::Instant::now();
        let arches = select::arches(&p, host.arch).unwrap();
        let rules = select::rules(&p, &host);
        let c = std::time::Instant::now();
        let f = super::compile(p.default_action, &rules, &arches, 0, false).unwrap();
        let d = std::time::Instant::now();
        std::hint::black_box(f);
        t[0] += b - a;
        t[1] += c - b;
        t[2] += d - c;
    }
    eprintln!(
        "per run: parse {:?}, select {:?}, compile {:?}",
        t[0] / n,
        t[1] / n,
        t[2] / n
    );
}
