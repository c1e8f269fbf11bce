"""`pulse run` options and the local mini-cluster's settings, without running a Flink job."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pulse import cli
from pulse.cli import run as localrun
from pulse.dev.cluster import Cluster
from pulse.eventtime import ALLOWED_LATENESS_MS

PROJECT_CONFIGS = Path(__file__).parent.parent.parent / "configs"


def test_run_help_documents_allowed_lateness(capsys):
    with pytest.raises(SystemExit):
        cli.main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--allowed-lateness ALLOWED_LATENESS" in text and "default 60s" in text and "is_late" in text


def run_cli(monkeypatch, tmp_path: Path, *options: str) -> tuple[int, dict]:
    """`pulse run` on a one-line file with run_local replaced; the exit code and the arguments it got."""
    seen: dict = {}

    def fake_run_local(inputs, configs_dir, dsn, run_id, **kwargs):
        seen.update(kwargs)
        return localrun.RunReport(1, 1, 0, 0, 0, ([], []), ([], []))

    monkeypatch.setattr(localrun, "run_local", fake_run_local)
    events = tmp_path / "events.jsonl"
    events.write_text("{}\n")
    argv = ["run", "--input", str(events), "--configs", str(PROJECT_CONFIGS), "--clickhouse", f"chdb://{tmp_path}"]
    with pytest.raises(SystemExit) as exited:
        cli.main([*argv, *options])
    return exited.value.code, seen


def test_run_passes_allowed_lateness_in_seconds(monkeypatch, tmp_path):
    assert run_cli(monkeypatch, tmp_path, "--allowed-lateness", "2m")[1]["allowed_lateness_s"] == 120
    assert run_cli(monkeypatch, tmp_path)[1]["allowed_lateness_s"] == 60
    assert run_cli(monkeypatch, tmp_path, "--allowed-lateness", "0s")[1]["allowed_lateness_s"] == 0


def test_run_refuses_a_bad_allowed_lateness(monkeypatch, tmp_path, capsys):
    assert run_cli(monkeypatch, tmp_path, "--allowed-lateness", "10 minutes") == (2, {})
    assert "--allowed-lateness: bad duration '10 minutes': write a number and a unit" in capsys.readouterr().err
    assert run_cli(monkeypatch, tmp_path, "--allowed-lateness", "1500ms") == (2, {})
    assert "'1500ms' is not whole seconds" in capsys.readouterr().err


def test_run_local_hands_the_staged_records_and_the_lateness_to_the_job(monkeypatch, tmp_path):
    """What `pulse run` starts the job with, as the job's own option parser reads it."""
    import jobs.scoring

    started: dict = {}
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(localrun, "received_earlier", lambda dsn, run_id: None)
    monkeypatch.setattr(localrun, "report", lambda dsn, run_id, read: read)
    monkeypatch.setattr(localrun, "run_job", lambda options, *common: started.update(command=[*options, *common]))
    events = tmp_path / "events.jsonl"
    events.write_text('{"tenant_id": "acme"}\n')
    assert localrun.run_local([events], str(PROJECT_CONFIGS), "chdb://x", "r1", allowed_lateness_s=5) == 1
    options, (configs, dsn, run_id, parallelism) = started["command"][:-4], started["command"][-4:]
    command = localrun.job_command(options, configs, dsn, run_id, parallelism)
    assert command[:3] == [sys.executable, "-m", "jobs.scoring"]
    args = jobs.scoring.options(command[3:])
    assert (args.allowed_lateness, args.local, args.run_id) == (5, str(Path(".run") / "r1"), "r1")
    assert Path(args.staging).read_text().count("\n") == 1


def test_the_job_command_carries_the_parallelism_and_the_jobs_default_lateness():
    import jobs.scoring

    args = jobs.scoring.options(localrun.job_command(["--watch", "in"], "configs", "chdb://x", "r2", 3)[3:])
    assert (args.watch, args.parallelism, args.local) == ("in", 3, str(Path(".run") / "r2"))
    assert args.allowed_lateness * 1000 == ALLOWED_LATENESS_MS


def test_local_runs_checkpoint_to_files_of_the_run(tmp_path):
    from jobs.environment import CLUSTER_PORTS, local_settings

    settings = local_settings(tmp_path / "run")
    assert settings["execution.checkpointing.storage"] == "filesystem"
    assert settings["execution.checkpointing.dir"] == (tmp_path / "run" / "checkpoints").as_uri()
    assert settings["execution.checkpointing.savepoint-dir"] == (tmp_path / "run" / "savepoints").as_uri()
    assert not CLUSTER_PORTS & set(settings)


def test_local_runs_have_two_slots_per_subtask(tmp_path):
    """The keyed step runs in slots of its own: a job of parallelism p needs p slots for it and p for the rest."""
    from jobs.environment import SLOTS, flink_settings, local_settings

    assert local_settings(tmp_path, 3)[SLOTS] == "6"
    assert (
        local_settings(tmp_path)[SLOTS]
        == flink_settings()[SLOTS]
        == str(2 * int(flink_settings()["parallelism.default"]))
    )


@pytest.mark.flink
def test_the_mini_clusters_jvm_gets_the_taskmanagers_options_and_keeps_its_own():
    """A real gateway JVM, started by local_environment in a fresh interpreter after the job's modules were
    imported (as `pulse run` does: none of them may start the JVM first): its input arguments."""
    from jobs.environment import TASKMANAGER_JVM_OPTS, flink_settings

    code = (
        "import jobs.scoring, bench.models, bench.throughput; "
        "from jobs.environment import local_environment; local_environment(1); "
        "from pyflink.java_gateway import get_gateway; "
        "print(list(get_gateway().jvm.java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments()))"
    )
    env = {**os.environ, "JVM_ARGS": "-Dpulse.test=kept"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, check=True)
    arguments = ast.literal_eval(out.stdout.strip().splitlines()[-1])
    wanted = flink_settings()[TASKMANAGER_JVM_OPTS].split()
    assert "-Dpulse.test=kept" in arguments
    assert wanted and set(wanted) <= set(arguments)


def test_the_cluster_checkpoints_to_its_absolute_folder(tmp_path):
    cluster = Cluster(home=tmp_path / "cluster")
    cluster.configure()
    settings = cluster.settings
    assert settings["execution.checkpointing.storage"] == "filesystem"
    assert settings["execution.checkpointing.dir"] == (tmp_path / "cluster" / "checkpoints").as_uri()
