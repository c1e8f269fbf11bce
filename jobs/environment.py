"""The execution environment for PulseEcom jobs, configured from `flink-conf/config.yaml`."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import yaml
from pyflink.common import Configuration
from pyflink.datastream import StreamExecutionEnvironment

FLINK_CONF = Path(__file__).resolve().parent.parent / "flink-conf" / "config.yaml"
JARS = Path(__file__).resolve().parent.parent / ".jars" / "flink"  # pom.xml's flink profile, fetched by `make jars`
# Flink's Kafka connector, and zstd-jni: its Kafka client reads zstd-compressed records with it but does not bundle it
# (lz4 and snappy come with Flink). A job reading Kafka needs both, as `pipeline.jars` or `flink run` options.
KAFKA_JARS = (JARS / "flink-sql-connector-kafka-5.0.0-2.2.jar", JARS / "zstd-jni-1.5.6-10.jar")
FLINK_CONF_ENV = "PULSE_FLINK_CONF"  # another config file for local runs (e.g. a test's shorter restart strategy)
RESTART_LIMIT = "restart-strategy.exponential-delay.attempts-before-reset-backoff"
WORKER_MODE = "_python_worker_execution_mode"  # PyFlink: "process" or "loopback" (its default for local jobs)
TASKMANAGER_JVM_OPTS = "env.java.opts.taskmanager"
SLOTS = "taskmanager.numberOfTaskSlots"
# The standalone cluster's fixed ports; a local mini-cluster picks free ones so runs never collide.
CLUSTER_PORTS = {
    "jobmanager.rpc.port",
    "rest.port",
    "blob.server.port",
    "taskmanager.rpc.port",
    "taskmanager.data.port",
    "metrics.internal.query-service.port",
}


def flink_settings(path: Path | None = None) -> dict[str, str]:
    """The flat key/value settings of a Flink config file (default: `$PULSE_FLINK_CONF`, else FLINK_CONF)."""
    path = path or Path(os.environ.get(FLINK_CONF_ENV) or FLINK_CONF)
    return {str(k): str(v) for k, v in (yaml.safe_load(path.read_text()) or {}).items()}


def restart_limit() -> int | None:
    """How many restarts in a row the local runs' restart strategy allows before the job fails for good."""
    limit = flink_settings().get(RESTART_LIMIT)
    return int(limit) if limit is not None else None


def local_settings(run_dir: Path, parallelism: int | None = None) -> dict[str, str]:
    """The mini-cluster's settings: the project's, without the cluster's ports, checkpointing to files in `run_dir`,
    with two slots per subtask of the job's `parallelism` (default: the project's), as the keyed step runs in
    slots of its own.

    Checkpoints never go to the JobManager's memory, whose 5 MB limit a tenant's state can exceed."""
    settings = {key: value for key, value in flink_settings().items() if key not in CLUSTER_PORTS}
    if parallelism:
        settings[SLOTS] = str(2 * parallelism)
    settings["execution.checkpointing.storage"] = "filesystem"
    settings["execution.checkpointing.dir"] = (run_dir / "checkpoints").resolve().as_uri()
    settings["execution.checkpointing.savepoint-dir"] = (run_dir / "savepoints").resolve().as_uri()
    settings["python.executable"] = sys.executable
    return settings


def local_environment(parallelism: int | None = None, run_dir: Path | None = None) -> StreamExecutionEnvironment:
    """A mini-cluster environment with the project's settings and this interpreter as the Python worker;
    checkpoints go to `run_dir`/checkpoints (default: a new temporary folder).

    Python steps run in worker processes, one per task slot, as on a cluster. PyFlink's default for a local
    job ("loopback") runs them all as threads of this process, sharing its GIL: the whole job then reached
    31-36% of the no-Flink ceiling against 40-45% with worker processes (bench/throughput.py, same hour).
    The switch is PyFlink's environment variable, read when the job is submitted; set it to "loopback" to
    debug a job in this process."""
    os.environ.setdefault(WORKER_MODE, "process")
    _give_gateway_taskmanager_jvm_options()
    config = Configuration()
    folder = run_dir if run_dir is not None else Path(tempfile.mkdtemp(prefix="pulse-run-"))
    for key, value in local_settings(folder, parallelism).items():
        config.set_string(key, value)
    env = StreamExecutionEnvironment.get_execution_environment(config)
    if parallelism:
        env.set_parallelism(parallelism)
    return env


def _give_gateway_taskmanager_jvm_options() -> None:
    """The mini-cluster's TaskManager runs in PyFlink's gateway JVM: give that JVM the cluster TaskManager's options.

    PyFlink adds $JVM_ARGS to the java command when it starts the gateway, at the first use of the Java side in
    this process; a gateway already running keeps its options."""
    present = os.environ.get("JVM_ARGS", "").split()
    wanted = flink_settings().get(TASKMANAGER_JVM_OPTS, "").split()
    os.environ["JVM_ARGS"] = " ".join(present + [option for option in wanted if option not in present])
