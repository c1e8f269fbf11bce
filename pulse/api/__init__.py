"""The API service (`pulse serve`): ingestion, keys, rate limits, dedup, incidents and usage routers,
the dashboard with its templates and static files."""
