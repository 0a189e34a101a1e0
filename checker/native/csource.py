"""The C source of one system's breadth-first search: the native twin of ``codegen.generate``.

The generated ``mc_search`` keeps the compiled Python search's contract exactly: the same
packed states (``codegen.Packing``), successors in declaration order, one event per return
(``EVENTS``) and resumption at a state index with the decided properties switched off, so the
driver in ``explicit.py`` is the same for both backends and so are state numbers, counts and
counterexamples. Expressions are written by the operator table's C column; the C compiler
does the common-subexpression and branch work that ``codegen`` plans by hand for CPython.

Store, per distinct state: the packed state (8 or 16 bytes), its parent (4), the action that
found it (2 or 4), and a slot of the open-addressing visited table (4 bytes, at most half
full), which is 22-36 bytes between two growths of the table. A successor waits in a short
queue for its lookup while its table slot and state are fetched (`queue_put`): the lookups
are the search's cost, a cache miss or two each once the table outgrows the cache, and this
way they overlap; they still happen in the order the successors came.
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
                           hash=(_HASH128 if wide else _HASH64) + _COMMON)]
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


_DRAIN = "if (drain(S, &Q)) return EV_NOMEM;"  # the successors waiting go in before any return


class _Sequential:
    """The outer loop's hooks for ``mc_search``: a decision is returned as an event (the search
    resumes at that state with the property switched off); a successor is queued for its visit,
    all of them visited before any return."""

    mutable = False

    def __init__(self, n_actions: int):
        self.n_actions = n_actions

    def hit(self, kind: str, k: int, a_i: int | None = None) -> str:
        return f"{{ {_DRAIN} return event(S, ev, EV_{kind.upper()}, {k}, i, t0, {a_i or 0}, 0, 0); }}"

    def escape(self, a_i: int, s: int) -> str:
        return f"{{ {_DRAIN} return event(S, ev, EV_DOMAIN, {a_i}, i, t0, 0, {s}, n{s}); }}"

    def keep(self, a_i: int) -> str:
        return f"if (enqueue(S, &Q, y, i * {self.n_actions} + {a_i})) return EV_NOMEM;"

    def deadlock(self) -> str:
        return f"{{ {_DRAIN} return event(S, ev, EV_DEADLOCK, -1, i, t0, 0, 0, 0); }}"


class _Chunk:
    """The hooks for ``mc_part_expand`` (a cluster partition's share of a level, `partition.py`):
    the first state deciding each property is noted by rank and the property switched off; a
    successor is sent with its key ``rank × actions + action``; the chunk ends at a domain error."""

    mutable = True

    def __init__(self, n_actions: int):
        self.n_actions = n_actions

    def hit(self, kind: str, k: int, a_i: int | None = None) -> str:
        # a state's property comes before its actions: -1 keeps it below a domain error's key there
        return f"{{ o{k} = 0; P->hit_rank[{k}] = rank; P->hit_action[{k}] = {-1 if a_i is None else a_i}; }}"

    def escape(self, a_i: int, s: int) -> str:
        return (f"{{ P->domain[0] = rank; P->domain[1] = {a_i}; P->domain[2] = {s}; P->domain[3] = n{s}; "
                "P->transitions = t0; return drain(P, KEEP_FIRST) ? -1 : 0; }")

    def keep(self, a_i: int) -> str:
        return f"if (emit(P, y, rank * {self.n_actions} + {a_i})) return -1;"

    def deadlock(self) -> str:
        return "{ o_deadlock = 0; P->dead = rank; }"


def _flags(system: System, active: Active, hooks: _Sequential | _Chunk, n_props: str) -> list[str]:
    """The open-property flags, from ``decided`` (a byte per property, then one for deadlock)."""
    const = "" if hooks.mutable else "const "
    lines = [f"    {const}int o{k} = !decided[{k}];"
             for k in (*active.invariants, *active.witnesses, *active.action_props)]
    if active.deadlock:
        lines.append(f"    {const}int o_deadlock = !decided[{n_props}];")
    return lines


def _expansion(system: System, packing: Packing, active: Active, hooks: _Sequential | _Chunk,
               fired: str) -> list[str]:
    """One state's expansion (``x`` at index ``i``; transitions counted in ``t`` from ``t0``):
    the properties, then every action in declaration order; decisions and successors go to
    ``hooks``, so the sequential search and a partition's chunk run the same code."""
    props = system.properties
    lines = []
    for s in range(len(system.layout.slots)):
        lines.append(f"        const int64_t v{s} = {_field(packing, s)}; (void)v{s};")
    for kind, ks in (("invariant", active.invariants), ("witness", active.witnesses)):
        for k in ks:
            test = f"!({c(props[k].pred)})" if kind == "invariant" else c(props[k].pred)
            lines.append(f"        if (o{k} && {test}) {hooks.hit(kind, k)}")
    for a_i, act in enumerate(system.actions):
        lines.append(f"        if ({c(act.guard)}) {{")
        lines.append("            t++;")
        lines.append(f"            {fired}[{a_i}] = 1;")
        updates = dict(act.updates)
        for s in act.checks:
            d = system.layout.slots[s].domain
            lines.append(f"            const int64_t n{s} = {c(updates[s])};")
            lines.append(f"            if (n{s} < {d.lo} || n{s} > {d.hi}) {hooks.escape(a_i, s)}")
        for k in active.action_props:
            pred = props[k].per_action[a_i]
            lines.append(f"            if (o{k} && !({c(pred)})) {hooks.hit('action', k, a_i)}")
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
        lines.append(f"            {hooks.keep(a_i)}")
        lines.append("        }")
    if active.deadlock:
        final = "" if system.final is None else f" && !({c(system.final)})"
        lines.append(f"        if (o_deadlock && t == t0{final}) {hooks.deadlock()}")
    return lines


def _search(system: System, packing: Packing, active: Active) -> str:
    hooks = _Sequential(max(1, len(system.actions)))
    lines = ["int mc_search(store_t *S, int64_t i, const uint8_t *decided, tick_fn tick, event_t *ev) {",
             "    int64_t t = 0;", *_flags(system, active, hooks, "S->n_props"),
             "    queue_t Q = {.in = 0, .out = 0};  /* successors waiting for their visit */",
             "    for (;; i++) {",
             f"        if (i >= S->n) {{ {_DRAIN} if (i >= S->n) break; }}",
             "        const st_t x = S->states[i];",
             "        const int64_t t0 = t;",
             *_expansion(system, packing, active, hooks, "S->fired"),
             f"        if (!((i + 1) & 1023)) {{ {_DRAIN} "
             "if (tick(i + 1)) return event(S, ev, EV_LIMIT, -1, i + 1, t, 0, 0, 0); }",
             "    }",
             "    return event(S, ev, EV_DONE, -1, i, t, 0, 0, 0);",
             "}"]
    return "\n".join(lines) + "\n"


def generate_partition(system: System, packing: Packing, active: Active, canonical: str = "") -> str:
    """The C source of a cluster partition (`partition.py`): its store of owned states with
    keys and ranks, and ``mc_part_expand``, the same expansion as ``mc_search`` over one level
    of its share, sending each successor to the partition that owns it."""
    bits = packing.bits
    if bits > MAX_BITS:
        raise NativeRefused(f"a packed state needs {bits} bits; the native backend holds at most {MAX_BITS}")
    n_actions = max(1, len(system.actions))
    hooks = _Chunk(n_actions)
    out = [_PARTITION.format(state="unsigned __int128" if bits > 64 else "uint64_t",
                             hash=(_HASH128 if bits > 64 else _HASH64) + _COMMON, n_actions=n_actions,
                             n_props=max(1, len(system.properties)))]
    out.append(canonical or "static inline st_t canon(st_t x) { return x; }\n")
    out += ["int mc_part_expand(part_t *P, int64_t level, const uint8_t *decided, int provisional) {",
            *_flags(system, active, hooks, str(len(system.properties))),
            "    begin_level(P);",
            "    const int64_t lo = P->starts[level], hi = P->starts[level + 1];",
            "    int64_t t = 0;",
            "    for (int64_t j = lo; j < hi; j++) {",
            "        const st_t x = P->own.states[P->own.order[j]];",
            "        const int64_t rank = provisional ? j - lo : P->own.ranks[j];",
            "        const int64_t t0 = t;",
            *_expansion(system, packing, active, hooks, "P->fired"),
            "    }",
            "    P->transitions = t;",
            "    return drain(P, KEEP_FIRST) ? -1 : 0;",
            "}"]
    return "\n".join(out) + "\n"


# The two stores' shared primitives (after ``hash``): an array's growth and a table's refill.
_COMMON = """
/* Resize the array at *p to cap elements of size bytes; 1 when out of memory (it stays as it was). */
static int resize(void *p, int64_t cap, size_t size) {
    void *grown = realloc(*(void **)p, cap * size);
    if (!grown) return 1;
    *(void **)p = grown;
    return 0;
}

/* Enter states[0 .. n) into an empty open-addressing table (index + 1; 0 is empty). */
static void fill(const st_t *states, int64_t n, uint32_t *table, uint64_t mask) {
    for (int64_t j = 0; j < n; j++) {
        uint64_t h = hash(states[j]) & mask;
        while (table[h]) h = (h + 1) & mask;
        table[h] = (uint32_t)(j + 1);
    }
}

/* Successors wait AHEAD steps between their hash and their lookup, in the order they came: the
   table slot each needs is fetched when it comes, the state that slot points to half way, so the
   two cache misses of a lookup overlap with the next successors' instead of stalling the search
   (guest-assisted pages = 4: the sequential search 1.64 times as fast). The lookups themselves
   happen in the same order as without the wait, so state numbers, edges and first keys do too;
   a search takes every waiting successor before it returns. */
#define AHEAD 16
typedef struct { st_t y; uint64_t h; int64_t key; } waiting_t;
typedef struct { waiting_t w[AHEAD]; uint64_t in, out; } queue_t;

static inline int queue_full(const queue_t *Q) { return Q->in - Q->out == AHEAD; }

/* The oldest successor waiting (NULL: none); it must be looked up before the next queue_put. */
static inline const waiting_t *queue_next(queue_t *Q) {
    return Q->out < Q->in ? &Q->w[Q->out++ % AHEAD] : NULL;
}

/* Queue y (of hash h) with its key, into a queue that is not full, for the table and states given. */
static inline void queue_put(queue_t *Q, st_t y, uint64_t h, int64_t key,
                             const uint32_t *table, uint64_t mask, const st_t *states) {
    waiting_t *w = &Q->w[Q->in % AHEAD];
    w->y = y; w->h = h; w->key = key;
    __builtin_prefetch(&table[h & mask]);
    if (Q->in - Q->out >= AHEAD / 2) {
        const uint32_t j = table[Q->w[(Q->in - AHEAD / 2) % AHEAD].h & mask];
        if (j) __builtin_prefetch(&states[j - 1]);
    }
    Q->in++;
}

/* Replace *table (of *mask + 1 slots) by one twice its size holding states[0 .. n); 1: no memory. */
static int double_table(const st_t *states, int64_t n, uint32_t **table, uint64_t *mask) {
    uint64_t wider = *mask * 2 + 1;
    uint32_t *fresh = calloc(wider + 1, sizeof(uint32_t));
    if (!fresh) return 1;
    fill(states, n, fresh, wider);
    free(*table); *table = fresh; *mask = wider;
    return 0;
}
"""

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

static int push_edge(store_t *S, int64_t from, int64_t a, int64_t to) {{
    if (S->n_edges == S->cap_edges) {{
        int64_t cap = S->cap_edges ? S->cap_edges * 2 : 4096;
        if (resize(&S->edges, cap, sizeof(edge_t))) return 1;
        S->cap_edges = cap;
    }}
    S->edges[S->n_edges++] = (edge_t){{(int32_t)from, (uint32_t)a, (int32_t)to}};
    return 0;
}}

/* Add state y (of hash h, found from state `parent` by action `a`) unless it was seen; record
   the edge. */
static int visit(store_t *S, st_t y, uint64_t h, int64_t parent, int64_t a) {{
    h &= S->mask;
    uint32_t j;
    while ((j = S->table[h]) != 0) {{
        if (S->states[j - 1] == y) return S->graph ? push_edge(S, parent, a, j - 1) : 0;
        h = (h + 1) & S->mask;
    }}
    if (S->n == S->cap) {{
        int64_t cap = S->cap + S->cap / 2;
        if (resize(&S->states, cap, sizeof(st_t)) || resize(&S->parents, cap, sizeof(int32_t))
            || resize(&S->via, cap, sizeof(via_t))) return 1;
        S->cap = cap;
    }}
    if (S->n >= 0x7fffffff) return 1;
    S->table[h] = (uint32_t)(S->n + 1);
    S->states[S->n] = y; S->parents[S->n] = (int32_t)parent; S->via[S->n] = (via_t)a;
    S->n++;
    if (S->graph && parent >= 0 && push_edge(S, parent, a, S->n - 1)) return 1;
    if ((uint64_t)S->n * 2 > S->mask) return double_table(S->states, S->n, &S->table, &S->mask);
    return 0;
}}

/* An initial state, given as two 64-bit halves; returns 1 when it was new. */
int mc_add_initial(store_t *S, uint64_t lo, uint64_t hi) {{
    st_t x = (st_t)lo;
    if (sizeof(st_t) > 8) x |= (st_t)hi << 32 << 32;
    int64_t before = S->n;
    if (visit(S, x, hash(x), -1, 0)) return -1;
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

/* A successor's visit, through the queue (`queue_put`); its key is parent × actions + action. */
static inline int visit_waiting(store_t *S, const waiting_t *w) {{
    return visit(S, w->y, w->h, w->key / {n_actions}, w->key % {n_actions});
}}

static inline int enqueue(store_t *S, queue_t *Q, st_t y, int64_t key) {{
    if (queue_full(Q) && visit_waiting(S, queue_next(Q))) return 1;
    queue_put(Q, y, hash(y), key, S->table, S->mask, S->states);
    return 0;
}}

static int drain(store_t *S, queue_t *Q) {{
    for (const waiting_t *w; (w = queue_next(Q)) != NULL;)
        if (visit_waiting(S, w)) return 1;
    return 0;
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

# A cluster partition's store; formatted with the state type, the hash, the action and property
# counts. Tables hold an index + 1 (0 is empty) and are kept at most half full.
_PARTITION = """#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef {state} st_t;

{hash}

/* States in the order they came, each with its key; and each level in rank order:
   order[j] is the index of the state at position j, ranks[j] its rank (the states stay put, so the
   table's entries never move). */
typedef struct {{
    st_t *states; int64_t *keys, *ranks; uint32_t *order; int64_t n, cap; uint32_t *table; uint64_t mask;
}} set_t;
typedef struct {{ st_t *states; int64_t *keys; int64_t n, cap; }} batch_t;

typedef struct {{
    set_t own;            /* the states this partition owns, level after level; while a level is
                             expanded, the next one grows at its end */
    int64_t *starts; int64_t n_levels, cap_levels;  /* level L is own[starts[L] .. starts[L + 1]) */
    batch_t *out; int parts, self;
    st_t select; int local;  /* the bits the owner's hash covers (local: not every bit) */
    int64_t *sorted; int64_t cap_sorted;  /* the last level's keys in rank order (mc_part_keys) */
    uint8_t fired[{n_actions}];
    int64_t hit_rank[{n_props}], hit_action[{n_props}], dead, domain[4], transitions;
    queue_t queue;        /* owned successors waiting for their lookup (`emit`, `mc_part_receive`) */
}} part_t;

int64_t mc_sizeof_state(void) {{ return sizeof(st_t); }}

static int set_init(set_t *S) {{
    S->cap = 1024; S->mask = 2047; S->n = 0;
    S->states = malloc(S->cap * sizeof(st_t));
    S->keys = malloc(S->cap * sizeof(int64_t));
    S->ranks = malloc(S->cap * sizeof(int64_t));
    S->order = malloc(S->cap * sizeof(uint32_t));
    S->table = calloc(S->mask + 1, sizeof(uint32_t));
    return !S->states || !S->keys || !S->ranks || !S->order || !S->table;
}}

static void set_free(set_t *S) {{
    free(S->states); free(S->keys); free(S->ranks); free(S->order); free(S->table);
}}

/* The index of y (whose hash is h) in S, or -1; *slot is where it would go. */
static inline int64_t set_seek(const set_t *S, st_t y, uint64_t h, uint64_t *slot) {{
    h &= S->mask;
    uint32_t j;
    while ((j = S->table[h]) != 0) {{
        if (S->states[j - 1] == y) return j - 1;
        h = (h + 1) & S->mask;
    }}
    *slot = h;
    return -1;
}}

static inline int64_t set_find(const set_t *S, st_t y, uint64_t *slot) {{
    return set_seek(S, y, hash(y), slot);
}}

static int grow(set_t *S) {{
    if (S->n == S->cap) {{
        int64_t cap = S->cap + S->cap / 2;
        if (resize(&S->states, cap, sizeof(st_t)) || resize(&S->keys, cap, sizeof(int64_t))
            || resize(&S->ranks, cap, sizeof(int64_t)) || resize(&S->order, cap, sizeof(uint32_t))) return 1;
        S->cap = cap;
    }}
    return 0;
}}

/* Add y (absent, to go at `slot`) with `key`; 1 when out of memory. */
static inline int set_add(set_t *S, st_t y, uint64_t slot, int64_t key) {{
    if (grow(S) || S->n >= 0x7fffffff) return 1;
    S->table[slot] = (uint32_t)(S->n + 1);
    S->states[S->n] = y; S->keys[S->n] = key;
    S->n++;
    return (uint64_t)S->n * 2 > S->mask ? double_table(S->states, S->n, &S->table, &S->mask) : 0;
}}

/* The partition owning a state of hash h: its high half scaled to [0, parts) (tables use the low bits). */
static inline int owner_of(uint64_t h, int parts) {{ return (int)(((h >> 32) * (uint64_t)parts) >> 32); }}
static inline int owner(const part_t *P, st_t y) {{ return owner_of(hash(y & P->select), P->parts); }}

/* Partition `self` of `parts`, owning the states whose bits in `select` (two 64-bit halves) hash to it. */
part_t *mc_part_new(int parts, int self, uint64_t select_lo, uint64_t select_hi) {{
    part_t *P = calloc(1, sizeof(part_t));
    if (!P) return NULL;
    P->parts = parts; P->self = self;
    P->select = (st_t)select_lo;
    if (sizeof(st_t) > 8) P->select |= (st_t)select_hi << 32 << 32;
    P->local = ~P->select != 0;  /* all ones: every bit, and the table's hash serves */
    P->out = calloc(parts, sizeof(batch_t));
    P->cap_levels = 64;
    P->starts = calloc(P->cap_levels, sizeof(int64_t));
    if (!P->out || !P->starts || set_init(&P->own))
        return NULL;
    P->n_levels = 1;  /* level 0: the initial states, own[0 .. starts[1]) */
    return P;
}}

void mc_part_free(part_t *P) {{
    if (!P) return;
    set_free(&P->own);
    for (int d = 0; d < P->parts; d++) {{ free(P->out[d].states); free(P->out[d].keys); }}
    free(P->out); free(P->starts); free(P->sorted); free(P);
}}

/* An initial state (two 64-bit halves) at `rank`: kept when this partition owns it (1), else 0. */
int mc_part_seed(part_t *P, uint64_t lo, uint64_t hi, int64_t rank) {{
    st_t x = (st_t)lo;
    if (sizeof(st_t) > 8) x |= (st_t)hi << 32 << 32;
    uint64_t slot;
    if (owner(P, x) != P->self || set_find(&P->own, x, &slot) >= 0) return 0;
    if (set_add(&P->own, x, slot, -1 - rank)) return -1;
    P->own.ranks[P->own.n - 1] = rank;  /* the initial states come in rank order */
    P->own.order[P->own.n - 1] = (uint32_t)(P->own.n - 1);
    P->starts[1] = P->own.n;
    return 1;
}}

static void begin_level(part_t *P) {{
    for (int k = 0; k < {n_props}; k++) P->hit_rank[k] = P->hit_action[k] = -1;
    P->dead = -1; P->domain[0] = -1; P->transitions = 0;
    for (int d = 0; d < P->parts; d++) P->out[d].n = 0;
}}

/* Take a successor waiting in the queue into the store, unless it is there: in the level being
   made (at or past `lo`) it keeps the smaller key. 1 when out of memory. */
static inline int take(part_t *P, const waiting_t *w, int64_t lo) {{
    set_t *S = &P->own;
    uint64_t slot;
    const int64_t at = set_seek(S, w->y, w->h, &slot);
    if (at < 0) return set_add(S, w->y, slot, w->key);
    if (at >= lo && w->key < S->keys[at]) S->keys[at] = w->key;
    return 0;
}}

#define KEEP_FIRST INT64_MAX  /* as `lo`: no key is lowered (a level's own successors come in key order) */
static inline int put(part_t *P, st_t y, uint64_t h, int64_t key, int64_t lo) {{
    if (queue_full(&P->queue) && take(P, queue_next(&P->queue), lo)) return 1;
    queue_put(&P->queue, y, h, key, P->own.table, P->own.mask, P->own.states);
    return 0;
}}

static int drain(part_t *P, int64_t lo) {{
    for (const waiting_t *w; (w = queue_next(&P->queue)) != NULL;)
        if (take(P, w, lo)) return 1;
    return 0;
}}

/* Successor y with its key: a state this partition owns goes into its store as part of the next
   level (its first key here is the smallest here: parents come in rank order, actions in order,
   and the queue keeps that order); another partition's is sent to it, as often as it is reached:
   its owner keeps the smallest key. (A set of what was sent, to send each once, cost the sender
   a lookup for every such successor and more than the owner's added lookups: vfio-v2 devs=2
   pages=4, 1.28-1.33 CPU s a worker with it, 1.21-1.24 without.) */
static inline int emit(part_t *P, st_t y, int64_t key) {{
    const uint64_t h = hash(y);
    const int d = P->local ? owner(P, y) : owner_of(h, P->parts);
    if (d == P->self) return put(P, y, h, key, KEEP_FIRST);
    batch_t *b = &P->out[d];
    if (b->n == b->cap) {{
        int64_t cap = b->cap ? b->cap * 2 : 4096;
        if (resize(&b->states, cap, sizeof(st_t)) || resize(&b->keys, cap, sizeof(int64_t))) return 1;
        b->cap = cap;
    }}
    b->states[b->n] = y; b->keys[b->n] = key; b->n++;
    return 0;
}}

int64_t mc_part_out(part_t *P, int d, void **states, void **keys) {{
    *states = P->out[d].states; *keys = P->out[d].keys;
    return P->out[d].n;
}}

/* hit_rank, hit_action, dead, domain[4], transitions: adjacent in part_t */
int64_t *mc_part_results(part_t *P) {{ return P->hit_rank; }}
uint8_t *mc_part_fired(part_t *P) {{ return P->fired; }}

/* Rank order for own[lo ..]: order[lo + j] is the index of the level's j-th state by key, and
   P->sorted[j] its key (an LSD radix sort of (key less the least, index) pairs, in passes of at
   most 13 bits; a level that came in order, as always with one partition, is kept as it came). */
typedef struct {{ uint64_t key; uint32_t at; }} pair_t;
static int order_level(part_t *P, int64_t lo) {{
    set_t *S = &P->own;
    const int64_t m = S->n - lo;
    if (m > P->cap_sorted) {{
        if (resize(&P->sorted, m, sizeof(int64_t))) return 1;
        P->cap_sorted = m;
    }}
    int64_t least = INT64_MAX, top = INT64_MIN;
    int sorted = 1;
    for (int64_t j = lo; j < S->n; j++) {{
        if (j > lo && S->keys[j - 1] > S->keys[j]) sorted = 0;
        if (S->keys[j] < least) least = S->keys[j];
        if (S->keys[j] > top) top = S->keys[j];
    }}
    if (sorted) {{
        for (int64_t j = 0; j < m; j++) S->order[lo + j] = (uint32_t)(lo + j);
        memcpy(P->sorted, S->keys + lo, m * sizeof(int64_t));
        return 0;
    }}
    pair_t *a = malloc(m * sizeof(pair_t)), *b = malloc(m * sizeof(pair_t));
    int64_t *count = malloc(((1 << 13) + 1) * sizeof(int64_t));
    if (!a || !b || !count) {{ free(a); free(b); free(count); return 1; }}
    const uint64_t span = (uint64_t)(top - least);
    const int bits = 64 - __builtin_clzll(span | 1), passes = (bits + 12) / 13;
    const int width = (bits + passes - 1) / passes;
    const uint64_t mask = ((uint64_t)1 << width) - 1;
    for (int64_t j = 0; j < m; j++) {{
        a[j].key = (uint64_t)(S->keys[lo + j] - least); a[j].at = (uint32_t)(lo + j);
    }}
    for (int pass = 0, shift = 0; pass < passes; pass++, shift += width) {{
        memset(count, 0, (mask + 2) * sizeof(int64_t));
        for (int64_t j = 0; j < m; j++) count[((a[j].key >> shift) & mask) + 1]++;
        for (uint64_t c = 0; c <= mask; c++) count[c + 1] += count[c];
        for (int64_t j = 0; j < m; j++) b[count[(a[j].key >> shift) & mask]++] = a[j];
        pair_t *t = a; a = b; b = t;
    }}
    for (int64_t j = 0; j < m; j++) {{
        S->order[lo + j] = a[j].at; P->sorted[j] = (int64_t)a[j].key + least;
    }}
    free(a); free(b); free(count);
    return 0;
}}

/* The next level: the states this partition put in its store while expanding, and the other
   partitions' successors (batches sorted by key), a state not owned before keeping its smallest
   key; then in key order, which is rank order. Returns the number of new states (-1: no memory);
   their keys are at mc_part_keys. The batches' lookups go through the queue, as `emit`'s. */
int64_t mc_part_receive(part_t *P, int64_t n_batches, const char **states, const char **keys,
                        const int64_t *counts) {{
    const int64_t lo = P->starts[P->n_levels];
    for (int64_t b = 0; b < n_batches; b++)
        for (int64_t j = 0; j < counts[b]; j++) {{
            st_t y; int64_t key;
            memcpy(&y, states[b] + j * sizeof(st_t), sizeof y);
            memcpy(&key, keys[b] + j * sizeof(int64_t), sizeof key);
            if (put(P, y, hash(y), key, lo)) return -1;
        }}
    if (drain(P, lo)) return -1;
    if (order_level(P, lo)) return -1;
    if (P->n_levels + 1 >= P->cap_levels) {{
        if (resize(&P->starts, 2 * P->cap_levels, sizeof(int64_t))) return -1;
        P->cap_levels *= 2;
    }}
    P->n_levels++;
    P->starts[P->n_levels] = P->own.n;
    return P->own.n - lo;
}}

const int64_t *mc_part_keys(part_t *P) {{ return P->sorted; }}

/* After mc_part_set_ranks: the keys, decisions and batches of the newest level's expansion, made with
   its states' provisional ranks (their positions here, in the same order), take their ranks. */
void mc_part_translate(part_t *P) {{
    const int64_t *ranks = P->own.ranks + P->starts[P->n_levels - 1], A = {n_actions};
    for (int64_t i = P->starts[P->n_levels]; i < P->own.n; i++)
        P->own.keys[i] = ranks[P->own.keys[i] / A] * A + P->own.keys[i] % A;
    for (int d = 0; d < P->parts; d++)
        for (int64_t j = 0; j < P->out[d].n; j++)
            P->out[d].keys[j] = ranks[P->out[d].keys[j] / A] * A + P->out[d].keys[j] % A;
    for (int k = 0; k < {n_props}; k++)
        if (P->hit_rank[k] >= 0) P->hit_rank[k] = ranks[P->hit_rank[k]];
    if (P->dead >= 0) P->dead = ranks[P->dead];
    if (P->domain[0] >= 0) P->domain[0] = ranks[P->domain[0]];
}}

/* The newest level's ranks, in its key order (found by the partitions together). */
void mc_part_set_ranks(part_t *P, const int64_t *ranks) {{
    const int64_t lo = P->starts[P->n_levels - 1];
    memcpy(P->own.ranks + lo, ranks, (P->starts[P->n_levels] - lo) * sizeof(int64_t));
}}

/* The position of each key of run `which` of n sorted runs (all keys distinct) in their union:
   its index plus the keys below it in each other run, found by walking that run alongside. */
void mc_place_run(int64_t n, const int64_t **runs, const int64_t *counts, int64_t which, int64_t *pos) {{
    const int64_t *mine = runs[which], m = counts[which];
    for (int64_t j = 0; j < m; j++) pos[j] = j;
    for (int64_t r = 0; r < n; r++) {{
        if (r == which) continue;
        int64_t below = 0;
        for (int64_t j = 0; j < m; j++) {{
            while (below < counts[r] && runs[r][below] < mine[j]) below++;
            pos[j] += below;
        }}
    }}
}}

/* The position of each key of n sorted runs (all keys distinct) in their union: pos[r][j] for
   runs[r][j]. A merge through a binary heap of the runs by their next key. */
void mc_merge_positions(int64_t n, const int64_t **runs, const int64_t *counts, int64_t **pos) {{
    int64_t *heap = malloc((n + 1) * sizeof(int64_t)), *next = calloc(n + 1, sizeof(int64_t)), size = 0;
    if (!heap || !next) {{ free(heap); free(next); return; }}
#define KEY(r) (runs[r][next[r]])
    for (int64_t r = 0; r < n; r++) {{
        if (!counts[r]) continue;
        int64_t at = size++;  /* sift up */
        while (at && KEY(heap[(at - 1) / 2]) > KEY(r)) {{ heap[at] = heap[(at - 1) / 2]; at = (at - 1) / 2; }}
        heap[at] = r;
    }}
    for (int64_t out = 0; size; out++) {{
        int64_t r = heap[0];
        pos[r][next[r]++] = out;
        if (next[r] == counts[r]) r = heap[--size];
        int64_t at = 0;  /* sift r down from the top */
        for (;;) {{
            int64_t c = 2 * at + 1;
            if (c >= size) break;
            if (c + 1 < size && KEY(heap[c + 1]) < KEY(heap[c])) c++;
            if (KEY(heap[c]) >= KEY(r)) break;
            heap[at] = heap[c]; at = c;
        }}
        if (size) heap[at] = r;
    }}
#undef KEY
    free(heap); free(next);
}}

/* The state of `level` at `rank` and its key, if this partition owns it (1), else 0. */
int mc_part_locate(part_t *P, int64_t level, int64_t rank, uint64_t *half, int64_t *key) {{
    if (level >= P->n_levels) return 0;
    int64_t lo = P->starts[level], hi = P->starts[level + 1];
    while (lo < hi) {{
        int64_t mid = lo + (hi - lo) / 2;
        if (P->own.ranks[mid] < rank) lo = mid + 1; else hi = mid;
    }}
    if (lo == P->starts[level + 1] || P->own.ranks[lo] != rank) return 0;
    const uint32_t at = P->own.order[lo];
    st_t x = P->own.states[at];
    half[0] = (uint64_t)x; half[1] = sizeof(st_t) > 8 ? (uint64_t)(x >> 32 >> 32) : 0;
    *key = P->own.keys[at];
    return 1;
}}

"""
