"""The concrete damage at the end of a run, read off real bytes and the journal.

- Pages: after a switchover, every page whose destination bytes differ from the source's:
  the differing byte ranges, a short excerpt of both sides, and the writes (from the
  journal) that changed those bytes after the page's last copy.
- Packets: the fate of every packet the VF took from the wire, by sequence number:
  ``delivered`` (the guest read it intact), ``pending`` (intact in the memory the VM runs
  in, not read yet), ``dropped`` (the VF never completed it and nothing of it is missing),
  ``lost`` (the guest's memory lacks what the VF wrote for it: stale at the destination,
  destroyed by a stale write, or still posted when the source stopped) or ``corrupted``
  (the guest read it and got other bytes).
- Freed pages: every DMA write into a page the driver does not hold (it unmapped and
  freed it; reachable when the whole guest RAM is mapped for the VF): the bytes the page
  held and the bytes the VF wrote over them. Whatever the guest keeps there now is corrupted.
"""

from __future__ import annotations

from dataclasses import dataclass

from .descriptors import DESCRIPTOR_SIZE, RxDescriptor, artificial
from .journal import Event
from .machine import Machine
from .packets import FRAME_LEN, parse
from .vf import Accepted

EXCERPT = 16
HARMFUL = ("lost", "corrupted")
_WRITES = ("data_land", "writeback_land", "tx_writeback_land", "stale_write", "refill", "xmit")


@dataclass(frozen=True)
class PageDifference:
    page: int
    role: str
    address: int
    ranges: tuple[tuple[int, int], ...]  # [start, end) offsets whose bytes differ
    excerpt_at: int  # where the excerpts start: the first difference, rounded down to 16 bytes
    source: bytes  # the source's bytes there (an excerpt)
    destination: bytes  # the destination's bytes there
    causes: tuple[str, ...]  # the journal's writes to those bytes after the page's last copy
    last_copy: str  # the journal's last copy of the page to the destination ("" if never copied)
    artificial: tuple[str, ...] = ()  # differing bytes the emulator invents (descriptor counts)

    @property
    def differing(self) -> int:
        return sum(end - start for start, end in self.ranges)


@dataclass(frozen=True)
class PacketFate:
    seq: int
    slot: int
    page: int
    offset: int
    fate: str  # delivered, pending, dropped, lost, corrupted
    reason: str
    expected: bytes = b""  # for lost and corrupted packets: the first bytes the VF wrote for it
    seen: bytes = b""  # and what the guest has there instead (frame, or descriptor when DD is lost)

    @property
    def label(self) -> str:
        """``packet 3 (descriptor 1)``; a packet no RX descriptor took (lost on the network, or
        received by another device) has no descriptor to name."""
        return f"packet {self.seq} (descriptor {self.slot})" if self.slot >= 0 else f"packet {self.seq}"


@dataclass(frozen=True)
class StaleWrite:
    """A plain touch's write-back that replaced bytes a DMA write had landed."""

    page: int
    role: str
    offset: int
    landed: bytes  # what the DMA write had put there
    written_back: bytes  # the stale bytes the touch wrote over it

    @property
    def length(self) -> int:
        return len(self.landed)


@dataclass(frozen=True)
class FreedPageWrite:
    """A DMA write into a page the driver does not hold: corruption of a freed page."""

    page: int
    role: str
    offset: int
    held: bytes  # what the page held there before the write
    written: bytes  # what the VF wrote over it
    cause: str  # the journal's landing of the write
    freed: str  # how the page came to be freed (the journal's release of it), or why unknown

    @property
    def length(self) -> int:
        return len(self.written)


@dataclass(frozen=True)
class Damage:
    switched_over: bool
    pages: tuple[PageDifference, ...]
    packets: tuple[PacketFate, ...]
    stale_writes: tuple[StaleWrite, ...]
    freed_writes: tuple[FreedPageWrite, ...] = ()

    @property
    def harmed(self) -> tuple[PacketFate, ...]:
        return tuple(p for p in self.packets if p.fate in HARMFUL)

    @property
    def any(self) -> bool:
        return bool(self.pages or self.harmed or self.stale_writes or self.freed_writes)


def assess(m: Machine) -> Damage:
    """The damage in ``m`` now. Reads only; the machine is not changed."""
    pages = tuple(page_differences(m)) if m.switched_over else ()
    stale = tuple(StaleWrite(e.page or 0, m.layout.role(e.page or 0), e.offset, e.before, e.after)
                  for e in m.journal.of_kind("stale_write"))
    return Damage(m.switched_over, pages, tuple(packet_fates(m)), stale, tuple(freed_writes(m)))


def freed_writes(m: Machine) -> list[FreedPageWrite]:
    out = []
    events = m.journal.events
    for e in m.journal.of_kind("freed_write"):
        page = e.page or 0
        allocation = m.layout.allocation_of(page)
        first = m.layout.first_page(allocation) if allocation is not None else page
        landing = events[e.index - 1]  # the DMA engine records the landing, then this
        freed = [f.text for f in events[:e.index] if f.kind == "release" and f.page == first]
        out.append(FreedPageWrite(page, m.layout.role(page), e.offset, e.before, e.after, landing.text,
                                  f"freed by: {freed[-1]}" if freed else "the driver had unmapped it"))
    return out


def page_differences(m: Machine) -> list[PageDifference]:
    out = []
    for page in range(m.layout.pages):
        src, dst = m.memory.ram.page(page), m.destination.page(page)
        if src == dst:
            continue
        ranges = _ranges(src, dst)
        at = ranges[0][0] - ranges[0][0] % EXCERPT
        out.append(PageDifference(page, m.layout.role(page), m.layout.address(page), tuple(ranges), at,
                                  src[at:at + EXCERPT], dst[at:at + EXCERPT],
                                  tuple(_causes(m, page, ranges)), _last_copy(m, page),
                                  tuple(_artificial(m, page, src, dst, ranges))))
    return out


def _artificial(m: Machine, page: int, src: bytes, dst: bytes, ranges: list[tuple[int, int]]) -> list[str]:
    """For a descriptor ring page: the differing bytes that are the emulator's own bookkeeping
    on either side (see `descriptors.ARTIFICIAL`), so that nobody takes them for a device's."""
    ring = m.layout.descriptor_ring(page)
    if ring is None:
        return []
    notes = []
    for base in range(0, len(src), DESCRIPTOR_SIZE):
        spans = {artificial(ring, side[base:base + DESCRIPTOR_SIZE]) for side in (src, dst)} - {None}
        for start, end, why in sorted(spans):
            lo, hi = base + start, base + end
            if any(a < hi and lo < b for a, b in ranges):
                notes.append(f"+{lo:#05x}-{hi - 1:#05x} (descriptor {base // DESCRIPTOR_SIZE}): {why}")
    return notes


def _ranges(a: bytes, b: bytes) -> list[tuple[int, int]]:
    ranges: list[tuple[int, int]] = []
    for k in range(len(a)):
        if a[k] != b[k]:
            if ranges and ranges[-1][1] == k:
                ranges[-1] = (ranges[-1][0], k + 1)
            else:
                ranges.append((k, k + 1))
    return ranges


def _last_copy(m: Machine, page: int) -> str:
    copies = [e.text for e in m.journal.of_kind("copy") if e.page == page]
    return copies[-1] if copies else ""


def _causes(m: Machine, page: int, ranges: list[tuple[int, int]]) -> list[str]:
    copies = [e.index for e in m.journal.of_kind("copy") if e.page == page]
    after = copies[-1] if copies else -1
    out = []
    for e in m.journal.events[after + 1:]:
        if e.kind in _WRITES and e.page == page and any(
                e.offset < end and start < e.offset + max(e.length, 1) for start, end in ranges):
            out.append(e.text)
    return out


def packet_fates(m: Machine) -> list[PacketFate]:
    return [_fate(m, a) for a in m.vf.accepted]


def _fate(m: Machine, accepted: Accepted) -> PacketFate:
    seq, slot = accepted.packet.seq, accepted.slot
    frame = accepted.packet.frame()
    checksum = accepted.packet.checksum
    where = m.layout.locate(accepted.buffer)
    page, offset = where if where is not None else (-1, 0)
    events = [e for e in m.journal.events if e.seq == seq]
    kinds = {e.kind: e for e in events}
    data_land, wb_land = kinds.get("data_land"), kinds.get("writeback_land")
    memory, world = m.world()
    role = m.layout.role(page) if page >= 0 else "outside guest RAM"
    at = f"{role} +{offset:#05x}"

    def fate(kind: str, reason: str, seen: bytes = b"", expected: bytes = frame) -> PacketFate:
        excerpt = (expected[:EXCERPT], seen[:EXCERPT]) if kind in HARMFUL else (b"", b"")
        return PacketFate(seq, slot, page, offset, kind, reason, *excerpt)

    if "freed_write" in kinds:
        return fate("dropped", f"the driver had freed its buffer ({at}) before the VF wrote it: its "
                    "data went into a page the driver no longer holds (see the corruption of freed "
                    "pages)")
    received = [r for r in m.stack.received if r.announced == checksum]
    if received:
        r = received[-1]
        how = "read later from its page" if r.handed_up_with_page else "copied out at RX clean"
        if r.seq == seq:
            return fate("delivered", f"received intact ({how}, from the {r.where}'s memory)")
        return fate("corrupted", f"the guest read descriptor {slot}'s buffer ({at}) expecting packet "
                    f"{seq} ({how}, from the {r.where}'s memory) and found {_what(r.data)}", r.data)
    if page < 0:
        return fate("dropped", "its buffer address is outside guest RAM")
    here = memory.read(page, offset, FRAME_LEN)
    at_source = m.memory.ram.read(page, offset, FRAME_LEN)
    if any(h.announced == checksum for h in m.stack.held):
        if here == frame:
            return fate("delivered", f"handed up with its page; intact in the {world}'s memory")
        if world == "destination" and at_source == frame:
            return fate("lost", f"handed up with its page (the skb holds {role}) before the switchover; "
                        f"the destination's page is stale at +{offset:#05x}, so the guest's stack "
                        f"reads {_what(here)} there", here)
        return fate("lost", f"handed up with its page; its bytes at {at} were overwritten before the "
                    f"stack read them: {_what(here)}", here)
    if data_land is None:
        if "dma_fault" in kinds:
            return fate("dropped", "its data write faulted in the IOMMU (buffer not mapped)")
        if m.vf.dma.halted:
            return fate("lost", "the VF took it from the wire, but its data write was still posted "
                        "when the source stopped: it never reached guest RAM")
        return fate("pending", "its data write is posted, not landed yet")
    stale_tail = _stale_piece(m, seq) if world == "destination" else None
    if here == frame and stale_tail is not None:
        return fate("lost", f"its jumbo frame landed at the source after the last copy of "
                    f"{m.layout.role(stale_tail[0])}; the destination holds stale bytes at "
                    f"+{stale_tail[1]:#05x} there, so the guest reads a corrupted frame",
                    m.destination.read(*stale_tail)[:EXCERPT], m.memory.ram.read(*stale_tail)[:EXCERPT])
    if here != frame:
        if world == "destination" and at_source == frame:
            note = "" if "writeback_issue" in kinds else (
                f"; the VF had not written its descriptor back: {_why_no_write_back(m, data_land.index)}")
            return fate("lost", f"its data landed at the source ({at}) after the page's last copy; "
                        f"the destination holds stale bytes there{note}", here)
        stale = [e for e in m.journal.of_kind("stale_write") if e.index > data_land.index
                 and e.page == page and e.offset < offset + FRAME_LEN and offset < e.offset + e.length]
        if stale:
            return fate("lost", f"its bytes in the guest's buffer ({at}) were overwritten by a plain "
                        f"touch's stale write-back before the guest read them; the buffer now holds "
                        f"{_what(here)}", here)
        later = [e for e in m.journal.of_kind("data_land") if e.index > data_land.index
                 and e.page == page and e.offset == offset]
        if later and wb_land is None:
            return fate("dropped", "the VF never wrote its descriptor back, and the buffer was reused")
        if later and m.journal.of_kind("flr"):
            return fate("dropped", "written back, then discarded by the error recovery's ring reset; "
                        "the buffer was reused")
        return fate("lost", f"its bytes at {at} changed before the guest read them: {_what(here)}", here)
    if wb_land is not None:
        if world == "destination":
            where_desc = (m.layout.ring_page, slot * DESCRIPTOR_SIZE, DESCRIPTOR_SIZE)
            raw = m.destination.read(*where_desc)
            desc = RxDescriptor(raw)
            if desc.dd and desc.rss == checksum:
                return fate("pending", "written back; the guest on the destination will clean it")
            return fate("lost", f"its descriptor write-back (DD) landed at the source after the ring "
                        f"page's last copy; at the destination descriptor {slot} shows no DD, so the "
                        "guest there never sees the packet", raw, m.memory.ram.read(*where_desc))
        if any(e.kind == "flr" and e.index > wb_land.index for e in m.journal.events):
            return fate("dropped", "written back, then discarded by the error recovery's ring reset")
        return fate("pending", "written back; awaiting RX clean")
    if "writeback_issue" in kinds:
        if m.vf.dma.halted:
            return fate("lost", "its descriptor write-back was still posted when the source stopped: "
                        "the VF counted it delivered, the guest never sees it")
        return fate("pending", "its descriptor write-back is posted, not landed yet")
    rx = m.vf.in_progress.get(slot)
    if rx is not None and rx.packet.seq == seq and m.vf.powered:
        return fate("pending", "in the guest's buffer; the VF has not written its descriptor back yet")
    why = _why_no_write_back(m, data_land.index)
    return fate("dropped", f"the VF never wrote its descriptor back ({why}); nothing of it is missing")


def _why_no_write_back(m: Machine, since: int) -> str:
    """Why the VF wrote no descriptor back after journal event ``since`` (its data landing),
    read off the journal: bus mastering cleared, a function-level reset, the source stopped."""
    events = m.journal.events
    if not events[since].context.bus_master:
        return f"bus mastering had been cleared before its data landed ({_cleared(m, since).text})"
    for e in events[since + 1:]:
        if e.kind == "flr":
            return f"a function-level reset came first ({e.text})"
        if not e.context.bus_master:
            return f"bus mastering was cleared first ({e.text})"
        if e.kind == "switchover":
            return "the source stopped at the switchover first; bus mastering was never cleared"
    return "the run ended before it did; bus mastering is on and nothing stopped it"


def _cleared(m: Machine, before: int) -> Event:
    """The last event up to ``before`` that turned bus mastering off."""
    events = m.journal.events
    return next(e for e in reversed(events[:before + 1])
                if not e.context.bus_master and (e.index == 0 or events[e.index - 1].context.bus_master))


def _stale_piece(m: Machine, seq: int) -> tuple[int, int, int] | None:
    """The first piece of packet ``seq``'s data (a jumbo frame lands in several pages) that
    the source still holds and the destination does not: (page, offset, length)."""
    for e in m.journal.events:
        if e.kind == "data_land" and e.seq == seq and e.page is not None:
            piece = (e.page, e.offset, e.length)
            if m.memory.ram.read(*piece) == e.after and m.destination.read(*piece) != e.after:
                return piece
    return None


def _what(data: bytes) -> str:
    seq = parse(data)
    if seq is not None:
        return f"packet {seq}"
    return "bytes that are no intact frame (" + data[:EXCERPT].hex(" ") + " ...)"
