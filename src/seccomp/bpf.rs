//! Classic BPF as seccomp runs it: the instructions, and a small assembler with labels
//! that turns the compiler's forward jumps into the kernel's relative offsets.
//!
//! A seccomp program sees `struct seccomp_data` (linux/seccomp.h): `nr` at offset 0,
//! `arch` at 4, `instruction_pointer` at 8, `args[6]` (64-bit each) from 16. It may only
//! jump forward (the kernel's checker, `bpf_check_classic`, refuses anything else), a
//! conditional jump reaches at most 255 instructions ahead (its offsets are u8), `ja`
//! reaches anywhere (u32), and a program has at most BPF_MAXINSNS = 4096 instructions.

/// `struct sock_filter` (linux/filter.h), the same layout as `libc::sock_filter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub(crate) struct Insn {
    pub(crate) code: u16,
    pub(crate) jt: u8,
    pub(crate) jf: u8,
    pub(crate) k: u32,
}

/// The largest program the kernel loads (BPF_MAXINSNS in linux/bpf_common.h).
pub(crate) const MAX_INSNS: usize = 4096;

// Opcodes from linux/bpf_common.h: class | size | mode, or class | op | source.
const LD_W_ABS: u16 = 0x20; // BPF_LD (0) | BPF_W (0) | BPF_ABS (0x20)
const ALU_AND_K: u16 = 0x04 | 0x50; // BPF_ALU | BPF_AND | BPF_K
const JMP_JA: u16 = 0x05; // BPF_JMP | BPF_JA (0)
const JMP_JEQ_K: u16 = 0x05 | 0x10; // BPF_JMP | BPF_JEQ | BPF_K
const JMP_JGT_K: u16 = 0x05 | 0x20;
const JMP_JGE_K: u16 = 0x05 | 0x30;
const RET_K: u16 = 0x06;

/// Offsets into `struct seccomp_data`.
pub(crate) const OFFSET_NR: u32 = 0;
pub(crate) const OFFSET_ARCH: u32 = 4;

/// The offset of the low 32 bits of argument `index` (x86 is little-endian, so the high
/// half follows at +4).
pub(crate) fn arg_low(index: u8) -> u32 {
    16 + 8 * u32::from(index)
}

/// An unsigned comparison of the accumulator with a constant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cmp {
    Eq,
    Gt,
    Ge,
}

/// A place in the program, defined once with [`Asm::place`]; jumps to it must come before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Label(usize);

#[derive(Debug, Clone, Copy)]
enum Op {
    Load(u32),
    And(u32),
    Jump {
        cmp: Cmp,
        k: u32,
        yes: Label,
        no: Label,
    },
    Goto(Label),
    Ret(u32),
    Place(Label),
}

/// Builds a program from operations whose jumps name labels.
#[derive(Debug, Default)]
pub(crate) struct Asm {
    ops: Vec<Op>,
    labels: usize,
}

impl Asm {
    pub(crate) fn label(&mut self) -> Label {
        self.labels += 1;
        Label(self.labels - 1)
    }

    /// Define `label` here: jumps to it land on the next instruction.
    pub(crate) fn place(&mut self, label: Label) {
        self.ops.push(Op::Place(label));
    }

    /// A = the 32-bit word at `offset` of seccomp_data.
    pub(crate) fn load(&mut self, offset: u32) {
        self.ops.push(Op::Load(offset));
    }

    /// A &= k.
    pub(crate) fn and(&mut self, k: u32) {
        self.ops.push(Op::And(k));
    }

    /// Jump to `yes` when `A cmp k`, else to `no`.
    pub(crate) fn jump(&mut self, cmp: Cmp, k: u32, yes: Label, no: Label) {
        self.ops.push(Op::Jump { cmp, k, yes, no });
    }

    pub(crate) fn goto(&mut self, to: Label) {
        self.ops.push(Op::Goto(to));
    }

    /// Return `value` (a SECCOMP_RET_* action and its data) to the kernel.
    pub(crate) fn ret(&mut self, value: u32) {
        self.ops.push(Op::Ret(value));
    }

    /// Resolve the labels into offsets. A conditional jump whose target lies more than
    /// 255 instructions ahead becomes `jcond +0/+1; ja yes; ja no`. Expanding one can
    /// push others out of reach, so the layout is redone until nothing changes; each jump
    /// expands at most once, so this ends.
    pub(crate) fn assemble(self) -> Result<Vec<Insn>, String> {
        let mut far = vec![false; self.ops.len()];
        loop {
            let (at, label_at) = self.layout(&far);
            let mut changed = false;
            for (i, op) in self.ops.iter().enumerate() {
                if let Op::Jump { yes, no, .. } = op {
                    if far[i] {
                        continue;
                    }
                    let from = at[i] + 1;
                    for target in [yes, no] {
                        let to = label_at[target.0].ok_or("a jump to a label never placed")?;
                        if to < from {
                            return Err(
                                "a backward jump (seccomp programs only jump forward)".into()
                            );
                        }
                        if to - from > usize::from(u8::MAX) {
                            far[i] = true;
                            changed = true;
                        }
                    }
                }
            }
            if !changed {
                return self.emit(&far, &at, &label_at);
            }
        }
    }

    /// The index of each op's first instruction, and where each label lands.
    fn layout(&self, far: &[bool]) -> (Vec<usize>, Vec<Option<usize>>) {
        let mut at = Vec::with_capacity(self.ops.len());
        let mut label_at = vec![None; self.labels];
        let mut pc = 0;
        for (i, op) in self.ops.iter().enumerate() {
            at.push(pc);
            pc += match op {
                Op::Place(label) => {
                    label_at[label.0] = Some(pc);
                    0
                }
                Op::Jump { .. } if far[i] => 3,
                _ => 1,
            };
        }
        (at, label_at)
    }

    fn emit(
        &self,
        far: &[bool],
        at: &[usize],
        label_at: &[Option<usize>],
    ) -> Result<Vec<Insn>, String> {
        let target = |l: Label| label_at[l.0].ok_or_else(|| "a label never placed".to_string());
        let stmt = |code, k| Insn {
            code,
            jt: 0,
            jf: 0,
            k,
        };
        let mut out = Vec::new();
        for (i, op) in self.ops.iter().enumerate() {
            let next = at[i] + 1;
            match *op {
                Op::Place(_) => {}
                Op::Load(offset) => out.push(stmt(LD_W_ABS, offset)),
                Op::And(k) => out.push(stmt(ALU_AND_K, k)),
                Op::Ret(k) => out.push(stmt(RET_K, k)),
                Op::Goto(to) => out.push(stmt(JMP_JA, offset(next, target(to)?)?)),
                Op::Jump { cmp, k, yes, no } => {
                    let code = match cmp {
                        Cmp::Eq => JMP_JEQ_K,
                        Cmp::Gt => JMP_JGT_K,
                        Cmp::Ge => JMP_JGE_K,
                    };
                    if far[i] {
                        out.push(Insn {
                            code,
                            jt: 0,
                            jf: 1,
                            k,
                        });
                        out.push(stmt(JMP_JA, offset(next + 1, target(yes)?)?));
                        out.push(stmt(JMP_JA, offset(next + 2, target(no)?)?));
                    } else {
                        let short = |to| {
                            offset(next, to)
                                .and_then(|o| u8::try_from(o).map_err(|e| e.to_string()))
                        };
                        out.push(Insn {
                            code,
                            jt: short(target(yes)?)?,
                            jf: short(target(no)?)?,
                            k,
                        });
                    }
                }
            }
        }
        if out.len() > MAX_INSNS {
            return Err(format!(
                "the filter needs {} instructions, more than the kernel's limit of {MAX_INSNS}",
                out.len()
            ));
        }
        Ok(out)
    }
}

/// Whether `program` is one this module could have assembled: known instructions only,
/// loads of seccomp_data's words, every jump inside the program, a `ret` at the end.
/// For programs read back from disk, before the kernel sees them.
pub(crate) fn is_well_formed(program: &[Insn]) -> bool {
    let len = program.len();
    (1..=MAX_INSNS).contains(&len)
        && program[len - 1].code == RET_K
        && program.iter().enumerate().all(|(pc, insn)| {
            let left = len - pc - 1;
            match insn.code {
                LD_W_ABS => insn.k < 64 && insn.k % 4 == 0,
                ALU_AND_K | RET_K => true,
                JMP_JA => (insn.k as usize) < left,
                JMP_JEQ_K | JMP_JGT_K | JMP_JGE_K => {
                    usize::from(insn.jt) < left && usize::from(insn.jf) < left
                }
                _ => false,
            }
        })
}

fn offset(from: usize, to: usize) -> Result<u32, String> {
    to.checked_sub(from)
        .and_then(|d| u32::try_from(d).ok())
        .ok_or_else(|| "a backward jump (seccomp programs only jump forward)".to_string())
}

/// What the kernel's interpreter does with `program` on one system call: the value it
/// returns. For the tests: they run the compiled filters on chosen calls.
#[cfg(test)]
pub(crate) fn run(program: &[Insn], nr: u32, arch: u32, args: [u64; 6]) -> u32 {
    let word = |offset: u32| -> u32 {
        match offset {
            OFFSET_NR => nr,
            OFFSET_ARCH => arch,
            o if (16..64).contains(&o) && o % 4 == 0 => {
                let arg = args[((o - 16) / 8) as usize];
                if o % 8 == 0 {
                    arg as u32
                } else {
                    (arg >> 32) as u32
                }
            }
            o => panic!("load from offset {o}"),
        }
    };
    let (mut pc, mut a) = (0usize, 0u32);
    loop {
        let insn = program[pc];
        pc += 1;
        match insn.code {
            LD_W_ABS => a = word(insn.k),
            ALU_AND_K => a &= insn.k,
            RET_K => return insn.k,
            JMP_JA => pc += insn.k as usize,
            JMP_JEQ_K | JMP_JGT_K | JMP_JGE_K => {
                let taken = match insn.code {
                    JMP_JEQ_K => a == insn.k,
                    JMP_JGT_K => a > insn.k,
                    _ => a >= insn.k,
                };
                pc += usize::from(if taken { insn.jt } else { insn.jf });
            }
            code => panic!("unknown opcode {code:#x}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_jumps_are_single_instructions_with_u8_offsets() {
        let mut asm = Asm::default();
        let (yes, no) = (asm.label(), asm.label());
        asm.load(OFFSET_NR);
        asm.jump(Cmp::Eq, 7, yes, no);
        asm.place(no);
        asm.ret(1);
        asm.place(yes);
        asm.ret(2);
        let prog = asm.assemble().unwrap();
        assert_eq!(prog.len(), 4);
        assert_eq!((prog[1].jt, prog[1].jf), (1, 0));
        assert_eq!(run(&prog, 7, 0, [0; 6]), 2);
        assert_eq!(run(&prog, 8, 0, [0; 6]), 1);
    }

    #[test]
    fn far_jumps_go_through_ja() {
        let mut asm = Asm::default();
        let (yes, no) = (asm.label(), asm.label());
        asm.load(OFFSET_NR);
        asm.jump(Cmp::Ge, 10, yes, no);
        asm.place(no);
        for i in 0..300 {
            let skip = asm.label();
            asm.jump(Cmp::Eq, 1000 + i, skip, skip);
            asm.place(skip);
        }
        asm.ret(1);
        asm.place(yes);
        asm.ret(2);
        let prog = asm.assemble().unwrap();
        assert_eq!(prog.len(), 1 + 3 + 300 + 2);
        assert_eq!(run(&prog, 11, 0, [0; 6]), 2);
        assert_eq!(run(&prog, 9, 0, [0; 6]), 1);
    }

    #[test]
    fn well_formed_programs_stay_inside_and_end_in_ret() {
        let ret = Insn {
            code: RET_K,
            jt: 0,
            jf: 0,
            k: 0,
        };
        let jump = |jt, jf| Insn {
            code: JMP_JEQ_K,
            jt,
            jf,
            k: 1,
        };
        assert!(is_well_formed(&[jump(0, 1), ret, ret]));
        assert!(!is_well_formed(&[jump(0, 2), ret, ret]));
        assert!(!is_well_formed(&[ret, jump(0, 0)]));
        assert!(!is_well_formed(&[]));
        let load = |k| Insn {
            code: LD_W_ABS,
            jt: 0,
            jf: 0,
            k,
        };
        assert!(is_well_formed(&[load(60), ret]));
        assert!(!is_well_formed(&[load(64), ret]));
        assert!(!is_well_formed(&[Insn { code: 0x07, ..ret }, ret]));
    }

    #[test]
    fn unplaced_labels_and_oversized_programs_are_errors() {
        let mut asm = Asm::default();
        let nowhere = asm.label();
        asm.goto(nowhere);
        assert!(asm.assemble().is_err());
        let mut asm = Asm::default();
        for _ in 0..=MAX_INSNS {
            asm.ret(0);
        }
        assert!(asm.assemble().unwrap_err().contains("4096"));
    }
}
