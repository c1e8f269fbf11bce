"""Per-event condition rules, evaluated with the Common Expression Language (never Python eval).

>>> from pulse.config import ConditionRule
>>> rules = RuleSet([ConditionRule(id="big", description="Big order", when="amount > 100.0")])
>>> [r.id for r in rules.matches({"amount": 250.0})], [r.id for r in rules.matches({"amount": None})]
(['big'], [])
"""

from __future__ import annotations

from typing import Any

import cel

from pulse.config import ConditionRule


class RuleSet:
    """The enabled condition rules of one tenant, compiled once."""

    def __init__(self, rules: list[ConditionRule]):
        self.rules = [(rule, cel.compile(rule.when)) for rule in rules if rule.enabled]

    def matches(self, event: dict[str, Any]) -> list[ConditionRule]:
        """The rules whose condition is true for `event`; a condition that errors (a missing field) is false."""
        hits = []
        for rule, program in self.rules:
            try:
                if program.execute(event) is True:
                    hits.append(rule)
            except (TypeError, RuntimeError, ValueError):
                continue
        return hits
