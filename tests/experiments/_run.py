"""Runs an experiment binary in a subprocess on this checkout, offline and on CPU;
checks a one-line error."""

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


def assert_one_line_error(status, err, needle):
    """Exit status 2 and stderr exactly one line, `error: ...` containing `needle`
    (no traceback, no start-up line)."""
    assert status == 2, (status, err[-2000:])
    assert "Traceback" not in err, err[-2000:]
    lines = err.strip().splitlines()
    assert len(lines) == 1, err[-2000:]
    assert lines[0].startswith("error: ") and needle in lines[0], lines[0]
