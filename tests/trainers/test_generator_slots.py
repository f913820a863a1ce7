"""`GeneratorSlots` (tf_advnet.trainers.attack_generators): one compiled AdvGAN / GAP
trainer reused across classifiers gives the generator a fresh
`train_attack_generator` gives, and traces `train_step` once."""

import numpy as np
import pytest

from tests.trainers._toy import toy_classifier, toy_data
from tf_advnet.attacks.generator_attacks import advgan_attack, gap_attack
from tf_advnet.store import Store
from tf_advnet.trainers.attack_generators import GeneratorSlots
from tf_advnet.trainers.attack_generators import architecture
from tf_advnet.trainers.attack_generators import train_attack_generator

EPS = 0.2
# Tiny networks: AdvGAN at width 0.5 (4, 8, 16 channels), GAP at ngf 4.
WIDTH = {"advgan": 0.5, "gap": 4 / 64}
ATTACK = {"advgan": advgan_attack, "gap": gap_attack}


def _train(kind, clf, x, y, seed, **kw):
    # 24 images in batches of 16: a full and a partial batch per epoch.
    return train_attack_generator(kind, clf, x, y, eps=EPS, epochs=2, batch_size=16,
                                  seed=seed, width=WIDTH[kind], progress=None, **kw)


def _assert_same(fresh, reused, x, kind):
    assert len(fresh.weights) == len(reused.weights)
    for a, b in zip(fresh.weights, reused.weights, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ATTACK[kind](reused, x, eps=EPS).numpy(),
                               ATTACK[kind](fresh, x, eps=EPS).numpy(), atol=1e-5)


def _count_traces(trainer):
    """Appends to the returned list whenever `trainer.train_step` runs in Python:
    under `model.fit` (graph mode) that is once per trace."""
    traces, step = [], trainer.train_step

    def counted(data):
        traces.append(1)
        return step(data)

    trainer.train_step = counted
    return traces


@pytest.mark.parametrize("kind", ["advgan", "gap"])
def test_slots_match_fresh_training_and_trace_once(kind):
    x, y = toy_data(24)
    clfs = [toy_classifier(seed=1), toy_classifier(seed=2)]
    slots = GeneratorSlots()
    slot = slots.slot(kind, clfs[0], x.shape[1:], EPS, WIDTH[kind])
    traces = _count_traces(slot.trainer)
    reused, counts = [], []
    for seed, clf in zip((0, 1), clfs):  # two classifiers, two seeds, one slot
        reused.append(_train(kind, clf, x, y, seed, slots=slots))
        counts.append(len(traces))
    # The second use (after the slot trained against another classifier with another
    # seed) equals a fresh training: weights, optimiser state and classifier all reset.
    _assert_same(_train(kind, clfs[1], x, y, 1), reused[1], x, kind)
    assert len(slots) == 1 and counts == [1, 1]
    # Each call hands out its own generator: the second training left the first's alone.
    assert reused[0] is not reused[1] and reused[0] is not slot.networks[0]
    assert not np.allclose(reused[0].weights[0].numpy(), reused[1].weights[0].numpy())


def test_slots_keep_one_trainer_per_architecture_and_setting():
    x, y = toy_data(24)
    shape, w = x.shape[1:], WIDTH["gap"]
    slots = GeneratorSlots()
    relu, tanh = toy_classifier(seed=1), toy_classifier(seed=1, activation="tanh")
    first = slots.slot("gap", relu, shape, EPS, w)
    assert slots.slot("gap", toy_classifier(seed=2), shape, EPS, w) is first
    for other in (slots.slot("gap", relu, shape, 0.1, w),  # another eps
                  slots.slot("gap", relu, shape, EPS, 2 * w),  # another width
                  slots.slot("advgan", relu, shape, EPS, w)):  # another kind
        assert other is not first
    assert len(slots) == 4
    # Another architecture gets its own trainer, with a fresh call's result.
    fresh = _train("gap", tanh, x, y, 0)
    reused = _train("gap", tanh, x, y, 0, slots=slots)
    _assert_same(fresh, reused, x, "gap")
    assert len(slots) == 5


def test_architecture_ignores_names_and_sees_activations():
    a, b = toy_classifier(seed=1), toy_classifier(seed=2)
    assert a.layers[0].name != b.layers[0].name  # Keras numbers each build's layers
    assert architecture(a) == architecture(b)
    assert architecture(a) != architecture(toy_classifier(activation="tanh"))


def test_slots_with_a_store_file_and_reuse_the_same_generator(tmp_path):
    x, y = toy_data(24)
    clf = toy_classifier(seed=1)
    store = Store(str(tmp_path / "store"))
    slots = GeneratorSlots()
    gen = _train("gap", clf, x, y, 0, store=store, slots=slots)
    lines = []
    again = train_attack_generator("gap", clf, x, y, eps=EPS, epochs=2, batch_size=16,
                                   seed=0, width=WIDTH["gap"], store=store,
                                   progress=lines.append)  # same key without slots
    assert len(lines) == 1 and "reusing" in lines[0]
    _assert_same(_train("gap", clf, x, y, 0), again, x, "gap")
    _assert_same(gen, again, x, "gap")
