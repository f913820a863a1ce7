"""The report_card study: see pipeline.py."""
