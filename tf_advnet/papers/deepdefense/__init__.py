"""The deepdefense study: see pipeline.py."""
