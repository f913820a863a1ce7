"""One package per study, every one in the same shape: `pipeline.py` trains and
evaluates what the paper's tables and figures need (`reproduce(...)`), `report.py`
renders them from the results JSON. Studies: advnet (Wang & Yu), bat (Wang & Zhang),
deepdefense (Yan et al.), l2lda (Jang et al.), pgn (the PGN submission), report_card
(all five under one protocol) and demo (the main job)."""
