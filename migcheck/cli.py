"""The `migcheck` command: list models, check them, and (later) replay and report.

Exit status: 0 every verdict as expected; 1 a property violated unexpectedly (or an expected
violation not found); 2 bad input, an inconclusive result or an error.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import shutil
import sys
from typing import Any

from migcheck.checker.trace import write_json_atomic, write_text_atomic
from migcheck.models.errors import MigcheckError, ParameterError, UsageError
from migcheck.models.library import BUNDLED, DEFAULT_MODEL, bundled, resolve
from migcheck.models.model import Model, build

from . import __version__, render
from .progress import Progress
from .runner import BACKENDS, ENGINES, Result, coverage, exit_status, run, strict_failures


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except MigcheckError as exc:
        print(f"migcheck: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("migcheck: interrupted", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader went away (| head): nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as exc:  # a traceback is a bug: say so in one line, keep it for debugging
        if os.environ.get("MIGCHECK_DEBUG"):
            raise
        print(f"migcheck: internal error: {type(exc).__name__}: {exc} "
              "(a bug in migcheck; set MIGCHECK_DEBUG=1 for the traceback)", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="migcheck", description="Verify device live-migration protocols.")
    p.add_argument("--version", action="version", version=f"migcheck {__version__}")
    sub = p.add_subparsers(dest="command")

    ls = sub.add_parser("list", help="models, variants, properties and parameters")
    ls.add_argument("model", nargs="?", help="a bundled model's name or a model file (default: all bundled)")
    ls.add_argument("--json", action="store_true", help="print one JSON object")
    ls.set_defaults(func=cmd_list)

    ck = sub.add_parser("check", help="check a model's variants and properties")
    _add_selection(ck)
    ck.add_argument("--certificate-out", metavar="FILE",
                    help="write the re-checked inductive invariants of proved properties (SMT-LIB 2)")
    ck.add_argument("--strict", action="store_true",
                    help="fail (exit 1) when an action is never enabled, or a witness never reached "
                         "that the variant does not expect to be unreachable")
    ck.add_argument("--matrix", action="store_true",
                    help="also print the full variants × properties table (printed anyway when "
                         "--variant or --property narrows the check)")
    ck.add_argument("--cluster", metavar="local:N|ADDRESS",
                    help="explore on a Dask cluster: local:N starts N workers here, an address "
                         "(tcp://host:8786) joins a running scheduler; explicit engine, safety and "
                         "witnesses; same verdicts, states and counterexamples (pip install "
                         "'migcheck[cluster]')")
    ck.add_argument("--json", action="store_true", help="print one JSON object")
    ck.add_argument("--trace-out", metavar="FILE", help="write the first counterexample as JSON")
    ck.set_defaults(func=cmd_check)

    rp = sub.add_parser("replay", help="replay a counterexample trace on the concrete VF emulator")
    rp.add_argument("trace", metavar="TRACE.json", help="a trace written by check --trace-out")
    rp.add_argument("--json", action="store_true", help="print one JSON object")
    rp.add_argument("--iommu", metavar="whole-ram|mapped",
                    help="what the VF can reach (guest-assisted): the whole guest RAM, as in 2015 "
                         "without a vIOMMU and as the model assumes (the default), or only the pages "
                         "the driver mapped (a vIOMMU: other writes fault and are dropped)")
    rp.set_defaults(func=cmd_replay)
    _add_report_parser(sub)
    _add_ci_parser(sub)
    return p


def _add_selection(p: argparse.ArgumentParser) -> None:
    """What check and report share: the model, its variants, properties, parameters and engine."""
    p.add_argument("model", nargs="?", default=DEFAULT_MODEL,
                   help=f"a bundled model's name or a path to a .py file (default: {DEFAULT_MODEL})")
    p.add_argument("--variant", action="append", metavar="V", help="only this variant (repeatable)")
    p.add_argument("--property", action="append", metavar="P", help="only this property (repeatable)")
    p.add_argument("--set", action="append", metavar="NAME=VALUE", default=[],
                   help="set a model parameter (repeatable)")
    p.add_argument("--engine", default="explicit", choices=ENGINES,
                   help="explicit (exhaustive search, the default), bmc (bounded), kind (k-induction), "
                        "pdr (IC3-style blocking, then z3 Spacer), or all (explicit cross-checked by "
                        "bmc and pdr)")
    p.add_argument("--depth", type=_natural, metavar="K",
                   help="bmc: the bound; kind: the largest k is K+1 (default 25). Deadlock and "
                        "liveness are checked by the explicit engine only")
    p.add_argument("--max-states", type=_positive_int, metavar="N", help="stop after N distinct states")
    p.add_argument("--timeout", type=_positive_float, metavar="S",
                   help="stop after S seconds, for the whole command (every variant and engine together)")
    p.add_argument("--backend", default="auto", choices=BACKENDS,
                   help="the explicit search compiled to C (native) or to Python; auto (the default) "
                        "is native when a C compiler is present. Same states, verdicts and traces")
    p.add_argument("--symmetry", action="store_true",
                   help="explore one state per orbit of index sets declared symmetric (safety only; "
                        "refused, with the reason, when the model is not symmetric)")


def _number(convert: type, what: str, zero_ok: bool = False):
    """An argparse type: ``convert`` the text, refusing what is not a number or is too small."""

    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not {what}") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"'{text}' is not {what}")
        if value < 0 or (value == 0 and not zero_ok):
            raise argparse.ArgumentTypeError(f"{value} must be {'0 or more' if zero_ok else 'positive'}")
        return value

    return parse


_positive_int = _number(int, "an integer")
_natural = _number(int, "an integer", zero_ok=True)
_positive_float = _number(float, "a number of seconds")


def parse_sets(items: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise ParameterError(f"--set '{item}': write NAME=VALUE, for example --set pages=2")
        params[name.strip()] = value.strip()
    return params


# ---------------------------------------------------------------- list


def cmd_list(args: argparse.Namespace) -> int:
    models = [resolve(args.model)] if args.model else [bundled(n) for n in BUNDLED]
    described = [describe(m) for m in models]
    if args.json:
        print(json.dumps({"migcheck": __version__, "models": described}, indent=2))
        return 0
    for d in described:
        default = "  (default)" if d["name"] == DEFAULT_MODEL else ""
        print(f"{d['name']}{default}: {d['doc']}")
        print("  parameters:")
        for p in d["parameters"]:
            print(f"    {p['name']} = {p['default']}  (allowed {p['allowed']})  {p['doc']}")
        print("  properties:")
        for p in d["properties"]:
            print(f"    {p['name']} [{p['kind']}]  {p['doc']}")
        print("  variants:")
        for v in d["variants"]:
            exp = ", ".join(f"{k}: {val}" for k, val in v["expect"].items() if val != "holds")
            print(f"    {v['name']}: {v['doc']}" + (f"  (expected: {exp})" if exp else ""))
            if v.get("source"):
                print(f"      source: {v['source']}")
        print()
    return 0


def describe(model: type[Model]) -> dict[str, Any]:
    """A model's parameters, properties and variants, as data."""
    system = build(model)
    props = [{"name": p.name, "kind": p.kind, "doc": p.doc} for p in system.properties]
    if system.check_deadlock:
        props.append({"name": "deadlock", "kind": "deadlock", "doc": "no reachable state without a "
                      "successor, except final states"})
    return {
        "name": model.name,
        "doc": model.doc(),
        "parameters": [{"name": k, "default": p.default, "allowed": p.describe_allowed(), "doc": p.doc}
                       for k, p in model.parameters().items()],
        "properties": props,
        "variants": [{"name": n, "doc": v.doc(), "expect": dict(v.expect),
                      **({"source": v.source} if getattr(v, "source", "") else {})}
                     for n, v in model.variants().items()],
    }


# ---------------------------------------------------------------- check


def cmd_check(args: argparse.Namespace) -> int:
    model = resolve(args.model)
    params = parse_sets(args.set)
    for flag, path in (("--trace-out", args.trace_out), ("--certificate-out", args.certificate_out)):
        if path:
            _check_writable(path, flag)
    with Progress(sys.stderr) as progress:
        results = run(model, variants=args.variant, properties=args.property, params=params,
                      engine=args.engine, max_states=args.max_states, timeout=args.timeout,
                      depth=args.depth, symmetry=args.symmetry, cluster=args.cluster,
                      backend=_backend(args.backend, args.engine, args.cluster), on_progress=progress)
    written = None
    if args.trace_out:
        written = _write_first_trace(args.trace_out, results)
    certified = _write_certificates(args.certificate_out, results) if args.certificate_out else 0
    status = exit_status(results)
    if args.strict and status == 0 and strict_failures(results):
        status = 1
    if args.json:
        payload = render.results_json(results)
        payload["coverage"] = coverage(results)
        print(json.dumps(payload, indent=2))
        return status
    if results:
        print(render.headers(results))
        print()
        print(render.summary(results, _terminal_width()))
    narrow = bool(args.variant) or bool(args.property)
    if results and (args.matrix or narrow):
        print()
        print(render.table(results))
    hidden, errors_shown = [], set()
    for r in results:
        if r.verdict.verdict == "error" and r.verdict.trace is not None:  # e.g. a value out of its domain
            if (r.system.variant, r.verdict.reason) not in errors_shown:  # the same run for every property
                errors_shown.add((r.system.variant, r.verdict.reason))
                print()
                print(render.trace_text(r.verdict.trace, r.system, error=r.verdict.reason))
        elif r.verdict.trace is not None and (r.unexpected_violation or narrow):
            doc = next((p.doc for p in r.system.properties if p.name == r.verdict.property), "")
            print()
            print(render.trace_text(r.verdict.trace, r.system, doc))
            replay = _replay_command(args, r)
            if replay:
                print(f"Replay it on the emulator: {replay}")
        elif r.verdict.trace is not None:
            hidden.append(r)
        elif r.verdict.verdict == "error" and r.verdict.reason:
            print(f"\n{r.system.variant}: {r.verdict.property}: {r.verdict.reason}")
    if hidden:
        first = hidden[0]
        print(f"\nThe counterexamples of known bugs ({len(hidden)}) are not shown; name a variant and a "
              f"property to see one: {shlex.join(_check_argv(args, first))}")
    gaps = [c for c in coverage(results) if c["never_enabled"] or c["dropped_at_load"]
            or c["witnesses_not_reached"]]
    if gaps:
        print("\ncoverage" + (" (--strict: these fail the check)" if args.strict else "") + ":")
        for c in gaps:
            if c["never_enabled"]:
                print(f"  {c['variant']}: actions never enabled: {', '.join(c['never_enabled'])}")
            if c["dropped_at_load"]:
                print(f"  {c['variant']}: actions whose guard is false in every state (dropped at load): "
                      f"{', '.join(c['dropped_at_load'])}")
            if c["witnesses_not_reached"]:
                print(f"  {c['variant']}: witnesses never reached: {', '.join(c['witnesses_not_reached'])}")
    if args.certificate_out:
        print(f"\n{certified} certificate(s) written to {args.certificate_out}" if certified else
              "\nno property was proved by kind or pdr: nothing written to --certificate-out")
    for r in results:
        if r.verdict.verdict == "error" and "engines disagree" in r.verdict.reason:
            print(f"\n{r.system.variant}: {r.verdict.reason}")
    if args.trace_out:
        print(f"\ntrace written to {args.trace_out}" if written else
              "\nno counterexample: nothing written to --trace-out")
    bad = sum(not r.as_expected for r in results)
    print(f"\n{len(results) - bad} of {len(results)} verdicts as expected" +
          ("" if status == 0 else f"; exit status {status}"))
    return status


def _terminal_width() -> int | None:
    """The terminal's width when stdout is one (lines are cut to it), else None."""
    return shutil.get_terminal_size().columns if sys.stdout.isatty() else None


def _check_argv(args: argparse.Namespace, r: Result) -> list[str]:
    """The `migcheck check` command that shows just this result's counterexample."""
    argv = ["migcheck", "check", args.model, "--variant", r.system.variant, "--property", r.verdict.property]
    for item in args.set:
        argv += ["--set", item]
    return argv


def _replay_command(args: argparse.Namespace, r: Result) -> str | None:
    """The commands that write this counterexample and replay it on the emulator; None when no
    emulator implements the model."""
    if r.verdict.trace is None or not _replayable(r.system.model):
        return None
    path = f"{r.system.variant}-{r.verdict.property}.json"
    return f"{shlex.join([*_check_argv(args, r), '--trace-out', path])} && migcheck replay {path}"


def _replayable(model: str) -> bool:
    """Whether an emulator implements ``model`` (it has a binding), so that its traces replay."""
    from migcheck.emulator.bindings import BINDINGS

    return model in BINDINGS


def _backend(backend: str, engine: str, cluster: str | None) -> str:
    """``auto`` without a C compiler: the Python backend, said in one line on stderr."""
    if backend == "auto" and engine in ("explicit", "all") and cluster is None:
        from migcheck.checker.native.build import find_compiler

        if find_compiler() is None:
            print("migcheck: no C compiler found (set CC or install gcc); using the Python backend",
                  file=sys.stderr)
            return "python"
    return backend


def _check_writable(path: str, flag: str) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path) or not os.path.isdir(folder) or not os.access(folder, os.W_OK):
        raise MigcheckError(f"{flag} '{path}': cannot write there; give a file path in an "
                            "existing, writable folder")


def _write_certificates(path: str, results: list) -> int:
    """Every re-checked certificate in one SMT-LIB 2 file, each under a comment naming it."""
    from migcheck.checker.symbolic import certificate_smtlib  # loads z3

    texts = []
    for r in results:
        cert = r.verdict.extra.get("certificate")
        if cert is not None and r.verdict.verdict == "holds" and r.verdict.complete:
            texts.append(f"; ---- {r.system.model} [{r.system.variant}] {r.verdict.property} "
                         f"({r.verdict.engine})\n" + certificate_smtlib(r.system, cert))
    if texts:
        write_text_atomic(path, "\n".join(texts))
    return len(texts)


def _write_first_trace(path: str, results: list) -> bool:
    for r in results:
        if r.verdict.trace is not None and r.verdict.verdict == "violated":
            payload = r.verdict.trace.to_json(r.system)
            payload["migcheck"] = __version__
            write_json_atomic(path, payload)
            return True
    return False


# ---------------------------------------------------------------- replay


def cmd_replay(args: argparse.Namespace) -> int:
    """0 the violation shows on the emulator; 1 it does not; 2 bad input or a diverging replay."""
    from migcheck.emulator.iommu import IOMMU_SETTINGS

    from . import replay

    settings = {} if args.iommu is None else {"iommu": args.iommu}
    try:
        if args.iommu is not None and args.iommu not in IOMMU_SETTINGS:  # before reading the trace
            raise UsageError(f"--iommu {args.iommu!r}: one of {', '.join(IOMMU_SETTINGS)}")
        report = replay.replay_file(args.trace, settings)
    except MigcheckError as exc:  # main prints the line on stderr; --json has it on stdout too
        if args.json:
            print(json.dumps(replay.error_json(args.trace, exc), indent=2))
        raise
    print(json.dumps(replay.report_json(report), indent=2) if args.json else replay.report_text(report))
    return report.exit_status


# ---------------------------------------------------------------- report


def _add_report_parser(sub: Any) -> None:
    rp = sub.add_parser("report", help="write a design verification report (HTML, Markdown, JSON)")
    _add_selection(rp)  # with --symmetry the state counts are the reduced search's; pictures stay whole
    rp.add_argument("--graph-states", type=_natural, default=300, metavar="N",
                    help="draw the state graph of variants with at most N states (default 300)")
    rp.add_argument("--out", required=True, metavar="DIR",
                    help="the folder for report.html, report.md and report.json (created if missing)")
    rp.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    """Exit status as for check; the report is written whatever the verdicts."""
    from .report import build_report, write_report
    from .report.document import claimed_folder

    model = resolve(args.model)
    params = parse_sets(args.set)
    argv = ["migcheck", "report", args.model]
    for flag, values in (("--variant", args.variant), ("--property", args.property), ("--set", args.set)):
        for value in values or []:
            argv += [flag, value]
    argv += ["--engine", args.engine]
    for flag, value in (("--depth", args.depth), ("--max-states", args.max_states),
                        ("--timeout", args.timeout)):
        if value is not None:
            argv += [flag, str(value)]
    if args.symmetry:
        argv.append("--symmetry")
    if args.graph_states != 300:
        argv += ["--graph-states", str(args.graph_states)]
    argv += ["--out", args.out]
    status = Progress(sys.stderr, prefix="report: ")
    try:
        with claimed_folder(args.out):  # a run that fails leaves no empty folder behind
            report = build_report(model, variants=args.variant, properties=args.property, params=params,
                                  engine=args.engine, max_states=args.max_states, timeout=args.timeout,
                                  depth=args.depth, symmetry=args.symmetry, graph_limit=args.graph_states,
                                  command=shlex.join(argv), backend=_backend(args.backend, args.engine, None),
                                  on_search=status, on_stage=status.stage)
            status.stage("writing the report")
            paths = write_report(report, args.out)
    finally:
        status.close()
    print(f"{report.as_expected} of {len(report.results)} verdicts as expected; "
          f"{len(report.violations)} counterexample(s)")
    for path in paths:
        print(f"written: {path}")
    return report.exit_status


# ---------------------------------------------------------------- ci


def _add_ci_parser(sub: Any) -> None:
    ci = sub.add_parser("ci", help="check what [tool.migcheck] (or migcheck.toml) lists, for CI")
    ci.add_argument("--config", metavar="FILE",
                    help="a pyproject.toml with [tool.migcheck], or a migcheck.toml (default: "
                         "./pyproject.toml if it has [tool.migcheck], else ./migcheck.toml)")
    ci.add_argument("--junit", metavar="FILE", help="write JUnit XML (one testcase per variant × property)")
    ci.add_argument("--sarif", metavar="FILE", help="write SARIF 2.1.0 (one result per unexpected verdict)")
    ci.add_argument("--cluster", metavar="local:N|ADDRESS",
                    help="run every check × variant as a task on a Dask cluster (local:N starts N "
                         "workers here; an address joins a running scheduler)")
    ci.set_defaults(func=cmd_ci)


def cmd_ci(args: argparse.Namespace) -> int:
    """0 every verdict as expected; 1 one is not; 2 bad configuration or an inconclusive result."""
    from .ci import junit_xml, load_config, run_checks, sarif_log, summary_text

    for flag, path in (("--junit", args.junit), ("--sarif", args.sarif)):
        if path:
            _check_writable(path, flag)
    config = load_config(args.config)
    with Progress(sys.stderr) as progress:
        runs = run_checks(config, on_progress=progress, cluster=args.cluster)
    if args.junit:
        write_text_atomic(args.junit, junit_xml(config, runs))
    if args.sarif:
        write_json_atomic(args.sarif, sarif_log(config, runs))
    text, status = summary_text(config, runs)
    print(text)
    for flag, path in (("JUnit XML", args.junit), ("SARIF", args.sarif)):
        if path:
            print(f"{flag} written to {path}")
    return status


if __name__ == "__main__":
    sys.exit(main())
