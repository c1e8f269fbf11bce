"""Tenant configuration: the YAML config files, plans and their limits."""
