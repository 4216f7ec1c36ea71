"""Fakes of outside services at their HTTP APIs, on loopback (see TESTING.md)."""
