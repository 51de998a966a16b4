"""project templates."""
