"""Library entry points behind the experiment binaries: train, evaluate, demo."""
