"""`pulse rules backtest`: the tenant's rules on a generated file, without Flink."""

import subprocess
import sys
from pathlib import Path

from pulse.dev.generate import Generator, write
from pulse.rules.backtest import backtest
from pulse.tenants.config import load_config_dir

PROJECT_CONFIGS = Path(__file__).parent.parent.parent / "configs"


def test_backtest_finds_the_injected_incidents(tmp_path):
    events, incidents = Generator(seed=5, minutes=240).run()
    path = tmp_path / "events.jsonl"
    write(events, incidents, path)
    configs = load_config_dir(PROJECT_CONFIGS)
    globex = backtest("globex", configs.for_tenant("globex"), [path])
    assert [group for _, group in globex.alerts["card-testing"]] == ["card_fingerprint=card-tested-1"]
    gap = next(i for i in incidents if i.kind == "order_gap")
    initech = backtest("initech", configs.for_tenant("initech"), [path])
    ((when, _),) = initech.alerts["no-orders"]
    assert gap.start < when.timestamp() * 1000 < gap.end
    result = subprocess.run(
        [sys.executable, "-m", "pulse", "rules", "backtest", "--tenant", "globex", "--input", str(path)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "card-testing" in result.stdout and "card_fingerprint=card-tested-1" in result.stdout
