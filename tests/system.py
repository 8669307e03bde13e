"""System programs the tests need, installed from Debian's packages when missing.

CI starts from a clean machine as root; the test command must bring what it
needs itself. Outside root (a developer's machine) a missing program fails
the test with the command that installs it.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess

import pytest


def ensure_package(program_glob: str, package: str) -> str:
    """The path of a program, installing its Debian package first if needed."""
    found = sorted(glob.glob(program_glob))
    if found:
        return found[-1]
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", package]
        if subprocess.run(install, env=env, capture_output=True).returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True)
            subprocess.run(install, env=env, capture_output=True, check=True)
        found = sorted(glob.glob(program_glob))
        if found:
            return found[-1]
    pytest.fail(f"{program_glob} is missing: install it with `apt-get install {package}`")
