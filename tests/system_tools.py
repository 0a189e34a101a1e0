"""Programs the tests need from the operating system (Graphviz's `dot`, Debian's `chromium`).

The README's test command must pass on a fresh machine by itself, so a missing program is
installed from Debian's packages with apt-get, never skipped over. pytest-xdist workers may ask
at the same moment: a file lock lets one of them install while the others wait and then find
the program.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

LOCK = Path(tempfile.gettempdir()) / "migcheck-tests-apt.lock"


class ToolUnavailable(RuntimeError):
    """The program is missing and apt-get cannot install it here."""


def debian_tool(command: str, package: str) -> str:
    """The path of `command`, installing Debian's `package` first when it is missing.

    Raises ToolUnavailable, saying what to run, when neither the program nor a usable apt-get
    (as root) is there, or when the install does not give the program.
    """
    found = shutil.which(command)
    if found:
        return found
    with LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        found = shutil.which(command)  # another worker may have installed it meanwhile
        if found:
            return found
        apt = shutil.which("apt-get")
        if apt is None or os.geteuid() != 0:
            raise ToolUnavailable(
                f"the tests need '{command}' (Debian package {package}); install it as root: "
                f"apt-get update && apt-get install -y {package}")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for argv in ([apt, "update"], [apt, "install", "-y", package]):
            done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise ToolUnavailable(f"{' '.join(argv)} failed ({done.returncode}): "
                                      f"{(done.stderr or done.stdout).strip()[-500:]}")
        found = shutil.which(command)
        if not found:
            raise ToolUnavailable(f"apt-get installed {package} but '{command}' is not on PATH")
        return found
