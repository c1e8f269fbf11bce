"""Planned events in a tenant's config: their times, directions and metrics, and located errors."""

from datetime import UTC, datetime

import pytest

from pulse.tenants.config import ConfigInvalid, parse_tenant_config
from pulse.tenants.planned import under_way

CONFIG = """tenant: acme
planned:
  - {name: Black Friday, kind: sale, start: 2026-11-27, end: 2026-11-30, timezone: Europe/Berlin}
  - {name: Upgrade, kind: maintenance, start: "2026-11-27 02:00", end: "2026-11-27T04:00:00+01:00"}
  - {name: Newsletter, kind: campaign, start: 2026-11-28 09:00:00, end: 2026-11-28 12:00:00, metrics: [traffic]}
"""


def ms(*args) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp() * 1000)


def test_times_without_an_offset_are_local_to_the_events_time_zone():
    sale, upgrade, newsletter = parse_tenant_config(CONFIG, "acme.yaml").planned
    assert (sale.start, sale.end) == (datetime(2026, 11, 26, 23, tzinfo=UTC), datetime(2026, 11, 29, 23, tzinfo=UTC))
    assert (upgrade.start, upgrade.end) == (
        datetime(2026, 11, 27, 2, tzinfo=UTC),
        datetime(2026, 11, 27, 3, tzinfo=UTC),
    )
    assert newsletter.start == datetime(2026, 11, 28, 9, tzinfo=UTC)


def test_each_kind_expects_its_direction_on_its_metrics_only():
    sale, upgrade, newsletter = parse_tenant_config(CONFIG, "acme.yaml").planned
    noon = ms(2026, 11, 28, 10)
    assert sale.expects("orders", "spike", noon) and not sale.expects("orders", "drop", noon)
    assert upgrade.expects("orders", "drop", ms(2026, 11, 27, 2, 30)) and not upgrade.covers(ms(2026, 11, 27, 3))
    assert newsletter.expects("traffic", "spike", noon) and not newsletter.expects("orders", "spike", noon)
    assert [p.name for p in under_way([sale, upgrade, newsletter], noon, "traffic")] == ["Black Friday", "Newsletter"]
    assert [p.name for p in under_way([sale, upgrade, newsletter], noon, "orders")] == ["Black Friday"]


@pytest.mark.parametrize(
    ("entry", "error"),
    [
        ("{name: a, kind: sale, start: 2026-11-27, end: 2026-11-20}", "planned[0]: planned event 'a' ends before"),
        ("{name: a, kind: party, start: 2026-11-27, end: 2026-11-28}", "planned[0].kind: Input should be 'sale'"),
        ("{name: a, kind: sale, start: 2026-11-27, end: 2026-11-28, metrics: [clicks]}",
         "planned[0].metrics: unknown metric(s) clicks; metrics are: orders,"),
        ("{name: a, kind: sale, start: 2026-11-27, end: 2026-11-28, timezone: Berlin}",
         "planned[0].timezone: unknown time zone 'Berlin': use an IANA name"),
        ("{name: a, kind: sale, start: 2026-01-01, end: 2026-06-01}",
         "planned[0]: planned event 'a' lasts over 62 days"),
    ],
)  # fmt: skip
def test_a_mistake_is_refused_with_its_file_line_and_field(entry, error):
    with pytest.raises(ConfigInvalid) as refused:
        parse_tenant_config(f"tenant: acme\nplanned:\n  - {entry}\n", "acme.yaml")
    assert f"acme.yaml:3: {error}" in str(refused.value)
