"""env templates."""
