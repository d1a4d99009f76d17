//! Compile the rules that apply into one classic-BPF program for every architecture.
//!
//! Rules combine as libseccomp (which runc and crun use) combines them:
//! - a rule whose action is the default action is left out (runc skips it; libseccomp
//!   refuses it);
//! - a rule without arguments decides its call whatever the arguments: the first one
//!   wins, later rules for that call are ignored, and it replaces conditional rules that
//!   came before (libseccomp's `db_rule_add` keeps a "catch-all" over any chain);
//! - a rule with arguments matches when all its conditions hold, except that when two
//!   conditions name the same argument each condition becomes a rule of its own (runc's
//!   `matchCall`: libseccomp cannot AND two comparisons of one argument); the first
//!   matching rule decides, and a call no rule matches gets the default action;
//! - names a table does not know (another architecture's calls, newer ones) are skipped,
//!   as runc does.
//!
//! The program: check the architecture (anything not covered is killed, SIGSYS for the
//! whole process), load the number, then a binary search over ranges of numbers that
//! share an outcome (a few comparisons per call, where a linear list would run hundreds
//! for the last calls in it), ending in a `ret` or in the argument checks of that call.

use super::bpf::{arg_low, Asm, Cmp, Insn, Label, OFFSET_ARCH, OFFSET_NR};
use super::profile::{Action, ArgCond, CmpOp, Rule};
use super::syscalls::{self, Arch, AUDIT_ARCH_I386, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT};

/// A compiled filter, ready for seccomp(2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Filter {
    pub(crate) program: Vec<Insn>,
    /// SECCOMP_FILTER_FLAG_*.
    pub(crate) flags: u32,
}

/// The action for system calls of an architecture the filter does not cover.
const BAD_ARCH: Action = Action::KillProcess;

/// Conditions that must all hold, and the filter's return value when they do.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ArgRule {
    conds: Vec<ArgCond>,
    ret: u32,
}

/// How one system call is decided.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Decision {
    Always(u32),
    /// The first rule that matches; none: the default action.
    Rules(Vec<ArgRule>),
}

/// What a covered x32 call gets on a kernel that does not run x32 calls: the kernel's
/// own answer to them.
const X32_ABSENT: Action = Action::Errno(libc::ENOSYS as u16);

/// Compile `rules` (already narrowed to this host, in profile order) for `arches`; the
/// first arch is the native one. Without `x32_abi` (see
/// [`super::select::kernel_runs_x32`]), x32 numbers, which cannot run, get ENOSYS
/// without a section of their own: a third fewer instructions for the kernel to load.
pub(crate) fn compile(
    default: Action,
    rules: &[&Rule],
    arches: &[Arch],
    flags: u32,
    x32_abi: bool,
) -> Result<Filter, String> {
    let default_ret = default.ret();
    let sections: Vec<Arch> = arches
        .iter()
        .copied()
        .filter(|&a| a != Arch::X32 || x32_abi)
        .collect();
    let tables = decisions(&sections, default, rules);
    let x32_covered = arches.contains(&Arch::X32);
    let table = |a: Arch| tables.iter().find(|t| t.arch == a);
    let mut asm = Asm::default();
    let kill = asm.label();
    let (sec64, sec32) = (asm.label(), asm.label());
    asm.load(OFFSET_ARCH);
    let not64 = asm.label();
    let has = |a: Arch| table(a).is_some();
    let to64 = if has(Arch::X86_64) { sec64 } else { kill };
    asm.jump(Cmp::Eq, AUDIT_ARCH_X86_64, to64, not64);
    asm.place(not64);
    if has(Arch::X86) {
        asm.jump(Cmp::Eq, AUDIT_ARCH_I386, sec32, kill);
    } else {
        asm.goto(kill);
    }
    if let Some(t64) = table(Arch::X86_64) {
        // x32 numbers arrive with the x86_64 audit arch: the number's bit tells them apart.
        asm.place(sec64);
        asm.load(OFFSET_NR);
        let (x32, native) = (asm.label(), asm.label());
        if x32_covered {
            asm.jump(Cmp::Ge, X32_SYSCALL_BIT, x32, native);
        } else {
            // Number -1 is no call: it is what a ptrace tracer sets to skip one, and the
            // kernel returns ENOSYS for it. Give it the default action, not the kill
            // meant for x32 numbers.
            let (high, minus_one) = (asm.label(), asm.label());
            asm.jump(Cmp::Ge, X32_SYSCALL_BIT, high, native);
            asm.place(high);
            asm.jump(Cmp::Eq, u32::MAX, minus_one, kill);
            asm.place(minus_one);
            asm.ret(default_ret);
        }
        asm.place(native);
        section(&mut asm, t64, default_ret);
        if x32_covered {
            asm.place(x32);
            match table(Arch::X32) {
                Some(tx32) => section(&mut asm, tx32, default_ret),
                None => asm.ret(X32_ABSENT.ret()),
            }
        }
    }
    if let Some(t32) = table(Arch::X86) {
        asm.place(sec32);
        asm.load(OFFSET_NR);
        section(&mut asm, t32, default_ret);
    }
    asm.place(kill);
    asm.ret(BAD_ARCH.ret());
    Ok(Filter {
        program: asm.assemble()?,
        flags,
    })
}

/// How the system calls of one architecture are decided: `slots[i]` is number
/// `first + i`, None for the default action. A vector, not a map: the numbers are dense
/// and few (under 600), and this runs on every `userns run`.
struct Table {
    arch: Arch,
    first: u32,
    slots: Vec<Option<Decision>>,
}

/// The decisions of every architecture, each name of a rule looked up once for all.
fn decisions(arches: &[Arch], default: Action, rules: &[&Rule]) -> Vec<Table> {
    let mut tables: Vec<Table> = arches
        .iter()
        .map(|&arch| Table {
            arch,
            first: arch.nr_range().0,
            slots: Vec::new(),
        })
        .collect();
    for rule in rules.iter().filter(|r| r.action != default) {
        let ret = rule.action.ret();
        let arg_rules = split_conditions(&rule.args, ret);
        for row in rule.names.iter().filter_map(|n| syscalls::numbers(n)) {
            for table in &mut tables {
                let Some(nr) = table.arch.nr_in(row) else {
                    continue;
                };
                let i = (nr - table.first) as usize;
                if table.slots.len() <= i {
                    table.slots.resize_with(i + 1, || None);
                }
                let slot = &mut table.slots[i];
                match (slot, arg_rules.is_empty()) {
                    (Some(Decision::Always(_)), _) => {}
                    (slot, true) => *slot = Some(Decision::Always(ret)),
                    (Some(Decision::Rules(existing)), false) => {
                        existing.extend(arg_rules.iter().cloned())
                    }
                    (slot @ None, false) => *slot = Some(Decision::Rules(arg_rules.clone())),
                }
            }
        }
    }
    tables
}

/// One rule's conditions as ANDed groups: one group, or one per condition when an
/// argument is compared twice.
fn split_conditions(conds: &[ArgCond], ret: u32) -> Vec<ArgRule> {
    if conds.is_empty() {
        return Vec::new();
    }
    let repeated = conds
        .iter()
        .enumerate()
        .any(|(i, c)| conds[..i].iter().any(|d| d.index == c.index));
    if repeated {
        conds
            .iter()
            .map(|c| ArgRule {
                conds: vec![*c],
                ret,
            })
            .collect()
    } else {
        vec![ArgRule {
            conds: conds.to_vec(),
            ret,
        }]
    }
}

/// A run of numbers with one outcome, from `start` to the next run's start.
#[derive(Debug)]
struct Run<'a> {
    start: u32,
    outcome: Outcome<'a>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome<'a> {
    Ret(u32),
    Rules(&'a [ArgRule]),
}

/// The section of one architecture, with the number in A.
fn section(asm: &mut Asm, table: &Table, default_ret: u32) {
    search(asm, table.arch, &runs(table, default_ret), default_ret);
}

/// The architecture's numbers cut into runs, neighbours with the same `ret` merged.
fn runs(table: &Table, default_ret: u32) -> Vec<Run<'_>> {
    fn push<'a>(out: &mut Vec<Run<'a>>, start: u32, outcome: Outcome<'a>) {
        let merge = matches!(
            (out.last(), outcome),
            (Some(Run { outcome: Outcome::Ret(a), .. }), Outcome::Ret(b)) if *a == b
        );
        if !merge {
            out.push(Run { start, outcome });
        }
    }
    let mut out: Vec<Run> = Vec::new();
    for (i, slot) in table.slots.iter().enumerate() {
        let outcome = match slot {
            None => Outcome::Ret(default_ret),
            Some(Decision::Always(ret)) => Outcome::Ret(*ret),
            Some(Decision::Rules(rules)) => Outcome::Rules(rules),
        };
        push(&mut out, table.first + i as u32, outcome);
    }
    // The numbers past the last decided one, up to the end of the architecture's range.
    // (u64: the i386 range ends at u32::MAX.)
    let end = u64::from(table.first) + table.slots.len() as u64;
    if end <= u64::from(table.arch.nr_range().1) {
        push(&mut out, end as u32, Outcome::Ret(default_ret));
    }
    out
}

/// At most this many runs share one pool of `ret`s: their search tree, pool and argument
/// checks then fit in the 255 instructions a conditional jump reaches.
const RUNS_PER_POOL: usize = 48;

/// A balanced binary search over `runs` (A holds the number; each run ends where the next
/// starts). Down to [`RUNS_PER_POOL`] runs, a node splits the runs in two; below, see
/// [`pooled_search`].
fn search(asm: &mut Asm, arch: Arch, runs: &[Run], default_ret: u32) {
    if runs.len() <= RUNS_PER_POOL {
        pooled_search(asm, arch, runs, default_ret);
        return;
    }
    let mid = runs.len() / 2;
    let (low, high) = (asm.label(), asm.label());
    asm.jump(Cmp::Ge, runs[mid].start, high, low);
    asm.place(low);
    search(asm, arch, &runs[..mid], default_ret);
    asm.place(high);
    search(asm, arch, &runs[mid..], default_ret);
}

/// The search over a few runs, whose last comparisons jump straight to one shared `ret`
/// per distinct action, emitted after the tree, then to the argument checks: a run costs
/// about one instruction instead of a comparison plus a `ret` of its own. The kernel's
/// time to load a filter grows with its length (~0.2 µs an instruction on this machine,
/// JIT included), and every `userns run` loads one.
fn pooled_search(asm: &mut Asm, arch: Arch, runs: &[Run], default_ret: u32) {
    let mut pool: Vec<(u32, Label)> = Vec::new();
    let mut checks: Vec<(&[ArgRule], Label)> = Vec::new();
    let targets: Vec<Label> = runs
        .iter()
        .map(|run| match run.outcome {
            Outcome::Ret(ret) => match pool.iter().find(|(r, _)| *r == ret) {
                Some((_, label)) => *label,
                None => {
                    let label = asm.label();
                    pool.push((ret, label));
                    label
                }
            },
            Outcome::Rules(rules) => {
                let label = asm.label();
                checks.push((rules, label));
                label
            }
        })
        .collect();
    tree(asm, runs, &targets);
    for (ret, label) in pool {
        asm.place(label);
        asm.ret(ret);
    }
    for (rules, label) in checks {
        asm.place(label);
        arg_checks(asm, arch, rules, default_ret);
    }
}

/// Comparisons only: run `i` ends in a jump to `targets[i]`.
fn tree(asm: &mut Asm, runs: &[Run], targets: &[Label]) {
    if let [target] = targets {
        asm.goto(*target);
        return;
    }
    let mid = runs.len() / 2;
    let side = |asm: &mut Asm, targets: &[Label]| match targets {
        [only] => *only,
        _ => asm.label(),
    };
    let (low, high) = (side(asm, &targets[..mid]), side(asm, &targets[mid..]));
    asm.jump(Cmp::Ge, runs[mid].start, high, low);
    if mid > 1 {
        asm.place(low);
        tree(asm, &runs[..mid], &targets[..mid]);
    }
    if runs.len() - mid > 1 {
        asm.place(high);
        tree(asm, &runs[mid..], &targets[mid..]);
    }
}

/// Try each rule in turn; the default action when none matches.
fn arg_checks(asm: &mut Asm, arch: Arch, rules: &[ArgRule], default_ret: u32) {
    for rule in rules {
        let next_rule = asm.label();
        for cond in &rule.conds {
            let holds = asm.label();
            condition(asm, arch, cond, holds, next_rule);
            asm.place(holds);
        }
        asm.ret(rule.ret);
        asm.place(next_rule);
    }
    asm.ret(default_ret);
}

/// Jump to `yes` when the condition holds, else to `no`. 64-bit values are compared as
/// two 32-bit halves, the high one first; i386 compares the low half alone (see
/// [`Arch::args_are_32_bit`]).
fn condition(asm: &mut Asm, arch: Arch, cond: &ArgCond, yes: Label, no: Label) {
    // NE, LT and LE are EQ, GE and GT with the outcomes swapped.
    let (base, yes, no) = match cond.op {
        CmpOp::Ne => (CmpOp::Eq, no, yes),
        CmpOp::Lt => (CmpOp::Ge, no, yes),
        CmpOp::Le => (CmpOp::Gt, no, yes),
        op => (op, yes, no),
    };
    let low = arg_low(cond.index);
    let (value, mask) = match base {
        CmpOp::MaskedEq => (cond.value_two, Some(cond.value)),
        _ => (cond.value, None),
    };
    let last = match base {
        CmpOp::Gt => Cmp::Gt,
        CmpOp::Ge => Cmp::Ge,
        _ => Cmp::Eq,
    };
    if !arch.args_are_32_bit() {
        let (high_value, high_mask) = ((value >> 32) as u32, mask.map(|m| (m >> 32) as u32));
        let check_low = asm.label();
        asm.load(low + 4);
        if let Some(m) = high_mask {
            asm.and(m);
        }
        if last == Cmp::Eq {
            asm.jump(Cmp::Eq, high_value, check_low, no);
        } else {
            // Ordered: a greater high half decides; an equal one defers to the low half.
            let equal = asm.label();
            asm.jump(Cmp::Gt, high_value, yes, equal);
            asm.place(equal);
            asm.jump(Cmp::Eq, high_value, check_low, no);
        }
        asm.place(check_low);
    }
    asm.load(low);
    if let Some(m) = mask {
        asm.and(m as u32);
    }
    asm.jump(last, value as u32, yes, no);
}

#[cfg(test)]
#[path = "compile_tests.rs"]
mod tests;
