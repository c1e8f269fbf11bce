"""Per-event condition rules, evaluated with the Common Expression Language (never Python eval).

>>> from pulse.rules.language import ConditionRule
>>> rules = RuleSet([ConditionRule(id="big", description="Big order", when="amount > 100.0")])
>>> [r.id for r in rules.matches({"amount": 250.0})], [r.id for r in rules.matches({"amount": None})]
(['big'], [])
"""

from __future__ import annotations

from typing import Any

from pulse.rules.expressions import Expression, Scope
from pulse.rules.language import ConditionRule


class RuleSet:
    """The enabled condition rules of one tenant, compiled once; `scope`: the tenant's tables (pulse.rules)."""

    def __init__(self, rules: list[ConditionRule], scope: Scope | None = None):
        scope = scope or Scope()
        self.rules = [(rule, Expression(rule.when, scope, rule.id)) for rule in rules if rule.enabled]

    def matches(self, event: dict[str, Any]) -> list[ConditionRule]:
        """The rules whose condition is true for `event`; a condition that errors (a missing field) is false."""
        return [rule for rule, expression in self.rules if expression.true(event)]
