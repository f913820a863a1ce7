"""Provenance recorded next to every result: command, commit, seed, versions.

Every results JSON written by tf_advnet carries a `provenance` block so a number
can always be traced to the exact command and code that produced it.
"""

import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
import time

_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def git_commit():
    """Returns the current commit hash (with `-dirty` if the code has changes).

    Changes under results/ and to Markdown files do not count: a run rewrites its own
    tracked outputs (and the ledger the README's summary), and "dirty" must mean that
    the code differs from the commit.
    """
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=_REPO_ROOT, capture_output=True,
            text=True, check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
             ":(exclude)results", ":(exclude,glob)**/*.md"],
            cwd=_REPO_ROOT, capture_output=True, text=True, check=True,
            timeout=10).stdout.strip()
        return commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def library_versions():
    """Versions of the libraries that determine numerical results."""
    import numpy as np
    import tensorflow as tf
    import keras

    versions = {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
    }
    for mod in ("tensorflow_datasets", "cleverhans", "matplotlib"):
        try:
            versions[mod] = __import__(mod).__version__
        except Exception:  # optional packages
            pass
    return versions


def device_summary():
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    return {
        "cpu_count": os.cpu_count(),
        "gpus": [g.name for g in gpus],
        "platform": platform.platform(),
    }


def command_line(argv=None):
    argv = sys.argv if argv is None else argv
    return " ".join(shlex.quote(a) for a in argv)


class Provenance:
    """Collects provenance for one run; `finish()` returns the JSON block."""

    def __init__(self, *, seed, preset, argv=None, extra=None):
        self._start = time.time()
        self.block = {
            "command": command_line(argv),
            "commit": git_commit(),
            "seed": seed,
            "preset": preset,
            "started": datetime.datetime.now(datetime.timezone.utc).isoformat(
                timespec="seconds"),
            "versions": library_versions(),
            "device": device_summary(),
        }
        if extra:
            self.block.update(extra)

    def finish(self):
        block = dict(self.block)
        block["wall_time_s"] = round(time.time() - self._start, 2)
        return block


def write_json(path, payload):
    """Writes `payload` as indented JSON, atomically (tmp file + rename)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(payload, f, indent=2, sort_keys=False, default=jsonable)
        f.write("\n")
    os.replace(tmp, path)


def jsonable(obj):
    """`json.dump`'s `default`: NumPy scalars and arrays as Python numbers and lists."""
    import numpy as np

    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj)}")
