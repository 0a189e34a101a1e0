"""Compiling generated C into a shared library, cached by the hash of its source.

The cache lives in ``$MIGCHECK_CACHE`` or ``~/.cache/migcheck/native``; a library is written
to a temporary name and renamed, so concurrent runs never load a half-written file.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from migcheck.models.errors import MigcheckError

FLAGS = ("-O2", "-shared", "-fPIC", "-std=c11", "-fno-strict-aliasing")


class NativeUnavailable(MigcheckError):
    """The native backend cannot run here (no C compiler, or the compiler failed). ``quiet``:
    falling back to the Python backend is a choice, not a problem worth a note."""

    def __init__(self, message: str, quiet: bool = False):
        super().__init__(message)
        self.quiet = quiet


def find_compiler() -> str | None:
    """The C compiler: ``$CC`` if set, else cc, gcc or clang on PATH; None when there is none."""
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def cache_dir() -> Path:
    root = os.environ.get("MIGCHECK_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "migcheck")
    return Path(root) / "native"


def library_path(source: str, cc: str) -> Path:
    """Where the library built from ``source`` by ``cc`` is cached."""
    digest = hashlib.sha256("\0".join((cc, *FLAGS, source)).encode()).hexdigest()[:24]
    return cache_dir() / f"search-{digest}.so"


def is_built(source: str) -> bool:
    """Whether `load` would find ``source``'s library in the cache (no compiler run)."""
    cc = find_compiler()
    return cc is not None and library_path(source, cc).exists()


def load(source: str) -> ctypes.CDLL:
    """The library built from ``source`` (compiled once per distinct source and compiler flags)."""
    cc = find_compiler()
    if cc is None:
        raise NativeUnavailable("no C compiler found (set CC, or install gcc or clang)")
    lib = library_path(source, cc)
    folder = lib.parent
    if not lib.exists():
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=folder) as tmp:
            c_file = Path(tmp) / "search.c"
            c_file.write_text(source)
            out = Path(tmp) / "search.so"
            done = subprocess.run([cc, *FLAGS, "-o", str(out), str(c_file)], capture_output=True, text=True)
            if done.returncode != 0:
                first = (done.stderr.strip().splitlines() or ["no message"])[0]
                raise NativeUnavailable(f"the C compiler failed on the generated search: {first}")
            os.replace(out, lib)
    return ctypes.CDLL(str(lib))
