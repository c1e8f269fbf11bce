"""DNS rebinding: a webhook host that resolves to a public address for the check and to 127.0.0.1 a moment later
must not reach the loopback receiver. Replayed in a network namespace of the test's own
(tests/incidents/rebinding_probe.py), with real receivers and the real dispatcher; only the resolver is the test's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
TESTS = HERE.parent


@pytest.fixture(scope="module")
def probe() -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), str(TESTS.parent)]),
           "REBIND_SECRET": "whsec_c2VjcmV0", "PRIVATE_SECRET": "whsec_c2VjcmV0"}  # fmt: skip
    command = ["unshare", "--net", sys.executable, str(HERE / "rebinding_probe.py")]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    if result.returncode != 0:
        pytest.fail(f"the probe needs root for its network namespace (`unshare --net`): {result.stderr[-2000:]}")
    return json.loads(result.stdout)


def test_the_connection_goes_to_the_address_that_was_checked(probe):
    assert probe["loopback"] == []  # the rebound answer (127.0.0.1) was never connected to
    assert probe["public"] == [["/rebind", "rebind.test:19614"]]  # the checked one was, with the host's name
    assert [h for h, _ in probe["asked"]].count("rebind.test") == 1  # one resolution, for check and connection
    assert ["rebind", True, ""] in probe["attempts"]


def test_a_host_resolving_to_a_private_address_is_refused_when_connecting(probe):
    assert ["private", "webhook host private.test resolves to non-public address 127.0.0.1; an operator can allow "
            "private addresses with `pulse dispatch --allow-private`"] in probe["dead"]  # fmt: skip
    assert [a for a in probe["attempts"] if a[0] == "private"] == []
