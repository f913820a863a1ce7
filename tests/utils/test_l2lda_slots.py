"""The L2L-DA study's reused trainer and attack (papers.l2lda.pipeline.AttackSlots) give the same
fine-tuned generator and the same adversarial images as fresh objects per row."""

import dataclasses

import numpy as np

from tf_advnet.models import build_model
from tf_advnet.models.l2lda_generator import l2lda_generator
from tf_advnet.papers.l2lda import pipeline as l2lda


def _setting(tmp_path):
    s = dataclasses.replace(l2lda.study("cpu", "synthetic"), num_steps=2, batch_size=8,
                            attack_epochs=1, attack_samples=2, eval_batch_size=16)
    rng = np.random.default_rng(0)
    x = rng.random((24, 28, 28, 1), np.float32)
    y = rng.integers(0, 10, 24)
    import keras

    clfs = []
    for seed in (1, 2):
        keras.utils.set_random_seed(seed)
        clfs.append(build_model("lenet5", (28, 28, 1), 10))
    keras.utils.set_random_seed(3)
    gen = l2lda_generator((28, 28, 1), 10, width=4)
    return s, clfs, gen, x, y


def test_slots_match_fresh_objects(tmp_path):
    from tf_advnet.attacks.transfer import craft
    from tf_advnet.eval.robustness import as_model_fn

    s, clfs, gen, x, y = _setting(tmp_path)
    slots = l2lda.AttackSlots(s, clfs[0], gen)
    for i, clf in enumerate(clfs):  # two rows through the same slots
        fresh = l2lda.finetune_l2lda(s, clf, gen, x, y, progress=lambda _: None)
        reused = l2lda.finetune_l2lda(s, clf, gen, x, y, progress=lambda _: None,
                                      slots=slots)
        for a, b in zip(fresh.weights, reused.weights, strict=True):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)
        want = craft(as_model_fn(clf), l2lda.l2lda_attack_fn(s, fresh), x, y,
                     batch_size=s.eval_batch_size)
        got = slots.craft(clf, reused, x, y)
        np.testing.assert_allclose(got, want, atol=1e-5)
    # The generator was fine-tuned (not a copy of the start).
    assert any(not np.allclose(a.numpy(), b.numpy())
               for a, b in zip(gen.weights, reused.weights))
