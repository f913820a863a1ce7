"""Attacks: pure functions on a logits callable (see registry.py)."""
