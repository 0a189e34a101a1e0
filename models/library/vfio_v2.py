"""The VFIO migration protocol v2: how Linux and QEMU migrate a passed-through device today.

QEMU drives each device's migration state machine through VFIO (``SET_STATE`` ioctls; the
VFIO core breaks each into the primitive arcs of the kernel's table, `vfio_fsm`), and the
device's DMA is tracked by the IOMMU's dirty bits (iommufd) or by the device's own DMA log,
not by the guest. Each variant is a VMM or driver order a 2026 author might write, with the
source it comes from.

Abstractions (each exact for what the properties ask):
- A page's content is not stored: ``synced[p]`` says whether the destination's copy equals
  the source's. A landing DMA write or a CPU write clears it; a copy sets it.
- One tracker bit per page (``dirty``): the IOMMU PTE's D bit, or the union of the devices'
  DMA logs (QEMU reads them all in one sync). ``iotlb[p]``: the IOTLB caches the page's
  translation with D already set, so a write through it does not set D again.
- ``ram_dirty[p]``: QEMU's migration bitmap: KVM's log of CPU writes, and tracker bits
  harvested (at unmap) but not yet copied.
- A device has at most one posted write to RAM and one peer-to-peer write in flight. The
  IOMMU translates a write as it lands (setting D then), so the page is chosen when it
  lands; a write to an unmapped page faults and changes nothing. An interrupt (MSI) is a
  posted write too and obeys the same rules as a DMA write, so it is not modelled apart.
- A device's internal state is not stored: ``dev_synced[d]`` says whether the destination
  will hold the device's current state. Work the device does (each DMA it issues) and a
  peer's P2P write landing in it change that state. The STOP_COPY arc snapshots it; the
  snapshot is consistent only if QEMU's data stream is the device's current one (an
  asynchronous reset ends the transfer: ``stream_ok``).
- QEMU issues one SET_STATE ioctl at a time (``ioctl``), each toward its phase's target.
  While an arc into STOP or STOP_COPY is pending the device issues nothing new, and the arc
  completes only once nothing it issued is in flight; an arc into a *_P2P state waits for
  its P2P write the same way (the uAPI's rule: outstanding operations complete before the
  arc returns).
- An arc fails (to ERROR) or a device is reset only while the vCPUs run (setup, pre-copy):
  later, QEMU resets a failed device, which clears bus mastering, so it issues nothing until
  the guest driver runs again.
- QEMU's bitmap starts full, so the first pass copies every page. A second attempt after a
  failure resumes from the bitmap (tracking stays on), so the failure path must mark dirty
  again everything the failed attempt harvested.
- The destination is QEMU's: devices to RESUMING, load RAM, load each device's state, run
  each device; then the vCPUs resume there (switchover).
"""

from __future__ import annotations

from typing import Any

from migcheck.models import (
    Array,
    Bool,
    Enum,
    Index,
    Int,
    Model,
    Param,
    Ref,
    action,
    all_,
    any_,
    final,
    implies,
    ite,
    require,
    variant,
)
from migcheck.properties import action_property, eventually, invariant, leads_to, reachable
from migcheck.properties.migration import Migration

from . import vfio_fsm as fsm

PHASES = ("idle", "setup", "precopy", "p2p", "stopping", "saved", "switched",
          "failing_p2p", "failing", "failed", "blocked")
MIGRATING = ("setup", "precopy", "p2p", "stopping")  # QEMU still drives the source devices
DEST = ("idle", "resuming", "loaded", "running")


def _any_state(term: Any, states: tuple[str, ...]) -> Any:
    return term.isin(*states) if states else False


class VfioV2(Model):
    """VFIO migration v2 (QEMU's order): PRE_COPY, every device to a P2P state, every device
    to STOP_COPY, the final dirty sync, then the STOP_COPY data; IOMMU dirty tracking.

    Sources: Linux include/uapi/linux/vfio.h (VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, the
    STOP and *_P2P rules, DMA_LOGGING_REPORT); drivers/vfio/vfio_main.c
    vfio_mig_get_next_state; drivers/iommu/iommufd/io_pagetable.c
    iommu_read_and_clear_dirty, iopt_set_dirty_tracking; QEMU hw/vfio/migration.c (94f775e4,
    5c7a4b60: P2P before stop; the final sync after every device is in STOP_COPY).
    """

    name = "vfio-v2"
    variant_name = "qemu-order"
    source = ("QEMU hw/vfio/migration.c (commits 94f775e4, 5c7a4b60); Linux "
              "drivers/vfio/vfio_main.c vfio_mig_get_next_state; include/uapi/linux/vfio.h")

    devs = Index("dev", default=2, allowed=range(1, 5), symmetric=True,
                 doc="passed-through devices with VFIO migration")
    pages = Index("page", default=2, allowed=range(1, 33), symmetric=True, doc="guest RAM pages")
    rounds = Param(default=1, allowed=range(4), doc="pre-copy dirty-sync rounds after the first copy")

    # Liveness: QEMU (source and destination), the VFIO core and the devices' landings are
    # weakly fair; traffic, CPU writes, unmaps, failing arcs, resets, cancels and retries
    # are the environment's choices.
    fairness = {"hypervisor": "weak", "vfio": "weak", "destination": "weak", "device": "weak",
                "dma_issue": "none", "p2p_issue": "none"}

    # What the variants change.
    tracker = "iommu"  # "iommu" (iommufd D bits), "device" (DMA logging), "type1" (all pinned dirty)
    iotlb_flush = True  # read-and-clear flushes the IOTLB
    harvest_before_unmap = True  # QEMU queries the dirty bitmap before a DMA unmap
    sync_after_stop = True  # the final dirty sync waits until every device is in STOP_COPY
    p2p_supported = True  # devices support VFIO_MIGRATION_P2P
    precopy_supported = True  # devices support VFIO_MIGRATION_PRE_COPY
    blocks_without_p2p = True  # QEMU blocks migration with several devices lacking P2P
    read_stop_copy = True  # QEMU reads the STOP_COPY data; else PRE_COPY data is taken as final
    driver_table: tuple[tuple[str, str, str], ...] = ()  # (cur, goal, next) a driver's own table adds
    postcopy = False  # post-copy migration is enabled
    blocks_postcopy = True  # QEMU blocks VFIO migration with post-copy
    detects_reset = True  # QEMU fails the migration when a device's data stream was ended
    redirty_on_abort = True  # the failure path marks harvested pages dirty again
    track_before_copy = True  # dirty tracking is on before the first full copy

    # QEMU, source
    phase = Enum(*PHASES, init="idle")
    attempt = Int(0, 1, init=0, doc="a second attempt after a failure")
    round = Int(0, "rounds", init=0, doc="pre-copy rounds done in this attempt")
    tracking = Bool(init=False, doc="dirty tracking on (IOMMU D bits or device DMA logs)")
    final_synced = Bool(init=False, doc="the final dirty sync is done")
    ioctl = Ref(devs, init=None, doc="the device whose SET_STATE ioctl is in progress")
    # Devices
    vstate = Array(devs, Enum(*fsm.STATES), init="RUNNING", doc="VFIO migration state")
    dma = Array(devs, Bool, init=False, doc="a posted DMA write to RAM in flight")
    p2p = Array(devs, Bool, init=False, doc="a posted peer-to-peer write in flight")
    dev_synced = Array(devs, Bool, init=False, doc="the destination will hold the device's "
                       "current internal state")
    stream_ok = Array(devs, Bool, init=True, doc="QEMU's data stream is the device's current one "
                      "(a reset ends it)")
    # Guest RAM, the trackers and the destination's copy
    mapped = Array(pages, Bool, init=True, doc="mapped in the IOMMU for the devices")
    synced = Array(pages, Bool, init=False, doc="the destination's copy equals the source's")
    ram_dirty = Array(pages, Bool, init=False, doc="QEMU's bitmap: CPU writes, parked tracker bits")
    dirty = Array(pages, Bool, init=False, doc="the tracker's bit: IOMMU D bit or device log bit")
    iotlb = Array(pages, Bool, init=False, doc="the IOTLB caches the translation with D set")
    skipped = Bool(init=False, doc="ghost: the final sync left a mapped page uncopied")
    # QEMU, destination
    dest = Array(devs, Enum(*DEST), init="idle", doc="the destination device")
    ram_loaded = Bool(init=False, doc="guest RAM is loaded at the destination")

    # ------------------------------------------------------------ derived conditions

    def features(s) -> frozenset[str]:
        return frozenset(f for f, on in (("p2p", s.p2p_supported), ("pre_copy", s.precopy_supported))
                         if on)

    def target(s, phase: str) -> str | None:
        """The state QEMU asks every device for in ``phase``."""
        pre, p2p = s.precopy_supported, s.p2p_supported
        return {"setup": "PRE_COPY" if pre else None,
                "p2p": ("PRE_COPY_P2P" if pre else "RUNNING_P2P") if p2p else None,
                "stopping": "STOP_COPY",
                "failing_p2p": "RUNNING_P2P" if p2p else None,
                "failing": "RUNNING"}.get(phase)

    def next_arc(s, cur: str, goal: str) -> str | None:
        """The next state toward ``goal``: a driver's own table first, else the kernel's."""
        for c, g, n in s.driver_table:
            if (c, g) == (cur, goal):
                return n
        return fsm.next_state(cur, goal, VfioV2.features(s))

    def arc_pending_into(s, d, states: tuple[str, ...]) -> Any:
        """An ioctl on device d is in progress and its next arc enters one of ``states``."""
        pending = []
        for phase in PHASES:
            goal = VfioV2.target(s, phase)
            if goal is None:
                continue
            for cur in fsm.STATES:
                if VfioV2.next_arc(s, cur, goal) in states and cur != goal:
                    pending.append((s.phase == phase) & (s.vstate[d] == cur))
        return (s.ioctl == d) & any_(pending)

    def at_target(s, phase: str) -> Any:
        """Every device is in the phase's target state and no ioctl is in progress."""
        goal = VfioV2.target(s, phase)
        if goal is None:
            return s.ioctl.is_none()
        return s.ioctl.is_none() & all_(s.vstate[d] == goal for d in s.devs)

    def new_destination(s) -> None:
        """A failed attempt: the destination is gone; the next one starts empty."""
        for p in s.pages:
            s.synced[p] = False
            if s.redirty_on_abort:
                s.ram_dirty[p] = True  # everything harvested must be copied again
        for d in s.devs:
            s.dev_synced[d] = False
            s.dest[d] = "idle"
        s.ram_loaded = False
        s.final_synced = False
        s.round = 0

    def fail(s) -> None:
        s.phase = "failing_p2p" if s.p2p_supported else "failing"
        VfioV2.new_destination(s)

    def harvest(s, final_sync: bool) -> None:
        """A dirty sync: copy every page whose QEMU bit or tracker bit is set, clear them;
        read-and-clear of the IOMMU D bits flushes the IOTLB unless told not to."""
        skipped = []
        for p in s.pages:
            reported = s.ram_dirty[p] | (s.mapped[p] if s.tracker == "type1" else s.dirty[p])
            s.synced[p] = s.synced[p] | reported
            s.ram_dirty[p] = False
            s.dirty[p] = False
            if s.tracker == "iommu" and s.iotlb_flush:
                s.iotlb[p] = False
            skipped.append(s.mapped[p] & ~reported)
        if final_sync:
            s.skipped = any_(skipped)
            s.final_synced = True

    # ------------------------------------------------------------ QEMU, source

    @action(owner="hypervisor")
    def start(s):
        """migrate: refused when VFIO migration is blocked (no dirty tracker, several devices
        without P2P, post-copy), else setup begins."""
        blocked = ((s.postcopy and s.blocks_postcopy)
                   or (not s.p2p_supported and len(s.devs) > 1 and s.blocks_without_p2p))
        require(s.phase == "idle")
        s.phase = "blocked" if blocked else "setup"
        if not blocked:
            for p in s.pages:
                s.ram_dirty[p] = True  # QEMU's bitmap starts full: the first copy is of every page

    @action(owner="hypervisor")
    def enable_tracking(s):
        """Dirty tracking on: clear the D bits (and the IOTLB), then track (DMA_LOGGING_START
        for a device log)."""
        require(~s.tracking & ((s.phase == "setup") if s.track_before_copy
                               else (s.phase == "precopy")))
        s.tracking = True
        for p in s.pages:
            s.dirty[p] = False
            s.iotlb[p] = False

    @action(owner="hypervisor")
    def set_state(s, d: devs):
        """QEMU's SET_STATE ioctl on device d toward its phase's target (one at a time)."""
        wanted = [(s.phase == ph) & (s.vstate[d] != goal) for ph in PHASES
                  if (goal := VfioV2.target(s, ph)) is not None]
        require(s.ioctl.is_none() & (s.vstate[d] != "ERROR") & any_(wanted))
        s.ioctl = d

    @action(owner="hypervisor")
    def first_copy(s):
        """The attempt's first pass over guest RAM: copy every page the bitmap marks (all of
        them in a first attempt; a retry resumes from what the failure path left)."""
        ready = s.tracking if s.track_before_copy else True
        require((s.phase == "setup") & ready & VfioV2.at_target(s, "setup"))
        s.phase = "precopy"
        VfioV2.harvest(s, final_sync=False)

    @action(owner="hypervisor")
    def precopy_round(s):
        """A pre-copy dirty sync; with PRE_COPY data taken as final, also read each device's."""
        require((s.phase == "precopy") & s.tracking & (s.round < s.rounds))
        s.round = s.round + 1
        VfioV2.harvest(s, final_sync=False)
        if not s.read_stop_copy:
            for d in s.devs:
                s.dev_synced[d] = s.dev_synced[d] | (s.vstate[d] == "PRE_COPY")

    @action(owner="hypervisor")
    def pause(s):
        """Pause the vCPUs; then every device to a P2P state (or straight to STOP_COPY)."""
        require((s.phase == "precopy") & s.tracking)
        s.phase = "p2p" if s.p2p_supported else "stopping"

    @action(owner="hypervisor")
    def stop_devices(s):
        """Every device is in its P2P state: now every device to STOP_COPY."""
        require((s.phase == "p2p") & VfioV2.at_target(s, "p2p"))
        s.phase = "stopping"

    @action(owner="hypervisor")
    def final_sync(s):
        """The final dirty sync (after every device is in STOP_COPY, in QEMU's order)."""
        when = ((s.phase == "stopping") & VfioV2.at_target(s, "stopping")) if s.sync_after_stop \
            else s.phase.isin("p2p", "stopping")
        require(when & ~s.final_synced)
        VfioV2.harvest(s, final_sync=True)

    @action(owner="hypervisor")
    def save_devices(s):
        """Read each device's STOP_COPY data to the end; the source is done."""
        require((s.phase == "stopping") & VfioV2.at_target(s, "stopping") & s.final_synced
                & (all_(s.stream_ok[d] for d in s.devs) if s.detects_reset else True))
        s.phase = "saved"

    @action(owner="hypervisor")
    def detect_reset(s, d: devs):
        """QEMU finds device d's data stream ended ("data_fd out of sync"): the migration fails."""
        require(s.detects_reset & s.phase.isin(*MIGRATING) & s.ioctl.is_none()
                & ~s.stream_ok[d])
        VfioV2.fail(s)

    @action(owner="hypervisor")
    def recover(s, d: devs):
        """Failure path: a device in ERROR is reset (VFIO_DEVICE_RESET), back to RUNNING."""
        require(s.phase.isin("failing_p2p", "failing") & s.ioctl.is_none() & (s.vstate[d] == "ERROR"))
        s.vstate[d] = "RUNNING"
        s.stream_ok[d] = True

    @action(owner="hypervisor")
    def resume_devices(s):
        """Failure path: every device is in RUNNING_P2P; now every device to RUNNING."""
        require((s.phase == "failing_p2p") & VfioV2.at_target(s, "failing_p2p"))
        s.phase = "failing"

    @action(owner="hypervisor")
    def failed(s):
        """Failure path done: every device runs again on the source."""
        require((s.phase == "failing") & VfioV2.at_target(s, "failing"))
        s.phase = "failed"
        for d in s.devs:
            s.stream_ok[d] = True

    @action(owner="environment")
    def retry(s):
        """A second attempt, resuming from the dirty bitmap (tracking is still on)."""
        require((s.phase == "failed") & (s.attempt == 0))
        s.attempt = 1
        s.phase = "setup"

    @action(owner="environment")
    def cancel(s):
        """The first attempt is cancelled (or its channel fails) while the vCPUs run, or once
        the devices are stopping."""
        require(s.phase.isin("precopy", "stopping") & s.ioctl.is_none() & (s.attempt == 0))
        VfioV2.fail(s)

    # ------------------------------------------------------------ VFIO core

    @action(owner="vfio")
    def arc(s, d: devs):
        """One primitive arc of the ioctl in progress on device d (vfio_mig_get_next_state)."""
        steps = []  # (condition, next state)
        for phase in PHASES:
            goal = VfioV2.target(s, phase)
            if goal is None:
                continue
            for cur in fsm.STATES:
                nxt = VfioV2.next_arc(s, cur, goal)
                if cur != goal and nxt is not None:
                    steps.append(((s.phase == phase) & (s.vstate[d] == cur), nxt, goal))
        require((s.ioctl == d) & any_(c for c, _, _ in steps))
        nxt_state = s.vstate[d]
        done = False
        for cond, nxt, goal in steps:
            nxt_state = ite(cond, nxt, nxt_state)
            done = ite(cond, nxt == goal, done)
        into_stop = any_(c for c, n, _ in steps if n in fsm.STOPPED)
        into_p2p = any_(c for c, n, _ in steps if n in ("RUNNING_P2P", "PRE_COPY_P2P"))
        require(implies(into_stop, ~s.dma[d] & ~s.p2p[d]) & implies(into_p2p, ~s.p2p[d]))
        s.vstate[d] = nxt_state
        s.ioctl = ite(done, None, s.ioctl)
        into_stop_copy = any_(c for c, n, _ in steps if n == "STOP_COPY")
        if s.read_stop_copy:  # the STOP_COPY arc snapshots the state QEMU then reads in full
            s.dev_synced[d] = ite(into_stop_copy, s.stream_ok[d], s.dev_synced[d])

    @action(owner="environment")
    def arc_fails(s, d: devs):
        """The driver fails an arc: the device is in ERROR and the ioctl returns an error."""
        require((s.ioctl == d) & s.phase.isin("setup", "precopy") & (s.attempt == 0))
        s.vstate[d] = "ERROR"
        s.ioctl = None
        VfioV2.fail(s)

    @action(owner="environment")
    def reset(s, d: devs):
        """An asynchronous device reset in PRE_COPY: back to RUNNING, the data transfer ends."""
        require(s.ioctl.is_none() & (s.phase == "precopy") & (s.vstate[d] == "PRE_COPY"))
        s.vstate[d] = "RUNNING"
        s.stream_ok[d] = False
        s.dev_synced[d] = False

    # ------------------------------------------------------------ devices

    @action(owner="device")
    def dma_issue(s, d: devs):
        """Device d issues a posted DMA write to guest RAM (its internal state moves on)."""
        require((s.phase != "idle") & _any_state(s.vstate[d], fsm.RUNS) & ~s.dma[d]
                & ~VfioV2.arc_pending_into(s, d, fsm.STOPPED))
        s.dma[d] = True
        s.dev_synced[d] = False

    @action(owner="device")
    def dma_land(s, d: devs, p: pages):
        """Device d's write lands in page p (an IOMMU fault if p is unmapped): the tracker
        sees it, unless the IOTLB already caches the page's D bit."""
        require(s.dma[d])
        s.dma[d] = False
        hit = s.mapped[p]
        s.synced[p] = s.synced[p] & ~hit
        if s.tracker == "device":
            s.dirty[p] = s.dirty[p] | (hit & s.tracking)
        elif s.tracker == "iommu":
            s.dirty[p] = s.dirty[p] | (hit & s.tracking & ~s.iotlb[p])
            s.iotlb[p] = s.iotlb[p] | (hit & s.tracking)

    @action(owner="device")
    def p2p_issue(s, d: devs):
        """Device d issues a posted peer-to-peer write to another device's BAR."""
        require((len(s.devs) > 1) & (s.phase != "idle") & _any_state(s.vstate[d], fsm.P2P_SENDS) & ~s.p2p[d]
                & ~VfioV2.arc_pending_into(s, d, fsm.STOPPED + ("RUNNING_P2P", "PRE_COPY_P2P")))
        s.p2p[d] = True

    @action(owner="device")
    def p2p_land(s, d: devs, e: devs):
        """Device d's P2P write lands in device e, changing e's internal state."""
        require((d != e) & s.p2p[d])
        s.p2p[d] = False
        s.dev_synced[e] = False

    # ------------------------------------------------------------ guest and host

    @action(owner="environment")
    def cpu_write(s, p: pages):
        """A vCPU writes page p; KVM's dirty log sees it."""
        require(s.phase.isin("setup", "precopy"))
        s.synced[p] = False
        s.ram_dirty[p] = True

    @action(owner="environment")
    def unmap(s, p: pages):
        """The guest (vIOMMU) or the host (memory unplug) unmaps page p: QEMU first reads its
        dirty bits (else they are lost); the unmap flushes the IOTLB."""
        require((s.phase == "precopy") & s.mapped[p])
        s.mapped[p] = False
        if s.tracker == "type1":
            s.ram_dirty[p] = True  # type1's unmap reports every pinned page dirty
        elif s.harvest_before_unmap:
            s.ram_dirty[p] = s.ram_dirty[p] | s.dirty[p]
        s.dirty[p] = False
        s.iotlb[p] = False

    @action(owner="environment")
    def remap(s, p: pages):
        """Page p is mapped for the devices again."""
        require((s.phase == "precopy") & ~s.mapped[p])
        s.mapped[p] = True

    # ------------------------------------------------------------ QEMU, destination

    @action(owner="destination")
    def dest_resuming(s):
        """Every destination device to RESUMING."""
        require((s.phase == "saved") & all_(s.dest[d] == "idle" for d in s.devs))
        for d in s.devs:
            s.dest[d] = "resuming"

    @action(owner="destination")
    def dest_load_ram(s):
        """Guest RAM is loaded at the destination."""
        require(s.phase.isin("saved", "switched") & ~s.ram_loaded)
        s.ram_loaded = True

    @action(owner="destination")
    def dest_load_device(s, d: devs):
        """Device d's state is written into its RESUMING data stream."""
        require((s.phase == "saved") & (s.dest[d] == "resuming"))
        s.dest[d] = "loaded"

    @action(owner="destination")
    def dest_run(s, d: devs):
        """Device d runs at the destination (RESUMING, STOP, RUNNING_P2P, RUNNING); after RAM
        is loaded, unless post-copy lets the VM run first."""
        ram = True if s.postcopy else s.ram_loaded
        require((s.phase == "saved") & (s.dest[d] == "loaded") & ram)
        s.dest[d] = "running"

    @action(owner="destination")
    def switchover(s):
        """The vCPUs resume at the destination."""
        require((s.phase == "saved") & all_(s.dest[d] == "running" for d in s.devs))
        s.phase = "switched"

    @final
    def ended(s):
        return s.phase.isin("switched", "failed", "blocked")

    # ------------------------------------------------------------ properties

    migration = Migration(
        switched=lambda s: s.phase == "switched",
        synced=lambda s: [s.synced[p] for p in s.pages] + [s.dev_synced[d] for d in s.devs],
        issues_dma=lambda act: act.name in ("dma_issue", "p2p_issue"),
        stopped=lambda s, act: s.vstate[act.params["d"]].isin(*fsm.STOPPED),
        lands=lambda act: act.name == "dma_land",
        relied_quiet=lambda s, act: s.final_synced,
        dest_runs=lambda s: [(s.dest[d] == "running", s.ram_loaded) for d in s.devs],
    )
    completeness = migration.completeness(
        witness="switchover-happens",
        doc="P1: at switchover every page and every device's state at the destination equal "
            "the source's.")
    no_dma_when_stopped = migration.quiescence(
        name="no-dma-when-stopped", witness="dma-when-stop-asked",
        doc="P2: no DMA or interrupt is issued by a device in STOP or STOP_COPY, and no DMA "
            "write lands after the final dirty sync.")
    dest_order = migration.dest_order(
        witness="switchover-happens",
        doc="P7: a destination device runs only after guest RAM and its own state are loaded.")
    switchover_happens = migration.switchover()

    @invariant(witness="p2p-when-pausing")
    def p2p_quiescence(s):
        """No device is in STOP or STOP_COPY while a peer can still send it P2P writes."""
        return all_(implies(s.vstate[d].isin(*fsm.STOPPED),
                            all_(~s.vstate[e].isin(*fsm.P2P_SENDS) & ~s.p2p[e]
                                 for e in s.devs if e != d))
                    for d in s.devs)

    @action_property(witness="device-in-stop")
    def arc_legality(before, act, after):
        """Every device state change is an arc of the kernel's table, ERROR by a failed arc,
        or RUNNING by a reset."""
        legal = fsm.arcs(VfioV2.features(before))
        out = []
        for d in before.devs:
            b, a = before.vstate[d], after.vstate[d]
            ok = any_((b == x) & (a == y) for x, y in sorted(legal))
            if act.name == "arc_fails":
                ok = ok | (a == "ERROR")
            if act.name in ("reset", "recover"):
                ok = ok | (a == "RUNNING")
            out.append(implies(b != a, ok))
        return all_(out)

    @invariant(witness="final-sync-skips-a-clean-page")
    def dirty_report_complete(s):
        """While tracking, every page changed since its last copy has its QEMU bit or its
        tracker bit set (a device write in flight has not changed it yet)."""
        reported = [s.ram_dirty[p] | (s.mapped[p] if s.tracker == "type1" else s.dirty[p])
                    for p in s.pages]
        return implies(s.tracking & ~s.final_synced,
                       all_(s.synced[p] | reported[p] for p in s.pages))

    @eventually
    def migration_ends(s):
        """L1: the migration ends: switched over, failed back to the source, or refused."""
        return s.phase.isin("switched", "failed", "blocked")

    @leads_to
    def devices_run_again(s):
        """After a failure, every device runs again on the source."""
        return (s.phase.isin("failing_p2p", "failing"),
                (s.phase == "failed") & all_(s.vstate[d] == "RUNNING" for d in s.devs))

    @reachable
    def dma_when_stop_asked(s):
        """A DMA write is in flight when a device's arc into STOP_COPY is pending."""
        return any_(s.dma[d] & VfioV2.arc_pending_into(s, d, fsm.STOPPED) for d in s.devs)

    @reachable
    def p2p_when_pausing(s):
        """A P2P write is in flight after the vCPUs paused."""
        return s.phase.isin("p2p", "stopping") & any_(s.p2p[d] for d in s.devs)

    @reachable
    def device_in_stop(s):
        """A device passes through STOP on a multi-step path (the failure path)."""
        return any_(s.vstate[d] == "STOP" for d in s.devs)

    @reachable
    def final_sync_skips_a_clean_page(s):
        """The final sync copies fewer than all mapped pages (tracking pays off)."""
        return s.skipped


# ---------------------------------------------------------------- variants


@variant(VfioV2, expect={"completeness": "violated", "no-dma-when-stopped": "violated"})
class HarvestBeforeStop(VfioV2):
    """The final dirty sync runs before the devices reach STOP_COPY: a write that lands after
    it is never copied (QEMU syncs only after every device is in STOP_COPY)."""

    source = "QEMU hw/vfio/migration.c: the final sync after every device is in STOP_COPY"
    sync_after_stop = False


@variant(VfioV2, expect={"completeness": "violated", "dirty-report-complete": "violated"})
class NoIotlbFlush(VfioV2):
    """IOMMU read-and-clear without the IOTLB flush: a write through a cached translation
    with D set does not set D again, and the page is never re-copied."""

    source = ("Linux drivers/iommu/iommufd/io_pagetable.c iommu_read_and_clear_dirty: the "
              "IOTLB sync after clearing unless IOMMU_DIRTY_NO_CLEAR")
    iotlb_flush = False


@variant(VfioV2, expect={"completeness": "violated", "dirty-report-complete": "violated"})
class UnmapLosesBits(VfioV2):
    """A DMA unmap without reading the range's dirty bits first: they are lost."""

    source = ('QEMU "vfio/iommufd: Query dirty bitmap before DMA unmap" (January 2026; '
              "before it, a TODO left unmapped ranges' dirty bits unreported)")
    harvest_before_unmap = False


@variant(VfioV2, expect={"p2p-quiescence": "violated", "completeness": "violated"})
class NoP2pTwoDevices(VfioV2):
    """Two devices without P2P support and QEMU not blocking: one is stopped while the other
    still runs and writes into it; the write changes the state already snapshotted."""

    source = ("QEMU 5c7a4b60 \"Allow migration of multiple P2P supporting devices\" (blocks "
              "several devices without P2P); uAPI vfio.h RUNNING_P2P")
    p2p_supported = False
    blocks_without_p2p = False


@variant(VfioV2, expect={"completeness": "violated"})
class PrecopyDataFinal(VfioV2):
    """PRE_COPY data taken as the device's final state and the STOP_COPY data never read:
    what the device does after the pre-copy read is lost."""

    source = "Linux include/uapi/linux/vfio.h: PRE_COPY data is not final (read STOP_COPY)"
    read_stop_copy = False


@variant(VfioV2, expect={"arc-legality": "violated", "device-in-stop": "violated"})
class IllegalArc(VfioV2):
    """A driver with its own table: RUNNING to STOP_COPY directly, STOP_COPY to PRE_COPY, and
    on the failure path STOP_COPY straight to RUNNING_P2P (the kernel goes through STOP).
    QEMU never asks for the first two from those states; the third it does ask for, so no
    device ever passes through STOP (its witness is not reached)."""

    source = ("Linux drivers/vfio/vfio_main.c vfio_mig_get_next_state: the arcs a driver "
              "implements; STOP_COPY -> PRE_COPY is blocked")
    driver_table = (("RUNNING", "STOP_COPY", "STOP_COPY"), ("STOP_COPY", "PRE_COPY", "PRE_COPY"),
                    ("STOP_COPY", "RUNNING_P2P", "RUNNING_P2P"))


@variant(VfioV2, expect={"dest-order": "violated"})
class DestRunBeforeLoad(VfioV2):
    """Post-copy with VFIO not blocked: the destination device runs before guest RAM is there."""

    source = "QEMU bf7ef7a2: VFIO migration is blocked with post-copy"
    postcopy = True
    blocks_postcopy = False


@variant(VfioV2, expect={"completeness": "violated"})
class ResetDuringPrecopyIgnored(VfioV2):
    """An asynchronous reset in PRE_COPY ends the data transfer; the VMM carries on and
    sends STOP_COPY data relative to a stream the destination never had."""

    source = ('QEMU hw/vfio/migration.c "data_fd out of sync" (asynchronous reset); '
              "libvfio-user issue #853")
    detects_reset = False


@variant(VfioV2, expect={"completeness": "violated", "dirty-report-complete": "violated"})
class AbortNoRedirty(VfioV2):
    """The failure path does not mark harvested pages dirty again; the retry, resuming from
    the bitmap, never copies them to the new destination."""

    source = "spec vfio-v2.md (failure path: harvested pages dirtied again)"
    redirty_on_abort = False


@variant(VfioV2, expect={"completeness": "violated", "dirty-report-complete": "violated"})
class TrackAfterFirstCopy(VfioV2):
    """Dirty tracking enabled after the first full copy: a write in between is never seen."""

    source = ("Linux iommufd iopt_set_dirty_tracking clears D bits before tracking; QEMU "
              "starts tracking in setup, before the first copy")
    track_before_copy = False


@variant(VfioV2, expect={"final-sync-skips-a-clean-page": "violated",
                         "dirty-report-complete": "vacuous"})
class Type1AllDirty(VfioV2):
    """Legacy type1 IOMMU: every pinned page is reported dirty. Correct, but the final copy
    copies every mapped page; the witness that it can skip one is never reached."""

    source = "Linux drivers/vfio/vfio_iommu_type1.c: pinned pages reported dirty"
    tracker = "type1"


@variant(VfioV2)
class DeviceDmaLog(VfioV2):
    """QEMU's order with device DMA logging (DMA_LOGGING_START/REPORT) instead of the IOMMU."""

    source = "Linux include/uapi/linux/vfio.h VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT"
    tracker = "device"
