"""Long runs: a progress line on a terminal (variant k of n, states, states/s, depth, memory);
Ctrl-C and --timeout bound the whole command and keep the verdicts decided so far, reporting
the rest as a bound ("no violation up to depth k") or "not checked", never as UNEXPECTED."""

from __future__ import annotations

import io
import os
import pty
import re
import signal
import subprocess
import sys
import threading
import time

import pytest

from migcheck import progress as progress_module
from migcheck.budget import INTERRUPTED, Budget
from migcheck.cli import main
from migcheck.progress import Progress, status_text
from migcheck.render import variant_lines
from migcheck.runner import exit_status, run


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


EVENT = {"states": 120_000, "seconds": 2.0, "depth": 17, "variant_number": 2, "variants": 10}


def test_the_status_text_has_variant_k_of_n_states_rate_depth_and_memory():
    text = status_text("thread-order", EVENT, elapsed=3.0, memory=512.4)
    assert text == ("variant 2 of 10: thread-order: 120,000 states  60,000 states/s  depth 17  "
                    "512 MiB  3 s")
    assert status_text("disable-first", {"note": "pdr running", "variant_number": 1, "variants": 1},
                       elapsed=1.0, memory=1.0) == "variant 1 of 1: disable-first: 1 MiB  1 s  pdr running"


def test_progress_is_drawn_on_a_terminal_after_a_second_and_wiped_at_the_end(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # the line is cut to the terminal's width
    monkeypatch.setattr(progress_module, "SHOW_AFTER", 0.0)
    monkeypatch.setattr(progress_module, "REFRESH", 0.02)
    tty = Terminal()
    with Progress(tty) as p:
        p("thread-order", EVENT)
        time.sleep(0.3)  # the thread redraws even without a new event
    drawn = tty.getvalue()
    assert "\rvariant 2 of 10: thread-order: 120,000 states  60,000 states/s  depth 17  " in drawn
    assert re.search(r"depth 17  [\d,]+ MiB  \d+ s", drawn)
    assert drawn.endswith("\r") and drawn.rsplit("\r", 2)[-2].strip() == ""  # the line is wiped


def test_the_line_is_cut_to_the_terminal_width(monkeypatch):
    monkeypatch.setenv("COLUMNS", "40")
    monkeypatch.setattr(progress_module, "SHOW_AFTER", 0.0)
    monkeypatch.setattr(progress_module, "REFRESH", 0.02)
    tty = Terminal()
    with Progress(tty) as p:
        p("thread-order", EVENT)
        time.sleep(0.2)
    assert max(len(part) for part in tty.getvalue().split("\r")) == 39


def test_no_progress_off_a_terminal_or_in_the_first_second(monkeypatch):
    quiet = io.StringIO()
    with Progress(quiet) as p:
        p("base", EVENT)
    assert quiet.getvalue() == ""
    monkeypatch.setattr(progress_module, "REFRESH", 0.02)
    tty = Terminal()
    with Progress(tty) as p:  # a run shorter than a second shows nothing
        p("base", EVENT)
        time.sleep(0.2)
    assert tty.getvalue() == ""


def test_the_cli_shows_progress_on_a_terminal_stderr_only():
    """A real run under a pseudo-terminal: the line is on stderr; stdout (a pipe) stays clean."""
    main_fd, sub_fd = pty.openpty()
    # Four seconds of a search that takes minutes, however fast the machine (a state limit
    # can be reached before the line's first second on a fast one).
    proc = subprocess.Popen([sys.executable, "-P", "-m", "migcheck", "check", "guest-assisted", "--variant",
                             "disable-first", "--property", "completeness", "--set", "slots=3", "--set",
                             "pages=2", "--timeout", "4", "--backend", "python"],
                            stdout=subprocess.PIPE, stderr=sub_fd, text=True,
                            env={**os.environ, "COLUMNS": "160"})
    os.close(sub_fd)
    seen = b""
    while True:
        try:
            chunk = os.read(main_fd, 4096)
        except OSError:  # the other side closed
            break
        if not chunk:
            break
        seen += chunk
    out = proc.communicate(timeout=600)[0]
    os.close(main_fd)
    assert proc.returncode == 2, out  # the time limit: inconclusive
    text = seen.decode(errors="replace")
    assert re.search(r"variant 1 of 1: disable-first: [\d,]+ states  [\d,]+ states/s  "
                     r"depth \d+  [\d,]+ MiB  \d+ s", text), text[-2000:]
    assert "states/s" not in out and "\r" not in out


def interrupt_after(seconds: float) -> threading.Timer:
    timer = threading.Timer(seconds, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    return timer


def test_ctrl_c_in_a_search_keeps_what_was_decided_and_bounds_the_rest(guest_assisted):
    """pages=2, slots=3 takes minutes; Ctrl-C after two seconds stops it mid-search."""
    interrupt_after(2.0)
    results = run(guest_assisted, variants=["disable-first", "thread-order"],
                  params={"pages": 2, "slots": 3}, backend="python")
    first = [r for r in results if r.system.variant == "disable-first"]
    bounded = [r for r in first if r.verdict.verdict == "inconclusive" and r.verdict.bound is not None]
    assert bounded and all(r.verdict.reason == INTERRUPTED for r in bounded)
    k = bounded[0].verdict.bound
    assert 0 < k < first[0].verdict.stats.depth + 1 and first[0].verdict.stats.states > 0
    # The witnesses found before the interrupt stay decided.
    assert any(r.verdict.kind == "reachable" and r.verdict.verdict == "holds" for r in first)
    later = [r for r in results if r.system.variant == "thread-order"]
    assert later and all(r.verdict.reason == f"not checked: {INTERRUPTED}" for r in later)
    lines = {v.variant: v for v in variant_lines(results)}
    assert lines["disable-first"].outcome == f"no violation up to depth {k}"
    assert lines["thread-order"].outcome == "not checked"
    assert not any("UNEXPECTED" in v.verdict for v in lines.values())
    assert exit_status(results) == 2


def test_ctrl_c_on_the_command_prints_the_verdicts_so_far(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "migcheck", "check", "guest-assisted", "--set", "pages=2",
                             "--set", "slots=3", "--variant", "thread-order", "--variant", "disable-first",
                             "--backend", "python"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    time.sleep(10.0)  # thread-order's violation is found early; disable-first is still searched
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 2, err
    assert "Traceback" not in err
    assert re.search(r"\nthread-order +(loses data|no violation up to depth \d+|not checked) ", out), out
    assert re.search(r"\ndisable-first +(no violation up to depth \d+|not checked) +- +"
                     r"(interrupted|not checked: interrupted) \(Ctrl-C\)", out), out
    assert "UNEXPECTED" not in out


def test_timeout_bounds_the_whole_run_not_each_variant(guest_assisted):
    started = time.perf_counter()
    results = run(guest_assisted, params={"pages": 2, "slots": 3}, timeout=3.0, backend="python")
    took = time.perf_counter() - started
    # Ten variants of minutes each: one deadline for all of them (building the ten systems and
    # concluding the search in progress come on top).
    assert took < 60
    reasons = {r.verdict.reason for r in results if r.verdict.verdict == "inconclusive"}
    assert any(x.startswith("not checked: time limit reached (--timeout 3 s for the whole run)")
               for x in reasons)
    assert exit_status(results) == 2


def test_engine_all_honours_the_state_limit_in_its_cross_check(guest_assisted):
    """What the explicit search left open is not handed to BMC and PDR, which --max-states
    does not bound."""
    started = time.perf_counter()
    results = run(guest_assisted, variants=["disable-first"], engine="all", max_states=2000)
    assert time.perf_counter() - started < 120
    open_rows = [r for r in results if r.verdict.verdict == "inconclusive"]
    assert open_rows and all(r.verdict.engine == "explicit" for r in open_rows)
    assert all("state limit reached" in r.verdict.reason for r in open_rows)


def test_a_deadline_passed_before_a_variant_starts_checks_nothing(two_phase_commit):
    budget = Budget(0.001)
    time.sleep(0.01)
    assert budget.stop_reason() == "time limit reached (--timeout 0.001 s for the whole run)"
    assert budget.remaining() == 0.0
    assert Budget(None).remaining() is None and Budget(None).stop_reason() is None


@pytest.mark.parametrize("argv", [["--timeout", "2"], ["--max-states", "500"]])
def test_a_limit_on_the_command_gives_a_bound_not_unexpected(argv, capsys):
    status = main(["check", "guest-assisted", "--variant", "disable-first", "--set", "slots=3", *argv])
    out = capsys.readouterr().out
    assert status == 2
    # The state limit stops the search itself; the deadline may fall in the fair-cycle analysis
    # after a finished search (its safety verdicts stand, liveness stays open).
    assert re.search(r"\ndisable-first +(no violation up to depth \d+|undecided) +- ", out), out
    assert "UNEXPECTED" not in out
