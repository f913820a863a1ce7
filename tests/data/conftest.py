"""Keeps data tests offline and independent of files on the test machine."""

import pytest

from tf_advnet import data


@pytest.fixture(autouse=True)
def _offline_and_fresh_cache(monkeypatch, tmp_path_factory):
    # No test may download, nor find a TFDS copy or data dir of the machine.
    monkeypatch.setenv("TF_ADVNET_ALLOW_DOWNLOAD", "0")
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path_factory.mktemp("tfds")))
    monkeypatch.setenv("TF_ADVNET_DATA", str(tmp_path_factory.mktemp("home")))
    data.clear_cache()
    yield
    data.clear_cache()

