"""Static memory plan: every non-constant tensor at a fixed offset in one arena.

    from tinygen.codegen.planner import plan_memory
    plan = plan_memory(graph)            # MemoryPlan
    plan.offsets[tensor_index]           # byte offset in the arena
    plan.arena_bytes, plan.lower_bound_bytes

Model
-----
Time is the position of an operator in the execution order (the graph's operator
order unless `order=` is given). A *buffer* is a run of bytes some tensors share;
it is live over the closed interval [start, end] of steps:

* an op's output is born at the op's step; it dies at the step of its last reader;
* the model's **inputs** live in the arena too: they are born at step 0 (the caller's
  data is copied in before the first op) and the model's **outputs** stay live until
  the last step (they are copied out after it), so the generated `invoke` never keeps
  pointers to caller memory;
* an output nobody reads still gets bytes for its own step (the kernel writes it);
* tensors read but never written (variables) live over the whole run.

Two buffers live at a common step never overlap. At a step the inputs and outputs of
the op are all live, so an output never shares bytes with an input, except where the
op allows it:

* **aliases** (`Op.alias`: RESHAPE, SQUEEZE, EXPAND_DIMS): the output *is* input 0's
  bytes; the op writes nothing. A chain of aliases is one buffer whose lifetime is the
  union of its tensors' lifetimes. (An alias of a constant tensor is not aliased: the
  code generator copies it.)
* **in-place ops** (`Op.inplace`, element-wise kernels that read element i of input 0
  before writing element i of the output; an op may refine the flag per node with
  `is_inplace(g, op)`): the output takes over input 0's buffer when
  input 0 dies at this op, has the same byte size, is not a model output, and no other
  input of the op lives in that buffer.
* **kernel scratch** (`Op.scratch_bytes(params)`): a buffer live only at the op's step.

Placement
---------
Offsets are multiples of `alignment` (default 16) and every buffer occupies its size
rounded up to the alignment. Placement is greedy: buffers are taken one at a time in a
priority order and put into the lowest gap (first fit) or the tightest gap (best fit)
among the already placed buffers whose lifetimes intersect. Several priority orders
(size, lifetime length, size x lifetime, birth) and both fits are tried, then a short
seeded random search over priority orders when the best result is still above the
bound; the smallest arena wins.

`lower_bound_bytes` is the largest sum of the (unaligned) bytes of the buffers live at a
single step for the order used: no placement of these buffers can use less.
`aligned_lower_bound_bytes` is the same sum with every size rounded up to the alignment.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from tinygen.errors import TinygenError
from tinygen.model.graph import Graph

DEFAULT_ALIGNMENT = 16


def align_up(n: int, a: int) -> int:
    return (n + a - 1) // a * a


@dataclass
class Buffer:
    """A run of arena bytes: one or more tensors (alias chains, in-place ops) or one op's scratch."""

    id: int
    nbytes: int
    start: int  # first step (position in the execution order) it is live
    end: int  # last step, inclusive
    tensors: list[int] = field(default_factory=list)  # tensor indices sharing the bytes
    scratch_op: int | None = None  # op index, for a kernel scratch buffer
    offset: int = -1

    def overlaps_in_time(self, other: "Buffer") -> bool:
        return self.start <= other.end and other.start <= self.end

    @property
    def label(self) -> str:
        if self.scratch_op is not None:
            return f"scratch(op {self.scratch_op})"
        return "tensors " + ",".join(map(str, self.tensors))


@dataclass
class MemoryPlan:
    alignment: int
    order: list[int]  # op indices in execution order
    buffers: list[Buffer]
    offsets: dict[int, int]  # tensor index -> arena offset, for every non-constant tensor the graph uses
    buffer_of: dict[int, int]  # tensor index -> Buffer.id
    scratch_offsets: dict[int, int]  # op index -> offset of its scratch buffer (ops that need scratch)
    scratch_bytes: dict[int, int]  # op index -> scratch bytes (ops that need scratch)
    arena_bytes: int
    lower_bound_bytes: int
    aligned_lower_bound_bytes: int
    aliases: dict[int, int]  # output tensor of an alias op -> its input 0 tensor (bytes shared)
    inplace_ops: list[int]  # op indices whose output overwrites input 0
    strategy: str = ""

    @property
    def live_bound_bytes(self) -> int:
        """Largest sum of the activation bytes live at one step, kernel scratch excluded: no plan of these
        tensors needs less (the yardstick of the arena target, RAM_SLACK)."""
        steps = max((b.end for b in self.buffers), default=-1) + 1
        return max((sum(b.nbytes for b in self.buffers if b.scratch_op is None and b.start <= s <= b.end)
                    for s in range(steps)), default=0)

    @property
    def ram_limit_bytes(self) -> int:
        """The default arena target: RAM_SLACK x the live-tensor bound + RAM_SLACK_BYTES."""
        return int(RAM_SLACK * self.live_bound_bytes) + RAM_SLACK_BYTES

    def scratch_offset(self, op_index: int) -> int | None:
        """Offset of op `op_index`'s scratch buffer, None when it has none."""
        return self.scratch_offsets.get(op_index)

    def live_at(self, step: int) -> list[Buffer]:
        return [b for b in self.buffers if b.start <= step <= b.end]

    def shares_bytes(self, t1: int, t2: int) -> bool:
        """True when tensors t1 and t2 are the same bytes (alias chain / in-place op)."""
        return t1 in self.buffer_of and self.buffer_of.get(t1) == self.buffer_of.get(t2)

    @property
    def overhead(self) -> float:
        """arena_bytes / lower_bound_bytes - 1."""
        return self.arena_bytes / self.lower_bound_bytes - 1.0 if self.lower_bound_bytes else 0.0

    def verify(self) -> None:
        """Raise AssertionError when two buffers live at a common step overlap, an offset is
        misaligned, or a buffer runs past the arena (checks every pair)."""
        bs = [b for b in self.buffers if b.nbytes > 0]
        for b in bs:
            assert b.offset >= 0, f"{b.label}: not placed"
            assert b.offset % self.alignment == 0, f"{b.label}: offset {b.offset} not {self.alignment}-aligned"
            assert b.offset + b.nbytes <= self.arena_bytes, f"{b.label}: ends at {b.offset + b.nbytes} > arena {self.arena_bytes}"
        for i, a in enumerate(bs):
            for b in bs[i + 1 :]:
                if a.overlaps_in_time(b):
                    assert a.offset + a.nbytes <= b.offset or b.offset + b.nbytes <= a.offset, (
                        f"{a.label} [{a.offset}, {a.offset + a.nbytes}) steps {a.start}..{a.end} overlaps "
                        f"{b.label} [{b.offset}, {b.offset + b.nbytes}) steps {b.start}..{b.end}"
                    )

    def summary(self) -> str:
        return (f"arena {self.arena_bytes} B, lower bound {self.lower_bound_bytes} B "
                f"(aligned {self.aligned_lower_bound_bytes} B), +{100 * self.overhead:.1f}%, {len(self.buffers)} buffers, "
                f"strategy {self.strategy}")


class _UnionFind:
    def __init__(self):
        self.parent: dict[int, int] = {}

    def find(self, x: int) -> int:
        self.parent.setdefault(x, x)
        root = x
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[x] != root:
            self.parent[x], x = root, self.parent[x]
        return root

    def union(self, a: int, b: int) -> int:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[rb] = ra
        return ra


def _op_impls(g: Graph):
    from tinygen.ops import REGISTRY

    return [REGISTRY.get(op.op) for op in g.operators]


class _Lifetimes:
    """Steps of the execution order and the [start, end] step of every activation tensor."""

    def __init__(self, g: Graph, order: Sequence[int] | None):
        n_ops = len(g.operators)
        self.g = g
        self.order = list(range(n_ops)) if order is None else list(order)
        if sorted(self.order) != list(range(n_ops)):
            raise TinygenError("execution order must be a permutation of the operators")
        self.step = {op_idx: s for s, op_idx in enumerate(self.order)}
        self.last_step = max(n_ops - 1, 0)
        self.start: dict[int, int] = {}
        self.end: dict[int, int] = {}
        self.producer = self._producers()
        self._compute()
        self._check_reads_follow_writes()

    def is_act(self, t: int) -> bool:
        return t >= 0 and not self.g.tensors[t].is_const

    def ops_in_order(self):
        return [self.g.operators[i] for i in self.order]

    def _producers(self) -> dict[int, int]:
        producer: dict[int, int] = {}
        for op in self.g.operators:
            for t in op.outputs:
                if t in producer:
                    raise TinygenError(f"tensor {t} is written by ops {producer[t]} and {op.index}")
                producer[t] = op.index
        return producer

    def _compute(self) -> None:
        g, start, end = self.g, self.start, self.end
        for t in g.inputs:
            if self.is_act(t):
                start[t] = end[t] = 0
        for op in g.operators:
            s = self.step[op.index]
            for t in op.outputs:
                if self.is_act(t):
                    start[t] = s
                    end[t] = max(end.get(t, s), s)
            for t in op.inputs:
                if not self.is_act(t):
                    continue
                if t not in start and t not in self.producer:  # read but never written: a variable
                    start[t], end[t] = 0, self.last_step
                    continue
                end[t] = max(end.get(t, s), s)
        for t in g.outputs:
            if self.is_act(t):
                start.setdefault(t, 0)
                end[t] = self.last_step

    def _check_reads_follow_writes(self) -> None:
        for op in self.g.operators:  # reads before the write in a custom order are an error
            for t in op.inputs:
                if self.is_act(t) and t in self.producer and self.step[self.producer[t]] > self.step[op.index]:
                    raise TinygenError(f"op {op.index} reads tensor {t} before op {self.producer[t]} writes it in this order")


def _group_spans(lt: _Lifetimes, uf: _UnionFind) -> dict[int, list[int]]:
    """[start, end] of every group of tensors that share bytes (keyed by the group's root)."""
    span: dict[int, list[int]] = {}
    for t in lt.start:
        r = uf.find(t)
        if r in span:
            span[r][0] = min(span[r][0], lt.start[t])
            span[r][1] = max(span[r][1], lt.end[t])
        else:
            span[r] = [lt.start[t], lt.end[t]]
    return span


def _join_aliases(lt: _Lifetimes, impls, uf: _UnionFind) -> dict[int, int]:
    """Alias ops (RESHAPE, ...): output and input 0 become one buffer. Returns {output: input}."""
    g, aliases = lt.g, {}
    for op in lt.ops_in_order():
        impl = impls[op.index]
        if impl is None or not getattr(impl, "alias", False) or not op.inputs or not op.outputs:
            continue
        src, dst = op.inputs[0], op.outputs[0]
        if not lt.is_act(src) or not lt.is_act(dst) or g.tensors[src].nbytes != g.tensors[dst].nbytes:
            continue
        uf.union(src, dst)
        aliases[dst] = src
    return aliases


def _inplace_candidate(lt: _Lifetimes, impl, op) -> bool:
    """Whether the op may write its output over input 0 at all (before lifetimes are looked at)."""
    if impl is None or not getattr(impl, "inplace", False) or getattr(impl, "alias", False):
        return False
    if not op.inputs or len(op.outputs) != 1:
        return False
    if hasattr(impl, "is_inplace") and not impl.is_inplace(lt.g, op):
        return False
    src, dst = op.inputs[0], op.outputs[0]
    if not lt.is_act(src) or not lt.is_act(dst):
        return False
    ts, td = lt.g.tensors[src], lt.g.tensors[dst]
    return ts.nbytes == td.nbytes and ts.size == td.size


def _join_inplace(lt: _Lifetimes, impls, uf: _UnionFind) -> list[int]:
    """In-place ops: the output takes over input 0's buffer where input 0 dies at the op.
    Returns the indices of the ops that run in place."""
    span = _group_spans(lt, uf)
    out_groups = {uf.find(t) for t in lt.g.outputs if lt.is_act(t)}
    inplace_ops: list[int] = []
    for op in lt.ops_in_order():
        if not _inplace_candidate(lt, impls[op.index], op):
            continue
        src, dst = op.inputs[0], op.outputs[0]
        gs, gd = uf.find(src), uf.find(dst)
        if gs == gd or gs in out_groups or gd in out_groups:
            continue
        s = lt.step[op.index]
        if span[gs][1] != s or span[gd][0] != s:
            continue
        if any(lt.is_act(t) and uf.find(t) == gs for t in op.inputs[1:]):
            continue
        r = uf.union(gs, gd)
        lo, hi = min(span[gs][0], span[gd][0]), max(span[gs][1], span[gd][1])
        span.pop(gs, None)
        span.pop(gd, None)
        span[r] = [lo, hi]
        inplace_ops.append(op.index)
    return inplace_ops


def _tensor_buffers(lt: _Lifetimes, uf: _UnionFind) -> tuple[list[Buffer], dict[int, int]]:
    """One Buffer per group of tensors sharing bytes, ordered by birth. Returns (buffers, buffer_of)."""
    span = _group_spans(lt, uf)
    members: dict[int, list[int]] = {}
    for t in sorted(lt.start):
        members.setdefault(uf.find(t), []).append(t)
    buffers: list[Buffer] = []
    buffer_of: dict[int, int] = {}
    for r in sorted(members, key=lambda r: (span[r][0], min(members[r]))):
        ts = members[r]
        nbytes = max(lt.g.tensors[t].nbytes for t in ts)
        b = Buffer(id=len(buffers), nbytes=nbytes, start=span[r][0], end=span[r][1], tensors=ts)
        for t in ts:
            buffer_of[t] = b.id
        buffers.append(b)
    return buffers, buffer_of


def _scratch_buffers(lt: _Lifetimes, impls, params: Sequence[Any], first_id: int) -> tuple[list[Buffer], dict[int, int]]:
    """Kernel scratch: a buffer live only at its op's step. Returns (buffers, {op index: bytes})."""
    buffers: list[Buffer] = []
    scratch_bytes: dict[int, int] = {}
    for op in lt.ops_in_order():
        impl = impls[op.index]
        if impl is None:
            continue
        nb = int(impl.scratch_bytes(params[op.index]) or 0)
        if nb > 0:
            scratch_bytes[op.index] = nb
            s = lt.step[op.index]
            buffers.append(Buffer(id=first_id + len(buffers), nbytes=nb, start=s, end=s, scratch_op=op.index))
    return buffers, scratch_bytes


def build_buffers(g: Graph, params: Sequence[Any] | None = None, order: Sequence[int] | None = None,
                  alias: bool = True, inplace: bool = True):
    """The buffers (unplaced) and the alias / in-place decisions. See the module docstring.

    Returns (buffers, buffer_of, aliases, inplace_ops, scratch_bytes, order)."""
    impls = _op_impls(g)
    lt = _Lifetimes(g, order)
    uf = _UnionFind()
    for t in lt.start:
        uf.find(t)
    aliases = _join_aliases(lt, impls, uf) if alias else {}
    inplace_ops = _join_inplace(lt, impls, uf) if inplace else []
    buffers, buffer_of = _tensor_buffers(lt, uf)
    scratch_bytes: dict[int, int] = {}
    if params is not None:
        scratch, scratch_bytes = _scratch_buffers(lt, impls, params, len(buffers))
        buffers += scratch
    return buffers, buffer_of, aliases, inplace_ops, scratch_bytes, lt.order


def _lower_bounds(buffers: list[Buffer], n_steps: int, alignment: int) -> tuple[int, int]:
    raw = [0] * max(n_steps, 1)
    al = [0] * max(n_steps, 1)
    for b in buffers:
        for s in range(b.start, b.end + 1):
            raw[s] += b.nbytes
            al[s] += align_up(b.nbytes, alignment)
    return max(raw), max(al)


def _place(buffers: list[Buffer], priority: list[int], alignment: int, best_fit: bool) -> tuple[list[int], int]:
    """Greedy placement in `priority` order. Returns (offsets by buffer position, arena bytes)."""
    n = len(buffers)
    offsets = [-1] * n
    placed: list[int] = []
    top = 0
    for i in priority:
        b = buffers[i]
        size = align_up(b.nbytes, alignment)
        if size == 0:
            offsets[i] = 0
            continue
        busy = sorted(
            (offsets[j], offsets[j] + align_up(buffers[j].nbytes, alignment))
            for j in placed
            if buffers[j].start <= b.end and b.start <= buffers[j].end
        )
        cand = 0
        best = None  # (gap, offset)
        for lo, hi in busy:
            if cand + size <= lo:
                if not best_fit:
                    break
                gap = lo - cand
                if best is None or gap < best[0]:
                    best = (gap, cand)
            cand = max(cand, hi)
        if best_fit and best is not None:
            cand = best[1]
        offsets[i] = cand
        placed.append(i)
        top = max(top, cand + b.nbytes)
    return offsets, align_up(top, alignment)


_PRIORITIES = {
    "size": lambda b: (-b.nbytes, b.start, b.id),
    "size*life": lambda b: (-b.nbytes * (b.end - b.start + 1), -b.nbytes, b.id),
    "life": lambda b: (-(b.end - b.start), -b.nbytes, b.id),
    "birth": lambda b: (b.start, -b.nbytes, b.id),
}


def _search(buffers: list[Buffer], alignment: int, target: int, iterations: int, seed: int):
    """Try the fixed priorities with first and best fit, then a seeded random search."""
    best = None  # (arena, strategy, offsets, priority)
    for name, key in _PRIORITIES.items():
        prio = sorted(range(len(buffers)), key=lambda i: key(buffers[i]))
        for best_fit in (False, True):
            offs, arena = _place(buffers, prio, alignment, best_fit)
            strat = f"{name}/{'best' if best_fit else 'first'}-fit"
            if best is None or arena < best[0]:
                best = (arena, strat, offs, prio, best_fit)
    if best[0] > target and iterations > 0 and len(buffers) > 2:
        rng = random.Random(seed)
        cur_arena, _, _, cur_prio, cur_fit = best
        cur_prio = list(cur_prio)
        for it in range(iterations):
            prio = list(cur_prio)
            for _ in range(rng.randint(1, 3)):
                i = rng.randrange(len(prio))
                j = rng.randrange(len(prio))
                prio.insert(j, prio.pop(i))
            fit = cur_fit if rng.random() < 0.8 else not cur_fit
            offs, arena = _place(buffers, prio, alignment, fit)
            if arena <= cur_arena:
                cur_arena, cur_prio, cur_fit = arena, prio, fit
                if arena < best[0]:
                    best = (arena, f"search/{'best' if fit else 'first'}-fit", offs, prio, fit)
                    if arena <= target:
                        break
    return best


# Default arena target: at most RAM_SLACK x the live-tensor bound + RAM_SLACK_BYTES, kernel scratch included.
RAM_SLACK = 1.05
RAM_SLACK_BYTES = 64


def plan_memory(g: Graph, params: Sequence[Any] | None = None, *, alignment: int = DEFAULT_ALIGNMENT,
                order: Iterable[int] | None = None, alias: bool = True, inplace: bool = True,
                search_iterations: int = 300, seed: int = 0, fit_scratch: bool = True) -> MemoryPlan:
    """Plan the arena for graph `g`.

    `params`: the ops' prepared params (`REGISTRY[op.op].prepare(g, op)` per op), used for the
    kernels' scratch sizes; computed here when None. `alias` / `inplace`: allow sharing (both
    on by default). `search_iterations`: random restarts when the greedy orders miss the
    bound (0 to skip).

    `fit_scratch` (the default; `generate --optimize speed` turns it off): kernel scratch is placed in
    the plan's holes where it fits; when the arena still exceeds `ram_limit_bytes` (RAM_SLACK x the
    live-tensor bound + RAM_SLACK_BYTES), ops whose params offer a scratch-free slower variant (a
    `low_ram` attribute; the kernel variant then says why) switch to it, largest scratch first, as
    long as that makes the arena smaller. The switch is made on `params` in place, so the code
    generator emits the variant the plan was made for. Then (both ways) ops that run faster with more
    scratch (Op.grow_scratch: the depthwise ring kernel's block of channels) take what the plan's holes
    hold at their step, without growing the arena.
    """
    if params is None:
        from tinygen.ops import REGISTRY, check_graph

        check_graph(g)
        params = [REGISTRY[op.op].prepare(g, op) for op in g.operators]
    kw = dict(alignment=alignment, order=order, alias=alias, inplace=inplace, search_iterations=search_iterations,
              seed=seed)
    plan = _plan_once(g, params, **kw)
    if not fit_scratch:
        return _grow_scratch(g, params, plan, kw)
    tried: set[int] = set()
    while plan.arena_bytes > plan.ram_limit_bytes:
        cands = [(nb, k) for k, nb in plan.scratch_bytes.items()
                 if k not in tried and getattr(params[k], "low_ram", None) is False]
        if not cands:
            break
        _, k = max(cands)
        tried.add(k)
        params[k].low_ram = True
        new = _plan_once(g, params, **kw)
        if new.arena_bytes < plan.arena_bytes:
            plan = new
        else:
            params[k].low_ram = False
    return _grow_scratch(g, params, plan, kw)


def _grow_scratch(g: Graph, params: Sequence[Any], plan: MemoryPlan, kw: dict) -> MemoryPlan:
    """Kernel scratch grown into the plan's holes: each op that offers a faster setting with more scratch
    (Op.grow_scratch) gets the largest one that leaves the arena as it is, trying the free bytes at its
    step, then half of them, ... (a few replans per op)."""
    impls = _op_impls(g)
    for k in sorted(plan.scratch_bytes):
        impl = impls[k]
        if impl is None or params[k] is None:
            continue
        step = next(b.start for b in plan.buffers if b.scratch_op == k)
        live = sum(b.nbytes for b in plan.buffers if b.scratch_op is None and b.start <= step <= b.end)
        room = plan.arena_bytes - live
        for _ in range(4):
            if room <= plan.scratch_bytes[k]:
                break
            undo = impl.grow_scratch(params[k], room)
            if undo is None:
                break
            new = _plan_once(g, params, **kw)
            if new.arena_bytes <= plan.arena_bytes:
                plan = new
                break
            undo()
            room = (room + plan.scratch_bytes[k]) // 2
    return plan


def _plan_once(g: Graph, params: Sequence[Any], *, alignment: int, order, alias: bool, inplace: bool,
               search_iterations: int, seed: int) -> MemoryPlan:
    if alignment <= 0 or alignment & (alignment - 1):
        raise TinygenError(f"alignment must be a power of two, got {alignment}")
    buffers, buffer_of, aliases, inplace_ops, scratch, order_l = build_buffers(
        g, params, None if order is None else list(order), alias=alias, inplace=inplace)
    lb, alb = _lower_bounds(buffers, len(order_l), alignment)
    arena, strategy, offs, _, _ = _search(buffers, alignment, alb, search_iterations, seed) if buffers else (0, "empty", [], [], False)
    for b, o in zip(buffers, offs):
        b.offset = o
    offsets = {t: buffers[bid].offset for t, bid in buffer_of.items()}
    scratch_offsets = {b.scratch_op: b.offset for b in buffers if b.scratch_op is not None}
    plan = MemoryPlan(alignment=alignment, order=order_l, buffers=buffers, offsets=offsets, buffer_of=buffer_of,
                      scratch_offsets=scratch_offsets, scratch_bytes=scratch, arena_bytes=arena,
                      lower_bound_bytes=lb, aligned_lower_bound_bytes=alb, aliases=aliases,
                      inplace_ops=inplace_ops, strategy=strategy)
    plan.verify()
    return plan


__all__ = ["plan_memory", "MemoryPlan", "Buffer", "build_buffers", "align_up", "DEFAULT_ALIGNMENT", "RAM_SLACK",
           "RAM_SLACK_BYTES"]
