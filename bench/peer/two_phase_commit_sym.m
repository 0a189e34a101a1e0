-- Lamport's two-phase commit with the resource managers as a scalarset, for Rumur's symmetric
-- search: the same transition system as models/library/two_phase_commit.py (written by hand,
-- since the IR has no scalarsets). RMS is replaced by bench/peer/native_vs_peers.py.

const RMS : 3;

type
  RM : scalarset(RMS);
  RMState : enum { working, prepared, committed, aborted };
  TMState : enum { tm_init, tm_done };

var
  rm_state : array [RM] of RMState;
  tm_state : TMState;
  tm_prepared : array [RM] of boolean;
  msg_prepared : array [RM] of boolean;
  msg_commit : boolean;
  msg_abort : boolean;

startstate
begin
  for r : RM do
    rm_state[r] := working;
    tm_prepared[r] := false;
    msg_prepared[r] := false;
  end;
  tm_state := tm_init;
  msg_commit := false;
  msg_abort := false;
end;

ruleset r : RM do
  rule "tm_rcv_prepared" tm_state = tm_init & msg_prepared[r] ==>
  begin
    tm_prepared[r] := true;
  end;

  rule "rm_prepare" rm_state[r] = working ==>
  begin
    rm_state[r] := prepared;
    msg_prepared[r] := true;
  end;

  rule "rm_choose_to_abort" rm_state[r] = working ==>
  begin
    rm_state[r] := aborted;
  end;

  rule "rm_rcv_commit_msg" msg_commit ==>
  begin
    rm_state[r] := committed;
  end;

  rule "rm_rcv_abort_msg" msg_abort ==>
  begin
    rm_state[r] := aborted;
  end;
end;

rule "tm_commit" tm_state = tm_init & forall r : RM do tm_prepared[r] end ==>
begin
  tm_state := tm_done;
  msg_commit := true;
end;

rule "tm_abort" tm_state = tm_init ==>
begin
  tm_state := tm_done;
  msg_abort := true;
end;

invariant "consistency"
  !((exists r : RM do rm_state[r] = aborted end) & (exists r : RM do rm_state[r] = committed end));
