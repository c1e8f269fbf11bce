"""Flink job entry points: each module only wires operators into a job graph."""
