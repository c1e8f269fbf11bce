"""Flink functions: thin adapters that run the plain logic of `pulse` and `models` inside operators."""
