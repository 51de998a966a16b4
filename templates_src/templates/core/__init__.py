"""core templates."""
