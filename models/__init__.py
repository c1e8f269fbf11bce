"""Online River models, their features and their state."""
