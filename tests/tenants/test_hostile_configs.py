"""A tenant's config cannot hurt the job or other tenants: each attack replayed against the real `pulse validate`,
`pulse rules publish`, the job's per-tenant step and `pulse serve`, refused with file, line and the limit."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from ingest_support import ApiServer, kafka_bootstrap, start_api, unique_topic

from pulse.job.pipeline import TenantPipeline
from pulse.job.rule_updates import RuleUpdate, validate_update
from pulse.rules import expressions
from pulse.tenants.config import ConfigInvalid, parse_tenant_config
from pulse.tenants.plans import Plan, PlanBook, PlanWatcher, plans_file_for

PROJECT_CONFIGS = Path(__file__).parent.parent.parent / "configs"
HEADER = "tenant: evil\nrules:\n  - id: r\n    description: d\n    when: "  # the expression is on line 5


def alias_bomb() -> str:
    """Nine levels of nine aliases: 9^9 (387 million) strings once expanded, in 355 bytes."""
    lines = ["tenant: evil", 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def nested_maps(levels: int) -> str:
    """`[0..9].map(a0, [0..9].map(a1, ...))`: 10^levels evaluations per event."""
    expression = "a0 > 100"
    for level in range(levels):
        expression = f"[0,1,2,3,4,5,6,7,8,9].map(a{level}, {expression}).exists(v, v)"
    return f'event_type == "order_placed" && {expression}'


def validate(folder: Path, text: str) -> subprocess.CompletedProcess:
    (folder / "tenants").mkdir(exist_ok=True)
    (folder / "tenants" / "evil.yaml").write_text(text)
    return subprocess.run([sys.executable, "-m", "pulse", "validate", str(folder)], capture_output=True, text=True,
                          timeout=120)  # fmt: skip


def test_an_alias_bomb_is_refused_at_its_first_alias(tmp_path):
    result = validate(tmp_path, alias_bomb())
    file = tmp_path / "tenants" / "evil.yaml"
    assert result.returncode == 1
    assert f"{file}:3: not valid YAML: anchors and aliases (& and *) are not allowed" in result.stderr, result.stderr
    publish = [sys.executable, "-m", "pulse", "rules", "publish", str(file), "--tenant", "evil", "--folder",
               str(tmp_path)]  # fmt: skip
    published = subprocess.run(publish, capture_output=True, text=True, timeout=120)
    assert (
        published.returncode == 1 and "anchors and aliases" in published.stderr and "not published" in published.stderr
    )
    assert not list(tmp_path.glob("*.ndjson"))


@pytest.mark.parametrize(
    "expression, refusal",
    [
        (nested_maps(5), "a list or map literal inside a comprehension (map) is evaluated again"),  # 260 chars
        (nested_maps(7), "a list or map literal inside a comprehension (map)"),  # 348 chars: 10^7 evaluations
        ("tags.exists(t, tags.exists(u, t == u))", "a comprehension (exists) inside another (exists) multiplies"),
        ("(" * 100_000 + "1" + ")" * 100_000, "expression has 200,001 characters; the limit is 500"),  # a Rust panic
        ("(" * 30 + "1" + ")" * 30, "brackets nested 30 deep; the limit is 24"),
        ("amount > 1.0 && " * 40 + "true", "expression has 644 characters; the limit is 500"),
        ('tags.exists(t, t in ["vip", "staff"])', "a list or map literal inside a comprehension (exists)"),
        ("tables.a.exists(x, x in tables.b)", "a lookup table inside a comprehension (exists)"),
        ("[1].exists(a, a > 0) || [1].all(a, a > 0) || [1].map(a, a).size() > 0", "more than 2 comprehensions"),
    ],
)
def test_validate_refuses_costly_expressions_with_file_line_and_limit(tmp_path, expression, refusal):
    result = validate(tmp_path, HEADER + json.dumps(expression) + "\n")
    assert result.returncode == 1
    where = f"{tmp_path / 'tenants' / 'evil.yaml'}:5: rules[0].when: {refusal}"
    assert where in result.stderr, result.stderr[-2000:]
    assert "panicked" not in result.stderr and "Traceback" not in result.stderr


def test_the_job_refuses_a_rule_update_that_would_panic_the_cel_parser():
    update = RuleUpdate("evil", "evil.yaml@1", 0, HEADER + json.dumps("(" * 100_000 + "1" + ")" * 100_000) + "\n")
    with pytest.raises(ConfigInvalid, match="expression has 200,001 characters"):  # not a PanicException
        validate_update(update, PlanBook({"free": Plan(events_per_second=10)}), "plans.yaml")


@pytest.mark.parametrize(
    "tables, refusal",
    [
        ({"big": [f"c{i}" for i in range(501)]}, "tables: table 'big' has 501 entries; the limit is 500 per table"),
        ({"long": ["x" * 101]}, "tables: table 'long' has an entry of 101 characters; the limit is 100"),
        (
            {f"t{n}": [f"c{i}" for i in range(500)] for n in range(5)},
            "tables: the tables have 2,500 entries in all; the limit is 2,000",
        ),
    ],
)
def test_validate_refuses_lookup_tables_over_their_limits(tmp_path, tables, refusal):
    result = validate(tmp_path, "tenant: evil\n" + json.dumps({"tables": tables})[1:-1] + "\n")
    assert result.returncode == 1 and f"evil.yaml:2: {refusal}" in result.stderr, result.stderr[-2000:]


def test_a_six_megabyte_config_is_refused_before_it_is_parsed(tmp_path):
    text = "tenant: evil\ntables:\n  vip: " + json.dumps([f"customer-{i:07d}" for i in range(300_000)]) + "\n"
    result = validate(tmp_path, text)  # about 6 MB
    assert result.returncode == 1
    assert f"evil.yaml: not valid YAML: the file has {len(text):,} bytes; the limit is 1,048,576" in result.stderr


def test_an_expression_that_keeps_running_slow_is_suspended_and_reported(monkeypatch):
    config = parse_tenant_config(HEADER + "'event_type == \"order_placed\"'\n", "evil.yaml")
    pipeline = TenantPipeline("evil", config, PlanWatcher(plans_file_for(PROJECT_CONFIGS)), "r1")
    state = pipeline.new_state()
    monkeypatch.setattr(expressions, "MAX_EVALUATION_MS", -1)  # every evaluation counts as over the budget
    order = {"tenant_id": "evil", "event_type": "order_placed", "amount": 10.0, "currency": "USD"}
    outputs = [pipeline.event({**order, "event_id": f"e{i}", "ts": 60_000 * i}, state, None) for i in range(1, 4)]
    hits = [[row["rule_hits"] for table, row in rows if table == "scored_events"][0] for rows in outputs]
    assert hits == [["r"], ["r"], []]  # the second slow evaluation suspends the rule: the third event is not matched
    [suspended] = [row for rows in outputs for table, row in rows if table == "config_updates"]
    assert (suspended["tenant_id"], suspended["version"], suspended["accepted"]) == ("evil", "rule r suspended", False)
    assert "over the limit of -1 ms on 2 of its last 100 events" in suspended["error"]


def test_many_rules_slow_together_are_suspended_costliest_first():
    scope = expressions.Scope()
    for _ in range(2):  # two events over the budget: 30 + 25 + 5 ms = 60 ms of 50
        for rule_id, ms in (("a", 30), ("b", 25), ("c", 5)):
            scope.charge(rule_id, ms / 1000)
        scope.end_event()
    assert list(scope.suspended) == ["a"]  # 30 ms less leaves 30 ms: within the budget
    scope.charge("b", 0.001)
    scope.end_event()
    assert [rule for rule, _ in scope.take_suspensions()] == ["a"] and scope.take_suspensions() == []


def test_a_busy_machine_that_preempts_an_evaluation_suspends_nothing():
    scope = expressions.Scope()
    for _ in range(3):  # 60 ms of wall clock charged, but the thread spent almost no CPU time on the event
        scope.start_event()
        scope.charge("a", 0.060)
        scope.end_event()
    assert scope.suspended == {}
    slow = expressions.Expression("[1, 2, 3].map(x, x * 2).size() > 0", scope, rule_id="slow")
    for _ in range(2):  # a rule that really spends its CPU time is still suspended
        scope.start_event()
        deadline = time.thread_time() + 0.200
        while time.thread_time() < deadline:
            slow.true({})
        scope.end_event()
    assert list(scope.suspended) == ["slow"]


def config_set(folder: Path, acme_extra: str) -> Path:
    shutil.copytree(PROJECT_CONFIGS, folder, dirs_exist_ok=True)
    with (folder / "tenants" / "acme.yaml").open("a") as f:
        f.write(acme_extra)
    return folder


def test_a_tenant_cannot_name_another_tenants_signing_secret(tmp_path):
    hook = "\nwebhooks:\n  - url: https://hooks.example.com/acme\n    secrets: [ACME_HOOK_SECRET, GLOBEX_HOOK_SECRET]\n"
    folder = config_set(tmp_path / "configs", hook)
    result = subprocess.run([sys.executable, "-m", "pulse", "validate", str(folder)], capture_output=True, text=True)
    assert result.returncode == 1
    line = (folder / "tenants" / "acme.yaml").read_text().count("\n") - 1 + 1  # the secrets line, the last one
    assert (
        f"acme.yaml:{line}: webhooks[0].secrets[1]: GLOBEX_HOOK_SECRET cannot sign acme's notices "
        "(it belongs to tenant globex)"
    ) in result.stderr, result.stderr
    assert "secrets[0]" not in result.stderr  # its own secret is fine
    publish = [sys.executable, "-m", "pulse", "rules", "publish", str(folder / "tenants" / "acme.yaml"),
               "--tenant", "acme", "--configs", str(folder), "--folder", str(tmp_path)]  # fmt: skip
    published = subprocess.run(publish, capture_output=True, text=True)
    assert published.returncode == 1 and "it belongs to tenant globex" in published.stderr


def test_a_secret_of_a_tenant_with_a_longer_name_is_that_tenants():
    text = "tenant: acme\nwebhooks:\n  - url: https://h.example.com/\n    secrets: [ACME_EU_HOOK_SECRET, OTHER]\n"
    with pytest.raises(ConfigInvalid) as refused:
        parse_tenant_config(text, "acme.yaml", tenants=["acme", "acme-eu"])
    assert [str(e) for e in refused.value.errors] == [
        "acme.yaml:4: webhooks[0].secrets[0]: ACME_EU_HOOK_SECRET cannot sign acme's notices (it belongs to tenant "
        "acme-eu); name an environment variable of this tenant's, e.g. ACME_HOOK_SECRET",
        "acme.yaml:4: webhooks[0].secrets[1]: OTHER cannot sign acme's notices (it does not start with ACME_); name "
        "an environment variable of this tenant's, e.g. ACME_HOOK_SECRET",
    ]


@pytest.fixture(scope="module")
def api_with_a_broken_tenant(tmp_path_factory) -> ApiServer:
    def break_globex(configs: Path) -> None:
        path = configs / "tenants" / "globex.yaml"
        path.write_text(path.read_text().replace("amount < 5.0", "amont < 5.0"))

    folder = tmp_path_factory.mktemp("broken-tenant")
    server = start_api(folder, 19566, kafka_bootstrap(), unique_topic("broken"), edit=break_globex)
    yield server
    server.stop()


@pytest.mark.kafka
def test_serve_refuses_only_the_tenant_whose_config_is_broken(api_with_a_broken_tenant):
    api = api_with_a_broken_tenant
    event = {"event_id": "ok-1", "event_type": "page_view", "ts": int(time.time() * 1000)}
    accepted = api.post("acme", json.dumps(event))
    refused = api.post("globex", json.dumps({**event, "event_id": "refused-1"}))
    assert accepted.status_code == 202 and accepted.json()["accepted"] == 1
    assert refused.status_code == 401
    log = api.log.read_text()
    assert "tenant globex is not served: its config is invalid" in log
    assert "globex.yaml:10: rules[0].when: unknown field(s) amont" in log
    assert requests.get(f"{api.url}/healthz", timeout=10).ok


def test_dispatch_runs_for_the_other_tenants_when_one_config_is_broken(tmp_path):
    folder = config_set(tmp_path / "configs", "\ncurrency: [not, a, code]\n")
    command = [sys.executable, "-m", "pulse", "dispatch", "--once", "--configs", str(folder),
               "--clickhouse", f"chdb://{tmp_path / 'ch'}"]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "tenant acme gets no notices until its config is fixed (the others do)" in result.stderr
    assert "acme.yaml:" in result.stderr and "dispatch: 0 alerts" in result.stdout
