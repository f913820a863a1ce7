"""Robustness evaluation: accuracy under attacks, paper metrics, tables, plots."""
