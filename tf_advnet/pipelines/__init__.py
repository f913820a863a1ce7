"""Paper-independent run pipelines behind the command line: `train` one classifier
through `model.fit` (checkpoints, resume, provenance), `evaluate` classifiers under an
attack suite, and the helpers they share (`common`: strategies, data, checkpoints)."""
