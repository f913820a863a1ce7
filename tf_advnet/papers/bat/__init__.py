"""The bat study: see pipeline.py."""
