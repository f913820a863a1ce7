"""The demo study: see pipeline.py."""
