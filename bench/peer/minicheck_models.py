"""The benchmark's models written for minicheck 0.4.0 (installed only in the peer venv).

Each model comes in minicheck's two Python front ends:

- ``*_class``: minicheck's ``Model`` class (annotated fields, ``@transition(when=...)`` guards,
  bodies that assign to ``s.field``), the shape closest to a migcheck model;
- ``*_protocol``: minicheck's ``Protocol`` with a transition function written by hand over
  tuple states (small ints for enumerations), the fastest way minicheck offers to state a model.

The models are written from migcheck's bundled ones (two_phase_commit.py and the
``disable-first`` variant of guest_assisted.py) and must reach the same number of distinct
states. Arrays become one field per element (``rm_state0``, ``slot1``...). minicheck checks
state invariants only, so migcheck's two action properties of guest-assisted (quiescence,
recovery) are checked inside the transitions: a failing step is appended to the list returned
with the model. migcheck checks the witness of each safety property too; here each witness is an
invariant ``not witness`` that must be refuted (holds False), so both checkers do the same work.
"""

from __future__ import annotations

from minicheck import Model, Protocol, invariant, transition

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

PHASES = ("idle", "precopy", "notified", "stopped", "copied", "switched", "aborted", "blocked")
DRV = ("down", "up", "handling", "acked", "recovering")
SLOT_STATES = ("free", "ready", "data_inflight", "data_landed", "wb_inflight", "done")
TOUCH = ("none", "read", "raced")
# The handler's order in disable-first: clear_bme, drain, mark, ack (hstep counts the steps done).
CLEAR_BME, DRAIN, MARK, ACK = range(4)
ACTION_PROPERTIES = ("quiescence", "recovery")  # checked in the transitions
# Enumerations by field name (less its index): migcheck packs a value as its label's index.
ENUM_LABELS = {"rm_state": RM_STATES, "tm_state": ("init", "done"), "phase": PHASES, "drv": DRV,
               "slot": SLOT_STATES, "touch": TOUCH}


def guest_assisted_fields(slots: int, pages: int) -> tuple[str, ...]:
    return (("phase", "round", "drv", "hstep", "opted_in", "bme")
            + tuple(f"slot{i}" for i in range(slots)) + ("next_to_use", "next_to_clean", "rx_head")
            + tuple(f"buf{i}" for i in range(slots))
            + tuple(f"mapped{p}" for p in range(pages)) + tuple(f"dirty{p}" for p in range(pages))
            + tuple(f"synced{p}" for p in range(pages))
            + ("ring_dirty", "ring_synced", "ring_copied_quiet", "cpu_dirty", "cpu_synced")
            + tuple(f"touch{i}" for i in range(slots)) + ("lost", "dest_device"))


def guest_assisted_protocol(slots: int = 2, pages: int = 1, rounds: int = 1,
                            inflight: int = 1) -> tuple[Protocol, list]:
    """disable-first as a minicheck ``Protocol``: enumerations are small ints, arrays are runs of
    fields; ``buf{i}`` is the page holding slot i's buffer, ``pages`` for none (as migcheck packs
    a ``Ref``). Returns the protocol and the list that collects action-property violations."""
    idle, precopy, notified, stopped, copied, switched, aborted, blocked = range(8)
    down, up, handling, acked, recovering = range(5)
    free, ready, data_inflight, data_landed, wb_inflight, done = range(6)
    t_none, t_read, t_raced = range(3)
    fields = guest_assisted_fields(slots, pages)
    at = {f: k for k, f in enumerate(fields)}
    PHASE, ROUND, DRV_, HSTEP, OPTED, BME = (at[f] for f in ("phase", "round", "drv", "hstep",
                                                             "opted_in", "bme"))
    SLOT = at["slot0"]
    NTU, NTC, HEAD, BUF = at["next_to_use"], at["next_to_clean"], at["rx_head"], at["buf0"]
    NONE = pages  # buf{i}: no buffer since the last unmap
    MAPPED, DIRTY, SYNCED = at["mapped0"], at["dirty0"], at["synced0"]
    RING_DIRTY, RING_SYNCED, RING_QUIET = at["ring_dirty"], at["ring_synced"], at["ring_copied_quiet"]
    CPU_DIRTY, CPU_SYNCED = at["cpu_dirty"], at["cpu_synced"]
    TOUCH_ = at["touch0"]
    DEST = at["dest_device"]
    slot_range, page_range = range(slots), range(pages)
    others = [[j for j in slot_range if j != i] for i in slot_range]
    vcpu_runs = (True, True, True, False, False, False, True, True)  # idle precopy notified aborted blocked
    violations: list = []

    def lab(name):
        return [f"{name}({i})" for i in slot_range]
    L = {n: lab(n) for n in ("refill", "clean_unmap", "clean_recycle", "rx_data", "land_data",
                             "rx_writeback", "land_writeback")}

    def quiet(s):
        if s[BME]:
            return False
        for i in slot_range:
            if s[SLOT + i] == data_inflight or s[SLOT + i] == wb_inflight:
                return False
        return True

    def in_flight(s):
        return sum(1 for i in slot_range if s[SLOT + i] == data_inflight or s[SLOT + i] == wb_inflight)

    def copy_logged(n, everything):
        for p in page_range:
            n[SYNCED + p] = True if everything else (n[SYNCED + p] or n[DIRTY + p])
            n[DIRTY + p] = False
        if n[RING_DIRTY] or everything:
            n[RING_QUIET] = quiet(n)
        n[RING_SYNCED] = True if everything else (n[RING_SYNCED] or n[RING_DIRTY])
        n[RING_DIRTY] = False
        n[CPU_SYNCED] = True if everything else (n[CPU_SYNCED] or n[CPU_DIRTY])
        n[CPU_DIRTY] = False

    def transitions(s):
        out = []
        phase, drv, hstep, bme = s[PHASE], s[DRV_], s[HSTEP], s[BME]
        runs = vcpu_runs[phase]
        # ---- guest driver
        if drv == down:
            if not s[OPTED]:
                n = list(s)
                n[OPTED] = True
                out.append(("opt_in_marking", tuple(n)))
            n = list(s)
            n[DRV_] = up
            n[BME] = True
            out.append(("probe", tuple(n)))
        if drv == up and runs:
            i = s[NTU]
            if s[SLOT + i] == free:  # a fresh buffer takes any page; a recycled one keeps its own
                for p in (page_range if s[BUF + i] == NONE else (s[BUF + i],)):
                    if not bme:
                        violations.append(("recovery", s, L["refill"][i]))
                    n = list(s)
                    n[NTU] = (i + 1) % slots
                    n[BUF + i] = p
                    n[MAPPED + p] = True
                    n[RING_DIRTY] = True
                    n[RING_SYNCED] = False
                    n[SLOT + i] = ready
                    out.append((L["refill"][i], tuple(n)))
            i = s[NTC]
            p = s[BUF + i]
            if s[SLOT + i] == done and p != NONE:
                if s[TOUCH_ + i] == t_none and all(s[SLOT + j] == free for j in others[i] if s[BUF + j] == p):
                    if not bme:
                        violations.append(("recovery", s, L["clean_unmap"][i]))
                    n = list(s)
                    n[NTC] = (i + 1) % slots
                    n[SLOT + i] = free
                    n[BUF + i] = NONE
                    n[MAPPED + p] = False
                    n[DIRTY + p] = True
                    out.append((L["clean_unmap"][i], tuple(n)))
                if s[TOUCH_ + i] == t_none:
                    if not bme:
                        violations.append(("recovery", s, L["clean_recycle"][i]))
                    n = list(s)
                    n[NTC] = (i + 1) % slots
                    n[SLOT + i] = free
                    n[DIRTY + p] = True
                    out.append((L["clean_recycle"][i], tuple(n)))
        if (s[OPTED] and drv == up and phase == notified
                and all(s[TOUCH_ + i] == t_none for i in slot_range)):
            n = list(s)
            n[DRV_] = handling
            n[HSTEP] = 0
            out.append(("handle_event", tuple(n)))
        if drv == handling and phase == notified:
            if hstep == CLEAR_BME:
                n = list(s)
                n[BME] = False
                n[HSTEP] = hstep + 1
                out.append(("clear_bme", tuple(n)))
            elif hstep == DRAIN:
                if quiet(s):
                    n = list(s)
                    n[HSTEP] = hstep + 1
                    out.append(("drain", tuple(n)))
            elif hstep == MARK:
                n = list(s)
                for p in page_range:
                    n[DIRTY + p] = n[DIRTY + p] or n[MAPPED + p]
                n[RING_DIRTY] = True
                n[HSTEP] = hstep + 1
                out.append(("mark", tuple(n)))
            elif hstep == ACK:
                n = list(s)
                n[DRV_] = acked
                n[HSTEP] = hstep + 1
                out.append(("acknowledge", tuple(n)))
        if phase == aborted and (drv == handling or drv == acked):
            n = list(s)
            n[DRV_] = recovering
            out.append(("error_detected", tuple(n)))
        if drv == recovering and all(s[SLOT + i] != data_inflight and s[SLOT + i] != wb_inflight
                                     for i in slot_range):
            n = list(s)
            for i in slot_range:
                n[SLOT + i] = free
            n[NTU] = n[NTC] = n[HEAD] = 0
            n[BME] = True
            n[DRV_] = up
            n[HSTEP] = 0
            out.append(("slot_reset", tuple(n)))
        # ---- VF device (quiescence: no DMA issued with BME clear, none lands once stopped)
        if phase != switched:
            halted = phase == stopped or phase == copied
            busy = in_flight(s) >= inflight
            for i in slot_range:
                st = s[SLOT + i]
                p = s[BUF + i]
                if p == NONE:
                    continue
                if st == ready:
                    if bme and s[HEAD] == i and s[MAPPED + p] and not busy:
                        if halted:
                            violations.append(("quiescence", s, L["rx_data"][i]))
                        n = list(s)
                        n[HEAD] = (i + 1) % slots
                        n[SLOT + i] = data_inflight
                        out.append((L["rx_data"][i], tuple(n)))
                elif st == data_inflight:
                    if halted:
                        violations.append(("quiescence", s, L["land_data"][i]))
                    if not s[MAPPED + p]:
                        violations.append(("recovery", s, L["land_data"][i]))
                    n = list(s)
                    n[SYNCED + p] = False
                    for j in others[i]:
                        if n[BUF + j] == p and n[TOUCH_ + j] == t_read:
                            n[TOUCH_ + j] = t_raced
                    n[SLOT + i] = data_landed
                    out.append((L["land_data"][i], tuple(n)))
                elif st == data_landed:
                    if bme and not busy:
                        if halted:
                            violations.append(("quiescence", s, L["rx_writeback"][i]))
                        n = list(s)
                        n[SLOT + i] = wb_inflight
                        out.append((L["rx_writeback"][i], tuple(n)))
                elif st == wb_inflight:
                    if halted:
                        violations.append(("quiescence", s, L["land_writeback"][i]))
                    n = list(s)
                    n[RING_SYNCED] = False
                    n[SLOT + i] = done
                    out.append((L["land_writeback"][i], tuple(n)))
        # ---- environment
        if runs:
            n = list(s)
            n[CPU_DIRTY] = True
            n[CPU_SYNCED] = False
            out.append(("cpu_write", tuple(n)))
        # ---- hypervisor
        if phase == idle and drv != down:
            n = list(s)
            if s[OPTED]:
                n[PHASE] = precopy
                copy_logged(n, True)
                out.append(("start_migration", tuple(n)))
            else:
                n[PHASE] = blocked
                out.append(("block_migration", tuple(n)))
        if (phase == precopy or phase == notified) and s[ROUND] < rounds:
            n = list(s)
            n[ROUND] = s[ROUND] + 1
            copy_logged(n, False)
            out.append(("precopy_round", tuple(n)))
        if phase == precopy and s[OPTED]:
            n = list(s)
            n[PHASE] = notified
            out.append(("notify_guest", tuple(n)))
        if (phase == notified and drv == acked) or (phase == precopy and not s[OPTED]):
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
            out.append(("switchover", tuple(n)))
        if precopy <= phase <= copied:
            n = list(s)
            n[PHASE] = aborted
            out.append(("abort", tuple(n)))
        if phase == switched and not s[DEST]:
            n = list(s)
            n[DEST] = True
            out.append(("start_dest_device", tuple(n)))
        return out

    synced = [f"synced{p}" for p in page_range]
    slot_names = [f"slot{i}" for i in slot_range]
    pairs = [(f"slot{i}", f"slot{j}", f"buf{i}", f"buf{j}") for i in slot_range for j in slot_range if i != j]

    def d_quiet(d):
        return not d["bme"] and all(d[n] != data_inflight and d[n] != wb_inflight for n in slot_names)

    invariants = {
        "completeness": lambda d: d["phase"] != switched or (
            all(d[n] for n in synced) and d["ring_synced"] and d["cpu_synced"]),
        "rings_last": lambda d: d["phase"] != switched or d["ring_copied_quiet"],
        "opt_in": lambda d: d["phase"] in (idle, blocked) or d["opted_in"],
        "marking_preserves_data": lambda d: not d["lost"],
        "dest_order": lambda d: not d["dest_device"] or d["phase"] == switched,
        # witnesses, as invariants that must be refuted
        "switchover_happens": lambda d: not (d["phase"] == switched and d["dest_device"]),
        "dma_in_flight_after_event": lambda d: not (d["phase"] == notified and not d_quiet(d)
                                                    and d["drv"] == handling),
        "abort_after_event": lambda d: not (d["phase"] == aborted and d["drv"] in (handling, acked)),
        "touch_beside_dma": lambda d: not any(d[a] == done and d[b] == data_inflight and d[pa] == d[pb]
                                              for a, b, pa, pb in pairs),
        "migration_starts": lambda d: d["phase"] in (idle, blocked),
    }
    initial = (idle, 0, down, 0, False, False) + (free,) * slots + (0, 0, 0) + (NONE,) * slots \
        + (False,) * (3 * pages) \
        + (False,) * 5 + (t_none,) * slots + (False, False)
    protocol = Protocol(name=f"guest-assisted slots={slots} pages={pages}", candidate=False,
                        fields=fields, initial=initial, transitions=transitions, invariants=invariants)
    return protocol, violations


def guest_assisted_class(slots: int = 2, pages: int = 1, rounds: int = 1,
                         inflight: int = 1) -> tuple[Protocol, list]:
    """disable-first as a minicheck ``Model`` class: one ``@transition`` per action instance,
    enumerations as strings. Returns the protocol and the list of action-property violations."""
    fields = guest_assisted_fields(slots, pages)
    ns: dict = {"__annotations__": {}}
    initial = dict.fromkeys(fields, False)
    initial.update(phase="idle", round=0, drv="down", hstep=0, next_to_use=0, next_to_clean=0,
                   rx_head=0)
    none = pages  # buf{i}: no buffer since the last unmap (as migcheck packs a Ref)
    for i in range(slots):
        initial[f"slot{i}"] = "free"
        initial[f"touch{i}"] = "none"
        initial[f"buf{i}"] = none
    for f in fields:
        ns["__annotations__"][f] = type(initial[f])
        ns[f] = initial[f]
    violations: list = []
    slot_range, page_range = range(slots), range(pages)
    others = [[j for j in slot_range if j != i] for i in slot_range]
    slot_names = [f"slot{i}" for i in slot_range]
    touch_names = [f"touch{i}" for i in slot_range]
    inflight_states = ("data_inflight", "wb_inflight")
    vcpu_runs = ("idle", "precopy", "notified", "aborted", "blocked")

    def add(name, when, body=None):
        def wrap(fn):
            ns[name.replace("(", "_").replace(")", "")] = transition(when=when, label=name)(fn)
            return fn
        return wrap if body is None else wrap(body)

    def quiet(s):
        return not s.bme and all(getattr(s, n) not in inflight_states for n in slot_names)

    def in_flight(s):
        return sum(1 for n in slot_names if getattr(s, n) in inflight_states)

    def copy_logged(s, everything=False):
        for p in page_range:
            setattr(s, f"synced{p}", True if everything else getattr(s, f"synced{p}")
                    or getattr(s, f"dirty{p}"))
            setattr(s, f"dirty{p}", False)
        if s.ring_dirty or everything:
            s.ring_copied_quiet = quiet(s)
        s.ring_synced = True if everything else s.ring_synced or s.ring_dirty
        s.ring_dirty = False
        s.cpu_synced = True if everything else s.cpu_synced or s.cpu_dirty
        s.cpu_dirty = False

    def handler_at(step):
        return lambda s: s.drv == "handling" and s.phase == "notified" and s.hstep == step

    def check(prop, ok, s, label):
        if not ok:
            violations.append((prop, repr(s), label))

    # ---- guest driver
    @add("opt_in_marking", lambda s: s.drv == "down" and not s.opted_in)
    def opt_in_marking(s):
        s.opted_in = True

    @add("probe", lambda s: s.drv == "down")
    def probe(s):
        s.drv = "up"
        s.bme = True

    for i in slot_range:
        for p in page_range:
            slot, touch, buf = f"slot{i}", f"touch{i}", f"buf{i}"
            mapped, dirty, after = f"mapped{p}", f"dirty{p}", (i + 1) % slots
            sharers = [(f"buf{j}", f"slot{j}") for j in others[i]]

            def refill(s, i=i, p=p, slot=slot, buf=buf, mapped=mapped, after=after):
                check("recovery", s.bme, s, f"refill({i}, {p})")
                s.next_to_use = after
                setattr(s, buf, p)
                setattr(s, mapped, True)
                s.ring_dirty = True
                s.ring_synced = False
                setattr(s, slot, "ready")

            add(f"refill({i}, {p})", lambda s, i=i, p=p, slot=slot, buf=buf: s.drv == "up"
                and s.phase in vcpu_runs and s.next_to_use == i and getattr(s, slot) == "free"
                and getattr(s, buf) in (none, p), refill)

            def clean_unmap(s, i=i, p=p, slot=slot, buf=buf, mapped=mapped, dirty=dirty, after=after):
                check("recovery", s.bme, s, f"clean_unmap({i}, {p})")
                s.next_to_clean = after
                setattr(s, slot, "free")
                setattr(s, buf, none)
                setattr(s, mapped, False)
                setattr(s, dirty, True)

            add(f"clean_unmap({i}, {p})", lambda s, i=i, p=p, slot=slot, buf=buf, touch=touch,
                sharers=sharers: s.drv == "up" and s.phase in vcpu_runs and s.next_to_clean == i
                and getattr(s, slot) == "done" and getattr(s, buf) == p and getattr(s, touch) == "none"
                and all(getattr(s, j) == "free" for b, j in sharers if getattr(s, b) == p), clean_unmap)

            def clean_recycle(s, i=i, p=p, slot=slot, dirty=dirty, after=after):
                check("recovery", s.bme, s, f"clean_recycle({i}, {p})")
                s.next_to_clean = after
                setattr(s, slot, "free")
                setattr(s, dirty, True)

            add(f"clean_recycle({i}, {p})", lambda s, i=i, p=p, slot=slot, buf=buf, touch=touch:
                s.drv == "up" and s.phase in vcpu_runs and s.next_to_clean == i
                and getattr(s, slot) == "done" and getattr(s, buf) == p and getattr(s, touch) == "none",
                clean_recycle)

    @add("handle_event", lambda s: s.opted_in and s.drv == "up" and s.phase == "notified"
         and all(getattr(s, t) == "none" for t in touch_names))
    def handle_event(s):
        s.drv = "handling"
        s.hstep = 0

    @add("clear_bme", handler_at(CLEAR_BME))
    def clear_bme(s):
        s.bme = False
        s.hstep = s.hstep + 1

    @add("drain", lambda s: handler_at(DRAIN)(s) and quiet(s))
    def drain(s):
        s.hstep = s.hstep + 1

    @add("mark", handler_at(MARK))
    def mark(s):
        for p in page_range:
            setattr(s, f"dirty{p}", getattr(s, f"dirty{p}") or getattr(s, f"mapped{p}"))
        s.ring_dirty = True
        s.hstep = s.hstep + 1

    @add("acknowledge", handler_at(ACK))
    def acknowledge(s):
        s.drv = "acked"
        s.hstep = s.hstep + 1

    @add("error_detected", lambda s: s.phase == "aborted" and s.drv in ("handling", "acked"))
    def error_detected(s):
        s.drv = "recovering"

    @add("slot_reset", lambda s: s.drv == "recovering"
         and all(getattr(s, n) not in inflight_states for n in slot_names))
    def slot_reset(s):
        for n in slot_names:
            setattr(s, n, "free")
        s.next_to_use = s.next_to_clean = s.rx_head = 0
        s.bme = True
        s.drv = "up"
        s.hstep = 0

    # ---- VF device (quiescence: no DMA issued with BME clear, none lands once stopped)
    for i in slot_range:
        for p in page_range:
            slot, buf, after = f"slot{i}", f"buf{i}", (i + 1) % slots
            mapped, synced = f"mapped{p}", f"synced{p}"
            share_touch = [(f"buf{j}", f"touch{j}") for j in others[i]]

            def rx_data(s, i=i, p=p, slot=slot, after=after):
                check("quiescence", s.bme and s.phase not in ("stopped", "copied"), s, f"rx_data({i}, {p})")
                s.rx_head = after
                setattr(s, slot, "data_inflight")

            add(f"rx_data({i}, {p})", lambda s, i=i, p=p, slot=slot, buf=buf, mapped=mapped: s.bme
                and s.phase != "switched" and s.rx_head == i and getattr(s, slot) == "ready"
                and getattr(s, buf) == p and getattr(s, mapped) and in_flight(s) < inflight, rx_data)

            def land_data(s, i=i, p=p, slot=slot, mapped=mapped, synced=synced, share_touch=share_touch):
                check("quiescence", s.phase not in ("stopped", "copied"), s, f"land_data({i}, {p})")
                check("recovery", getattr(s, mapped), s, f"land_data({i}, {p})")
                setattr(s, synced, False)
                for b, t in share_touch:
                    if getattr(s, b) == p and getattr(s, t) == "read":
                        setattr(s, t, "raced")
                setattr(s, slot, "data_landed")

            add(f"land_data({i}, {p})", lambda s, p=p, slot=slot, buf=buf: s.phase != "switched"
                and getattr(s, slot) == "data_inflight" and getattr(s, buf) == p, land_data)

        slot = f"slot{i}"

        def rx_writeback(s, i=i, slot=slot):
            check("quiescence", s.bme and s.phase not in ("stopped", "copied"), s, f"rx_writeback({i})")
            setattr(s, slot, "wb_inflight")

        add(f"rx_writeback({i})", lambda s, slot=slot: s.bme and s.phase != "switched"
            and getattr(s, slot) == "data_landed" and in_flight(s) < inflight, rx_writeback)

        def land_writeback(s, i=i, slot=slot):
            check("quiescence", s.phase not in ("stopped", "copied"), s, f"land_writeback({i})")
            s.ring_synced = False
            setattr(s, slot, "done")

        add(f"land_writeback({i})", lambda s, slot=slot: s.phase != "switched"
            and getattr(s, slot) == "wb_inflight", land_writeback)

    # ---- environment
    @add("cpu_write", lambda s: s.phase in vcpu_runs)
    def cpu_write(s):
        s.cpu_dirty = True
        s.cpu_synced = False

    # ---- hypervisor
    @add("start_migration", lambda s: s.phase == "idle" and s.drv != "down" and s.opted_in)
    def start_migration(s):
        s.phase = "precopy"
        copy_logged(s, everything=True)

    @add("block_migration", lambda s: s.phase == "idle" and s.drv != "down" and not s.opted_in)
    def block_migration(s):
        s.phase = "blocked"

    @add("precopy_round", lambda s: s.phase in ("precopy", "notified") and s.round < rounds)
    def precopy_round(s):
        s.round = s.round + 1
        copy_logged(s)

    @add("notify_guest", lambda s: s.opted_in and s.phase == "precopy")
    def notify_guest(s):
        s.phase = "notified"

    @add("stop_vcpu", lambda s: (s.phase == "notified" and s.drv == "acked")
         or (s.phase == "precopy" and not s.opted_in))
    def stop_vcpu(s):
        s.phase = "stopped"

    @add("timeout", lambda s: s.phase == "notified" and s.drv != "acked")
    def timeout(s):
        s.phase = "aborted"

    @add("stop_and_copy", lambda s: s.phase == "stopped")
    def stop_and_copy(s):
        s.phase = "copied"
        copy_logged(s)

    @add("switchover", lambda s: s.phase == "copied")
    def switchover(s):
        s.phase = "switched"

    @add("abort", lambda s: s.phase in ("precopy", "notified", "stopped", "copied"))
    def abort(s):
        s.phase = "aborted"

    @add("start_dest_device", lambda s: s.phase == "switched" and not s.dest_device)
    def start_dest_device(s):
        s.dest_device = True

    # ---- safety properties, and the witnesses as invariants that must be refuted
    synced_names = [f"synced{p}" for p in page_range]
    pairs = [(f"slot{i}", f"slot{j}", f"buf{i}", f"buf{j}") for i in slot_range for j in slot_range
             if i != j]
    props = {
        "completeness": lambda s: s.phase != "switched" or (
            all(getattr(s, n) for n in synced_names) and s.ring_synced and s.cpu_synced),
        "rings_last": lambda s: s.phase != "switched" or s.ring_copied_quiet,
        "opt_in": lambda s: s.phase in ("idle", "blocked") or s.opted_in,
        "marking_preserves_data": lambda s: not s.lost,
        "dest_order": lambda s: not s.dest_device or s.phase == "switched",
        "switchover_happens": lambda s: not (s.phase == "switched" and s.dest_device),
        "dma_in_flight_after_event": lambda s: not (s.phase == "notified" and not quiet(s)
                                                    and s.drv == "handling"),
        "abort_after_event": lambda s: not (s.phase == "aborted" and s.drv in ("handling", "acked")),
        "touch_beside_dma": lambda s: not any(getattr(s, a) == "done" and getattr(s, b) == "data_inflight"
                                              and getattr(s, pa) == getattr(s, pb) for a, b, pa, pb in pairs),
        "migration_starts": lambda s: s.phase in ("idle", "blocked"),
    }
    for name, fn in props.items():
        ns[f"inv_{name}"] = invariant(name=name)(fn)
    cls = type(Model)(f"GuestAssisted{slots}x{pages}", (Model,), ns)
    return cls.protocol(name=f"guest-assisted slots={slots} pages={pages}"), violations
