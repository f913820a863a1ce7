"""The `cli` fixture: a `tf-advnet` command run in this process."""

import pytest

from tests.experiments._run import ROOT


@pytest.fixture
def cli(capsys, monkeypatch):
    """`cli("train", "--eps=2")` runs `tf-advnet train --eps=2` in this process, as
    `run_binary` runs it in a subprocess (offline, from the repository root), and
    returns (exit status, stdout, stderr).

    It costs no TensorFlow import per case, but it cannot see what only a fresh
    process prints (TensorFlow's C++ start-up lines): each binary keeps one
    `run_binary` test for that."""
    from tf_advnet import cli as tf_advnet_cli

    monkeypatch.setenv("TF_ADVNET_ALLOW_DOWNLOAD", "0")
    monkeypatch.chdir(ROOT)

    def run(*argv):
        capsys.readouterr()  # what the test printed before belongs to no command
        try:
            status = tf_advnet_cli.main(list(argv))
        except SystemExit as e:
            status = e.code
        out, err = capsys.readouterr()
        return status, out, err

    return run
