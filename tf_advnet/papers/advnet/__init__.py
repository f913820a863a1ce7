"""The advnet study: see pipeline.py."""
