"""ClickHouse access for every part of PulseEcom: one client for chDB (`chdb://DIR`) and servers (`http(s)://`).

The embedded chDB engine lets one process at a time open a data folder, so opening one takes an
exclusive lock file beside it and fails with a clear message when another process holds it.
"""

from __future__ import annotations

import fcntl
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import clickhouse_connect
from clickhouse_connect.driver.client import Client

DEFAULT_DSN_ENV = "PULSE_CLICKHOUSE"


class StoreBusy(RuntimeError):
    """The embedded ClickHouse folder is open in another process."""


def default_dsn() -> str:
    """$PULSE_CLICKHOUSE, or the embedded chDB folder `.data/clickhouse` under the current directory."""
    return os.environ.get(DEFAULT_DSN_ENV) or f"chdb://{Path.cwd() / '.data' / 'clickhouse'}"


def describe(dsn: str) -> str:
    """The DSN with any password removed, for logs and messages."""
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", dsn)


class Store:
    """An open connection to ClickHouse; use `open_store` to get one."""

    def __init__(self, client: Client, dsn: str, lock_fd: int | None):
        self.client = client
        self.dsn = dsn
        self._lock_fd = lock_fd

    def close(self) -> None:
        self.client.close()
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    def migrate(self) -> list[str]:
        """Apply the migrations not yet applied, in order; return the names applied now."""
        self.client.command(
            "CREATE TABLE IF NOT EXISTS schema_migrations (name String, applied_at DateTime64(3, 'UTC')) "
            "ENGINE = ReplacingMergeTree(applied_at) ORDER BY name"
        )
        done = {row[0] for row in self.client.query("SELECT name FROM schema_migrations").result_rows}
        applied = []
        for name, sql in migrations():
            if name in done:
                continue
            for statement in sql.split("\n---\n"):
                if statement.strip():
                    self.client.command(statement)
            self.client.insert("schema_migrations", [[name, datetime.now(UTC)]], column_names=["name", "applied_at"])
            applied.append(name)
        return applied

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> tuple[list[str], list[tuple]]:
        """Run a query; return column names and rows."""
        result = self.client.query(sql, parameters=parameters)
        return list(result.column_names), [tuple(r) for r in result.result_rows]


def migrations() -> list[tuple[str, str]]:
    """The migration files shipped in `pulse/store/migrations`, as (name, sql) in version order."""
    folder = resources.files("pulse.store.migrations")
    files = sorted(f for f in folder.iterdir() if f.name.endswith(".sql"))
    return [(f.name, f.read_text()) for f in files]


def open_store(dsn: str | None = None, wait_s: float = 0.0) -> Store:
    """Connect to the ClickHouse of `dsn` (default: `default_dsn()`).

    For chDB, wait up to `wait_s` seconds for another process to release the folder.
    """
    dsn = dsn or default_dsn()
    lock_fd = None
    if dsn.startswith("chdb://"):
        folder = Path(dsn.removeprefix("chdb://"))
        folder.mkdir(parents=True, exist_ok=True)
        lock_fd = _lock(folder, time.monotonic() + wait_s)
    try:
        client = clickhouse_connect.get_client(dsn=dsn)
    except Exception:
        if lock_fd is not None:
            os.close(lock_fd)
        raise
    return Store(client, dsn, lock_fd)


@contextmanager
def store(dsn: str | None = None, wait_s: float = 0.0) -> Iterator[Store]:
    """`open_store` as a context manager that closes (and unlocks) on exit."""
    opened = open_store(dsn, wait_s)
    try:
        yield opened
    finally:
        opened.close()


def _lock(folder: Path, deadline: float) -> int:
    path = folder.parent / f".{folder.name}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() < deadline:
                time.sleep(0.1)
                continue
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise StoreBusy(
            f"the embedded ClickHouse at {folder} is in use by process {holder}; chDB lets one process "
            "open a data folder at a time: wait for that job or command to finish, or use another folder"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    return fd
