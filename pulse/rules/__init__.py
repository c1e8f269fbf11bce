"""Stateful tenant rules: the YAML rule language, event-time windows and the engine that runs them."""
