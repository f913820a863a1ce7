"""The l2lda study: see pipeline.py."""
