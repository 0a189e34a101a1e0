"""The C source of one system's breadth-first search: the native twin of ``codegen.generate``.

The generated ``mc_search`` keeps the compiled Python search's contract exactly: the same
packed states (``codegen.Packing``), successors in declaration order, one event per return
(``EVENTS``) and resumption at a state index with the decided properties switched off, so the
driver in ``explicit.py`` is the same for both backends and so are state numbers, counts and
counterexamples. Expressions are written by the operator table's C column; the C compiler
does the common-subexpression and branch work that ``codegen`` plans by hand for CPython.

Store, per distinct state: the packed state (8 or 16 bytes), its parent (4), the action that
found it (2 or 4), and a slot of the open-addressing visited table (4 bytes, at most half
full), which is 22-36 bytes between two growths of the table.
"""

from __future__ import annotations

from migcheck.models.expr import Node
from migcheck.models.ir import System
from migcheck.models.operators import source

from ..codegen import Active, Packing

EVENTS = ("done", "limit", "invariant", "witness", "action", "deadlock", "domain")
MAX_BITS = 128


class NativeRefused(Exception):
    """The system cannot be searched natively (the reason is the message)."""


def c(node: Node) -> str:
    return source(node, "c")


def generate(system: System, packing: Packing, active: Active, canonical: str = "") -> str:
    """The C source; ``canonical`` is the body of ``canon(x)`` (symmetry.py's native form) or ""."""
    bits = packing.bits
    if bits > MAX_BITS:
        raise NativeRefused(f"a packed state needs {bits} bits; the native backend holds at most {MAX_BITS}")
    wide = bits > 64
    via_type = "uint16_t" if len(system.actions) < 1 << 16 else "uint32_t"
    out = [_PRELUDE.format(state="unsigned __int128" if wide else "uint64_t", via=via_type,
                           n_actions=max(1, len(system.actions)),
                           hash=_HASH128 if wide else _HASH64)]
    out.append(canonical or "static inline st_t canon(st_t x) { return x; }\n")
    out.append(_search(system, packing, active))
    return "\n".join(out)


def _field(packing: Packing, s: int) -> str:
    o, w, lo = packing.offsets[s], packing.widths[s], packing.lows[s]
    text = f"(int64_t)((x >> {o}) & {(1 << w) - 1}u)" if w else "(int64_t)0"
    return f"({text} + {lo})" if lo else text


def _state_const(value: int) -> str:
    """A packed-state constant (possibly wider than 64 bits)."""
    if value < 1 << 64:
        return f"((st_t){value}ull)"
    return f"(((st_t){value >> 64}ull << 64) | (st_t){value & ((1 << 64) - 1)}ull)"


def _search(system: System, packing: Packing, active: Active) -> str:
    props = system.properties
    lines = ["int mc_search(store_t *S, int64_t i, const uint8_t *decided, tick_fn tick, event_t *ev) {",
             "    int64_t t = 0;"]
    flags = [*active.invariants, *active.witnesses, *active.action_props]
    for k in flags:
        lines.append(f"    const int o{k} = !decided[{k}];")
    if active.deadlock:
        lines.append("    const int o_deadlock = !decided[S->n_props];")
    lines.append("    for (; i < S->n; i++) {")
    lines.append("        const st_t x = S->states[i];")
    lines.append("        const int64_t t0 = t;")
    for s in range(len(system.layout.slots)):
        lines.append(f"        const int64_t v{s} = {_field(packing, s)}; (void)v{s};")
    for kind, ks in (("INVARIANT", active.invariants), ("WITNESS", active.witnesses)):
        for k in ks:
            test = f"!({c(props[k].pred)})" if kind == "INVARIANT" else c(props[k].pred)
            lines.append(f"        if (o{k} && {test}) return event(S, ev, EV_{kind}, {k}, i, t0, 0, 0, 0);")
    for a_i, act in enumerate(system.actions):
        lines.append(f"        if ({c(act.guard)}) {{")
        lines.append("            t++;")
        lines.append(f"            S->fired[{a_i}] = 1;")
        updates = dict(act.updates)
        for s in act.checks:
            d = system.layout.slots[s].domain
            lines.append(f"            const int64_t n{s} = {c(updates[s])};")
            lines.append(f"            if (n{s} < {d.lo} || n{s} > {d.hi}) "
                         f"return event(S, ev, EV_DOMAIN, {a_i}, i, t0, 0, {s}, n{s});")
        for k in active.action_props:
            pred = props[k].per_action[a_i]
            lines.append(f"            if (o{k} && !({c(pred)})) "
                         f"return event(S, ev, EV_ACTION, {k}, i, t0, {a_i}, 0, 0);")
        clear = 0
        parts = []
        for s, node in act.updates:
            o, w, lo = packing.offsets[s], packing.widths[s], packing.lows[s]
            clear |= ((1 << w) - 1) << o
            value = f"n{s}" if s in act.checks else f"(int64_t)({c(node)})"
            parts.append(f"((st_t)(uint64_t)({value} - {lo}) << {o})")
        keep = ((1 << packing.bits) - 1) & ~clear
        expr = " | ".join([f"(x & {_state_const(keep)})", *parts])
        lines.append(f"            st_t y = {expr};")
        if active.symmetry:
            lines.append("            y = canon(y);")
        lines.append(f"            if (visit(S, y, i, {a_i})) return EV_NOMEM;")
        lines.append("        }")
    if active.deadlock:
        final = "" if system.final is None else f" && !({c(system.final)})"
        lines.append(f"        if (o_deadlock && t == t0{final}) "
                     "return event(S, ev, EV_DEADLOCK, -1, i, t0, 0, 0, 0);")
    lines.append("        if (!((i + 1) & 1023) && tick(i + 1)) "
                 "return event(S, ev, EV_LIMIT, -1, i + 1, t, 0, 0, 0);")
    lines.append("    }")
    lines.append("    return event(S, ev, EV_DONE, -1, i, t, 0, 0, 0);")
    lines.append("}")
    return "\n".join(lines) + "\n"


_HASH64 = """static inline uint64_t hash(st_t x) {
    x ^= x >> 33; x *= 0xff51afd7ed558ccdull; x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ull; x ^= x >> 33;
    return x;
}"""

_HASH128 = """static inline uint64_t hash(st_t x) {
    uint64_t h = (uint64_t)x ^ ((uint64_t)(x >> 64) * 0x9e3779b97f4a7c15ull);
    h ^= h >> 33; h *= 0xff51afd7ed558ccdull; h ^= h >> 33; h *= 0xc4ceb9fe1a85ec53ull; h ^= h >> 33;
    return h;
}"""

# The store and its primitives; formatted with the state type, the action-index type, the hash.
_PRELUDE = """#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef {state} st_t;
typedef {via} via_t;
typedef int (*tick_fn)(int64_t);
enum {{ EV_DONE, EV_LIMIT, EV_INVARIANT, EV_WITNESS, EV_ACTION, EV_DEADLOCK, EV_DOMAIN, EV_NOMEM }};

typedef struct {{ int64_t kind, k, i, t, a, slot, value; }} event_t;
typedef struct {{ int32_t from; uint32_t action; int32_t to; }} edge_t;

typedef struct {{
    st_t *states; int32_t *parents; via_t *via; int64_t n, cap;
    uint32_t *table; uint64_t mask;       /* state index + 1; 0 is empty */
    edge_t *edges; int64_t n_edges, cap_edges; int graph;
    uint8_t fired[{n_actions}];
    int64_t n_props;
}} store_t;

{hash}

int64_t mc_sizeof_state(void) {{ return sizeof(st_t); }}
int64_t mc_sizeof_via(void) {{ return sizeof(via_t); }}

store_t *mc_new(int graph, int64_t n_props) {{
    store_t *S = calloc(1, sizeof(store_t));
    if (!S) return NULL;
    S->cap = 1024; S->graph = graph; S->n_props = n_props;
    S->states = malloc(S->cap * sizeof(st_t));
    S->parents = malloc(S->cap * sizeof(int32_t));
    S->via = malloc(S->cap * sizeof(via_t));
    S->mask = 2047;
    S->table = calloc(S->mask + 1, sizeof(uint32_t));
    if (!S->states || !S->parents || !S->via || !S->table) return NULL;
    return S;
}}

void mc_free(store_t *S) {{
    if (!S) return;
    free(S->states); free(S->parents); free(S->via); free(S->table); free(S->edges); free(S);
}}

static int grow_table(store_t *S) {{
    uint64_t mask = S->mask * 2 + 1;
    uint32_t *table = calloc(mask + 1, sizeof(uint32_t));
    if (!table) return 1;
    for (int64_t j = 0; j < S->n; j++) {{
        uint64_t h = hash(S->states[j]) & mask;
        while (table[h]) h = (h + 1) & mask;
        table[h] = (uint32_t)(j + 1);
    }}
    free(S->table); S->table = table; S->mask = mask;
    return 0;
}}

static int push_edge(store_t *S, int64_t from, int64_t a, int64_t to) {{
    if (S->n_edges == S->cap_edges) {{
        int64_t cap = S->cap_edges ? S->cap_edges * 2 : 4096;
        edge_t *e = realloc(S->edges, cap * sizeof(edge_t));
        if (!e) return 1;
        S->edges = e; S->cap_edges = cap;
    }}
    S->edges[S->n_edges++] = (edge_t){{(int32_t)from, (uint32_t)a, (int32_t)to}};
    return 0;
}}

/* Add state y (found from state `parent` by action `a`) unless it was seen; record the edge. */
static int visit(store_t *S, st_t y, int64_t parent, int64_t a) {{
    uint64_t h = hash(y) & S->mask;
    uint32_t j;
    while ((j = S->table[h]) != 0) {{
        if (S->states[j - 1] == y) return S->graph ? push_edge(S, parent, a, j - 1) : 0;
        h = (h + 1) & S->mask;
    }}
    if (S->n == S->cap) {{
        int64_t cap = S->cap + S->cap / 2;
        st_t *s = realloc(S->states, cap * sizeof(st_t));
        if (!s) return 1;
        S->states = s;
        int32_t *p = realloc(S->parents, cap * sizeof(int32_t));
        if (!p) return 1;
        S->parents = p;
        via_t *v = realloc(S->via, cap * sizeof(via_t));
        if (!v) return 1;
        S->via = v; S->cap = cap;
    }}
    if (S->n >= 0x7fffffff) return 1;
    S->table[h] = (uint32_t)(S->n + 1);
    S->states[S->n] = y; S->parents[S->n] = (int32_t)parent; S->via[S->n] = (via_t)a;
    S->n++;
    if (S->graph && parent >= 0 && push_edge(S, parent, a, S->n - 1)) return 1;
    if ((uint64_t)S->n * 2 > S->mask) return grow_table(S);
    return 0;
}}

/* An initial state, given as two 64-bit halves; returns 1 when it was new. */
int mc_add_initial(store_t *S, uint64_t lo, uint64_t hi) {{
    st_t x = (st_t)lo;
    if (sizeof(st_t) > 8) x |= (st_t)hi << 32 << 32;
    int64_t before = S->n;
    if (visit(S, x, -1, 0)) return -1;
    return S->n > before;
}}

int64_t mc_count(store_t *S) {{ return S->n; }}
int64_t mc_edge_count(store_t *S) {{ return S->n_edges; }}
void *mc_states(store_t *S) {{ return S->states; }}
void *mc_parents(store_t *S) {{ return S->parents; }}
void *mc_via(store_t *S) {{ return S->via; }}
void *mc_edges(store_t *S) {{ return S->edges; }}
uint8_t *mc_fired(store_t *S) {{ return S->fired; }}
int64_t mc_bytes(store_t *S) {{
    return S->cap * (int64_t)(sizeof(st_t) + sizeof(int32_t) + sizeof(via_t))
         + (int64_t)(S->mask + 1) * 4 + S->cap_edges * (int64_t)sizeof(edge_t);
}}
int64_t mc_depth(store_t *S, int64_t i) {{
    int64_t d = 0;
    while (i >= 0 && S->parents[i] >= 0) {{ i = S->parents[i]; d++; }}
    return d;
}}

/* Return an event; a state left part way is expanded again on resumption, so its edges go. */
static int event(store_t *S, event_t *ev, int kind, int64_t k, int64_t i, int64_t t, int64_t a,
                 int64_t slot, int64_t value) {{
    ev->kind = kind; ev->k = k; ev->i = i; ev->t = t; ev->a = a; ev->slot = slot; ev->value = value;
    if (kind != EV_DONE && kind != EV_LIMIT)
        while (S->n_edges && S->edges[S->n_edges - 1].from == i) S->n_edges--;
    return kind;
}}
"""
