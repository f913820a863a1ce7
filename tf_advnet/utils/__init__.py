"""Provenance, command-line glue and checkpoint helpers."""
