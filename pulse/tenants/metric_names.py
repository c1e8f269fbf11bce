"""The per-minute business metrics of every tenant (campaign metrics are tracked per campaign id)."""

METRIC_NAMES = (
    "orders",
    "revenue",
    "traffic",
    "sessions",
    "conversion",
    "checkout_completion",
    "payment_failures",
    "payment_failure_rate",
    "views_per_ip",
    "campaign_clicks",
    "campaign_conversions",
)
