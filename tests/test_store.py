"""The fingerprinted store, and each cache that served stale numbers before it."""

import dataclasses
import json
import os
import types

import keras
import numpy as np
import pytest

from tests.trainers._toy import toy_classifier, toy_data
from tf_advnet.store import Store, fingerprint, fingerprint_file


# ------------------------------------------------------------------- fingerprint


@dataclasses.dataclass(frozen=True)
class _Cfg:
    a: int = 1
    b: tuple = (1, 2)


def test_fingerprint_is_canonical_and_sensitive():
    assert fingerprint(x={"a": 1, "b": 2}) == fingerprint(x={"b": 2, "a": 1})
    assert fingerprint(_Cfg()) == fingerprint(_Cfg())
    assert fingerprint(_Cfg()) != fingerprint(_Cfg(a=2))
    # Types matter: 1, 1.0, True and "1" are different settings.
    assert len({fingerprint(v) for v in (1, 1.0, True, "1", None)}) == 5
    x = np.arange(6, dtype=np.float32)
    assert fingerprint(x) == fingerprint(x.copy())
    assert fingerprint(x) != fingerprint(x.astype(np.float64))
    assert fingerprint(x) != fingerprint(x.reshape(2, 3))
    y = x.copy()
    y[3] += 1e-6
    assert fingerprint(x) != fingerprint(y)


def test_fingerprint_of_a_model_is_its_weights():
    a, b = toy_classifier(seed=0), toy_classifier(seed=0)
    assert fingerprint(a) == fingerprint(b)
    b.set_weights([w + 1e-3 for w in b.get_weights()])
    assert fingerprint(a) != fingerprint(b)


def test_entry_json_computes_once_per_spec(tmp_path):
    store = Store(str(tmp_path))
    calls = []

    def compute(v):
        calls.append(v)
        return {"v": v}

    assert store.entry("e", cfg=_Cfg()).json("m.json", lambda: compute(1)) == {"v": 1}
    assert store.entry("e", cfg=_Cfg()).json("m.json", lambda: compute(2)) == {"v": 1}
    assert store.entry("e", cfg=_Cfg(a=3)).json("m.json", lambda: compute(3)) == {"v": 3}
    assert calls == [1, 3]
    entry = store.entry("e", cfg=_Cfg())
    spec = json.loads(open(os.path.join(entry.dir, "spec.json")).read())
    assert spec["key"] == entry.key and spec["spec"]["cfg"] == {"a": 1, "b": [1, 2]}


def test_fingerprint_file_follows_the_contents(tmp_path):
    path = tmp_path / "m.bin"
    path.write_bytes(b"abc")
    first = fingerprint_file(str(path))
    path.write_bytes(b"abd")
    assert fingerprint_file(str(path)) != first


# ------------------------------------------------------- the stale cases, fixed


def _pgn_settings(**kw):
    return types.SimpleNamespace(**dict(dict(
        eval_batch_size=16, cw_iterations=3, cw_binary_steps=1, generator_width=4,
        learning_rate=1e-3, fig3_epochs=1, batch_size=16, seed=0), **kw))


def test_pgn_eval_stale_after_the_model_is_retrained(tmp_path):
    """reproduce_pgn reported a retrained model's old accuracy and rho_cw: its cache
    was keyed by (n, C&W budget) only. Now the weights and the data are in the key."""
    from tf_advnet.papers.pgn import pipeline as pgn

    x, y = toy_data(16)
    clf = toy_classifier(seed=0)
    store = Store(str(tmp_path))
    s = _pgn_settings()
    first = pgn.evaluate_model(clf, x, y, s, store=store)
    assert pgn.evaluate_model(clf, x, y, s, store=store) == first  # reused
    retrained = toy_classifier(seed=5)
    want = float((np.argmax(retrained(x), -1) == y).mean())
    again = pgn.evaluate_model(retrained, x, y, s, store=store)
    assert again["acc"] == pytest.approx(want)
    assert len(os.listdir(tmp_path / "pgn_eval")) == 2
    assert pgn.evaluate_model(clf, x[:8], y[:8], s, store=store) != first  # other data


def test_pgn_attack_generator_stale_after_the_classifier_is_retrained(tmp_path):
    """Fig. 3's attack generators were reused whenever their file existed."""
    from tf_advnet.papers.pgn import pipeline as pgn

    x, y = toy_data(16)
    clf = toy_classifier(seed=0)
    clf.trainable = False
    store = Store(str(tmp_path))
    lines = []
    s = _pgn_settings()
    gen = pgn.train_attack_generator(clf, 50.0, x, y, s, store, progress=lines.append)
    same = pgn.train_attack_generator(clf, 50.0, x, y, s, store, progress=lines.append)
    assert len(lines) == 1  # trained once, then loaded
    for a, b in zip(gen.get_weights(), same.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    clf.set_weights([w * 0.9 for w in clf.get_weights()])
    pgn.train_attack_generator(clf, 50.0, x, y, s, store, progress=lines.append)
    assert len(lines) == 2  # a new generator for the new weights
    assert len(os.listdir(tmp_path / "pgn_attack_generator")) == 2


def test_train_backup_stale_under_another_run(tmp_path):
    """train() restored backup/ whatever config had written it."""
    from tf_advnet.pipelines import common

    backup = tmp_path / "backup"
    lines = []
    assert not common.check_backup(str(backup), lines.append, key="run-a")
    toy_classifier().save_weights(str(backup / "latest.weights.h5"))
    assert common.check_backup(str(backup), lines.append, key="run-a")
    assert (backup / "latest.weights.h5").exists() and not lines  # resumes
    assert not common.check_backup(str(backup), lines.append, key="run-b")
    assert not (backup / "latest.weights.h5").exists()
    assert len(lines) == 1 and "another run" in lines[0]
    assert (backup / "run_key.txt").read_text() == "run-b"


def test_train_run_stale_after_its_init_model_or_data_changes(tmp_path):
    """A run reused a finished model when its config matched, though the model it
    starts from (--init_model, L2L-DA's and DeepDefense's shared standard model) or
    its data had changed."""
    from tf_advnet.configs import ExperimentConfig
    from tf_advnet.configs.base import TrainConfig
    from tf_advnet.pipelines.train import run_key

    init = tmp_path / "init.keras"
    keras_model = toy_classifier(seed=0)
    keras_model.save(init)
    cfg = ExperimentConfig(train=TrainConfig(init_model=str(init)))
    x, y = toy_data(8)
    first = run_key(cfg, (x, y))
    assert run_key(cfg, (x, y)) == first
    assert run_key(cfg, (x[:4], y[:4])) != first
    toy_classifier(seed=1).save(init)  # the standard model was retrained
    assert run_key(cfg, (x, y)) != first
    assert run_key(dataclasses.replace(cfg, seed=cfg.seed + 1), (x, y)) != run_key(cfg, (x, y))


def test_l2lda_eval_cells_stale_after_a_model_is_retrained(tmp_path):
    """L2L-DA's table cells were keyed by the study config alone; now they are values
    of a store entry keyed by the study, the models and the data (as its pipeline)."""
    models = {"plain": toy_classifier(seed=0)}
    data = toy_data(8)

    def cells():
        return Store(str(tmp_path)).entry("l2lda_cells", study={"eps": 0.3},
                                          models=models, data=data)

    assert cells().value("plain/clean", lambda: 0.5) == 0.5
    assert cells().value("plain/clean", lambda: 0.9) == 0.5  # resumed from disk
    assert cells().value("pgd10/fgsm", lambda: 0.25) == 0.25  # added beside it
    assert cells().value("plain/clean", lambda: 0.9) == 0.5
    models["plain"] = toy_classifier(seed=1)
    assert cells().value("plain/clean", lambda: 0.9) == 0.9


def test_keras_models_from_the_store_round_trip(tmp_path):
    store = Store(str(tmp_path))
    entry = store.entry("model", seed=0)
    made = entry.model("m.keras", lambda: toy_classifier(seed=3), keras.models.load_model)
    assert not os.path.exists(os.path.join(entry.dir, "m.tmp.keras"))
    loaded = store.entry("model", seed=0).model("m.keras", lambda: None,
                                                keras.models.load_model)
    for a, b in zip(made.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
