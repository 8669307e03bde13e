"""The login throttle's SQL storage works with the oldest `limits` that setup.cfg admits and with
the newest: limits before 5.0 pass `elastic_expiry` to `incr()`, 5.x does not; 3.3 and older
lack the storage API the throttle uses."""

from __future__ import annotations

import os
import subprocess
import sys
from configparser import ConfigParser

import pytest

from tests.serving import ROOT

SCRIPT = """
import sys, time
import limits
from limits import parse
from limits.strategies import FixedWindowRateLimiter
from wiki.core.wiki import open_database
from wiki.web.ratelimit import SQLStorage

assert (limits.__version__ + ".0").startswith(sys.argv[2] + "."), limits.__version__
limiter = FixedWindowRateLimiter(SQLStorage(engine=open_database(sys.argv[1])))
item = parse("3 per minute")
assert all(limiter.hit(item, "login-account", "alice") for _ in range(3))
assert not limiter.test(item, "login-account", "alice") and not limiter.hit(item, "login-account", "alice")
assert limiter.test(item, "login-account", "bob")
stats = limiter.get_window_stats(item, "login-account", "alice")
assert stats.remaining == 0 and 0 < stats.reset_time - time.time() <= 61, stats
print("ok")
"""


def lowest_limits() -> str:
    config = ConfigParser()
    config.read(ROOT / "setup.cfg")
    for line in config["options"]["install_requires"].splitlines():
        if line.strip().startswith("limits>="):
            return line.strip().removeprefix("limits>=")
    pytest.fail("setup.cfg names no lower bound for limits")


@pytest.mark.parametrize("version", [lowest_limits(), "4.8"])
def test_the_login_throttle_counts_with_limits(version, tmp_path):
    target = tmp_path / "site"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--target", str(target),
                           f"limits=={version}", "deprecated", "packaging", "importlib_resources"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(target), str(ROOT)]))
    run = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "data"), version], capture_output=True,
                         text=True, env=env, cwd=tmp_path)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr[-3000:]
