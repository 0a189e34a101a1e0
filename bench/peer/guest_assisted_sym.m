-- guest-assisted dirty tracking, variant disable-first, with the buffer pages as a scalarset, for
-- Rumur's symmetric search: the same transition system as models/library/guest_assisted.py
-- (written by hand: the IR has no scalarsets, and bench/peer/export.py flattens arrays).
-- bench/peer/native_vs_peers.py replaces SLOTS and PAGES; the other parameters are the model's
-- defaults (ROUNDS, INFLIGHT; span = 1).
--
-- How it maps to the model:
-- - Each state variable is the model's, with the model's range; a slot's buffer page
--   (Ref(pages), None when there is no buffer) is a page or undefined.
-- - The model's tail_dirty and tail_synced (the other 4 KiB pages of a buffer) stay false when a
--   buffer spans one page (span = 1), and nothing reads them then: they are left out. touch and
--   lost stay at none and false without plain_touch; they are kept, with what reads them.
-- - Statements run in order and read what the rule already assigned, as a model's action body
--   does. Enum values carry a prefix where the model reuses a label (free, none, wb_inflight).
-- - Invariants are the model's five; its three action properties (quiescence, recovery,
--   dma-into-held-pages) are assertions at the start of the rules they judge, on the state
--   before the step.
-- - The rules absent from disable-first (touch_write_back, resume_without_reset,
--   start_dest_device, drain_device, release) are left out; so are conditions fixed by its
--   flags. hstep keeps the model's range (0..5: a teardown variant has five handler steps).

const
  SLOTS : 2;
  PAGES : 1;
  ROUNDS : 1;    -- pre-copy rounds after the first full copy
  INFLIGHT : 1;  -- posted DMA writes in flight at once

type
  page : scalarset(PAGES);
  slot_index : 0..SLOTS-1;
  phase_t : enum { idle, precopy, notified, quiescing, stopped, copied, switched, aborted, blocked };
  opt_in_t : enum { opt_none, before_bme, after_bme, inherited };
  drv_t : enum { down, up, handling, acked, recovering, foreign };
  slot_t : enum { rx_free, ready, data_inflight, data_landed, wb_inflight, done };
  tx_t : enum { tx_free, posted, tx_wb_inflight };
  touch_t : enum { touch_none, touch_read, touch_raced };

var
  phase : phase_t;
  round : 0..ROUNDS;
  opt_in_record : opt_in_t;
  drv : drv_t;
  hstep : 0..5;            -- event-handler steps done: clear_bme, drain, mark, ack
  bme : boolean;
  slot : array [slot_index] of slot_t;
  next_to_use : slot_index;
  next_to_clean : slot_index;
  next_to_alloc : slot_index;         -- where the next recycled page goes
  rx_head : slot_index;
  buf : array [slot_index] of page;   -- undefined: unmapped, or its page moved to next_to_alloc
  mapped : array [page] of boolean;
  tx : tx_t;
  dirty : array [page] of boolean;
  synced : array [page] of boolean;
  ring_dirty : boolean;
  ring_synced : boolean;
  ring_copied_quiet : boolean;
  tx_ring_dirty : boolean;
  tx_ring_synced : boolean;
  tx_ring_copied_quiet : boolean;
  touch : array [slot_index] of touch_t;
  lost : boolean;
  dest_device : boolean;

-- ------------------------------------------------------------ derived conditions

function vcpu_runs() : boolean;
begin
  return phase = idle | phase = precopy | phase = notified | phase = aborted | phase = blocked;
end;

function rx_runs() : boolean;
begin
  return vcpu_runs() & (drv = up | ((drv = handling | drv = acked) & bme));
end;

function has_buf(i : slot_index; p : page) : boolean;
begin
  return !isundefined(buf[i]) & buf[i] = p;
end;

function in_flight() : 0..SLOTS+1;
var n : 0..SLOTS+1;
begin
  n := 0;
  for i : slot_index do
    if slot[i] = data_inflight | slot[i] = wb_inflight then n := n + 1; end;
  end;
  if tx = tx_wb_inflight then n := n + 1; end;
  return n;
end;

function quiet() : boolean;
begin
  return !bme & (forall i : slot_index do slot[i] != data_inflight & slot[i] != wb_inflight end)
         & tx != tx_wb_inflight;
end;

function no_touch() : boolean;
begin
  return forall i : slot_index do touch[i] = touch_none end;
end;

function after(i : slot_index) : slot_index;
begin
  return (i + 1) % SLOTS;
end;

-- the event handler runs and its next step is the step-th of clear_bme, drain, mark, ack
function handler_at(step : 0..3) : boolean;
begin
  return drv = handling & phase = notified & hstep = step & no_touch();
end;

function must_recover() : boolean;
begin
  return no_touch()
         & ((phase = aborted & (drv = handling | drv = acked))
            | (phase = switched & (drv = handling | drv = acked | (drv = up & !dest_device))));
end;

-- the VF may issue a posted write: not stopped (quiescence)
function may_issue() : boolean;
begin
  return bme & phase != stopped & phase != copied;
end;

-- a posted write may land: the hypervisor does not rely on quiet yet (quiescence)
function may_land() : boolean;
begin
  return phase != stopped & phase != copied;
end;

procedure mark_page(p : page; when : boolean);
begin
  dirty[p] := dirty[p] | when;
end;

-- copy every logged page (every page, for the first full copy) and clear its log bit
procedure copy_logged(everything : boolean);
var q : boolean;
    copied_now : boolean;
begin
  for p : page do
    synced[p] := everything | synced[p] | dirty[p];
    dirty[p] := false;
  end;
  q := quiet();
  copied_now := everything | ring_dirty;
  if copied_now then ring_copied_quiet := q; end;
  ring_synced := ring_synced | copied_now;
  ring_dirty := false;
  copied_now := everything | tx_ring_dirty;
  if copied_now then tx_ring_copied_quiet := q; end;
  tx_ring_synced := tx_ring_synced | copied_now;
  tx_ring_dirty := false;
end;

startstate
begin
  phase := idle;
  round := 0;
  opt_in_record := opt_none;
  drv := down;
  hstep := 0;
  bme := false;
  for i : slot_index do
    slot[i] := rx_free;
    undefine buf[i];
    touch[i] := touch_none;
  end;
  next_to_use := 0;
  next_to_clean := 0;
  next_to_alloc := 0;
  rx_head := 0;
  for p : page do
    mapped[p] := false;
    dirty[p] := false;
    synced[p] := false;
  end;
  tx := tx_free;
  ring_dirty := false;
  ring_synced := false;
  ring_copied_quiet := false;
  tx_ring_dirty := false;
  tx_ring_synced := false;
  tx_ring_copied_quiet := false;
  lost := false;
  dest_device := false;
end;

-- ------------------------------------------------------------ guest driver

rule "opt_in_marking" phase = idle & drv = down & opt_in_record = opt_none ==>
begin
  opt_in_record := before_bme;
end;

rule "opt_in_late" phase = idle & drv = up & opt_in_record = opt_none ==>
begin
  opt_in_record := after_bme;
end;

rule "probe" drv = down ==>
begin
  drv := up;
  bme := true;
end;

rule "rebind" phase = idle & drv = up & opt_in_record != opt_none ==>
begin
  drv := foreign;
  opt_in_record := opt_none;
end;

ruleset i : slot_index; p : page do
  rule "refill" rx_runs() & next_to_use = i & slot[i] = rx_free & (isundefined(buf[i]) | buf[i] = p) ==>
  begin
    assert bme "recovery";
    next_to_use := after(i);
    if isundefined(buf[i]) then
      next_to_alloc := after(i);  -- a fresh page: no recycled page waits
    end;
    buf[i] := p;
    mapped[p] := true;
    mark_page(p, drv = handling);
    ring_dirty := true;
    ring_synced := false;
    slot[i] := ready;
  end;

  rule "clean_unmap" rx_runs() & next_to_clean = i & slot[i] = done & has_buf(i, p) & touch[i] = touch_none
                     & (forall j : slot_index do j = i | !has_buf(j, p) | slot[j] = rx_free end) ==>
  begin
    assert bme "recovery";
    next_to_clean := after(i);
    slot[i] := rx_free;
    undefine buf[i];
    mapped[p] := false;
    mark_page(p, true);
  end;

  rule "clean_recycle" rx_runs() & next_to_clean = i & slot[i] = done & has_buf(i, p) & touch[i] = touch_none ==>
  begin
    assert bme "recovery";
    next_to_clean := after(i);
    slot[i] := rx_free;
    -- ixgbevf_reuse_rx_page: the page moves to a free next_to_alloc without a page, which advances
    if next_to_alloc = i | (slot[next_to_alloc] = rx_free & isundefined(buf[next_to_alloc])) then
      if next_to_alloc != i then
        buf[next_to_alloc] := p;
        undefine buf[i];
      end;
      next_to_alloc := after(next_to_alloc);
    end;
    mark_page(p, true);
  end;

  -- VF device
  rule "rx_data" bme & phase != switched & rx_head = i & slot[i] = ready & has_buf(i, p) & mapped[p]
                 & in_flight() < INFLIGHT ==>
  begin
    assert may_issue() "quiescence";
    rx_head := after(i);
    slot[i] := data_inflight;
  end;

  rule "land_data" phase != switched & slot[i] = data_inflight & has_buf(i, p) ==>
  begin
    assert may_land() "quiescence";
    assert mapped[p] "dma-into-held-pages";
    synced[p] := false;
    for j : slot_index do
      if j != i & has_buf(j, p) & touch[j] = touch_read then touch[j] := touch_raced; end;
    end;
    slot[i] := data_landed;
  end;
end;

ruleset i : slot_index do
  rule "rx_writeback" bme & phase != switched & slot[i] = data_landed & in_flight() < INFLIGHT ==>
  begin
    assert may_issue() "quiescence";
    slot[i] := wb_inflight;
  end;

  rule "land_writeback" phase != switched & slot[i] = wb_inflight ==>
  begin
    assert may_land() "quiescence";
    ring_synced := false;
    slot[i] := done;
  end;
end;

rule "xmit" rx_runs() & tx = tx_free ==>
begin
  assert bme "recovery";
  tx := posted;
  tx_ring_dirty := true;
  tx_ring_synced := false;
end;

rule "handle_event" opt_in_record != opt_none & drv = up & phase = notified ==>
begin
  drv := handling;
  hstep := 0;
end;

rule "clear_bme" handler_at(0) ==>
begin
  bme := false;
  hstep := hstep + 1;
end;

rule "drain" handler_at(1) & quiet() ==>
begin
  hstep := hstep + 1;
end;

rule "mark" handler_at(2) ==>
begin
  for p : page do
    mark_page(p, mapped[p]);
  end;
  ring_dirty := true;
  tx_ring_dirty := true;
  hstep := hstep + 1;
end;

rule "acknowledge" handler_at(3) ==>
begin
  drv := acked;
  hstep := hstep + 1;
end;

rule "error_detected" must_recover() ==>
begin
  drv := recovering;
end;

rule "slot_reset" drv = recovering
                  & (phase = switched
                     | ((forall i : slot_index do slot[i] != data_inflight & slot[i] != wb_inflight end)
                        & tx != tx_wb_inflight)) ==>
begin
  for i : slot_index do
    slot[i] := rx_free;
  end;
  next_to_use := 0;
  next_to_clean := 0;
  next_to_alloc := 0;
  rx_head := 0;
  tx := tx_free;
  bme := true;
  drv := up;
  hstep := 0;
  dest_device := dest_device | phase = switched;
end;

rule "tx_writeback" bme & phase != switched & tx = posted & in_flight() < INFLIGHT ==>
begin
  assert may_issue() "quiescence";
  tx := tx_wb_inflight;
end;

rule "land_tx_writeback" phase != switched & tx = tx_wb_inflight ==>
begin
  assert may_land() "quiescence";
  tx_ring_synced := false;
  tx := tx_free;
end;

-- ------------------------------------------------------------ hypervisor

rule "start_migration" phase = idle & drv != down & opt_in_record = before_bme ==>
begin
  phase := precopy;
  copy_logged(true);
end;

rule "block_migration" phase = idle & drv != down & opt_in_record != before_bme ==>
begin
  phase := blocked;
end;

rule "precopy_round" (phase = precopy | phase = notified) & round < ROUNDS ==>
begin
  round := round + 1;
  copy_logged(false);
end;

rule "notify_guest" opt_in_record != opt_none & phase = precopy ==>
begin
  phase := notified;
end;

rule "stop_vcpu" (phase = notified & drv = acked) | (phase = precopy & opt_in_record = opt_none) ==>
begin
  phase := stopped;
end;

rule "timeout" phase = notified & drv != acked ==>
begin
  phase := aborted;
end;

rule "stop_and_copy" phase = stopped ==>
begin
  phase := copied;
  copy_logged(false);
end;

rule "switchover" phase = copied ==>
begin
  phase := switched;
  bme := dest_device;
end;

rule "abort" phase = precopy | phase = notified | phase = quiescing | phase = stopped | phase = copied ==>
begin
  phase := aborted;
end;

-- ------------------------------------------------------------ safety properties

invariant "completeness"
  phase = switched -> ((forall p : page do synced[p] end) & ring_synced & tx_ring_synced);

invariant "rings-last"
  phase = switched -> (ring_copied_quiet & tx_ring_copied_quiet);

invariant "opt-in"
  !(phase = idle | phase = blocked) -> opt_in_record = before_bme;

invariant "marking-preserves-data"
  !lost;

invariant "dest-order"
  dest_device -> phase = switched;
