//! A seccomp profile in the JSON podman reads (containers/common `pkg/seccomp`'s `Seccomp`,
//! which is also the OCI runtime spec's `LinuxSeccomp` plus `archMap`, `includes` and
//! `excludes`): parsed and checked into plain values. Nothing here looks at the host;
//! `select` decides which rules apply to a container.

use serde::Deserialize;

/// What the kernel does with a matching system call (linux/seccomp.h SECCOMP_RET_*).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    KillThread,
    KillProcess,
    Trap,
    /// Fail with this errno, without running the call.
    Errno(u16),
    /// Stop for a ptrace tracer with this message (ENOSYS when there is none).
    Trace(u16),
    Allow,
    Log,
}

/// The errno of SCMP_ACT_ERRNO (and message of SCMP_ACT_TRACE) without `errnoRet`: runc's
/// and crun's default, EPERM.
const DEFAULT_ERRNO: u16 = 1;

/// The largest errno the kernel returns as such (MAX_ERRNO, linux/err.h).
const MAX_ERRNO: u32 = 4095;

impl Action {
    /// The filter's return value for this action.
    pub(crate) fn ret(self) -> u32 {
        match self {
            Action::KillProcess => 0x8000_0000,
            Action::KillThread => 0,
            Action::Trap => 0x0003_0000,
            Action::Errno(e) => 0x0005_0000 | u32::from(e),
            Action::Trace(m) => 0x7ff0_0000 | u32::from(m),
            Action::Log => 0x7ffc_0000,
            Action::Allow => 0x7fff_0000,
        }
    }

    fn parse(name: &str, errno_ret: Option<u32>) -> Result<Action, String> {
        let errno = || -> Result<u16, String> {
            match errno_ret {
                None => Ok(DEFAULT_ERRNO),
                Some(e) if e <= MAX_ERRNO => Ok(e as u16),
                Some(e) => Err(format!("errnoRet {e} is not an errno (0 to {MAX_ERRNO})")),
            }
        };
        Ok(match name {
            // libseccomp's SCMP_ACT_KILL is the thread variant.
            "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => Action::KillThread,
            "SCMP_ACT_KILL_PROCESS" => Action::KillProcess,
            "SCMP_ACT_TRAP" => Action::Trap,
            "SCMP_ACT_ERRNO" => Action::Errno(errno()?),
            "SCMP_ACT_TRACE" => Action::Trace(errno()?),
            "SCMP_ACT_ALLOW" => Action::Allow,
            "SCMP_ACT_LOG" => Action::Log,
            "SCMP_ACT_NOTIFY" => {
                return Err(
                    "SCMP_ACT_NOTIFY needs a seccomp agent listening on a socket, \
                            which userns does not run"
                        .into(),
                )
            }
            other => {
                return Err(format!(
                    "unknown action {other:?} (SCMP_ACT_ALLOW, SCMP_ACT_ERRNO, SCMP_ACT_KILL, \
                     SCMP_ACT_KILL_PROCESS, SCMP_ACT_KILL_THREAD, SCMP_ACT_TRAP, \
                     SCMP_ACT_TRACE, SCMP_ACT_LOG)"
                ))
            }
        })
    }
}

/// libseccomp's comparisons (SCMP_CMP_*), all unsigned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Ne,
    Lt,
    Le,
    Eq,
    Ge,
    Gt,
    /// `(arg & value) == value_two`.
    MaskedEq,
}

/// One condition on an argument of the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ArgCond {
    pub(crate) index: u8,
    pub(crate) op: CmpOp,
    pub(crate) value: u64,
    pub(crate) value_two: u64,
}

/// The `includes` or `excludes` of a rule: it applies (or not) on these native
/// architectures (Go names: amd64, x86, x32...), with these capabilities (CAP_SYS_ADMIN),
/// from this kernel version on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Conditions {
    pub(crate) arches: Vec<String>,
    pub(crate) caps: Vec<String>,
    pub(crate) min_kernel: Option<(u32, u32)>,
}

/// One entry of `syscalls`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rule {
    pub(crate) names: Vec<String>,
    pub(crate) action: Action,
    pub(crate) args: Vec<ArgCond>,
    pub(crate) includes: Conditions,
    pub(crate) excludes: Conditions,
}

/// A checked profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Profile {
    pub(crate) default_action: Action,
    /// `archMap`: an architecture and the ones that come with it (libseccomp names).
    pub(crate) arch_map: Vec<(String, Vec<String>)>,
    /// `architectures`: the OCI spec's flat list, used when there is no `archMap`.
    pub(crate) architectures: Vec<String>,
    pub(crate) rules: Vec<Rule>,
    /// SECCOMP_FILTER_FLAG_* for seccomp(2).
    pub(crate) flags: u32,
}

// The JSON as written. Options everywhere: profiles in the wild write `null` for empty
// lists and objects, and unknown fields (`comment`, `errno`, `defaultErrno`) are ignored.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawProfile {
    default_action: Option<String>,
    default_errno_ret: Option<u32>,
    arch_map: Option<Vec<RawArchMap>>,
    architectures: Option<Vec<String>>,
    syscalls: Option<Vec<RawSyscall>>,
    flags: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawArchMap {
    architecture: String,
    sub_architectures: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSyscall {
    /// The old single-name form, still read by containers/common.
    name: Option<String>,
    names: Option<Vec<String>>,
    action: String,
    errno_ret: Option<u32>,
    args: Option<Vec<RawArg>>,
    includes: Option<RawConditions>,
    excludes: Option<RawConditions>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawArg {
    index: u32,
    value: u64,
    value_two: Option<u64>,
    op: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawConditions {
    arches: Option<Vec<String>>,
    caps: Option<Vec<String>>,
    min_kernel: Option<String>,
}

/// Parse a profile. `Ok(None)` when it has neither a default action nor rules: as
/// containers/common reads it, such a profile turns seccomp off.
pub(crate) fn parse(text: &str) -> Result<Option<Profile>, String> {
    let raw: RawProfile = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let raw_rules = raw.syscalls.unwrap_or_default();
    let Some(default_name) = raw.default_action.filter(|a| !a.is_empty()) else {
        if raw_rules.is_empty() {
            return Ok(None);
        }
        return Err("no defaultAction (e.g. \"defaultAction\": \"SCMP_ACT_ERRNO\")".into());
    };
    let default_action = Action::parse(&default_name, raw.default_errno_ret)
        .map_err(|e| format!("defaultAction: {e}"))?;
    let rules = raw_rules
        .into_iter()
        .enumerate()
        .map(|(i, mut raw)| {
            let mut names = raw.names.take().unwrap_or_default();
            names.extend(raw.name.take().filter(|n| !n.is_empty()));
            let at = match names.first() {
                Some(first) => format!("syscalls[{i}] ({first})"),
                None => format!("syscalls[{i}]"),
            };
            parse_rule(raw, names).map_err(|e| format!("{at}: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let arch_map = raw
        .arch_map
        .unwrap_or_default()
        .into_iter()
        .map(|m| (m.architecture, m.sub_architectures.unwrap_or_default()))
        .collect();
    Ok(Some(Profile {
        default_action,
        arch_map,
        architectures: raw.architectures.unwrap_or_default(),
        rules,
        flags: parse_flags(&raw.flags.unwrap_or_default())?,
    }))
}

fn parse_rule(raw: RawSyscall, names: Vec<String>) -> Result<Rule, String> {
    let action = Action::parse(&raw.action, raw.errno_ret)?;
    let args = raw
        .args
        .unwrap_or_default()
        .into_iter()
        .map(parse_arg)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Rule {
        names,
        action,
        args,
        includes: parse_conditions(raw.includes).map_err(|e| format!("includes: {e}"))?,
        excludes: parse_conditions(raw.excludes).map_err(|e| format!("excludes: {e}"))?,
    })
}

fn parse_arg(raw: RawArg) -> Result<ArgCond, String> {
    // A system call has six arguments (struct seccomp_data's args[6]).
    let index = u8::try_from(raw.index)
        .ok()
        .filter(|i| *i < 6)
        .ok_or_else(|| format!("argument index {} is not 0 to 5", raw.index))?;
    let op = match raw.op.as_str() {
        "SCMP_CMP_NE" => CmpOp::Ne,
        "SCMP_CMP_LT" => CmpOp::Lt,
        "SCMP_CMP_LE" => CmpOp::Le,
        "SCMP_CMP_EQ" => CmpOp::Eq,
        "SCMP_CMP_GE" => CmpOp::Ge,
        "SCMP_CMP_GT" => CmpOp::Gt,
        "SCMP_CMP_MASKED_EQ" => CmpOp::MaskedEq,
        other => {
            return Err(format!(
                "unknown op {other:?} (SCMP_CMP_NE, _LT, _LE, _EQ, _GE, _GT, _MASKED_EQ)"
            ))
        }
    };
    Ok(ArgCond {
        index,
        op,
        value: raw.value,
        value_two: raw.value_two.unwrap_or(0),
    })
}

fn parse_conditions(raw: Option<RawConditions>) -> Result<Conditions, String> {
    let Some(raw) = raw else {
        return Ok(Conditions::default());
    };
    let min_kernel =
        match raw.min_kernel.as_deref() {
            None | Some("") => None,
            Some(v) => Some(parse_kernel_version(v).ok_or_else(|| {
                format!("minKernel {v:?} is not a kernel version such as \"4.8\"")
            })?),
        };
    Ok(Conditions {
        arches: raw.arches.unwrap_or_default(),
        caps: raw.caps.unwrap_or_default(),
        min_kernel,
    })
}

/// "MAJOR.MINOR", with anything after (".PATCH", "-rc1") ignored: the part of a kernel
/// release that containers/common compares.
pub(crate) fn parse_kernel_version(text: &str) -> Option<(u32, u32)> {
    let mut parts = text.split(['.', '-', '+']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().map_or(Some(0), |m| m.parse().ok())?;
    Some((major, minor))
}

/// The OCI spec's `flags`: SECCOMP_FILTER_FLAG_* (linux/seccomp.h) that make sense
/// without a seccomp agent.
fn parse_flags(names: &[String]) -> Result<u32, String> {
    names.iter().try_fold(0, |flags, name| {
        let flag = match name.as_str() {
            // One thread: synchronising threads changes nothing.
            "SECCOMP_FILTER_FLAG_TSYNC" => 0,
            "SECCOMP_FILTER_FLAG_LOG" => 2,
            "SECCOMP_FILTER_FLAG_SPEC_ALLOW" => 4,
            other => {
                return Err(format!(
                    "flags: {other:?} is not supported (SECCOMP_FILTER_FLAG_LOG, \
                     SECCOMP_FILTER_FLAG_SPEC_ALLOW, SECCOMP_FILTER_FLAG_TSYNC)"
                ))
            }
        };
        Ok(flags | flag)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_actions_args_and_conditions() {
        let p = parse(
            r#"{
              "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
              "archMap": [{"architecture": "SCMP_ARCH_X86_64",
                           "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]}],
              "syscalls": [
                {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW", "args": null,
                 "comment": "", "includes": {}, "excludes": null},
                {"name": "personality", "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
                {"names": ["clone"], "action": "SCMP_ACT_ERRNO", "errnoRet": 22,
                 "args": [{"index": 0, "value": 2114060288, "valueTwo": 0,
                           "op": "SCMP_CMP_MASKED_EQ"}],
                 "includes": {"arches": ["amd64"], "minKernel": "4.8"},
                 "excludes": {"caps": ["CAP_SYS_ADMIN"]}}
              ]}"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(p.default_action, Action::Errno(38));
        assert_eq!(p.arch_map[0].1, ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]);
        assert_eq!(p.rules.len(), 3);
        assert_eq!(p.rules[1].names, ["personality"]);
        assert_eq!(p.rules[2].action, Action::Errno(22));
        assert_eq!(p.rules[2].args[0].op, CmpOp::MaskedEq);
        assert_eq!(p.rules[2].includes.min_kernel, Some((4, 8)));
        assert_eq!(p.rules[2].excludes.caps, ["CAP_SYS_ADMIN"]);
    }

    #[test]
    fn errno_defaults_to_eperm_and_actions_encode_for_the_kernel() {
        let p = parse(r#"{"defaultAction": "SCMP_ACT_ERRNO"}"#)
            .unwrap()
            .unwrap();
        assert_eq!(p.default_action, Action::Errno(1));
        assert_eq!(Action::Errno(38).ret(), 0x0005_0026);
        assert_eq!(Action::Allow.ret(), 0x7fff_0000);
        assert_eq!(Action::KillProcess.ret(), 0x8000_0000);
    }

    #[test]
    fn an_empty_profile_turns_seccomp_off() {
        assert_eq!(parse("{}").unwrap(), None);
        assert_eq!(parse(r#"{"syscalls": null}"#).unwrap(), None);
    }

    #[test]
    fn mistakes_name_the_rule_and_what_is_wrong() {
        let cases = [
            (
                r#"{"defaultAction": "SCMP_ACT_NOPE"}"#,
                "unknown action \"SCMP_ACT_NOPE\"",
            ),
            (
                r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"],
                    "action": "SCMP_ACT_ERRNO", "args": [{"index": 6, "value": 1,
                    "op": "SCMP_CMP_EQ"}]}]}"#,
                "syscalls[0] (mkdir): argument index 6 is not 0 to 5",
            ),
            (
                r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["a"],
                    "action": "SCMP_ACT_ALLOW"}, {"names": ["b"], "action": "SCMP_ACT_ERRNO",
                    "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_ABOUT"}]}]}"#,
                "syscalls[1] (b): unknown op \"SCMP_CMP_ABOUT\"",
            ),
            (
                r#"{"syscalls": [{"names": ["a"], "action": "SCMP_ACT_ALLOW"}]}"#,
                "no defaultAction",
            ),
            (
                r#"{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 5000}"#,
                "errnoRet 5000 is not an errno",
            ),
            (
                r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["a"],
                    "action": "SCMP_ACT_NOTIFY"}]}"#,
                "seccomp agent",
            ),
            (
                r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["a"],
                    "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "four"}}]}"#,
                "includes: minKernel \"four\"",
            ),
            (r#"{"defaultAction": "SCMP_ACT_ALLOW",}"#, "line 1 column"),
            (r#"{"defaultAction": 3}"#, "invalid type"),
        ];
        for (text, expected) in cases {
            let err = parse(text).unwrap_err();
            assert!(err.contains(expected), "{err:?} lacks {expected:?}");
        }
    }

    #[test]
    fn kernel_versions_compare_major_and_minor() {
        assert_eq!(parse_kernel_version("4.8"), Some((4, 8)));
        assert_eq!(parse_kernel_version("6.18.44-fc-v657"), Some((6, 18)));
        assert_eq!(parse_kernel_version("5"), Some((5, 0)));
        assert_eq!(parse_kernel_version("x.1"), None);
    }
}
