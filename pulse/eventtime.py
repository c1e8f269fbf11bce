"""Event time in the scoring job: the default allowed lateness and the sentinel times, in epoch milliseconds.

A tenant's watermark trails its newest event by the allowed lateness; an event at or behind it is late (scored,
flagged `is_late`, not counted in windows). When a bounded input ends, Flink's watermark jumps to the largest
long, so any watermark from END_OF_INPUT on means "the input has ended".

>>> NO_WATERMARK < 0 < ALLOWED_LATENESS_MS < END_OF_INPUT < END_OF_TIME < NO_DEADLINE
True
"""

ALLOWED_LATENESS_MS = 60_000  # the job's --allowed-lateness, `pulse run` and `pulse rules backtest` default
NO_WATERMARK = -(2**63)  # Flink's watermark before any event (Long.MIN_VALUE)
END_OF_INPUT = 2**62  # a watermark at or past this: the bounded input has ended
END_OF_TIME = 2**63 - 1  # Long.MAX_VALUE: a timer there fires only when a bounded input ends
NO_DEADLINE = 2**63  # later than any timer: "nothing due"
