"""The report as JSON (report.json), and writing the three files of a report into a folder.

Every text is made in memory first, then each file is written through a temporary file
and a rename: an interrupted run leaves the previous report or none, never half a file.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

from migcheck.checker.trace import write_json_atomic, write_text_atomic
from migcheck.models.errors import MigcheckError

from .. import render
from .contents import Report
from .html import report_html
from .markdown import report_markdown
from .sequence_mermaid import chart_mermaid

FILES = ("report.html", "report.md", "report.json")


def report_json(r: Report) -> dict[str, Any]:
    results = render.results_json(list(r.results))["results"]
    for row, cell in zip(results, r.matrix.cells, strict=True):
        row["how_complete"] = cell.completeness
        row["engines"] = dict(cell.engines)
    return {
        "migcheck": r.version,
        "command": r.command,
        "created": r.created,
        "python": r.python,
        "model": r.model,
        "params": dict(r.params),
        "engine": r.engine,
        "ir_hashes": {s.variant: s.ir_hash for s in r.systems},
        "variants": [v.to_json() for v in r.sources],
        "exit_status": r.exit_status,
        "as_expected": r.as_expected,
        "matrix": {"variants": list(r.matrix.variants), "properties": list(r.matrix.properties),
                   "cells": [c.to_json() for c in r.matrix.cells]},
        "results": results,
        "violations": [{"variant": v.variant, "property": v.property_name, "expected": v.result.expected,
                        "doc": v.doc, "chart": v.chart.to_json(), "mermaid": chart_mermaid(v.chart),
                        "steps_text": v.steps_text, "replay": v.replay.to_json()} for v in r.violations],
        "coverage": list(r.coverage),
        "graphs": [g.to_json() for g in r.graphs],
        "graph_limit": r.graph_limit,
    }


def prepare_folder(out: str) -> None:
    """Create ``out`` if needed; raise `MigcheckError` if it cannot hold the report."""
    if os.path.exists(out) and not os.path.isdir(out):
        raise MigcheckError(f"--out '{out}': a file of that name exists; give a folder")
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as exc:
        raise MigcheckError(f"--out '{out}': cannot create the folder: {exc.strerror}") from None
    if not os.access(out, os.W_OK):
        raise MigcheckError(f"--out '{out}': the folder is not writable")


@contextlib.contextmanager
def claimed_folder(out: str) -> Iterator[None]:
    """`prepare_folder` before a run, so a bad ``--out`` fails at once; a folder created for a
    run that then fails is removed again (with the parents created for it), if still empty."""
    created, folder = [], os.path.abspath(out)
    while not os.path.exists(folder):
        created.append(folder)
        folder = os.path.dirname(folder)
    prepare_folder(out)
    try:
        yield
    except BaseException:
        with contextlib.suppress(OSError):
            for folder in created:  # deepest first; rmdir removes only an empty folder
                os.rmdir(folder)
        raise


def write_report(r: Report, out: str) -> list[str]:
    """Write report.html, report.md and report.json into ``out``; return their paths."""
    prepare_folder(out)
    html, markdown, data = report_html(r), report_markdown(r), report_json(r)
    paths = [os.path.join(out, name) for name in FILES]
    write_text_atomic(paths[0], html)
    write_text_atomic(paths[1], markdown)
    write_json_atomic(paths[2], data)
    return paths
