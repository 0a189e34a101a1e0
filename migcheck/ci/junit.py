"""JUnit XML (the Ant/Jenkins format CI servers read) for a CI run.

One ``testsuite`` per check, one ``testcase`` per variant × property: ``classname`` is
``model.variant``, ``name`` the property. A verdict other than the expected one is a
``failure`` whose text is the counterexample (numbered steps) or the reason; an inconclusive
or error verdict is an ``error``. Passing cases keep their verdict in ``system-out``.
"""

from __future__ import annotations

import re
import socket
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

from .. import render
from ..runner import Result
from .checks import CheckRun
from .config import Config

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")  # not allowed in XML 1.0


def _clean(text: str) -> str:
    return _CONTROL.sub("?", text)


def _doc(r: Result) -> str:
    return next((p.doc for p in r.system.properties if p.name == r.verdict.property), "")


def _headline(r: Result) -> str:
    params = " ".join(f"{k}={v}" for k, v in r.system.params)
    return (f"{r.system.model} [{r.system.variant}] {params}: {r.verdict.property}: "
            f"{render.verdict_text(r)}")


def verdict_details(r: Result) -> str:
    v = r.verdict
    lines = [_headline(r), f"engine {v.engine}; IR {r.system.ir_hash}"]
    if v.trace is not None:
        lines += ["", render.trace_text(v.trace, r.system, _doc(r))]
    elif v.reason:
        lines.append(v.reason)
    return "\n".join(lines)


def testcase(r: Result) -> ET.Element:
    case = ET.Element("testcase", name=r.verdict.property,
                      classname=f"{r.system.model}.{r.system.variant}", time=f"{r.verdict.stats.seconds:.3f}")
    v = r.verdict
    if v.verdict in ("inconclusive", "error") and not r.as_expected:
        err = ET.SubElement(case, "error", message=_clean(f"{v.verdict}: {v.reason}"), type=v.verdict)
        err.text = _clean(verdict_details(r))
    elif not r.as_expected:
        fail = ET.SubElement(case, "failure", type="unexpected-verdict",
                             message=_clean(f"{v.property}: {render.verdict_text(r)}"))
        fail.text = _clean(verdict_details(r))
    out = ET.SubElement(case, "system-out")
    out.text = _clean(verdict_details(r) if r.as_expected else _headline(r))
    return case


def junit_xml(config: Config, runs: list[CheckRun]) -> str:
    """The JUnit XML document for ``runs``."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    host = socket.gethostname() or "localhost"
    suites = ET.Element("testsuites", name="migcheck")
    totals = {"tests": 0, "failures": 0, "errors": 0}
    seconds = 0.0
    for k, cr in enumerate(runs):
        results = list(cr.results)
        errors = sum(1 for r in results
                     if not r.as_expected and r.verdict.verdict in ("inconclusive", "error"))
        failures = sum(1 for r in results if not r.as_expected) - errors
        spent = sum({(r.system.variant, r.verdict.engine): r.verdict.stats.seconds for r in results}.values())
        suite = ET.SubElement(suites, "testsuite", name=cr.spec.name, tests=str(len(results)),
                              failures=str(failures), errors=str(errors), skipped="0",
                              time=f"{spent:.3f}", timestamp=stamp, hostname=host, id=str(k),
                              package=f"migcheck.{cr.spec.model.name}")
        props = ET.SubElement(suite, "properties")
        facts = [("config", config.path), ("model", cr.spec.model_spec), ("engine", cr.spec.engine),
                 ("params", " ".join(f"{p}={v}" for p, v in cr.spec.params))]
        systems = {r.system.variant: r.system for r in results}.values()
        facts += [(f"params.{s.variant}", " ".join(f"{p}={v}" for p, v in s.params)) for s in systems]
        facts += [(f"ir_hash.{s.variant}", s.ir_hash) for s in systems]
        for name, value in facts:
            ET.SubElement(props, "property", name=name, value=_clean(value))
        for r in results:
            suite.append(testcase(r))
        ET.SubElement(suite, "system-out").text = ""
        ET.SubElement(suite, "system-err").text = ""
        totals["tests"] += len(results)
        totals["failures"] += failures
        totals["errors"] += errors
        seconds += spent
    for key, value in totals.items():
        suites.set(key, str(value))
    suites.set("time", f"{seconds:.3f}")
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
