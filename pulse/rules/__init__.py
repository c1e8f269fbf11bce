"""Tenant rules: the YAML rule language, its rule types (declared once in types.py), event-time windows, the
runners and the engine that runs them, backtests."""
