"""The `flink` marker is enforced (tests/conftest.py): a test that starts Flink without it fails, whether it starts
a JVM running Flink (in any process below pytest) or asks for a fixture that runs the job."""

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

TESTS = Path(__file__).resolve().parent
UNDER_TEST = """
import pytest
from jobs.environment import local_environment


def test_unmarked_starting_flink():
    local_environment(1)


@pytest.mark.flink
def test_marked_starting_flink():
    local_environment(1)


def test_unmarked_using_the_job_run(job_run):
    pass


def test_unmarked_without_flink():
    assert True
"""


@pytest.mark.flink
def test_a_test_starting_flink_without_the_marker_fails(pytester):
    pytester.makeconftest((TESTS / "conftest.py").read_text())
    pytester.makepyfile(browser_support=(TESTS / "browser_support.py").read_text())  # the conftest imports it
    pytester.makepyfile(test_under_test=UNDER_TEST)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rA", timeout=300)
    result.stdout.fnmatch_lines_random([
        "*::test_unmarked_starting_flink started Flink (1 JVMs) without the flink marker",
        "*::test_unmarked_using_the_job_run uses job_run, which runs Flink: mark it flink",
        "PASSED*test_marked_starting_flink*",
        "PASSED*test_unmarked_without_flink*",
    ])  # fmt: skip
    result.assert_outcomes(passed=3, errors=2)  # the unmarked one starting Flink: its call passed, its teardown fails
