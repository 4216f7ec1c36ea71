"""Kitaru: durable flows for Python AI agents."""
