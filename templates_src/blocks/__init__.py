"""Shared building blocks of the templates: each parameter, policy, name and wiring rule is defined once here."""
