"""bootstrap templates."""
