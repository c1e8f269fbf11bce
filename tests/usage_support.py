"""Checking the usage table against the row counts of the tables it meters."""

# Per tenant and minute, the usage table against row counts of the tables it meters (rejects by rejected_at, the
# repeats of an event apart from the other rejects).
AGREEMENT_SQL = """
WITH
  u AS (SELECT tenant_id, minute, sum(accepted) a, sum(scored) s, sum(over_quota) o, sum(alerts) al, sum(rejected) r,
               sum(duplicates) d
        FROM usage FINAL WHERE run_id = {run:String} GROUP BY tenant_id, minute),
  e AS (SELECT tenant_id, toDateTime(toStartOfMinute(ts), 'UTC') minute, count() a,
               countIf(risk_score IS NOT NULL) s, countIf(over_quota) o
        FROM scored_events FINAL WHERE run_id = {run:String} GROUP BY tenant_id, minute),
  l AS (SELECT tenant_id, toDateTime(toStartOfMinute(ts), 'UTC') minute, count() al
        FROM alerts FINAL WHERE run_id = {run:String} GROUP BY tenant_id, minute),
  r AS (SELECT tenant_id, toDateTime(toStartOfMinute(rejected_at), 'UTC') minute,
               countIf(reason != 'duplicate_event_id') r, countIf(reason = 'duplicate_event_id') d
        FROM rejected_events FINAL WHERE run_id = {run:String} GROUP BY tenant_id, minute),
  t AS (SELECT tenant_id, minute, sum(a) a, sum(s) s, sum(o) o, sum(al) al, sum(r) r, sum(d) d FROM (
          SELECT tenant_id, minute, a, s, o, 0 al, 0 r, 0 d FROM e
          UNION ALL SELECT tenant_id, minute, 0, 0, 0, al, 0, 0 FROM l
          UNION ALL SELECT tenant_id, minute, 0, 0, 0, 0, r, d FROM r) GROUP BY tenant_id, minute)
SELECT t.tenant_id, t.minute, (t.a, t.s, t.o, t.al, t.r, t.d) AS tables, (u.a, u.s, u.o, u.al, u.r, u.d) AS metered
FROM t FULL OUTER JOIN u ON t.tenant_id = u.tenant_id AND t.minute = u.minute
ORDER BY t.tenant_id, t.minute
"""


def disagreements(query, counters: int = 6) -> list[tuple]:
    rows = query(AGREEMENT_SQL)
    assert rows
    return [row for row in rows if row[2][:counters] != row[3][:counters]]
