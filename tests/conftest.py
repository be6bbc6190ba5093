"""Shared pytest configuration for tinygen's tests."""
from __future__ import annotations

import os
import signal

import pytest
from hypothesis import HealthCheck, settings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Tests Ctrl-C the CLI (monitor, flash, flash --pty, the farm's monitor) and expect it to stop. A test run started as
# a background job of a non-interactive shell (`cmd &` in a script, CI runners) inherits SIGINT ignored (POSIX), and
# exec keeps it ignored in every child: those CLIs would never see the Ctrl-C. The tests' processes take Python's
# default handling back, so their children start with SIGINT at its default.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# Hypothesis profiles: "default" keeps the README's test command fast;
# TINYGEN_HYPOTHESIS_PROFILE=thorough runs many more examples (by hand).
settings.register_profile("default", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", deadline=None, max_examples=500, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("TINYGEN_HYPOTHESIS_PROFILE", "default"))



def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", default=False, help="run long fuzzing and soak tests")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


# --- test-model zoo (tests/support/zoo.py) -----------------------------------------
@pytest.fixture(scope="session")
def zoo():
    """{name: Path} of every zoo model, built once into the cache if missing (needs TensorFlow)."""
    import importlib.util

    from tests.support.zoo import build_zoo

    if importlib.util.find_spec("tensorflow") is None:
        pytest.skip("the model zoo needs TensorFlow to build")
    return build_zoo()
