"""The deployment artefacts: docker-compose.yml and docker/Dockerfile agree with the project's pins and files."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

PROJECT = Path(__file__).resolve().parent.parent
COMPOSE = PROJECT / "docker-compose.yml"
DOCKERFILE = PROJECT / "docker" / "Dockerfile"
SERVICES = {"kafka", "clickhouse", "jobmanager", "taskmanager", "submit", "api", "dispatcher", "grafana"}


def instructions() -> list[tuple[str, str]]:
    """The Dockerfile as (INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def pinned(package: str) -> str:
    deps = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]["dependencies"]
    return next(d.split("==")[1] for d in deps if d.startswith(f"{package}=="))


def test_compose_file_is_valid_for_docker_compose():
    if shutil.which("docker") is None:
        pytest.skip("no docker client on this machine")
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode != 0:
        pytest.skip("the docker compose plugin is not installed here (docker client only)")
    result = subprocess.run(["docker", "compose", "-f", str(COMPOSE), "config", "--quiet"], capture_output=True)
    assert result.returncode == 0, result.stderr.decode()


def test_compose_brings_up_the_whole_platform_with_health_checks():
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    assert set(services) == SERVICES
    for name, service in services.items():
        if name != "submit":  # a one-shot job submission, gated on the others being healthy
            assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond localhost"
        for dependency in service.get("depends_on", {}).values():
            assert dependency == {"condition": "service_healthy"}
    built = [s for s in services.values() if "build" in s]
    assert {s["build"]["dockerfile"] for s in built} == {"docker/Dockerfile"}
    assert (PROJECT / built[0]["build"]["context"] / "docker" / "Dockerfile").is_file()
    assert "flink run" in " ".join(services["submit"]["command"]) and "jobs/scoring.py" in str(services["submit"])


def test_dockerfile_matches_the_pinned_flink_python_and_connector():
    steps = instructions()
    base = next(args for op, args in steps if op == "FROM")
    assert base.startswith(f"flink:{pinned('apache-flink')}-"), base
    assert "--python 3.11" in " ".join(args for op, args in steps if op == "RUN")
    properties = ET.parse(PROJECT / "pom.xml").getroot().find("{*}properties")
    connector, zstd = (
        properties.find(f"{{*}}{name}").text for name in ("flink.kafka.connector.version", "zstd.version")
    )
    added = " ".join(args for op, args in steps if op == "ADD")
    assert f"flink-sql-connector-kafka-{connector}.jar" in added
    assert f"zstd-jni-{zstd}.jar" in added  # zstd-compressed records (tests/test_kafka_producers.py)


def test_the_jobs_kafka_jars_are_the_ones_pom_pins():
    """pulse stream and the cluster runs load KAFKA_JARS, which `make jars` fetches from pom.xml's flink profile."""
    from jobs.environment import KAFKA_JARS

    pom = ET.parse(PROJECT / "pom.xml").getroot()
    profile = next(p for p in pom.findall(".//{*}profile") if p.find("{*}id").text == "flink")
    properties = {p.tag.split("}")[1]: p.text for p in pom.find("{*}properties")}
    pinned_jars = set()
    for dependency in profile.findall(".//{*}dependency"):
        version = re.sub(r"\$\{([^}]+)\}", lambda m: properties[m.group(1)], dependency.find("{*}version").text)
        pinned_jars.add(f"{dependency.find('{*}artifactId').text}-{version}.jar")
    assert {jar.name for jar in KAFKA_JARS} == pinned_jars


def test_dockerfile_copies_only_files_that_exist():
    for op, args in instructions():
        if op != "COPY" or args.startswith("--from"):
            continue
        *sources, _target = args.split()
        for source in sources:
            assert (PROJECT / source).exists(), f"COPY {source}: no such file in the project"
