"""Event time of Kafka records, read in Flink SQL so that Flink's Kafka source keeps one watermark per partition.

The Kafka table's WATERMARK clause is pushed into the source, which then tracks the newest event time of each
partition it reads and emits the smallest of them: a partition read ahead of the others (a backlog elsewhere,
a tenant whose events a non-Java producer put in another partition) makes no other partition's events late.
A Python timestamp assigner cannot do this: PyFlink runs it as a step after the source, over merged partitions.

The expression reads `ts` the way `pulse.events` does, for the forms a watermark may trust: epoch milliseconds
(a JSON number or a string of digits, up to 14 digits) and RFC 3339 text with `Z` or an offset (to the second,
so at most 999 ms early). Anything else yields 0 (epoch) or NULL (no `ts`), which never moves a watermark:
the record is rejected by the parser later, and it cannot push event time ahead. The only other forms the parser
accepts (other ISO 8601 spellings, 15-digit milliseconds after the year 5138) are scored as usual; they just do
not advance event time.

Flink SQL does not reuse a subexpression, and JSON_VALUE (about 10 µs a call) parses the whole record, so the
expression calls it twice; REGEXP_REPLACE takes its replacement literally, so the text branch maps whatever is
not RFC 3339 to the epoch instead of extracting groups; UNIX_TIMESTAMP parses with the offset in the text.
"""

from __future__ import annotations

LEAP_DAY = r"(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:0[48]|[2468][048]|[13579][26])00)-02-29"
DATE = (
    r"(?:[0-9]{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)"
    r"|02-(?:0[1-9]|1[0-9]|2[0-8]))|" + LEAP_DAY + ")"
)
# Upper-cased, the date-time separator made a T and the fraction dropped; every field in range, so
# UNIX_TIMESTAMP's lenient parser never moves a date (2026-02-30 does not become March 2).
RFC_3339 = DATE + r"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
EPOCH = "1970-01-01T00:00:00Z"


def event_time_ms(column: str) -> str:
    """SQL for the epoch milliseconds of the `ts` field of the JSON text in `column` (0 or NULL when unreadable).

    >>> "JSON_VALUE(payload, '$.ts')" in event_time_ms("payload")
    True
    """
    ts = f"UPPER(TRIM(JSON_VALUE({column}, '$.ts')))"
    digits = f"REGEXP_REPLACE(REGEXP_REPLACE({ts}, '^(?![0-9]{{1,14}}(\\.[0-9]*)?$).*$', '0'), '\\..*$', '')"
    no_fraction = f"REGEXP_REPLACE(REPLACE({ts}, ' ', 'T'), '\\.[0-9]+(?=Z$|[+-][0-9]{{2}}:[0-9]{{2}}$)', '')"
    text = f"REGEXP_REPLACE({no_fraction}, {_literal('^(?!' + RFC_3339 + '$).*$')}, {_literal(EPOCH)})"
    seconds = f"UNIX_TIMESTAMP({text}, 'yyyy-MM-dd''T''HH:mm:ssXXX')"  # Long.MIN_VALUE if it cannot parse
    return f"GREATEST(CAST({digits} AS BIGINT), GREATEST({seconds}, 0) * 1000)"


def watermark(rowtime: str, payload: str, allowed_lateness_ms: int) -> str:
    """The WATERMARK clause: event time less the allowed lateness, less 1 ms (as Flink's bounded out-of-orderness
    watermarks trail the newest event), over `payload`; `rowtime` is the table's time attribute.

    >>> watermark("timestamp", "payload", 60_000).startswith("WATERMARK FOR `timestamp` AS TO_TIMESTAMP_LTZ(")
    True
    """
    return f"WATERMARK FOR `{rowtime}` AS TO_TIMESTAMP_LTZ({event_time_ms(payload)} - {allowed_lateness_ms + 1}, 3)"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
