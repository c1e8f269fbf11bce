"""`pulse dispatch`: alerts become incidents (tracking), from their sources, delivered to webhooks."""
