"""Provenance: a commit is "dirty" when the code differs, not when results/ or a
Markdown file does."""

import subprocess

import pytest

from tf_advnet.utils import provenance


def test_dirty_means_code_changes_not_results(tmp_path, monkeypatch):
    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    try:
        git("init", "-q")
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("git is not available")
    (tmp_path / "results").mkdir()
    (tmp_path / "code.py").write_text("x = 1\n")
    (tmp_path / "README.md").write_text("# r\n")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("a\n")
    (tmp_path / "results" / "run.json").write_text("{}\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    monkeypatch.setattr(provenance, "_REPO_ROOT", str(tmp_path))
    head = provenance.git_commit()
    assert len(head) == 40
    (tmp_path / "results" / "run.json").write_text('{"acc": 1}\n')
    (tmp_path / "new_untracked.txt").write_text("?")
    (tmp_path / "README.md").write_text("# r, with the ledger's summary\n")
    (tmp_path / "docs" / "a.md").write_text("b\n")
    assert provenance.git_commit() == head
    (tmp_path / "code.py").write_text("x = 2\n")
    assert provenance.git_commit() == head + "-dirty"
