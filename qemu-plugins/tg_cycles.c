/*
 * tg_cycles: a QEMU TCG plugin that estimates the core cycles of the code QEMU executes.
 *
 * QEMU -icount counts instructions exactly; a real Cortex-M core spends more than one
 * cycle on many of them (loads, multiple loads/stores, taken branches, divisions, ...).
 * This plugin classifies every instruction once, when QEMU translates its block (from
 * QEMU's own disassembly text), gives it the cycle count of the core's timing table, and
 * adds up the blocks as they execute. A taken branch is seen when the next block does not
 * start at the fall-through address of the branch; it costs the table's pipeline refill.
 *
 * The timing table is data: tinygen passes its values as plugin arguments, from
 * qemu-plugins/timing/<core>.toml (sources and blind spots are documented there).
 *
 * Arguments (all "name=value"):
 *   out=PATH      file for the records below (required)
 *   mark=ADDR     entry address of a function whose every call is recorded ("C" records;
 *                 tinygen passes tg_cycles(), the firmware's own measurement points)
 *   begin=ADDR    entry address of a function that starts a group ("B" records;
 *                 tinygen passes tg_app_invoke())
 *   t_<class>=N   cycles of an instruction class (see the class list below); tinygen passes
 *                 centi-cycles (the table x 100, so that a dual-issuing core's 0.5 fits) and
 *                 divides the records by 100
 *   isa=arm|riscv the instruction set QEMU runs (default arm): which classifier reads the
 *                 disassembly (Thumb-2 mnemonics, or RV32IMC ones as QEMU prints them,
 *                 compressed instructions expanded)
 * Records (one line each, flushed at once): "I tg_cycles loaded" once installed, then
 * "B <insns> <cycles>" / "C <insns> <cycles>"
 * (counts before the marked function's first instruction), and at exit one
 * "S <class> <executed instructions>" line per class, then "T <insns> <cycles>".
 *
 * Built by tinygen (tinygen/boards/cycle_model.py) with `cc -shared -fPIC -O2` at first
 * use and cached. QEMU 7.2 ships no qemu-plugin.h: the declarations below follow QEMU's
 * public TCG plugin API documentation (docs/devel/tcg-plugins.rst, API version 1).
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- QEMU TCG plugin API, version 1 (the subset used here) ---- */
#define QEMU_PLUGIN_EXPORT __attribute__((visibility("default")))
#define QEMU_PLUGIN_VERSION 1
typedef uint64_t qemu_plugin_id_t;
typedef struct qemu_info_t qemu_info_t;       /* not read here */
struct qemu_plugin_tb;
struct qemu_plugin_insn;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *tb, qemu_plugin_vcpu_udata_cb_t cb,
                                          enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
size_t qemu_plugin_insn_size(const struct qemu_plugin_insn *insn);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
char *qemu_plugin_insn_disas(const struct qemu_plugin_insn *insn);
QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

/* ---- instruction classes ---- */
enum {
    K_ALU,            /* data processing, moves, shifts, extends, DSP/SIMD, saturating: 1 */
    K_MUL,            /* MUL, long multiplies, SMLAxy/SMLAD/SMLALD...: 1 on M4 */
    K_MLA,            /* MLA, MLS */
    K_DIV,            /* SDIV, UDIV (2..12, data dependent) */
    K_LOAD,           /* single load (LDR/LDRB/LDRH/LDRSB/LDRSH/LDREX) */
    K_LOAD_PIPE,      /* single load/store right after a single load (pipelined) */
    K_STORE_IMM,      /* STR Rx,[Ry,#imm] */
    K_STORE_REG,      /* store with a register offset */
    K_LDRD,           /* LDRD / STRD */
    K_MULTI_BASE,     /* LDM/STM/PUSH/POP/VLDM/VSTM/VPUSH/VPOP: base + per register */
    K_MULTI_REG,      /* (counted per transferred word) */
    K_BRANCH,         /* B, BL, BX, BLX, CBZ, CBZ, conditional B: 1 + refill when taken */
    K_TBB,            /* TBB/TBH: 2 + refill */
    K_REFILL,         /* pipeline refill of a taken branch / PC write (counted per taken branch) */
    K_VALU,           /* FPU add/mul/convert/move/compare */
    K_VMAC,           /* VMLA/VMLS/VFMA/VFMS/VNMLA/VNMLS */
    K_VDIV,           /* VDIV/VSQRT */
    K_VLDST,          /* VLDR/VSTR */
    K_SYS,            /* MRS/MSR/CPS/barriers/WFI/SVC/BKPT; RISC-V: CSR access, FENCE, ECALL... */
    K_MULH,           /* RISC-V MULH/MULHU/MULHSU (upper word of the product) */
    K_LOAD_USE,       /* RISC-V load whose result the next instruction reads (load-use stall) */
    K_JUMP,           /* RISC-V JAL/JALR (J, JR, RET, CALL): always redirect fetch */
    K_COUNT
};
static const char *k_names[K_COUNT] = {
    "alu", "mul", "mla", "div", "load", "load_pipelined", "store_imm", "store_reg", "ldrd",
    "multi_base", "multi_reg", "branch", "tbb", "refill", "valu", "vmac", "vdiv", "vldst", "sys",
    "mulh", "load_use", "jump",
};
static uint64_t k_cycles[K_COUNT] = {1, 1, 2, 7, 2, 1, 1, 2, 3, 1, 1, 1, 2, 2, 1, 3, 14, 2, 2, 5, 2, 2};
static int s_riscv;

typedef struct {
    uint64_t vaddr;
    uint64_t fallthrough;    /* address after the last instruction */
    uint64_t cycles;         /* static cost of the whole block, refills excluded */
    uint32_t n_insns;
    uint8_t ends_in_branch;  /* last instruction may write the PC */
    uint8_t mark;            /* 'B', 'C' or 0 */
    uint32_t count[K_COUNT]; /* instructions (words for K_MULTI_REG) per class */
} tb_info;

static FILE *s_out;
static uint64_t s_mark_addr = UINT64_MAX, s_begin_addr = UINT64_MAX;
static uint64_t s_insns, s_cycles;
static uint64_t s_class[K_COUNT];
static const tb_info *s_prev;

static int starts(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }

static int is_cond(const char *s)
{
    static const char *cc[] = {"eq", "ne", "cs", "hs", "cc", "lo", "mi", "pl", "vs", "vc",
                               "hi", "ls", "ge", "lt", "gt", "le", "al", NULL};
    int i;
    for (i = 0; cc[i]; i++) {
        if (strcmp(s, cc[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

/* Registers in a "{r4, r5, lr}" list; d registers count two words, ranges "r4-r7" too. */
static int reg_words(const char *ops, int *has_pc)
{
    const char *p = strchr(ops, '{');
    int words = 0;
    *has_pc = 0;
    if (!p) {
        return 1;
    }
    p++;
    while (*p && *p != '}') {
        char tok[16];
        int n = 0;
        while (*p == ' ' || *p == ',') {
            p++;
        }
        while (*p && *p != ',' && *p != '}' && n < 15) {
            tok[n++] = *p++;
        }
        tok[n] = 0;
        if (!n) {
            break;
        }
        {
            int w = tok[0] == 'd' ? 2 : 1;
            char *dash = strchr(tok, '-');
            if (dash) {
                int a = atoi(tok + 1), b = atoi(dash + 2);
                words += w * (b - a + 1);
            } else {
                words += w;
            }
            if (strcmp(tok, "pc") == 0) {
                *has_pc = 1;
            }
        }
    }
    return words ? words : 1;
}

/* Does "[rn, rm...]" use a register offset? */
static int reg_offset(const char *ops)
{
    const char *p = strchr(ops, '[');
    const char *c;
    if (!p) {
        return 0;
    }
    c = strchr(p, ',');
    if (!c || (strchr(p, ']') && c > strchr(p, ']'))) {
        return 0;
    }
    c++;
    while (*c == ' ') {
        c++;
    }
    return *c != '#';
}

/* The first operand (destination) is the pc: "ldr pc, ...", "mov pc, ...", "add pc, ...". */
static int dest_pc(const char *ops) { return starts(ops, "pc"); }

static int is_branch_mnemonic(const char *m)
{
    if (strcmp(m, "b") == 0 || strcmp(m, "bl") == 0 || strcmp(m, "bx") == 0 || strcmp(m, "blx") == 0
        || strcmp(m, "cbz") == 0 || strcmp(m, "cbnz") == 0) {
        return 1;
    }
    if (m[0] == 'b' && is_cond(m + 1)) {
        return 1;
    }
    if ((starts(m, "bx") || starts(m, "bl")) && is_cond(m + 2)) {   /* bxeq, bleq (in IT blocks) */
        return 1;
    }
    return 0;
}

/* Class of one instruction from its disassembly; *words: transferred words for multiples;
 * *writes_pc: it may branch. */
static int classify(const char *text, int prev_was_load, int *words, int *writes_pc)
{
    char m[24];
    const char *ops;
    size_t n = strcspn(text, " \t");
    int has_pc = 0;
    char *dot;
    *words = 0;
    *writes_pc = 0;
    if (n >= sizeof m) {
        n = sizeof m - 1;
    }
    memcpy(m, text, n);
    m[n] = 0;
    ops = text + n;
    while (*ops == ' ' || *ops == '\t') {
        ops++;
    }
    dot = strchr(m, '.');
    if (dot && m[0] != 'v') {     /* ".w"/".n" width suffixes; keep VFP type suffixes */
        *dot = 0;
    }
    if (is_branch_mnemonic(m)) {
        *writes_pc = 1;
        return K_BRANCH;
    }
    if (starts(m, "tbb") || starts(m, "tbh")) {
        *writes_pc = 1;
        return K_TBB;
    }
    if (starts(m, "push") || starts(m, "pop") || starts(m, "ldm") || starts(m, "stm")
        || starts(m, "vpush") || starts(m, "vpop") || starts(m, "vldm") || starts(m, "vstm")) {
        *words = reg_words(ops, &has_pc);
        *writes_pc = has_pc && (starts(m, "pop") || starts(m, "ldm"));
        return K_MULTI_BASE;
    }
    if (starts(m, "ldrd") || starts(m, "strd")) {
        return K_LDRD;
    }
    if (starts(m, "ldr")) {
        if (dest_pc(ops)) {
            *writes_pc = 1;
            return K_LOAD;
        }
        return prev_was_load ? K_LOAD_PIPE : K_LOAD;
    }
    if (starts(m, "str")) {
        if (reg_offset(ops)) {
            return prev_was_load ? K_LOAD_PIPE : K_STORE_REG;
        }
        return K_STORE_IMM;
    }
    if (starts(m, "sdiv") || starts(m, "udiv")) {
        return K_DIV;
    }
    if (starts(m, "mla") || starts(m, "mls")) {
        return K_MLA;
    }
    if (starts(m, "mul") || starts(m, "smul") || starts(m, "umul") || starts(m, "smla") || starts(m, "umla")
        || starts(m, "smls") || starts(m, "smua") || starts(m, "smus") || starts(m, "smmul") || starts(m, "smmla")
        || starts(m, "smmls") || starts(m, "umaal")) {
        return K_MUL;
    }
    if (m[0] == 'v') {
        if (starts(m, "vdiv") || starts(m, "vsqrt")) {
            return K_VDIV;
        }
        if (starts(m, "vmla") || starts(m, "vmls") || starts(m, "vnmla") || starts(m, "vnmls")
            || starts(m, "vfma") || starts(m, "vfms") || starts(m, "vfnma") || starts(m, "vfnms")) {
            return K_VMAC;
        }
        if (starts(m, "vldr") || starts(m, "vstr")) {
            return K_VLDST;
        }
        return K_VALU;
    }
    if (starts(m, "mrs") || starts(m, "msr") || starts(m, "cps") || starts(m, "dmb") || starts(m, "dsb")
        || starts(m, "isb") || starts(m, "wfi") || starts(m, "wfe") || starts(m, "svc") || starts(m, "bkpt")) {
        return K_SYS;
    }
    if ((starts(m, "mov") || starts(m, "add")) && dest_pc(ops)) {
        *writes_pc = 1;
        return K_BRANCH;
    }
    return K_ALU;
}

/* ---- RISC-V: QEMU prints "<encoding> <mnemonic> <operands>" ---- */
static const char *rv_split(const char *text, char *m, size_t msize)
{
    const char *p = text;
    size_t n;
    p += strcspn(p, " \t");              /* skip the encoding */
    p += strspn(p, " \t");
    n = strcspn(p, " \t");
    if (n >= msize) {
        n = msize - 1;
    }
    memcpy(m, p, n);
    m[n] = 0;
    p += n;
    return p + strspn(p, " \t");
}

static int rv_is(const char *m, const char *const *names)
{
    int i;
    for (i = 0; names[i]; i++) {
        if (strcmp(m, names[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

/* Does the operand list `ops` name register `reg` among the registers it reads? For stores
 * and branches every operand is read; otherwise the first operand is the destination. */
static int rv_reads(const char *m, const char *ops, const char *reg)
{
    static const char *const all_read[] = {"sb", "sh", "sw", "beq", "bne", "blt", "bge", "bltu", "bgeu",
                                           "beqz", "bnez", "blez", "bgez", "bltz", "bgtz", "bgt", "ble",
                                           "bgtu", "bleu", "jr", "ret", NULL};
    const char *p = ops;
    int first = !rv_is(m, all_read);
    while (*p && *p != '#') {
        char tok[16];
        size_t n = 0;
        while (*p && !((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9'))) {
            if (*p == '#') {
                return 0;
            }
            p++;
        }
        while (((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')) && n < sizeof tok - 1) {
            tok[n++] = *p++;
        }
        tok[n] = 0;
        if (!n) {
            break;
        }
        if (first) {
            first = 0;            /* the destination */
            continue;
        }
        if (strcmp(tok, reg) == 0) {
            return 1;
        }
    }
    return 0;
}

static int classify_riscv(const char *text, const char *next, int *writes_pc)
{
    static const char *const loads[] = {"lb", "lbu", "lh", "lhu", "lw", NULL};
    static const char *const stores[] = {"sb", "sh", "sw", NULL};
    static const char *const divs[] = {"div", "divu", "rem", "remu", NULL};
    static const char *const mulhs[] = {"mulh", "mulhu", "mulhsu", NULL};
    static const char *const jumps[] = {"j", "jal", "jalr", "jr", "ret", "call", "tail", NULL};
    char m[24];
    const char *ops = rv_split(text, m, sizeof m);
    *writes_pc = 0;
    if (rv_is(m, loads)) {
        if (next) {
            char nm[24], rd[16];
            const char *nops = rv_split(next, nm, sizeof nm);
            size_t n = strcspn(ops, ",");
            if (n >= sizeof rd) {
                n = sizeof rd - 1;
            }
            memcpy(rd, ops, n);
            rd[n] = 0;
            if (rv_reads(nm, nops, rd)) {
                return K_LOAD_USE;
            }
        }
        return K_LOAD;
    }
    if (rv_is(m, stores)) {
        return K_STORE_IMM;
    }
    if (strcmp(m, "mul") == 0) {
        return K_MUL;
    }
    if (rv_is(m, mulhs)) {
        return K_MULH;
    }
    if (rv_is(m, divs)) {
        return K_DIV;
    }
    if (rv_is(m, jumps)) {
        return K_JUMP;       /* always taken: its cost includes the fetch redirect */
    }
    if (m[0] == 'b') {
        *writes_pc = 1;      /* conditional branch: + refill when taken */
        return K_BRANCH;
    }
    if (starts(m, "csr") || starts(m, "fence") || strcmp(m, "ecall") == 0 || strcmp(m, "ebreak") == 0
        || strcmp(m, "wfi") == 0 || strcmp(m, "mret") == 0) {
        return K_SYS;
    }
    return K_ALU;
}

static void record(char kind)
{
    if (s_out) {
        fprintf(s_out, "%c %" PRIu64 " %" PRIu64 "\n", kind, s_insns, s_cycles);
        fflush(s_out);
    }
}

static void tb_exec(unsigned int vcpu, void *udata)
{
    const tb_info *tb = (const tb_info *)udata;
    int k;
    (void)vcpu;
    if (s_prev && s_prev->ends_in_branch && tb->vaddr != s_prev->fallthrough) {
        s_cycles += k_cycles[K_REFILL];
        s_class[K_REFILL]++;
    }
    if (tb->mark) {
        record((char)tb->mark);
    }
    s_insns += tb->n_insns;
    s_cycles += tb->cycles;
    for (k = 0; k < K_COUNT; k++) {
        s_class[k] += tb->count[k];
    }
    s_prev = tb;
}

static void tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    size_t i, n = qemu_plugin_tb_n_insns(tb);
    tb_info *info = (tb_info *)calloc(1, sizeof *info);
    int prev_load = 0;
    char *next_text;
    (void)id;
    if (!info) {
        return;
    }
    info->vaddr = qemu_plugin_tb_vaddr(tb);
    info->n_insns = (uint32_t)n;
    info->mark = info->vaddr == s_begin_addr ? 'B' : info->vaddr == s_mark_addr ? 'C' : 0;
    next_text = n ? qemu_plugin_insn_disas(qemu_plugin_tb_get_insn(tb, 0)) : NULL;
    for (i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        char *text = next_text;
        int words = 0, writes_pc = 0;
        int k;
        next_text = i + 1 < n ? qemu_plugin_insn_disas(qemu_plugin_tb_get_insn(tb, i + 1)) : NULL;
        if (s_riscv) {
            k = classify_riscv(text ? text : "", next_text, &writes_pc);
        } else {
            k = classify(text ? text : "", prev_load, &words, &writes_pc);
        }
        info->count[k]++;
        info->cycles += k_cycles[k];
        if (k == K_MULTI_BASE) {
            info->count[K_MULTI_REG] += (uint32_t)words;
            info->cycles += k_cycles[K_MULTI_REG] * (uint64_t)words;
        }
        prev_load = (k == K_LOAD || (k == K_LOAD_PIPE && text && starts(text, "ldr"))) && !writes_pc;
        if (i + 1 == n) {
            info->ends_in_branch = (uint8_t)writes_pc;
            info->fallthrough = qemu_plugin_insn_vaddr(insn) + qemu_plugin_insn_size(insn);
        }
        free(text);
    }
    qemu_plugin_register_vcpu_tb_exec_cb(tb, tb_exec, QEMU_PLUGIN_CB_NO_REGS, info);
}

static void at_exit(qemu_plugin_id_t id, void *udata)
{
    int k;
    (void)id;
    (void)udata;
    if (!s_out) {
        return;
    }
    for (k = 0; k < K_COUNT; k++) {
        fprintf(s_out, "S %s %" PRIu64 "\n", k_names[k], s_class[k]);
    }
    record('T');
    fclose(s_out);
    s_out = NULL;
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
    int i, k;
    (void)info;
    for (i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *eq = strchr(a, '=');
        if (!eq) {
            fprintf(stderr, "tg_cycles: bad argument '%s'\n", a);
            return -1;
        }
        if (starts(a, "out=")) {
            s_out = fopen(eq + 1, "w");
            if (!s_out) {
                fprintf(stderr, "tg_cycles: cannot open '%s'\n", eq + 1);
                return -1;
            }
        } else if (starts(a, "mark=")) {
            s_mark_addr = strtoull(eq + 1, NULL, 0) & ~(uint64_t)1;
        } else if (starts(a, "begin=")) {
            s_begin_addr = strtoull(eq + 1, NULL, 0) & ~(uint64_t)1;
        } else if (starts(a, "isa=")) {
            if (strcmp(eq + 1, "riscv") == 0) {
                s_riscv = 1;
            } else if (strcmp(eq + 1, "arm") != 0) {
                fprintf(stderr, "tg_cycles: unknown isa '%s'\n", eq + 1);
                return -1;
            }
        } else if (starts(a, "t_")) {
            size_t len = (size_t)(eq - a - 2);
            for (k = 0; k < K_COUNT; k++) {
                if (strlen(k_names[k]) == len && strncmp(a + 2, k_names[k], len) == 0) {
                    k_cycles[k] = strtoull(eq + 1, NULL, 0);
                    break;
                }
            }
            if (k == K_COUNT) {
                fprintf(stderr, "tg_cycles: unknown instruction class in '%s'\n", a);
                return -1;
            }
        } else {
            fprintf(stderr, "tg_cycles: unknown argument '%s'\n", a);
            return -1;
        }
    }
    if (!s_out) {
        fprintf(stderr, "tg_cycles: out=PATH is required\n");
        return -1;
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans);
    qemu_plugin_register_atexit_cb(id, at_exit, NULL);
    fprintf(s_out, "I tg_cycles loaded\n");    /* the host waits for this line */
    fflush(s_out);
    return 0;
}
