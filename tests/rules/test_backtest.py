"""`pulse rules backtest`: the tenant's rules on a generated file, without Flink."""

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from pulse.dev.generate import Generator, write
from pulse.incidents.forecast import HELD, Tally, forecast
from pulse.rules.backtest import backtest
from pulse.tenants.config import load_config_dir
from pulse.tenants.mute_windows import MuteWindow

PROJECT_CONFIGS = Path(__file__).parent.parent.parent / "configs"


def test_backtest_finds_the_injected_incidents(tmp_path):
    events, incidents = Generator(seed=5, minutes=240).run()
    path = tmp_path / "events.jsonl"
    write(events, incidents, path)
    configs = load_config_dir(PROJECT_CONFIGS)
    globex = backtest("globex", configs.for_tenant("globex"), [path])
    assert [group for _, group in globex.alerts["card-testing"]] == ["card_fingerprint=card-tested-1"]
    initech = backtest("initech", configs.for_tenant("initech"), [path])
    assert initech.alerts["no-orders"] == []  # its 40-minute gap falls in the first day, which the rule learns
    result = subprocess.run(
        [sys.executable, "-m", "pulse", "rules", "backtest", "--tenant", "globex", "--input", str(path)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "card-testing" in result.stdout and "card_fingerprint=card-tested-1" in result.stdout


def test_backtest_shows_the_shipped_absence_rule_judging_silences_by_the_usual_rate(tmp_path):
    """Three days of a small shop (an order every 30 minutes at night, every 10 by day) that takes no order
    from Wednesday 14:00 to 17:00: one `no-orders` alert, when 10 orders would usually have come (15:30), and
    none for the nights' half-hour silences."""
    monday = int(datetime(2026, 11, 2, tzinfo=UTC).timestamp() * 1000)
    outage = monday + 2 * 86_400_000 + 14 * 3_600_000
    minutes = [m for m in range(3 * 24 * 60) if m % (30 if m % 1440 < 8 * 60 else 10) == 0]
    times = [monday + m * 60_000 for m in minutes if not 0 <= monday + m * 60_000 - outage < 3 * 3_600_000]
    path = tmp_path / "shop.jsonl"
    order = {"tenant_id": "shop", "event_type": "order_placed", "amount": 20.0, "currency": "USD"}
    path.write_text("".join(json.dumps({**order, "event_id": f"o{ts}", "ts": ts}) + "\n" for ts in times))
    result = subprocess.run(
        [sys.executable, "-m", "pulse", "rules", "backtest", "--tenant", "shop", "--input", str(path)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "no-orders  2026-11-04 15:30:00" in result.stdout and "no-orders  ... " not in result.stdout
    (alert,) = backtest("shop", load_config_dir(PROJECT_CONFIGS).for_tenant("shop"), [path]).raised
    assert "no matching event for 1h40m since 2026-11-04 13:50 UTC; about 10 were expected" in alert["summary"]


ROUTED = """
channels:
  - {name: fraud-desk, type: slack, url_env: GLOBEX_SLACK_URL}
  - {name: on-call, type: pagerduty, routing_key_env: GLOBEX_PD_KEY}
route:
  receivers: [fraud-desk]
  group_by: [labels.team]
  group_wait: 5m
  routes:
    - matchers: ["severity=critical"]
      receivers: [on-call]
      continue: true
    - matchers: ["labels.team=fraud"]
      receivers: [fraud-desk]
inhibit_rules:
  - source_matchers: ["cause=card-testing"]
    target_matchers: ["severity=medium"]
    equal: [labels.team]
"""


def test_backtest_counts_the_notifications_each_receiver_would_get(tmp_path):
    """globex's stream: tiny-payment-failed opens at 10:00:03 (then 6 more alerts, updates within
    update_minutes), card-testing (critical) at 10:01:59; both resolve 30 minutes after their last alert."""
    events, incidents = Generator(seed=5, minutes=240).run()
    path = tmp_path / "events.jsonl"
    write(events, incidents, path)
    configs = tmp_path / "configs"
    shutil.copytree(PROJECT_CONFIGS, configs)
    with (configs / "tenants" / "globex.yaml").open("a") as f:
        f.write(ROUTED)
    command = [sys.executable, "-m", "pulse", "rules", "backtest", "--tenant", "globex", "--input", str(path),
               "--configs", str(configs), "--notifications"]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    rows = {cells[0]: cells[1:] for cells in table_rows(result.stdout) if cells[0] in ("fraud-desk", "on-call")}
    # fraud-desk: the group (team fraud) after group_wait with card-testing alone, tiny-payment-failed inhibited
    # by it; then card-testing's resolve (tiny-payment-failed's goes nowhere: nobody got its open)
    assert rows == {"fraud-desk": ["2", "2", "2"], "on-call": ["2", "2", "2"]}
    assert "1 notices held back (mute windows, inhibition)" in result.stdout

    config = load_config_dir(configs).for_tenant("globex")
    without = config.model_copy(update={"inhibit_rules": []})
    backtested = backtest("globex", config, [path])
    tallies = forecast("globex", without, backtested.raised, backtested.until)
    assert tallies["fraud-desk"] == Tally(
        notifications=2, notices=4, messages=2
    )  # both opens, then both resolves: a Slack message each
    window = MuteWindow(name="card-tests", matchers=["cause=card-testing"], hours="10:00-11:00")
    muted = forecast("globex", config.model_copy(update={"mute_windows": [window]}), backtested.raised,
                     backtested.until)  # fmt: skip
    assert muted["on-call"] == Tally() and muted[HELD].notices == 2  # card-testing's open; tiny still inhibited
    assert muted["fraud-desk"] == Tally()


def table_rows(text: str) -> list[list[str]]:
    """The cells of each row of the rich tables in `text`."""
    return [[c.strip() for c in line.strip("│ ").split("│")] for line in text.splitlines() if line.startswith("│")]
