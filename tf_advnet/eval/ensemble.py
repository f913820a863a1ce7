"""Worst-case accuracy over an ensemble of attacks, run AutoAttack-style and resumable.

Source: Croce & Hein, "Reliable evaluation of adversarial robustness with an
ensemble of diverse parameter-free attacks", ICML 2020 (AutoAttack). Its attacks
run one after another, each only on the points that every earlier attack failed
to break, and the robust accuracy is the per-example worst case: a point counts
as robust only if no attack of the ensemble breaks it. Skipping points that are
already broken makes a long ensemble affordable; for deterministic attacks it changes
no number (a randomised attack draws its starts per batch, so on the survivors alone it
may break a slightly different set than on every point).

`evaluate_ensemble(..., standalone=True)` instead runs every attack on all
clean-correct points, so each attack's own accuracy is known too (as
`robustness.evaluate_attacks` does); the worst case is then the AND of the
per-attack flags, the same set as in the survivors-only run when the attacks are
deterministic.

A point counts as broken if ANY iterate of an attack fooled it, AutoAttack's rule
(its APGD returns a misclassified iterate whenever one was found): APGD, Square and
the L-inf C&W return their first/best success anyway, and the registry's PGD, CW-PGD
and MIM specs default to `any=1` (`pgd(..., any_iterate=True)`), so a point that PGD
fooled mid-run and not at its last iterate is broken, not robust. A spec with
`any=0` (the papers' own last-iterate rule) is run as asked; each attack's record
says which rule it used ("any_iterate").

Long evaluations can be resumed: with `state_path`, a small .npz state is
rewritten after every batch (see `_save_state`), and a later call with the same
arguments continues from the next batch. Each batch's random seed is a function
of (seed, attack index, batch index), so a resumed run draws the same random
starts as an uninterrupted one.

Example:
    attacks = parse_attacks("apgd100,apgdt100,square5000", eps=8 / 255)
    res = evaluate_ensemble(model, x, y, attacks, state_path="runs/aa_state.npz")
    res["robust_acc"], res["attacks"]["square5000"]["newly_broken"]
"""

import dataclasses
import json
import os
import re
import time
import zipfile

import numpy as np

from tf_advnet.data.validation import check_finite
from tf_advnet.errors import UserError
from tf_advnet.eval.robustness import as_model_fn, predict, run_attack
from tf_advnet.store import fingerprint

# Bumped whenever the state layout or what a spec computes changes, so an old file is
# ignored, not misread or resumed with stale results. 2: any-iterate PGD/CW-PGD/MIM
# by default, Square with AutoAttack's settings.
STATE_VERSION = 2


@dataclasses.dataclass
class _State:
    """Where an evaluation stands; everything needed to continue it.

    robust: worst-case flags so far (clean-correct and unbroken by every attack
      run on the point so far).
    on: the points the current attack runs on, fixed when it starts.
    still: the current attack's own flags (True until it breaks the point).
    attack_index, next_batch: the current attack and its next batch of `on`.
    newly_broken, seconds: running totals of the current attack.
    results: per-attack records of the finished attacks, by spec.
    """

    robust: np.ndarray
    on: np.ndarray
    still: np.ndarray
    attack_index: int = 0
    next_batch: int = 0
    newly_broken: int = 0
    seconds: float = 0.0
    results: dict = dataclasses.field(default_factory=dict)


def evaluate_ensemble(model, x, y, attacks, *, state_path=None, standalone=False,
                      batch_size=256, seed=0, progress=None, strategy=None):
    """Per-example worst-case accuracy over `attacks`, each run on the survivors.

    Args:
      model: Keras model or logits callable.
      x: float32 images in [0, 1], NHWC.
      y: int labels.
      attacks: list of bounded `tf_advnet.attacks.registry.Attack`s, run in order.
      state_path: optional .npz path; the state is saved there after every batch
        and a matching state found there is resumed.
      standalone: run every attack on all clean-correct points (so each attack's
        own accuracy is reported) instead of only on the survivors.
      batch_size: attack batch size.
      seed: base seed (int >= 0, or None for unseeded and not reproducible).
      progress: optional callable(str) for progress lines.
      strategy: a `tf.distribute.Strategy` whose replicas share each attack batch
        (None: the one in scope; see `robustness.run_attack`).

    Returns:
      dict with "n", "clean_acc", "robust_acc" (the worst case), "standalone",
      "order" (specs in run order), "attacks" (spec -> {"acc" (standalone only,
      else None), "robust_after", "evaluated", "newly_broken", "seconds", "family",
      "norm", "eps", "num_steps", "any_iterate" (see `counts_any_iterate`)}) and
      "robust" (bool array, the per-example worst-case flags).

    Raises:
      ValueError: unbounded or duplicate attacks, an empty list, bad batch size.
      NonFiniteInputError: x holds NaN or inf.
      UserError: the state file is corrupt.
    """
    _check_args(attacks, batch_size, seed)
    check_finite(x, "x")
    say = progress or (lambda line: None)
    y = np.asarray(y, np.int64)
    model_fn = as_model_fn(model, strategy)
    correct = predict(model_fn, x, batch_size) == y
    key = _state_key(model, x, y, attacks, seed=seed, standalone=standalone,
                     batch_size=batch_size)
    state = _load_state(state_path, key, len(x), say) if state_path else None
    if state is None:
        state = _State(robust=correct.copy(), on=correct.copy(), still=correct.copy())
    elif state.attack_index == len(attacks):
        say(f"  {state_path}: this evaluation is already complete; reusing it")
    else:
        say(f"  resuming {state_path}: attack {state.attack_index + 1}/{len(attacks)} "
            f"({attacks[state.attack_index].spec}) at batch {state.next_batch}")

    def save():
        if state_path:
            _save_state(state_path, key, state)

    while state.attack_index < len(attacks):
        attack = attacks[state.attack_index]
        _run_batches(attack, model_fn, x, y, state, batch_size=batch_size, seed=seed,
                     save=save, strategy=strategy)
        rec = _finish_attack(attack, state, correct, standalone)
        save()
        say(_progress_line(attack.spec, rec))
    return {
        "n": int(len(x)),
        "clean_acc": float(correct.mean()),
        "robust_acc": float(state.robust.mean()),
        "standalone": bool(standalone),
        "order": [a.spec for a in attacks],
        "attacks": {a.spec: state.results[a.spec] for a in attacks},
        "robust": state.robust.copy(),
    }


def _check_args(attacks, batch_size, seed):
    attacks = list(attacks)
    if not attacks:
        raise ValueError("evaluate_ensemble needs at least one attack")
    unbounded = [a.spec for a in attacks if not a.bounded]
    if unbounded:
        raise ValueError(
            f"evaluate_ensemble takes bounded attacks only (a worst case over "
            f"minimal-perturbation attacks needs a budget); unbounded: "
            f"{', '.join(unbounded)} (give them ':eps=VALUE')")
    specs = [a.spec for a in attacks]
    dup = sorted({s for s in specs if specs.count(s) > 1})
    if dup:
        raise ValueError(f"evaluate_ensemble: attack specs must be unique; repeated: "
                         f"{', '.join(dup)}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size <= 0:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
                             or seed < 0):
        raise ValueError(f"seed must be an int >= 0 or None, got {seed!r}")


def counts_any_iterate(attack):
    """Whether `attack` returns a fooling point whenever any of its iterates fooled.

    True for every registry attack except a PGD, CW-PGD or MIM spec with `any=0`
    (their last iterate, the papers' rule); single-step attacks (fgsm, fgm, noise)
    have one point, APGD, Square and the L-inf C&W keep their first/best success.
    """
    if attack.family not in ("pgd", "cwpgd", "mim"):
        return True
    opts = attack.spec.split(":", 1)[1] if ":" in attack.spec else ""
    m = re.search(r"(?:^|,)\s*any\s*=\s*([^,]*)", opts)
    return m is None or float(m.group(1)) != 0


def batch_seed(seed, attack_index, batch_index):
    """The seed of one batch: a hash of (seed, attack index, batch index).

    Independent of how the run was split into calls, so a resumed run repeats the
    random starts of an uninterrupted one; distinct attacks and batches get
    unrelated streams.
    """
    if seed is None:
        return None
    words = np.random.SeedSequence([int(seed), attack_index, batch_index]).generate_state(1)
    return int(words[0])


def _run_batches(attack, model_fn, x, y, state, *, batch_size, seed, save, strategy=None):
    """Runs the current attack's remaining batches, saving after each one."""
    idx_all = np.flatnonzero(state.on)
    num_batches = -(-len(idx_all) // batch_size)
    while state.next_batch < num_batches:
        t0 = time.time()
        b = state.next_batch
        idx = idx_all[b * batch_size:(b + 1) * batch_size]
        # run_attack also applies the budget of a budgeted minimal attack (cw, deepfool).
        x_adv = run_attack(attack, model_fn, x[idx], y[idx], batch_size=len(idx),
                           seed=batch_seed(seed, state.attack_index, b), strategy=strategy)
        survived = predict(model_fn, x_adv, len(idx)) == y[idx]
        state.newly_broken += int(np.count_nonzero(state.robust[idx] & ~survived))
        state.still[idx] = survived
        state.robust[idx] &= survived
        state.next_batch = b + 1
        state.seconds += time.time() - t0
        save()


def _finish_attack(attack, state, correct, standalone):
    """Records the finished attack and sets the state up for the next one."""
    rec = {
        "acc": float((state.still & correct).mean()) if standalone else None,
        "robust_after": float(state.robust.mean()),
        "evaluated": int(np.count_nonzero(state.on)),
        "newly_broken": state.newly_broken,
        "seconds": round(state.seconds, 2),
        "family": attack.family,
        "norm": attack.norm,
        "eps": attack.eps,
        "num_steps": attack.num_steps,
        "any_iterate": counts_any_iterate(attack),
    }
    state.results[attack.spec] = rec
    nxt = correct if standalone else state.robust
    state.on, state.still = nxt.copy(), nxt.copy()
    state.attack_index += 1
    state.next_batch, state.newly_broken, state.seconds = 0, 0, 0.0
    return rec


def _progress_line(spec, rec):
    own = "" if rec["acc"] is None else f"acc {rec['acc']:.4f}  "
    return (f"  {spec:<24s} {own}robust {rec['robust_after']:.4f}  "
            f"(attacked {rec['evaluated']}, broke {rec['newly_broken']}, "
            f"{rec['seconds']:.1f}s)")


# ----------------------------------------------------------------------------
# State file.
# ----------------------------------------------------------------------------


def _state_key(model, x, y, attacks, *, seed, standalone, batch_size):
    """What a saved state must match to be resumed (JSON-normalised dict).

    The batch size is part of it because batch indices (and so seeds) depend on
    it; the attack's norm, eps and steps are because a spec alone does not fix
    the budget (`parse_attack(spec, eps=...)`).
    """
    key = {
        "version": STATE_VERSION,
        "attacks": [[a.spec, a.family, a.norm, a.eps, a.num_steps] for a in attacks],
        "n": int(len(x)),
        "data": fingerprint(np.asarray(x), np.asarray(y))[:32],
        "model": _model_fingerprint(model),
        "seed": None if seed is None else int(seed),
        "standalone": bool(standalone),
        "batch_size": int(batch_size),
    }
    return json.loads(json.dumps(key))


def _model_fingerprint(model):
    """A hash of the model's weights, or None for a bare callable (not checked)."""
    return None if getattr(model, "weights", None) is None else fingerprint(model)[:32]


def _save_state(path, key, state):
    """Writes the state atomically (tmp file + rename) as an .npz.

    Arrays: "robust", "on", "still" (bool, (n,)); "position" (int64:
    attack_index, next_batch, newly_broken); "seconds" (float64); "key" and
    "results" (JSON strings, so the file loads without pickle).
    """
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        np.savez(f, key=np.array(json.dumps(key)), robust=state.robust, on=state.on,
                 still=state.still,
                 position=np.array([state.attack_index, state.next_batch,
                                    state.newly_broken], np.int64),
                 seconds=np.array(state.seconds, np.float64),
                 results=np.array(json.dumps(state.results)))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _load_state(path, key, n, say):
    """The saved state if it matches `key`, else None (with a progress line)."""
    if not os.path.exists(path):
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            saved_key = json.loads(str(z["key"]))
            if saved_key != key:
                diff = sorted(k for k in set(key) | set(saved_key)
                              if key.get(k) != saved_key.get(k))
                say(f"  {path} was saved by another evaluation (differs in: "
                    f"{', '.join(diff)}); starting over")
                return None
            state = _State(robust=z["robust"], on=z["on"], still=z["still"])
            state.attack_index, state.next_batch, state.newly_broken = (
                int(v) for v in z["position"])
            state.seconds = float(z["seconds"])
            state.results = json.loads(str(z["results"]))
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as e:
        raise UserError(f"{path}: corrupt ensemble state file ({type(e).__name__}); "
                        f"delete it to start over") from None
    for name in ("robust", "on", "still"):
        arr = getattr(state, name)
        if arr.dtype != bool or arr.shape != (n,):
            raise UserError(f"{path}: corrupt ensemble state file ({name!r} has shape "
                            f"{arr.shape} and dtype {arr.dtype}); delete it to start over")
        setattr(state, name, arr.copy())
    return state
