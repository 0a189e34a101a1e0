"""Importing a user's model file apart from the command that asked for it.

A model file only defines models. Whatever else its import does would pass for migcheck's
own doing: ``sys.exit(0)`` would end ``migcheck check`` (or ``migcheck ci``) with status 0
and no verdict, a ``print`` would break ``--json``. So an import that exits, ends the
process, raises, writes output, starts a thread or registers an exit handler is refused as a
bad model, in one line that says what it did.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import os
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator

from migcheck.models.errors import ModelDefinitionError

_SURVIVED = b"imported"


def run_import(load: Callable[[], None], path: str, where: Callable[[BaseException], str]) -> None:
    """Run ``load`` (the import of model file ``path``) in isolation; raise `ModelDefinitionError`
    naming what the import did besides defining models. ``where`` gives " (line N)" for an
    exception raised in the file."""
    ended = _ends_the_process(load)
    if ended:
        raise ModelDefinitionError(f"model file '{path}' ends the process when imported ({ended}); "
                                   "a model file only defines models")
    threads = threading.active_count()
    with _captured() as output, _exit_handlers_of(path) as handlers:
        try:
            load()
        except ModelDefinitionError as exc:
            raise ModelDefinitionError(f"{path}: {exc}") from None
        except SystemExit as exc:
            raise ModelDefinitionError(f"model file '{path}'{where(exc)} calls exit({exc.code!r}) when "
                                       "imported; a model file only defines models") from None
        except Exception as exc:  # a user's file may fail in any way; report it as one line
            raise ModelDefinitionError(f"model file '{path}'{where(exc)} does not load: "
                                       f"{type(exc).__name__}: {exc}") from None
    did = ""
    if output:
        did = f"writes output when imported ({_excerpt(output[0])})"
    elif threading.active_count() > threads:
        did = "starts a thread when imported"
    elif handlers:
        did = "registers an exit handler when imported"
    if did:
        raise ModelDefinitionError(f"model file '{path}' {did}; a model file only defines models")


def _ends_the_process(load: Callable[[], None]) -> str:
    """Import once in a forked child: "" if the child got to the end, else how it ended
    (``os._exit`` at import cannot be caught in this process). Skipped where fork is missing."""
    if not hasattr(os, "fork"):
        return ""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: no output, no cleanup of the parent's state, only a report
        try:
            os.close(read)
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            with contextlib.suppress(BaseException):
                load()
            os.write(write, _SURVIVED)
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        report = pipe.read()
    _, status = os.waitpid(pid, 0)
    if report == _SURVIVED:
        return ""
    code = os.waitstatus_to_exitcode(status)
    return f"exit status {code}" if code >= 0 else f"signal {-code}"


@contextlib.contextmanager
def _captured() -> Iterator[list[str]]:
    """Collect what is written to standard output and error, by Python or to the descriptors."""
    found: list[str] = []
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    saved = (os.dup(1), os.dup(2))
    python = io.StringIO()
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        streams = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = python
        try:
            yield found
        finally:
            sys.stdout, sys.stderr = streams
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            sink.seek(0)
            text = python.getvalue() + sink.read().decode(errors="replace")
            if text:
                found.append(text)


@contextlib.contextmanager
def _exit_handlers_of(path: str) -> Iterator[list[Callable[..., object]]]:
    """The exit handlers the file itself registers while imported, unregistered again (those
    of libraries it imports, such as logging's, stay)."""
    found: list[Callable[..., object]] = []
    real, own = atexit.register, os.path.abspath(path)

    def register(fn: Callable[..., object], *args: object, **kwargs: object) -> Callable[..., object]:
        if os.path.abspath(sys._getframe(1).f_code.co_filename) == own:
            found.append(fn)
        return real(fn, *args, **kwargs)

    atexit.register = register
    try:
        yield found
    finally:
        atexit.register = real
        for fn in found:
            atexit.unregister(fn)


def _excerpt(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else text
    return repr(line[:60] + ("..." if len(line) > 60 else ""))
