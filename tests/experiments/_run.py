"""Runs an experiment binary in a subprocess on this checkout, offline and on CPU."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_binary(script, *args, env=None, cwd=None, timeout=300):
    """`python experiments/<script> <args>`; returns the CompletedProcess."""
    full_env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3",
                    CUDA_VISIBLE_DEVICES="", TF_ADVNET_ALLOW_DOWNLOAD="0", **(env or {}))
    return subprocess.run([sys.executable, os.path.join(ROOT, "experiments", script),
                           *args], capture_output=True, text=True, env=full_env,
                          cwd=cwd or ROOT, timeout=timeout)
