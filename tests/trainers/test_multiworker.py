"""Distributed training and evaluation equal one device.

- Two worker processes on 127.0.0.1 (MultiWorkerMirroredStrategy from TF_CONFIG, as
  `--strategy=multi_worker` makes it) run two epochs of the standard and the PGD-AT
  trainer with the same global batch as one device, then a distributed attack run and
  a worst-case ensemble: the weights and the per-example results match one device.
- In process, MirroredStrategy over two logical CPUs: `map_batches_distributed` keeps
  the row order and pads uneven batches; the evaluator and the ensemble give the same
  per-example results as one device for deterministic attacks.

Run as a script (`python test_multiworker.py OUT.npz`) this file is one worker.
"""

import json
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
METHODS = ("standard", "pgd_at")
DETERMINISTIC = "fgsm,pgd5:random_start=0"
EPS = 0.1
# Both workers, start to exit: ~20 s on an idle 2-core machine, ~90 s under a load
# of 15; a hung cluster is killed at this bound.
WORKER_TIMEOUT_S = float(os.environ.get("TF_ADVNET_MULTIWORKER_TIMEOUT", 150))


def _data():
    from tests.trainers._toy import toy_data

    return toy_data(32, seed=0)


def _train(strategy, method):
    """Two epochs of `method` on the toy data, one global batch of 32 per step;
    returns (classifier weights, classifier)."""
    import keras
    import tensorflow as tf

    from tests.trainers._toy import toy_classifier
    from tf_advnet.pipelines.common import shard_by_data
    from tf_advnet.trainers import build_trainer

    x, y = _data()
    kwargs = {"eps": EPS, "num_steps": 2, "random_start": False} if method == "pgd_at" else {}
    with strategy.scope():
        clf = toy_classifier(seed=1)
        trainer = build_trainer(method, clf, weight_decay=1e-3, **kwargs)
        trainer.compile(optimizer=keras.optimizers.SGD(0.5, momentum=0.9))
    ds = shard_by_data(tf.data.Dataset.from_tensor_slices((x, y)).batch(32))
    trainer.fit(ds, epochs=2, verbose=0)
    return [w.numpy() for w in clf.weights], clf


def _evaluate(model, strategy):
    """x_adv of each deterministic attack and the ensemble's per-example flags."""
    from tf_advnet.attacks.registry import parse_attacks
    from tf_advnet.eval.ensemble import evaluate_ensemble
    from tf_advnet.eval.robustness import as_model_fn, predict, run_attack

    x, _ = _data()
    x = x[:13]  # batches of 5: 5, 5, 3, each split unevenly over two replicas
    model_fn = as_model_fn(model)
    y = predict(model_fn, x)
    attacks = parse_attacks(DETERMINISTIC, eps=EPS)
    out = {f"x_adv/{a.spec}": run_attack(a, as_model_fn(model, strategy), x, y,
                                         batch_size=5, seed=1, strategy=strategy)
           for a in attacks}
    out["robust"] = evaluate_ensemble(model, x, y, attacks, batch_size=5,
                                      strategy=strategy)["robust"]
    return out


def _worker(out_path):
    """One worker: TF_CONFIG is set by the test."""
    t0 = time.monotonic()

    def say(what):  # timings in the worker's log, shown when the test fails
        print(f"[worker] {what} at {time.monotonic() - t0:.1f} s", flush=True)

    from tf_advnet.pipelines.common import get_strategy

    say("imported")
    strategy = get_strategy("multi_worker")  # before any other TF op
    assert strategy.num_replicas_in_sync == 2
    say("cluster up")
    results = {}
    for method in METHODS:
        weights, clf = _train(strategy, method)
        results.update({f"{method}/{i}": w for i, w in enumerate(weights)})
        say(f"trained {method}")
    results.update(_evaluate(clf, strategy))
    say("evaluated")
    np.savez(out_path + ".tmp.npz", **results)
    os.replace(out_path + ".tmp.npz", out_path)
    # Stay up until every peer has its results: a worker that exits while a peer
    # still receives its last collective's buffers aborts that peer ("Socket closed").
    peers = [os.path.join(os.path.dirname(out_path), f"worker{i}.npz")
             for i in range(strategy.num_replicas_in_sync)]
    wait_until = time.monotonic() + 60
    while not all(map(os.path.exists, peers)) and time.monotonic() < wait_until:
        time.sleep(0.2)
    say("peers done")
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip interpreter teardown: gRPC server threads can outlive the peer and hang it.
    os._exit(0)


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _start_workers(tmp_path):
    """Starts the two workers of a 127.0.0.1 cluster; returns (procs, out paths)."""
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs, outs = [], []
    for i in range(2):
        out = str(tmp_path / f"worker{i}.npz")
        env = dict(os.environ, TF_CONFIG=json.dumps(
            {"cluster": cluster, "task": {"type": "worker", "index": i}}),
            PYTHONPATH=ROOT, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="2",
            KERAS_BACKEND="tensorflow")
        with open(tmp_path / f"worker{i}.log", "w") as log:
            procs.append(subprocess.Popen(
                [sys.executable, os.path.abspath(__file__), out], cwd=ROOT, env=env,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
        outs.append(out)
    return procs, outs


def _wait_workers(procs, outs, tmp_path, deadline):
    """Waits until both workers are done, one fails, or the deadline passes; kills
    whatever still runs (a worker whose peer died waits in a collective for ever).
    Returns their results, or None when a port was taken before a worker bound it."""
    try:
        while time.monotonic() < deadline:
            codes = [p.poll() for p in procs]
            if all(c is not None for c in codes) or any(c not in (None, 0) for c in codes):
                break
            time.sleep(0.2)
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, 9)
            p.wait(timeout=30)
    failed = [i for i, p in enumerate(procs) if p.returncode != 0 or not os.path.exists(outs[i])]
    if failed:
        logs = [(tmp_path / f"worker{i}.log").read_text() for i in failed]
        if any("Could not start gRPC server" in log for log in logs):
            return None  # a free port was taken between choosing and binding it
        tails = "\n".join(f"--- worker {i} (rc {procs[i].returncode}):\n"
                          + (tmp_path / f"worker{i}.log").read_text()[-3000:]
                          for i in failed)
        pytest.fail(f"workers {failed} failed, or were killed after {WORKER_TIMEOUT_S} s\n"
                    f"{tails}")
    return [dict(np.load(o)) for o in outs]


def test_two_workers_train_and_evaluate_as_one_device(tmp_path):
    import tensorflow as tf

    deadline = time.monotonic() + WORKER_TIMEOUT_S
    procs, outs = _start_workers(tmp_path)
    try:  # one device, in this process, while the workers start
        one = tf.distribute.get_strategy()
        single = {}
        for method in METHODS:
            weights, clf = _train(one, method)
            single.update({f"{method}/{i}": w for i, w in enumerate(weights)})
        single.update(_evaluate(clf, one))
    finally:
        workers = _wait_workers(procs, outs, tmp_path, deadline)
    if workers is None:  # once, with new ports
        deadline = time.monotonic() + WORKER_TIMEOUT_S
        workers = _wait_workers(*_start_workers(tmp_path), tmp_path, deadline)
        assert workers is not None, "no free ports on 127.0.0.1"
    for res in workers:
        assert set(res) == set(single)
        for key, expected in single.items():
            if key == "robust":
                np.testing.assert_array_equal(res[key], expected, err_msg=key)
            elif key.startswith("x_adv"):
                np.testing.assert_allclose(res[key], expected, rtol=0, atol=1e-5,
                                           err_msg=key)
            else:
                np.testing.assert_allclose(res[key], expected, rtol=1e-4, atol=1e-5,
                                           err_msg=key)
    # The steps moved the weights, so equality is not that of two untouched models.
    from tests.trainers._toy import toy_classifier

    init = [w.numpy() for w in toy_classifier(seed=1).weights]
    assert not np.allclose(single["pgd_at/0"], init[0])
    # The attacks changed the predictions of some examples.
    assert not single["robust"].all()


# ----------------------------------------------------------------------------
# In process: two logical CPUs (tests/conftest.py) under MirroredStrategy.
# ----------------------------------------------------------------------------


def test_map_batches_distributed_keeps_order_pads_and_seeds(two_cpu_strategy):
    import tensorflow as tf

    from tf_advnet.eval.batching import map_batches_distributed, replica_seed

    x = np.arange(7 * 2, dtype=np.float32).reshape(7, 2)
    y = np.arange(7, dtype=np.int64) * 10

    def fn(xb, yb, seed):
        # Row sum + label identifies the row; the seed says which shard made it.
        return (tf.reduce_sum(xb, axis=1) + tf.cast(yb, tf.float32),
                tf.fill(tf.shape(yb), seed))

    sums, seeds = map_batches_distributed(fn, x, y, batch_size=3,
                                          strategy=two_cpu_strategy,
                                          batch_seed=lambda b: 100 + b)
    np.testing.assert_array_equal(sums, x.sum(1) + y)
    # Batches (3, 3, 1) padded to (4, 4, 2): shards of 2, 2, 1 rows.
    expected = [replica_seed(100, 0)] * 2 + [replica_seed(100, 1)] + \
        [replica_seed(101, 0)] * 2 + [replica_seed(101, 1)] + [replica_seed(102, 0)]
    np.testing.assert_array_equal(seeds, expected)
    assert len(set(expected)) == 5
    # One replica: the plain loop, the batch seed itself.
    _, plain = map_batches_distributed(fn, x, y, batch_size=3,
                                       strategy=tf.distribute.get_strategy(),
                                       batch_seed=lambda b: 100 + b)
    np.testing.assert_array_equal(plain, [100] * 3 + [101] * 3 + [102])


@pytest.fixture(scope="module")
def attack_setup():
    from tests.attacks import _models
    from tf_advnet.eval.robustness import predict

    model = _models.shared("tiny_cnn")
    x = _models.images(21, seed=5)
    y = predict(_models.logits_fn(model), x)
    y[:3] = (y[:3] + 1) % 10  # a few clean errors
    return model, x, y


def test_evaluator_on_two_replicas_equals_one_device(attack_setup, two_cpu_strategy):
    from tf_advnet.attacks.registry import parse_attacks
    from tf_advnet.eval.ensemble import evaluate_ensemble
    from tf_advnet.eval.robustness import as_model_fn, evaluate_attacks, run_attack

    model, x, y = attack_setup
    attacks = parse_attacks(DETERMINISTIC, eps=0.05)
    model_fn = as_model_fn(model)
    for attack in attacks:
        single = run_attack(attack, model_fn, x, y, batch_size=8, seed=1)
        two = run_attack(attack, as_model_fn(model, two_cpu_strategy), x, y, batch_size=8,
                         seed=1, strategy=two_cpu_strategy)
        np.testing.assert_allclose(two, single, rtol=0, atol=1e-6, err_msg=attack.spec)
    kw = dict(batch_size=8, seed=1)
    ref = evaluate_attacks(model, x, y, attacks, **kw)
    dist = evaluate_attacks(model, x, y, attacks, strategy=two_cpu_strategy, **kw)
    for spec in ref["attacks"]:
        assert dist["attacks"][spec]["acc"] == ref["attacks"][spec]["acc"]
    assert dist["worst_case_acc"] == ref["worst_case_acc"] < ref["clean_acc"]
    ref_e = evaluate_ensemble(model, x, y, attacks, **kw)
    with two_cpu_strategy.scope():  # the strategy in scope is used
        dist_e = evaluate_ensemble(model, x, y, attacks, **kw)
    np.testing.assert_array_equal(dist_e["robust"], ref_e["robust"])
    assert dist_e["robust_acc"] == ref["worst_case_acc"]


def test_randomised_attack_on_two_replicas_is_reproducible(attack_setup,
                                                            two_cpu_strategy):
    from tf_advnet.attacks.registry import parse_attack
    from tf_advnet.eval.robustness import as_model_fn, run_attack

    model, x, y = attack_setup
    attack = parse_attack("pgd3", eps=0.05)  # random start
    model_fn = as_model_fn(model, two_cpu_strategy)
    a, b, c = (run_attack(attack, model_fn, x, y, batch_size=8, seed=s,
                          strategy=two_cpu_strategy) for s in (1, 1, 2))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert np.abs(a - x).max() <= 0.05 + 1e-6
    unseeded = run_attack(attack, model_fn, x, y, batch_size=8, seed=None,
                          strategy=two_cpu_strategy)  # TF's global RNG per shard
    assert unseeded.shape == x.shape and np.abs(unseeded - x).max() <= 0.05 + 1e-6


def test_replicated_copies_a_one_device_model(attack_setup, two_cpu_strategy):
    import tensorflow as tf

    from tf_advnet.eval.robustness import replicated

    model, x, _ = attack_setup
    copy = replicated(model, two_cpu_strategy)
    assert copy is not model
    assert all(isinstance(w.value, tf.distribute.DistributedValues) for w in copy.weights)
    np.testing.assert_allclose(copy(x).numpy(), model(x).numpy(), rtol=1e-6, atol=1e-6)
    assert replicated(copy, two_cpu_strategy) is copy
    assert replicated(model, tf.distribute.get_strategy()) is model


def test_multi_worker_needs_tf_config(monkeypatch):
    from tf_advnet.errors import UserError
    from tf_advnet.pipelines.common import get_strategy

    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(UserError, match="TF_CONFIG"):
        get_strategy("multi_worker")
    monkeypatch.setenv("TF_CONFIG", json.dumps(
        {"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "worker", "index": 3}}))
    with pytest.raises(UserError, match="not a cluster with this task"):
        get_strategy("multi_worker")


def test_task_dir_chief_and_workers(tmp_path):
    import tensorflow as tf

    from tf_advnet.pipelines.common import task_dir

    class _Strategy:
        def __init__(self, jobs, task_type, task_id):
            self.cluster_resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(
                tf.train.ClusterSpec(jobs), task_type=task_type, task_id=task_id)

    workers = {"worker": ["a:1", "b:1"]}
    assert task_dir(_Strategy(workers, "worker", 0), "w") == "w"
    assert task_dir(_Strategy(workers, "worker", 1), "w") == os.path.join(
        "w", "workers", "worker_1")
    with_chief = {"chief": ["c:1"], **workers}
    assert task_dir(_Strategy(with_chief, "chief", 0), "w") == "w"
    assert task_dir(_Strategy(with_chief, "worker", 0), "w") == os.path.join(
        "w", "workers", "worker_0")
    assert task_dir(tf.distribute.get_strategy(), "w") == "w"


if __name__ == "__main__":
    sys.path.insert(0, ROOT)
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    _worker(sys.argv[1])
