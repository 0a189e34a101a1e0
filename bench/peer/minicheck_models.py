"""The benchmark's models written for minicheck 0.4.0 (installed only in the peer venv).

Each model comes in minicheck's two Python front ends:

- ``*_class``: minicheck's ``Model`` class (annotated fields, ``@transition(when=...)`` guards,
  bodies that assign to ``s.field``), the shape closest to a migcheck model;
- ``*_protocol``: minicheck's ``Protocol`` with a transition function written by hand over
  tuple states (small ints for enumerations), the fastest way minicheck offers to state a model.

The models are written from migcheck's bundled ones (two_phase_commit.py and the
``disable-first`` variant of guest_assisted.py), action by action, and must reach the same
distinct states. Arrays become one field per element (``rm_state0``, ``slot1``...), in the order
migcheck packs a state, so that compare.py can check that both reach the same set of states.
minicheck checks state invariants only, so migcheck's three action properties of guest-assisted
(quiescence, recovery, dma-into-held-pages) are checked inside the transitions, on the state
before the step: a failing step is appended to the list returned with the model. migcheck checks
the witness of each safety property too; here each witness is an invariant ``not witness`` that
must be refuted (holds False), so both checkers do the same work.

The layout facts (fields, enumerations, initial state) need no minicheck, so that
tests/test_peer_models.py can hold them to migcheck's model where minicheck is not installed.
"""

from __future__ import annotations

try:
    from minicheck import Model, Protocol, invariant, transition
except ImportError:  # only the layout facts are usable (tests/test_peer_models.py)
    pass

# ---------------------------------------------------------------- two-phase commit

RM_STATES = ("working", "prepared", "committed", "aborted")


def two_phase_fields(rms: int) -> tuple[str, ...]:
    return (tuple(f"rm_state{r}" for r in range(rms)) + ("tm_state",)
            + tuple(f"tm_prepared{r}" for r in range(rms))
            + tuple(f"msg_prepared{r}" for r in range(rms)) + ("msg_commit", "msg_abort"))


def two_phase_class(rms: int) -> Protocol:
    """Lamport's TwoPhase as a minicheck ``Model`` class (built for ``rms`` resource managers)."""
    ns: dict = {"__annotations__": {}}
    for name in two_phase_fields(rms):
        ns["__annotations__"][name] = str if name.endswith("state") or "_state" in name else bool
        ns[name] = False
    for r in range(rms):
        ns[f"rm_state{r}"] = "working"
    ns["tm_state"] = "init"

    def tm_rcv_prepared(r):
        prep, msg = f"tm_prepared{r}", f"msg_prepared{r}"

        def body(s):
            setattr(s, prep, True)
        return transition(when=lambda s: s.tm_state == "init" and getattr(s, msg),
                          label=f"tm_rcv_prepared({r})")(body)

    prepared = [f"tm_prepared{r}" for r in range(rms)]

    def tm_commit(s):
        s.tm_state = "done"
        s.msg_commit = True

    def tm_abort(s):
        s.tm_state = "done"
        s.msg_abort = True

    def rm_action(r, label, when, new_state, send=None):
        rm = f"rm_state{r}"

        def body(s):
            setattr(s, rm, new_state)
            if send:
                setattr(s, send, True)
        return transition(when=lambda s: when(s, rm), label=f"{label}({r})")(body)

    for r in range(rms):
        ns[f"tm_rcv_prepared_{r}"] = tm_rcv_prepared(r)
    ns["tm_commit"] = transition(when=lambda s: s.tm_state == "init"
                                 and all(getattr(s, p) for p in prepared))(tm_commit)
    ns["tm_abort"] = transition(when=lambda s: s.tm_state == "init")(tm_abort)
    working = lambda s, rm: getattr(s, rm) == "working"  # noqa: E731
    for r in range(rms):
        ns[f"rm_prepare_{r}"] = rm_action(r, "rm_prepare", working, "prepared", f"msg_prepared{r}")
        ns[f"rm_choose_to_abort_{r}"] = rm_action(r, "rm_choose_to_abort", working, "aborted")
        ns[f"rm_rcv_commit_msg_{r}"] = rm_action(r, "rm_rcv_commit_msg", lambda s, rm: s.msg_commit,
                                                 "committed")
        ns[f"rm_rcv_abort_msg_{r}"] = rm_action(r, "rm_rcv_abort_msg", lambda s, rm: s.msg_abort,
                                                "aborted")
    rm_names = [f"rm_state{r}" for r in range(rms)]

    def consistency(s):
        states = [getattr(s, n) for n in rm_names]
        return not ("aborted" in states and "committed" in states)

    ns["consistency"] = invariant(consistency)
    # the reachable property all-committed, as an invariant that must be refuted
    ns["all_committed"] = invariant(name="all_committed")(
        lambda s: not all(getattr(s, n) == "committed" for n in rm_names))
    cls = type(Model)(f"TwoPhase{rms}", (Model,), ns)
    return cls.protocol()


def two_phase_protocol(rms: int) -> Protocol:
    """Lamport's TwoPhase as a minicheck ``Protocol`` with a hand-written transition function."""
    working, prepared, committed, aborted = range(4)
    init, done = range(2)
    tm, prep, msg = rms, rms + 1, 2 * rms + 1
    commit, abort = 3 * rms + 1, 3 * rms + 2
    rms_range = range(rms)
    labels = {name: [f"{name}({r})" for r in rms_range]
              for name in ("tm_rcv_prepared", "rm_prepare", "rm_choose_to_abort",
                           "rm_rcv_commit_msg", "rm_rcv_abort_msg")}

    def transitions(s):
        out = []
        if s[tm] == init:
            for r in rms_range:
                if s[msg + r]:
                    n = list(s)
                    n[prep + r] = True
                    out.append((labels["tm_rcv_prepared"][r], tuple(n)))
            if all(s[prep:prep + rms]):
                n = list(s)
                n[tm] = done
                n[commit] = True
                out.append(("tm_commit", tuple(n)))
            n = list(s)
            n[tm] = done
            n[abort] = True
            out.append(("tm_abort", tuple(n)))
        for r in rms_range:
            if s[r] == working:
                n = list(s)
                n[r] = prepared
                n[msg + r] = True
                out.append((labels["rm_prepare"][r], tuple(n)))
                n = list(s)
                n[r] = aborted
                out.append((labels["rm_choose_to_abort"][r], tuple(n)))
            if s[commit]:
                n = list(s)
                n[r] = committed
                out.append((labels["rm_rcv_commit_msg"][r], tuple(n)))
            if s[abort]:
                n = list(s)
                n[r] = aborted
                out.append((labels["rm_rcv_abort_msg"][r], tuple(n)))
        return out

    rm_names = [f"rm_state{r}" for r in rms_range]

    def consistency(d):
        states = [d[n] for n in rm_names]
        return not (aborted in states and committed in states)

    initial = (working,) * rms + (init,) + (False,) * (2 * rms) + (False, False)
    return Protocol(name=f"two-phase-commit rms={rms}", candidate=False, fields=two_phase_fields(rms),
                    initial=initial, transitions=transitions,
                    invariants={"consistency": consistency,
                                "all_committed": lambda d: not all(d[n] == committed for n in rm_names)})


# ---------------------------------------------------------------- guest-assisted, disable-first
# The flags of disable-first fix what the model's actions do: the driver opts in and marks, the
# hypervisor refuses an opt-in made after bus mastering (or left by a rebind), the handler runs
# clear_bme, drain, mark, ack, pre-copy rounds go on during it, the driver recovers after an abort
# and on the destination, the wait for the acknowledgement times out. The actions that no flag of
# disable-first enables (touch_write_back: no plain touch; release: no teardown; drain_device:
# no bitmap; start_dest_device; resume_without_reset) are left out. A buffer spans one page
# (span = 1), so tail_dirty and tail_synced stay False; they are kept as fields so that a state
# is migcheck's state vector.

PHASES = ("idle", "precopy", "notified", "quiescing", "stopped", "copied", "switched", "aborted",
          "blocked")
OPT_IN = ("none", "before_bme", "after_bme", "inherited")
DRV = ("down", "up", "handling", "acked", "recovering", "foreign")
SLOT_STATES = ("free", "ready", "data_inflight", "data_landed", "wb_inflight", "done")
TX_STATES = ("free", "posted", "wb_inflight")
TOUCH = ("none", "read", "raced")
VCPU_RUNS = ("idle", "precopy", "notified", "aborted", "blocked")
RELIED_QUIET = ("stopped", "copied")  # the hypervisor copies as if the device were quiet
# The handler's order in disable-first: clear_bme, drain, mark, ack (hstep counts the steps done).
CLEAR_BME, DRAIN, MARK, ACK = range(4)
# Checked in the transitions, on the state before the step.
ACTION_PROPERTIES = ("quiescence", "recovery", "dma_into_held_pages")
# Enumerations by field name (less its index): migcheck packs a value as its label's index.
ENUM_LABELS = {"rm_state": RM_STATES, "tm_state": ("init", "done"), "phase": PHASES,
               "opt_in_record": OPT_IN, "drv": DRV, "slot": SLOT_STATES, "tx": TX_STATES,
               "touch": TOUCH}


def guest_assisted_fields(slots: int, pages: int) -> tuple[str, ...]:
    """The model's state variables in migcheck's order, arrays as one field per element."""
    def each(name, n):
        return tuple(f"{name}{k}" for k in range(n))
    return (("phase", "round", "opt_in_record", "drv", "hstep", "bme") + each("slot", slots)
            + ("next_to_use", "next_to_clean", "next_to_alloc", "rx_head") + each("buf", slots)
            + each("mapped", pages) + ("tx",) + each("dirty", pages) + each("synced", pages)
            + each("tail_dirty", pages) + each("tail_synced", pages)
            + ("ring_dirty", "ring_synced", "ring_copied_quiet", "tx_ring_dirty", "tx_ring_synced",
               "tx_ring_copied_quiet") + each("touch", slots) + ("lost", "dest_device"))


INT_FIELDS = ("round", "hstep", "next_to_use", "next_to_clean", "next_to_alloc", "rx_head")


def guest_assisted_initial(slots: int, pages: int) -> dict:
    """The initial state by field: enumerations at their first label, integers 0, booleans
    False, no buffer (``pages``, as migcheck packs a ``Ref`` holding None)."""
    def value(field):
        base = field.rstrip("0123456789")
        if base in ENUM_LABELS:
            return ENUM_LABELS[base][0]
        if base == "buf":
            return pages
        return 0 if base in INT_FIELDS else False
    return {f: value(f) for f in guest_assisted_fields(slots, pages)}


def guest_assisted_protocol(slots: int = 2, pages: int = 1, rounds: int = 1,
                            inflight: int = 1) -> tuple[Protocol, list]:
    """disable-first as a minicheck ``Protocol``: enumerations are small ints, arrays are runs of
    fields; ``buf{i}`` is the page holding slot i's buffer, ``pages`` for none (as migcheck packs
    a ``Ref``). Returns the protocol and the list that collects action-property violations."""
    idle, precopy, notified, quiescing, stopped, copied, switched, aborted, blocked = range(9)
    o_none, before_bme = 0, 1
    down, up, handling, acked, recovering, foreign = range(6)
    free, ready, data_inflight, data_landed, wb_inflight, done = range(6)
    tx_free, posted, tx_wb_inflight = range(3)
    t_none, t_read, t_raced = range(3)
    fields = guest_assisted_fields(slots, pages)
    at = {f: k for k, f in enumerate(fields)}
    PHASE, ROUND, OPT, DRV_, HSTEP, BME = (at[f] for f in ("phase", "round", "opt_in_record", "drv",
                                                           "hstep", "bme"))
    SLOT, BUF, TOUCH_ = at["slot0"], at["buf0"], at["touch0"]
    NTU, NTC, NTA, HEAD = (at[f] for f in ("next_to_use", "next_to_clean", "next_to_alloc", "rx_head"))
    MAPPED, DIRTY, SYNCED, TX = at["mapped0"], at["dirty0"], at["synced0"], at["tx"]
    RINGS = [(at[f"{r}ring_dirty"], at[f"{r}ring_synced"], at[f"{r}ring_copied_quiet"])
             for r in ("", "tx_")]
    RX_DIRTY, RX_SYNCED = RINGS[0][0], RINGS[0][1]
    TX_DIRTY, TX_SYNCED = RINGS[1][0], RINGS[1][1]
    DEST = at["dest_device"]
    NONE = pages  # buf{i}: no buffer (unmapped, or its page moved to next_to_alloc)
    slot_range, page_range = range(slots), range(pages)
    slot_fields = range(SLOT, SLOT + slots)
    others = [[j for j in slot_range if j != i] for i in slot_range]
    after = [(i + 1) % slots for i in slot_range]
    vcpu_runs = [name in VCPU_RUNS for name in PHASES]
    relied_quiet = [name in RELIED_QUIET for name in PHASES]
    violations: list = []

    def lab(name, *dims):
        if len(dims) == 1:
            return [f"{name}({i})" for i in dims[0]]
        return [[f"{name}({i}, {p})" for p in dims[1]] for i in dims[0]]
    L = {n: lab(n, slot_range, page_range) for n in ("refill", "clean_unmap", "clean_recycle",
                                                     "rx_data", "land_data")}
    L.update({n: lab(n, slot_range) for n in ("rx_writeback", "land_writeback")})

    def none_in_flight(s):
        return all(s[k] != data_inflight and s[k] != wb_inflight for k in slot_fields) \
            and s[TX] != tx_wb_inflight

    def in_flight(s):
        return sum(1 for k in slot_fields if s[k] == data_inflight or s[k] == wb_inflight) \
            + (s[TX] == tx_wb_inflight)

    def copy_logged(n, everything):
        for p in page_range:
            n[SYNCED + p] = everything or n[SYNCED + p] or n[DIRTY + p]
            n[DIRTY + p] = False
        quiet = not n[BME] and none_in_flight(n)
        for dirty, synced, copied_quiet in RINGS:
            if everything or n[dirty]:
                n[copied_quiet] = quiet
                n[synced] = True
            n[dirty] = False

    def issues(s, label):  # quiescence, for a step that issues a posted write
        if not s[BME] or relied_quiet[s[PHASE]]:
            violations.append(("quiescence", s, label))

    def lands(s, label):  # quiescence, for a posted write that lands
        if relied_quiet[s[PHASE]]:
            violations.append(("quiescence", s, label))

    def uses_vf(s, label):  # recovery: the driver uses the VF only with bus mastering on
        if not s[BME]:
            violations.append(("recovery", s, label))

    def transitions(s):
        out = []
        phase, opt, drv, hstep, bme = s[PHASE], s[OPT], s[DRV_], s[HSTEP], s[BME]
        no_touch = all(s[TOUCH_ + i] == t_none for i in slot_range)
        # ---- guest driver
        if phase == idle:
            if drv == down and opt == o_none:
                n = list(s)
                n[OPT] = before_bme
                out.append(("opt_in_marking", tuple(n)))
            if drv == up and opt == o_none:
                n = list(s)
                n[OPT] = 2  # after_bme
                out.append(("opt_in_late", tuple(n)))
            if drv == up and opt != o_none:  # rebind: the hypervisor drops the opt-in record
                n = list(s)
                n[DRV_] = foreign
                n[OPT] = o_none
                out.append(("rebind", tuple(n)))
        if drv == down:
            n = list(s)
            n[DRV_] = up
            n[BME] = True
            out.append(("probe", tuple(n)))
        if vcpu_runs[phase] and (drv == up or ((drv == handling or drv == acked) and bme)):
            i = s[NTU]
            if s[SLOT + i] == free:  # a slot without a page takes any page; one with a page keeps it
                fresh = s[BUF + i] == NONE
                for p in (page_range if fresh else (s[BUF + i],)):
                    uses_vf(s, L["refill"][i][p])
                    n = list(s)
                    n[NTU] = after[i]
                    if fresh:
                        n[NTA] = after[i]
                    n[BUF + i] = p
                    n[MAPPED + p] = True
                    if drv == handling:
                        n[DIRTY + p] = True
                    n[RX_DIRTY] = True
                    n[RX_SYNCED] = False
                    n[SLOT + i] = ready
                    out.append((L["refill"][i][p], tuple(n)))
            i = s[NTC]
            p = s[BUF + i]
            if s[SLOT + i] == done and p != NONE and s[TOUCH_ + i] == t_none:
                if all(s[SLOT + j] == free for j in others[i] if s[BUF + j] == p):
                    uses_vf(s, L["clean_unmap"][i][p])
                    n = list(s)
                    n[NTC] = after[i]
                    n[SLOT + i] = free
                    n[BUF + i] = NONE
                    n[MAPPED + p] = False
                    n[DIRTY + p] = True
                    out.append((L["clean_unmap"][i][p], tuple(n)))
                uses_vf(s, L["clean_recycle"][i][p])
                n = list(s)
                n[NTC] = after[i]
                n[SLOT + i] = free
                to = s[NTA]  # the page moves to next_to_alloc if that is i, or free and pageless
                if to == i or (s[SLOT + to] == free and s[BUF + to] == NONE):
                    if to != i:
                        n[BUF + to] = p
                        n[BUF + i] = NONE
                    n[NTA] = after[to]
                n[DIRTY + p] = True
                out.append((L["clean_recycle"][i][p], tuple(n)))
            if s[TX] == tx_free:
                uses_vf(s, "xmit")
                n = list(s)
                n[TX] = posted
                n[TX_DIRTY] = True
                n[TX_SYNCED] = False
                out.append(("xmit", tuple(n)))
        if opt != o_none and drv == up and phase == notified:
            n = list(s)
            n[DRV_] = handling
            n[HSTEP] = 0
            out.append(("handle_event", tuple(n)))
        if drv == handling and phase == notified and no_touch:
            if hstep == CLEAR_BME:
                n = list(s)
                n[BME] = False
                n[HSTEP] = hstep + 1
                out.append(("clear_bme", tuple(n)))
            elif hstep == DRAIN:
                if not bme and none_in_flight(s):
                    n = list(s)
                    n[HSTEP] = hstep + 1
                    out.append(("drain", tuple(n)))
            elif hstep == MARK:
                n = list(s)
                for p in page_range:
                    n[DIRTY + p] = n[DIRTY + p] or n[MAPPED + p]
                n[RX_DIRTY] = n[TX_DIRTY] = True
                n[HSTEP] = hstep + 1
                out.append(("mark", tuple(n)))
            elif hstep == ACK:
                n = list(s)
                n[DRV_] = acked
                n[HSTEP] = hstep + 1
                out.append(("acknowledge", tuple(n)))
        handled = drv == handling or drv == acked
        if no_touch and ((phase == aborted and handled)
                         or (phase == switched and (handled or (drv == up and not s[DEST])))):
            n = list(s)
            n[DRV_] = recovering
            out.append(("error_detected", tuple(n)))
        if drv == recovering and (phase == switched or none_in_flight(s)):
            n = list(s)
            for k in slot_fields:
                n[k] = free
            n[NTU] = n[NTC] = n[NTA] = n[HEAD] = 0
            n[TX] = tx_free
            n[BME] = True
            n[DRV_] = up
            n[HSTEP] = 0
            n[DEST] = s[DEST] or phase == switched
            out.append(("slot_reset", tuple(n)))
        # ---- VF device
        if phase != switched:
            if bme and in_flight(s) < inflight:
                i = s[HEAD]
                p = s[BUF + i]
                if s[SLOT + i] == ready and p != NONE and s[MAPPED + p]:
                    issues(s, L["rx_data"][i][p])
                    n = list(s)
                    n[HEAD] = after[i]
                    n[SLOT + i] = data_inflight
                    out.append((L["rx_data"][i][p], tuple(n)))
                for i in slot_range:
                    if s[SLOT + i] == data_landed:
                        issues(s, L["rx_writeback"][i])
                        n = list(s)
                        n[SLOT + i] = wb_inflight
                        out.append((L["rx_writeback"][i], tuple(n)))
                if s[TX] == posted:
                    issues(s, "tx_writeback")
                    n = list(s)
                    n[TX] = tx_wb_inflight
                    out.append(("tx_writeback", tuple(n)))
            for i in slot_range:
                if s[SLOT + i] == data_inflight and s[BUF + i] != NONE:
                    p = s[BUF + i]
                    lands(s, L["land_data"][i][p])
                    if not s[MAPPED + p]:
                        violations.append(("dma_into_held_pages", s, L["land_data"][i][p]))
                    n = list(s)
                    n[SYNCED + p] = False
                    for j in others[i]:  # a plain touch of p would now write back stale bytes
                        if s[BUF + j] == p and s[TOUCH_ + j] == t_read:
                            n[TOUCH_ + j] = t_raced
                    n[SLOT + i] = data_landed
                    out.append((L["land_data"][i][p], tuple(n)))
                elif s[SLOT + i] == wb_inflight:
                    lands(s, L["land_writeback"][i])
                    n = list(s)
                    n[RX_SYNCED] = False
                    n[SLOT + i] = done
                    out.append((L["land_writeback"][i], tuple(n)))
            if s[TX] == tx_wb_inflight:
                lands(s, "land_tx_writeback")
                n = list(s)
                n[TX_SYNCED] = False
                n[TX] = tx_free
                out.append(("land_tx_writeback", tuple(n)))
        # ---- hypervisor
        if phase == idle and drv != down:
            n = list(s)
            if opt == before_bme:
                n[PHASE] = precopy
                copy_logged(n, True)
                out.append(("start_migration", tuple(n)))
            else:
                n[PHASE] = blocked
                out.append(("block_migration", tuple(n)))
        if (phase == precopy or phase == notified) and s[ROUND] < rounds:
            n = list(s)
            n[ROUND] += 1
            copy_logged(n, False)
            out.append(("precopy_round", tuple(n)))
        if phase == precopy and opt != o_none:
            n = list(s)
            n[PHASE] = notified
            out.append(("notify_guest", tuple(n)))
        if (phase == notified and drv == acked) or (phase == precopy and opt == o_none):
            n = list(s)
            n[PHASE] = stopped
            out.append(("stop_vcpu", tuple(n)))
        if phase == notified and drv != acked:
            n = list(s)
            n[PHASE] = aborted
            out.append(("timeout", tuple(n)))
        if phase == stopped:
            n = list(s)
            n[PHASE] = copied
            copy_logged(n, False)
            out.append(("stop_and_copy", tuple(n)))
        if phase == copied:
            n = list(s)
            n[PHASE] = switched
            n[BME] = s[DEST]  # a fresh VF, unless the destination's already runs
            out.append(("switchover", tuple(n)))
        if precopy <= phase <= copied:
            n = list(s)
            n[PHASE] = aborted
            out.append(("abort", tuple(n)))
        return out

    synced = [f"synced{p}" for p in page_range]
    slot_names = [f"slot{i}" for i in slot_range]
    touch_names = [f"touch{i}" for i in slot_range]
    pairs = [(f"slot{i}", f"slot{j}", f"buf{i}", f"buf{j}") for i in slot_range for j in slot_range if i != j]

    def d_quiet(d):
        return not d["bme"] and all(d[n] != data_inflight and d[n] != wb_inflight for n in slot_names) \
            and d["tx"] != tx_wb_inflight

    def d_must_recover(d):
        handled = d["drv"] in (handling, acked)
        return all(d[t] == t_none for t in touch_names) and (
            (d["phase"] == aborted and handled)
            or (d["phase"] == switched and (handled or (d["drv"] == up and not d["dest_device"]))))

    invariants = {
        "completeness": lambda d: d["phase"] != switched or (
            all(d[n] for n in synced) and d["ring_synced"] and d["tx_ring_synced"]),
        "rings_last": lambda d: d["phase"] != switched or (d["ring_copied_quiet"]
                                                           and d["tx_ring_copied_quiet"]),
        "opt_in": lambda d: d["phase"] in (idle, blocked) or d["opt_in_record"] == before_bme,
        "marking_preserves_data": lambda d: not d["lost"],
        "dest_order": lambda d: not d["dest_device"] or d["phase"] == switched,
        # witnesses, as invariants that must be refuted
        "switchover_happens": lambda d: d["phase"] != switched,
        "dma_in_flight_at_quiesce": lambda d: not (
            ((d["phase"] == notified and d["drv"] == handling) or d["phase"] == quiescing)
            and not d_quiet(d)),
        "recovery_needed": lambda d: not d_must_recover(d),
        "data_in_flight": lambda d: not any(d[n] == data_inflight for n in slot_names),
        "touch_beside_dma": lambda d: not any(d[a] == done and d[b] == data_inflight and d[pa] == d[pb]
                                              for a, b, pa, pb in pairs),
        "migration_starts": lambda d: d["phase"] in (idle, blocked),
        "dest_device_runs": lambda d: not d["dest_device"],
    }
    initial = tuple(ENUM_LABELS[f.rstrip("0123456789")].index(v) if isinstance(v, str) else v
                    for f, v in guest_assisted_initial(slots, pages).items())
    protocol = Protocol(name=f"guest-assisted slots={slots} pages={pages}", candidate=False,
                        fields=fields, initial=initial, transitions=transitions, invariants=invariants)
    return protocol, violations


def guest_assisted_class(slots: int = 2, pages: int = 1, rounds: int = 1,
                         inflight: int = 1) -> tuple[Protocol, list]:
    """disable-first as a minicheck ``Model`` class: one ``@transition`` per action instance,
    enumerations as strings. Returns the protocol and the list of action-property violations."""
    initial = guest_assisted_initial(slots, pages)
    ns: dict = {"__annotations__": {f: type(v) for f, v in initial.items()}, **initial}
    none = pages  # buf{i}: no buffer (as migcheck packs a Ref holding None)
    violations: list = []
    slot_range, page_range = range(slots), range(pages)
    others = [[j for j in slot_range if j != i] for i in slot_range]
    slot_names = [f"slot{i}" for i in slot_range]
    touch_names = [f"touch{i}" for i in slot_range]
    inflight_states = ("data_inflight", "wb_inflight")

    def add(name, when, body):
        ns[name.replace("(", "_").replace(")", "")] = transition(when=when, label=name)(body)

    def after(i):
        return (i + 1) % slots

    def rx_runs(s):
        return s.phase in VCPU_RUNS and (s.drv == "up" or (s.drv in ("handling", "acked") and s.bme))

    def none_in_flight(s):
        return all(getattr(s, n) not in inflight_states for n in slot_names) and s.tx != "wb_inflight"

    def quiet(s):
        return not s.bme and none_in_flight(s)

    def in_flight(s):
        return sum(1 for n in slot_names if getattr(s, n) in inflight_states) + (s.tx == "wb_inflight")

    def no_touch(s):
        return all(getattr(s, t) == "none" for t in touch_names)

    def must_recover(s):
        handled = s.drv in ("handling", "acked")
        return no_touch(s) and ((s.phase == "aborted" and handled) or (
            s.phase == "switched" and (handled or (s.drv == "up" and not s.dest_device))))

    def copy_logged(s, everything=False):
        for p in page_range:
            setattr(s, f"synced{p}", everything or getattr(s, f"synced{p}") or getattr(s, f"dirty{p}"))
            setattr(s, f"dirty{p}", False)
        was_quiet = quiet(s)
        for ring in ("ring", "tx_ring"):
            copied = everything or getattr(s, f"{ring}_dirty")
            if copied:
                setattr(s, f"{ring}_copied_quiet", was_quiet)
            setattr(s, f"{ring}_synced", getattr(s, f"{ring}_synced") or copied)
            setattr(s, f"{ring}_dirty", False)

    def handler_at(step):
        return lambda s: s.drv == "handling" and s.phase == "notified" and s.hstep == step and no_touch(s)

    def check(prop, ok, s, label):
        if not ok:
            violations.append((prop, repr(s), label))

    def issues(s, label):  # quiescence: a posted write issued
        check("quiescence", s.bme and s.phase not in RELIED_QUIET, s, label)

    def lands(s, label):  # quiescence: a posted write lands
        check("quiescence", s.phase not in RELIED_QUIET, s, label)

    # ---- guest driver
    def opt_in_marking(s):
        s.opt_in_record = "before_bme"

    add("opt_in_marking", lambda s: s.phase == "idle" and s.drv == "down" and s.opt_in_record == "none",
        opt_in_marking)

    def opt_in_late(s):
        s.opt_in_record = "after_bme"

    add("opt_in_late", lambda s: s.phase == "idle" and s.drv == "up" and s.opt_in_record == "none",
        opt_in_late)

    def probe(s):
        s.drv = "up"
        s.bme = True

    add("probe", lambda s: s.drv == "down", probe)

    def rebind(s):
        s.drv = "foreign"
        s.opt_in_record = "none"

    add("rebind", lambda s: s.phase == "idle" and s.drv == "up" and s.opt_in_record != "none", rebind)

    for i in slot_range:
        slot, touch, buf = f"slot{i}", f"touch{i}", f"buf{i}"
        for p in page_range:
            mapped, dirty = f"mapped{p}", f"dirty{p}"
            label = f"refill({i}, {p})"

            def refill(s, i=i, p=p, slot=slot, buf=buf, mapped=mapped, dirty=dirty, label=label):
                check("recovery", s.bme, s, label)
                s.next_to_use = after(i)
                if getattr(s, buf) == none:  # a fresh page: no recycled page waits any more
                    s.next_to_alloc = after(i)
                setattr(s, buf, p)
                setattr(s, mapped, True)
                setattr(s, dirty, getattr(s, dirty) or s.drv == "handling")  # new mappings are marked
                s.ring_dirty = True
                s.ring_synced = False
                setattr(s, slot, "ready")

            add(label, lambda s, i=i, p=p, slot=slot, buf=buf: rx_runs(s) and s.next_to_use == i
                and getattr(s, slot) == "free" and getattr(s, buf) in (none, p), refill)

            label = f"clean_unmap({i}, {p})"

            def clean_unmap(s, i=i, p=p, slot=slot, buf=buf, mapped=mapped, dirty=dirty, label=label):
                check("recovery", s.bme, s, label)
                s.next_to_clean = after(i)
                setattr(s, slot, "free")
                setattr(s, buf, none)
                setattr(s, mapped, False)
                setattr(s, dirty, True)  # the dummy write on unmap

            sharers = [(f"buf{j}", f"slot{j}") for j in others[i]]
            add(label, lambda s, i=i, p=p, slot=slot, buf=buf, touch=touch, sharers=sharers:
                rx_runs(s) and s.next_to_clean == i and getattr(s, slot) == "done"
                and getattr(s, buf) == p and getattr(s, touch) == "none"
                and all(getattr(s, sl) == "free" for b, sl in sharers if getattr(s, b) == p), clean_unmap)

            label = f"clean_recycle({i}, {p})"

            def clean_recycle(s, i=i, p=p, slot=slot, buf=buf, dirty=dirty, label=label):
                check("recovery", s.bme, s, label)
                s.next_to_clean = after(i)
                setattr(s, slot, "free")
                # ixgbevf_reuse_rx_page: the page moves to next_to_alloc (i itself, or a free
                # descriptor without a page), which advances; otherwise both stay
                to = s.next_to_alloc
                if to == i or (getattr(s, f"slot{to}") == "free" and getattr(s, f"buf{to}") == none):
                    if to != i:
                        setattr(s, f"buf{to}", p)
                        setattr(s, buf, none)
                    s.next_to_alloc = after(to)
                setattr(s, dirty, True)  # cmpxchg(p, x, x): a write the log sees

            add(label, lambda s, i=i, p=p, slot=slot, buf=buf, touch=touch:
                rx_runs(s) and s.next_to_clean == i and getattr(s, slot) == "done"
                and getattr(s, buf) == p and getattr(s, touch) == "none", clean_recycle)

    def xmit(s):
        check("recovery", s.bme, s, "xmit")
        s.tx = "posted"
        s.tx_ring_dirty = True
        s.tx_ring_synced = False

    add("xmit", lambda s: rx_runs(s) and s.tx == "free", xmit)

    def handle_event(s):
        s.drv = "handling"
        s.hstep = 0

    add("handle_event", lambda s: s.opt_in_record != "none" and s.drv == "up" and s.phase == "notified",
        handle_event)

    def clear_bme(s):
        s.bme = False
        s.hstep = s.hstep + 1

    add("clear_bme", handler_at(CLEAR_BME), clear_bme)

    def drain(s):
        s.hstep = s.hstep + 1

    add("drain", lambda s: handler_at(DRAIN)(s) and quiet(s), drain)

    def mark(s):
        for p in page_range:
            setattr(s, f"dirty{p}", getattr(s, f"dirty{p}") or getattr(s, f"mapped{p}"))
        s.ring_dirty = True
        s.tx_ring_dirty = True
        s.hstep = s.hstep + 1

    add("mark", handler_at(MARK), mark)

    def acknowledge(s):
        s.drv = "acked"
        s.hstep = s.hstep + 1

    add("acknowledge", handler_at(ACK), acknowledge)

    def error_detected(s):
        s.drv = "recovering"

    add("error_detected", must_recover, error_detected)

    def slot_reset(s):
        for n in slot_names:
            setattr(s, n, "free")
        s.next_to_use = s.next_to_clean = s.next_to_alloc = s.rx_head = 0
        s.tx = "free"
        s.bme = True
        s.drv = "up"
        s.hstep = 0
        s.dest_device = s.dest_device or s.phase == "switched"

    add("slot_reset", lambda s: s.drv == "recovering" and (s.phase == "switched" or none_in_flight(s)),
        slot_reset)

    # ---- VF device
    for i in slot_range:
        slot, buf = f"slot{i}", f"buf{i}"
        for p in page_range:
            mapped, synced = f"mapped{p}", f"synced{p}"
            label = f"rx_data({i}, {p})"

            def rx_data(s, i=i, slot=slot, label=label):
                issues(s, label)
                s.rx_head = after(i)
                setattr(s, slot, "data_inflight")

            add(label, lambda s, i=i, p=p, slot=slot, buf=buf, mapped=mapped: s.bme
                and s.phase != "switched" and s.rx_head == i and getattr(s, slot) == "ready"
                and getattr(s, buf) == p and getattr(s, mapped) and in_flight(s) < inflight, rx_data)

            label = f"land_data({i}, {p})"
            share_touch = [(f"buf{j}", f"touch{j}") for j in others[i]]

            def land_data(s, p=p, slot=slot, mapped=mapped, synced=synced, share_touch=share_touch,
                          label=label):
                lands(s, label)
                check("dma_into_held_pages", getattr(s, mapped), s, label)
                setattr(s, synced, False)
                for b, t in share_touch:  # a plain touch of p would now write back stale bytes
                    if getattr(s, b) == p and getattr(s, t) == "read":
                        setattr(s, t, "raced")
                setattr(s, slot, "data_landed")

            add(label, lambda s, p=p, slot=slot, buf=buf: s.phase != "switched"
                and getattr(s, slot) == "data_inflight" and getattr(s, buf) == p, land_data)

        label = f"rx_writeback({i})"

        def rx_writeback(s, slot=slot, label=label):
            issues(s, label)
            setattr(s, slot, "wb_inflight")

        add(label, lambda s, slot=slot: s.bme and s.phase != "switched"
            and getattr(s, slot) == "data_landed" and in_flight(s) < inflight, rx_writeback)

        label = f"land_writeback({i})"

        def land_writeback(s, slot=slot, label=label):
            lands(s, label)
            s.ring_synced = False
            setattr(s, slot, "done")

        add(label, lambda s, slot=slot: s.phase != "switched" and getattr(s, slot) == "wb_inflight",
            land_writeback)

    def tx_writeback(s):
        issues(s, "tx_writeback")
        s.tx = "wb_inflight"

    add("tx_writeback", lambda s: s.bme and s.phase != "switched" and s.tx == "posted"
        and in_flight(s) < inflight, tx_writeback)

    def land_tx_writeback(s):
        lands(s, "land_tx_writeback")
        s.tx_ring_synced = False
        s.tx = "free"

    add("land_tx_writeback", lambda s: s.phase != "switched" and s.tx == "wb_inflight", land_tx_writeback)

    # ---- hypervisor
    def start_migration(s):
        s.phase = "precopy"
        copy_logged(s, everything=True)

    add("start_migration", lambda s: s.phase == "idle" and s.drv != "down"
        and s.opt_in_record == "before_bme", start_migration)

    def block_migration(s):
        s.phase = "blocked"

    add("block_migration", lambda s: s.phase == "idle" and s.drv != "down"
        and s.opt_in_record != "before_bme", block_migration)

    def precopy_round(s):
        s.round = s.round + 1
        copy_logged(s)

    add("precopy_round", lambda s: s.phase in ("precopy", "notified") and s.round < rounds, precopy_round)

    def notify_guest(s):
        s.phase = "notified"

    add("notify_guest", lambda s: s.opt_in_record != "none" and s.phase == "precopy", notify_guest)

    def stop_vcpu(s):
        s.phase = "stopped"

    add("stop_vcpu", lambda s: (s.phase == "notified" and s.drv == "acked")
        or (s.phase == "precopy" and s.opt_in_record == "none"), stop_vcpu)

    def timeout(s):
        s.phase = "aborted"

    add("timeout", lambda s: s.phase == "notified" and s.drv != "acked", timeout)

    def stop_and_copy(s):
        s.phase = "copied"
        copy_logged(s)

    add("stop_and_copy", lambda s: s.phase == "stopped", stop_and_copy)

    def switchover(s):
        s.phase = "switched"
        s.bme = s.dest_device  # a fresh VF, unless the destination's already runs

    add("switchover", lambda s: s.phase == "copied", switchover)

    def abort(s):
        s.phase = "aborted"

    add("abort", lambda s: s.phase in ("precopy", "notified", "quiescing", "stopped", "copied"), abort)

    # ---- safety properties, and the witnesses as invariants that must be refuted
    synced_names = [f"synced{p}" for p in page_range]
    pairs = [(f"slot{i}", f"slot{j}", f"buf{i}", f"buf{j}") for i in slot_range for j in slot_range
             if i != j]
    props = {
        "completeness": lambda s: s.phase != "switched" or (
            all(getattr(s, n) for n in synced_names) and s.ring_synced and s.tx_ring_synced),
        "rings_last": lambda s: s.phase != "switched" or (s.ring_copied_quiet and s.tx_ring_copied_quiet),
        "opt_in": lambda s: s.phase in ("idle", "blocked") or s.opt_in_record == "before_bme",
        "marking_preserves_data": lambda s: not s.lost,
        "dest_order": lambda s: not s.dest_device or s.phase == "switched",
        "switchover_happens": lambda s: s.phase != "switched",
        "dma_in_flight_at_quiesce": lambda s: not (
            ((s.phase == "notified" and s.drv == "handling") or s.phase == "quiescing") and not quiet(s)),
        "recovery_needed": lambda s: not must_recover(s),
        "data_in_flight": lambda s: not any(getattr(s, n) == "data_inflight" for n in slot_names),
        "touch_beside_dma": lambda s: not any(getattr(s, a) == "done" and getattr(s, b) == "data_inflight"
                                              and getattr(s, pa) == getattr(s, pb) for a, b, pa, pb in pairs),
        "migration_starts": lambda s: s.phase in ("idle", "blocked"),
        "dest_device_runs": lambda s: not s.dest_device,
    }
    for name, fn in props.items():
        ns[f"inv_{name}"] = invariant(name=name)(fn)
    cls = type(Model)(f"GuestAssisted{slots}x{pages}", (Model,), ns)
    return cls.protocol(name=f"guest-assisted slots={slots} pages={pages}"), violations
