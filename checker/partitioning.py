"""Which fields of a state decide the partition that owns it (``--cluster``).

A successor owned by another partition costs a message and a second lookup at its owner. Most
transitions change only a few fields (a phase, a driver's step), so hashing only the fields that
change least keeps most successors with their parent's partition — provided the states of each
level still spread evenly, since every level waits for its slowest partition. The choice is made
on a sample, the first breadth-first levels of the model: fields are dropped from the hash in
order of how often a transition changes them, and the mask kept is the one with the least
estimated cost, (the slowest partition's share of a level, relative to an even one) × (1 +
`CROSSING` × the share of transitions whose successor changes partition). The states that agree
on the hashed fields go to one partition together; with classes of shares w_i, a random hash
gives a partition a share whose spread is about sqrt(Σ w_i² × (N − 1)) / N, so the slowest of N is
about 1 + sqrt(2 ln N × (N − 1) / K) times an even share, K = 1 / Σ w_i² (the classes' effective
number), taken on the sample's largest level. That level is smaller than the search's, which has
more classes, so the estimate errs towards spreading. The choice only moves work between
partitions: any mask gives the same search.
"""

from __future__ import annotations

import math

import numpy as np

from migcheck.models.ir import System

from .codegen import Active, Packing
from .expand import Expander
from .explicit import initial_states
from .symmetry import Symmetry

SAMPLE = 10_000  # states in the sample (the whole space of a smaller model)
MIN_LEVEL = 64  # states per partition on the sample's largest level, to say anything of the spread
# What a successor sent to another partition costs, as a share of a transition's expansion: its
# lookup in its owner's store and its bytes, against a lookup in one store (measured on
# guest-assisted pages=4, native partitions: 1.6 s for 19.2 M transitions, 0.32 s more for the
# 9.6 M that crossed between two partitions, when the sender also kept a set of what it sent).
CROSSING = 0.4
_M64 = (1 << 64) - 1


def owner_of(x: int, mask: int, parts: int) -> int:
    """The partition owning packed state ``x`` (Python partitions; the native ones compute the
    same from their C hash): a 64-bit mix of its masked bits, scaled to ``parts``."""
    h = x & mask
    while h > _M64:  # a state wider than 64 bits: fold its halves
        h = (h & _M64) ^ (h >> 64)
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & _M64
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) & _M64
    h ^= h >> 33
    return ((h >> 32) * parts) >> 32


def owner_mask(system: System, parts: int, symmetry: Symmetry | None = None) -> int:
    """The bits of a packed state the owner's hash covers: every bit, unless the sample shows
    that leaving some fields out keeps successors local without unbalancing the levels.
    ``symmetry``: the search stores canonical states, so the sample does too."""
    packing = Packing.of(system.layout)
    everything = (1 << packing.bits) - 1
    if parts < 2 or not packing.bits:
        return everything
    largest, moves = _sample(system, packing, symmetry)
    if not moves or len(largest) < MIN_LEVEL * parts:
        return everything
    level = _halves(largest)
    sources, targets = _halves([x for x, _ in moves]), _halves([y for _, y in moves])

    def cost(mask: int) -> float:
        _, sizes = np.unique(_fold(level, mask), return_counts=True)
        classes = len(largest) ** 2 / float(np.sum(sizes.astype(np.float64) ** 2))
        slowest = 1 + math.sqrt(2 * math.log(parts) * (parts - 1) / classes)
        crossing = float(np.mean(_owners(sources, mask, parts) != _owners(targets, mask, parts)))
        return slowest * (1 + CROSSING * crossing)

    fields = [((1 << w) - 1) << o for o, w in zip(packing.offsets, packing.widths, strict=True)]
    changed = [int(np.count_nonzero(((sources[0] ^ targets[0]) & (f & _M64))
                                    | ((sources[1] ^ targets[1]) & (f >> 64)))) for f in fields]
    best, best_cost, mask = everything, cost(everything), everything
    for s in sorted(range(len(fields)), key=lambda s: -changed[s])[:-1]:  # keep at least one field
        if not changed[s]:
            break
        mask &= ~fields[s]
        if (c := cost(mask)) < best_cost:
            best, best_cost = mask, c
    return best


def _halves(xs: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Packed states (at most 128 bits) as their low and high 64 bits."""
    return (np.array([x & _M64 for x in xs], dtype=np.uint64),
            np.array([x >> 64 for x in xs], dtype=np.uint64))


def _fold(halves: tuple[np.ndarray, np.ndarray], mask: int) -> np.ndarray:
    """The masked bits of many states in 64 (the high half mixed in by a multiplication)."""
    with np.errstate(over="ignore"):
        return (halves[0] & np.uint64(mask & _M64)) ^ ((halves[1] & np.uint64(mask >> 64))
                                                       * np.uint64(0x9E3779B97F4A7C15))


def _owners(halves: tuple[np.ndarray, np.ndarray], mask: int, parts: int) -> np.ndarray:
    """`owner_of` of many states at once."""
    h = (halves[0] & np.uint64(mask & _M64)) ^ (halves[1] & np.uint64(mask >> 64))
    with np.errstate(over="ignore"):
        h ^= h >> np.uint64(33)
        h *= np.uint64(0xFF51AFD7ED558CCD)
        h ^= h >> np.uint64(33)
        h *= np.uint64(0xC4CEB9FE1A85EC53)
        h ^= h >> np.uint64(33)
        return (((h >> np.uint64(32)) * np.uint64(parts)) >> np.uint64(32)).astype(np.int64)


def _sample(system: System, packing: Packing,
            symmetry: Symmetry | None) -> tuple[list[int], list[tuple[int, int]]]:
    """The first breadth-first levels, up to about `SAMPLE` states: the largest, and their
    transitions that change the state (each once per level)."""
    expand = Expander(system, symmetry)
    nothing = Active((), (), (), False, False, bool(symmetry and symmetry.groups))
    initial, _ = initial_states(system, packing, False)
    seen, level = set(initial), list(initial)
    levels, moves = [level], []
    fired = bytearray(len(system.actions))
    while level and len(seen) < SAMPLE:
        expand.produced = set()  # every successor of this level, reached before or not
        successors, parents, *_ = expand(nothing, level, fired)
        moves += [(level[p], y) for y, p in zip(successors, parents, strict=True) if level[p] != y]
        level = [y for y in successors if y not in seen]
        seen.update(level)
        if level:
            levels.append(level)
    return max(levels, key=len), moves
