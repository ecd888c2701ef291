"""Rendering of validation results (what a reviewer reads)."""

__all__: list[str] = []
