"""`pipelines.train.train` builds the PGN paper's trainers from a config: PGN with its c_L
and L2 PGD-AT / FGM-AT (norm "2", random start off)."""

import json

import numpy as np
import pytest

from tf_advnet.configs import override, preset


def _config(method, **fields):
    cfg = preset("cpu", "synthetic", method)
    return override(cfg, train_limit=64, test_limit=32, epochs=1, batch_size=32,
                    **fields).validate()


def test_pgn_config_trains_and_logs_generator_metrics(tmp_path):
    from tf_advnet.pipelines.train import build_trainer, train
    from tf_advnet.trainers.pgn import PGNTrainer

    cfg = _config("pgn", trainer={"c_l": 7.5})
    trainer = build_trainer(cfg, _classifier(cfg))
    assert isinstance(trainer, PGNTrainer) and trainer.c_l == 7.5
    res = train(cfg, str(tmp_path / "pgn"), progress=lambda s: None, verbose=0)
    hist = json.loads((tmp_path / "pgn" / "train_results.json").read_text())["history"]
    assert {"g_loss", "l2", "adv_acc"} <= set(hist)
    assert np.all(np.asarray(hist["l2"]) > 0)
    assert res["config"]["train"]["trainer"]["c_l"] == 7.5


@pytest.mark.parametrize("fields,steps,step,start", [
    (dict(norm="2", eps=1.5), 7, 1.5 / 6, True),                      # L2 PGD-AT
    (dict(norm="2", eps=1.5, attack_steps=1, step_size=1.5,
          random_start=False), 1, 1.5, False),                        # FGM-AT
])
def test_l2_pgd_at_configs(fields, steps, step, start):
    from tf_advnet.pipelines.train import build_trainer

    cfg = _config("pgd_at", **fields)
    t = build_trainer(cfg, _classifier(cfg))
    assert (t.norm, t.eps, t.num_steps, t.random_start) == ("2", 1.5, steps, start)
    assert t.step_size == pytest.approx(step)


def _classifier(cfg):
    from tf_advnet.models import build_model

    return build_model(cfg.model.name, (28, 28, 1), 10)
