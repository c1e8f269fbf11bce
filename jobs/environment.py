"""The execution environment for PulseEcom jobs, configured from `flink-conf/config.yaml`."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml
from pyflink.common import Configuration
from pyflink.datastream import StreamExecutionEnvironment

FLINK_CONF = Path(__file__).resolve().parent.parent / "flink-conf" / "config.yaml"
# The standalone cluster's fixed ports; a local mini-cluster picks free ones so runs never collide.
CLUSTER_PORTS = {
    "jobmanager.rpc.port",
    "rest.port",
    "blob.server.port",
    "taskmanager.rpc.port",
    "taskmanager.data.port",
    "metrics.internal.query-service.port",
}


def flink_settings(path: Path = FLINK_CONF) -> dict[str, str]:
    """The flat key/value settings of a Flink config file."""
    return {str(k): str(v) for k, v in (yaml.safe_load(path.read_text()) or {}).items()}


def local_environment(parallelism: int | None = None) -> StreamExecutionEnvironment:
    """A mini-cluster environment with the project's settings and this interpreter as the Python worker."""
    config = Configuration()
    for key, value in flink_settings().items():
        if key not in CLUSTER_PORTS:
            config.set_string(key, value)
    config.set_string("python.executable", sys.executable)
    env = StreamExecutionEnvironment.get_execution_environment(config)
    if parallelism:
        env.set_parallelism(parallelism)
    return env
