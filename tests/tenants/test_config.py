"""Tenant configs: the shipped ones are valid; every mistake is reported with file, line and field."""

import subprocess
import sys
from pathlib import Path

import pytest

from pulse.tenants.config import ConfigInvalid, load_config_dir, parse_tenant_config

PROJECT_CONFIGS = Path(__file__).parent.parent.parent / "configs"

VALID = """\
tenant: shop
display_name: Shop
rules:
  - id: big-order
    description: Big order
    when: event_type == "order_placed" && amount > 100.0
"""


def errors_of(text: str) -> list[str]:
    with pytest.raises(ConfigInvalid) as caught:
        parse_tenant_config(text, "shop.yaml")
    return [str(e) for e in caught.value.errors]


def test_shipped_configs_are_valid():
    configs = load_config_dir(PROJECT_CONFIGS)
    assert {"acme", "globex"} <= set(configs.tenants)
    assert configs.for_tenant("initech") is configs.default


def test_valid_config_parses():
    config = parse_tenant_config(VALID, "shop.yaml")
    assert config.rules[0].id == "big-order" and config.rules[0].enabled


@pytest.mark.parametrize(
    "broken, expected",
    [
        (
            VALID.replace("    when:", "    whn:"),
            ["shop.yaml:6: rules[0].whn: unknown key", "shop.yaml:4: rules[0].when"],
        ),
        (VALID.replace("amount > 100.0", "amount >"), ["shop.yaml:6: rules[0].when: expression does not parse"]),
        (VALID.replace("amount > 100.0", "amont > 100.0"), ["shop.yaml:6: rules[0].when: unknown field(s) amont"]),
        (VALID + "    severity: urgent\n", ["shop.yaml:7: rules[0].severity: Input should be 'info'"]),
        (
            VALID + "  - id: big-order\n    description: again\n    when: amount > 1.0\n",
            ["shop.yaml:7: rules[1].id: duplicate rule id 'big-order'"],
        ),
        (VALID.replace("id: big-order", "id: off"), ["shop.yaml:4: rules[0].id: Input should be a valid string: YAML"]),
        ("tenant: [unclosed\n", ["shop.yaml:2: not valid YAML"]),
        ("- just\n- a list\n", ["shop.yaml:1: a tenant config must be a YAML mapping"]),
    ],
)
def test_errors_name_file_line_and_field(broken, expected):
    found = errors_of(broken)
    for text in expected:
        assert any(e.startswith(text) for e in found), (text, found)


def test_file_name_must_match_tenant(tmp_path):
    (tmp_path / "tenants").mkdir()
    (tmp_path / "tenants" / "other.yaml").write_text(VALID)
    with pytest.raises(ConfigInvalid) as caught:
        load_config_dir(tmp_path)
    assert "tenant: must be 'other'" in str(caught.value)


def test_yaml_is_loaded_safely():
    assert errors_of(VALID + "display_name: !!python/object/apply:os.system ['true']\n")


def test_pulse_validate_exits_non_zero_and_lists_errors(tmp_path):
    (tmp_path / "tenants").mkdir()
    (tmp_path / "tenants" / "shop.yaml").write_text(VALID.replace("amount > 100.0", "amont > 1.0"))
    result = subprocess.run([sys.executable, "-m", "pulse", "validate", str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 1
    assert "shop.yaml:6: rules[0].when: unknown field(s) amont" in result.stderr
    ok = subprocess.run(
        [sys.executable, "-m", "pulse", "validate", str(PROJECT_CONFIGS)], capture_output=True, text=True
    )
    assert ok.returncode == 0, ok.stderr
