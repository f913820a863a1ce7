"""The pgn study: see pipeline.py."""
