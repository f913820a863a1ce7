"""L2L-DA (Jang et al., ICCV 2019) reproduction: Tables 1(a), 1(b), 2, 3 and Fig. 2.

What `reproduce` trains (each with `tf_advnet.pipelines.train.train` under
`<work_dir>/<dataset>/<name>`, so each model resumes after an interruption and is
reused when its config matches):

- `plain`: LeNet-5 on clean data; every other classifier starts from it (the
  paper initialises L2L-DA's classifier "with the weights pre-trained with the
  original data"; the baselines start there too, so all rows get the same
  adversarial budget);
- Table 2 rows: `pgd10` (random start, 10 steps of eps/4), `pgd100` (100 steps of
  eps/12), `cw100` (L-inf C&W examples, 100 Adam steps, `CWATTrainer`),
  `l2l_star` (L2L*: one-shot U-Net on (x, grad), no y/delta/z/normalisation) and
  `l2lda` (full: recursive, diversity, all inputs);
- Table 1(a): `rx_dx`, `rx_do`, `ro_dx` (recursion R and diversity D on/off);
  Table 1(b): `dO_yX`, `dX_yO`, `dX_yX` (the generator without y and/or delta);
- Table 3 surrogates (another seed): `plain_s2`, `fgsm_s2` (FGSM-AT), `pgd10_s2`.

Attack generators (`<root>/attacks/`), each fine-tuned against the fixed classifier
it attacks and saved once: AdvGAN and GAP for the Table 2 rows; the L2L-DA
generator (starting from the full model's generator) for the Table 2 rows and the
surrogates. All rows share one classifier architecture, so every row's AdvGAN and
GAP train in one compiled trainer per kind (`GeneratorSlots`) and every L2L-DA
fine-tuning in one `AttackSlots`, with the same numbers as fresh trainers.

Evaluation (classifiers in inference mode, every attack L-inf at eps, clipped to
[0, 1]; official `evaluation_mnist.py` / `evaluation_cifar.py` and mister_ed's
`adversarial_attacks.py`): FGSM (one step of eps); PGD10 (eps/4, random
start, best iterate) and PGD100 (eps/12); C&W100 / C&W1000 (mister_ed's L-inf C&W:
Adam 1e-3, soft-L-inf penalty (max form) with tau = 8/255, binary search); AdvGAN, GAP, and the L2L-DA
attack (T steps, `attack_samples` z samples, robust only if no sample fools);
"Min" = the lowest accuracy over a table's attack columns. Table 3 feeds
L2L-DA / PGD10 / PGD100 examples crafted on each surrogate to every Table 2 row.
Fig. 2: PGD, L2L and L2L-DA loss curves on the PGD10 and L2L-DA classifiers.
Each table cell is stored as it is computed (`Store`, keyed by the study, every
model's weights and the data), so an interrupted evaluation resumes.

Presets:
- `paper` (official `adv_defence/config.py`, README and `trainer.py`): MNIST, LeNet-5,
  eps 0.3, batch 100, 100k iterations of SGD 0.01 / momentum 0.9 / weight decay 1e-5 / gradient-norm clip 1 for both
  players (classifier lr x0.1 at half), generator width 64, z_dim 8, T = 10,
  lambda 0.02, C&W binary search 10 steps, 10 z samples; seed 422; the generator's
  losses summed over the T steps before its clip, pad-4 random crops (the code's
  recipe). CIFAR-10: ResNet-20, eps 8/255, lambda 0.5, crop + flip, Table 2 and 3
  only. Remaining deviations: the code's 1,000 clean warm-up steps and its public
  pre-trained CIFAR-10 ResNet-20 (here: our plain row, trained first), and its
  ResNet-20 normalising by ImageNet's mean and std inside (ours sees [0, 1] pixels).
- `cpu` (mnist_5k, fashion_mnist): the paper's architecture at generator width
  16 and its generator optimiser (SGD 0.01, momentum 0.9, clip 1); the
  classifiers use Adam 1e-3 (the plain model 3 epochs from scratch, every
  defence `epochs` = 2 epochs from it: with SGD 0.01 for ~125 steps PGD10-AT at
  MNIST's eps = 0.3 collapsed to 11% clean accuracy), and the gradient-based
  AT baselines ramp their budget over the first epoch (`eps_warmup_epochs`,
  see PGDATTrainer; L2L-DA's generator starts weak by itself). C&W with one
  binary-search step at c = 1 (mister_ed's search never passes its updated
  constant to the loss, so its 10 steps repeat the c = 1 run: see
  `attacks/cw_linf.py`), attack generators fine-tuned for `attack_epochs`,
  5 z samples, 500 test images; the generator's losses averaged over T (Eq. 6) and
  no augmentation (`step_reduction=sum`, `augment=crop` give the code's).
  Fashion-MNIST uses eps = 0.1 (the suite's Fashion-MNIST budget; not in the
  paper). Its numbers are a small-budget run, not the paper's.
Every field can be overridden (`overrides`: flat names of `Study`).
"""

import dataclasses
import os

import numpy as np

from tf_advnet.errors import UserError
# The tables' rows, columns and labels live with the report (which
# reads only results), so this module depends on it and not the other way round.
from tf_advnet.papers.l2lda.report import (  # noqa: F401  (re-exported)
    LABELS, SURROGATES, TABLE1_COLUMNS, TABLE1A_ROWS, TABLE1B_ROWS, TABLE2_COLUMNS,
    TABLE2_ROWS, TABLE3_ATTACKS)
from tf_advnet.papers.l2lda.study import (  # noqa: F401  (re-exported)
    PRESETS, CPU, DATASETS, Study, study)

# The generator settings of each L2L-type row: (generator, recursive, diversity,
# delta, label, normalise).
_L2L_ROWS = {
    "l2l_star": ("l2l_star", False, False, False, False, False),
    "rx_dx": ("l2lda", False, False, True, True, True),
    "rx_do": ("l2lda", False, True, True, True, True),
    "ro_dx": ("l2lda", True, False, True, True, True),
    "l2lda": ("l2lda", True, True, True, True, True),
    "dO_yX": ("l2lda", True, True, True, False, True),
    "dX_yO": ("l2lda", True, True, False, True, True),
    "dX_yX": ("l2lda", True, True, False, False, True),
}


def model_config(s, name, *, init_model=None, seed_offset=0):
    """The ExperimentConfig of model `name` (module docstring), validated."""
    from tf_advnet.configs import ExperimentConfig, replace_trainer
    from tf_advnet.configs.base import DataConfig, EvalConfig, ModelConfig, TrainConfig

    base = name[:-3] if name.endswith("_s2") else name
    train = dict(epochs=s.epochs, optimizer=s.optimizer, learning_rate=s.learning_rate,
                 momentum=0.9, weight_decay=s.weight_decay, clipnorm=s.clipnorm,
                 lr_boundaries=(s.epochs // 2,) if s.lr_decay and s.epochs > 1 else (),
                 eps=s.eps, init_model=init_model)
    own = {}  # the model's trainer config (tf_advnet.trainers.<method>.Config)
    if base == "plain":
        train.update(method="standard", epochs=s.plain_epochs, optimizer=s.plain_optimizer,
                     learning_rate=s.plain_learning_rate, clipnorm=None, lr_boundaries=(),
                     init_model=None)
    elif base == "fgsm":
        train.update(method="pgd_at", attack_steps=1, step_size=s.eps, random_start=False,
                     eps_warmup_epochs=s.eps_warmup_epochs)
    elif base == "pgd10":
        train.update(method="pgd_at", attack_steps=10, step_size=s.eps / 4,
                     eps_warmup_epochs=s.eps_warmup_epochs)
    elif base == "pgd100":
        train.update(method="pgd_at", attack_steps=100, step_size=s.eps / 12,
                     eps_warmup_epochs=s.eps_warmup_epochs)
    elif base == "cw100":
        train.update(method="cw_at", eps_warmup_epochs=s.eps_warmup_epochs)
        own.update(max_iterations=100, initial_const=1.0)
    elif base in _L2L_ROWS:
        gen, rec, div, delta, label, norm = _L2L_ROWS[base]
        train.update(method="l2lda")
        own.update(generator=gen, recursive=rec, diversity=div, delta=delta, label=label,
                   normalize=norm, g_width=s.g_width, z_dim=s.z_dim,
                   num_steps=s.num_steps, lam=s.lam, step_reduction=s.step_reduction,
                   g_optimizer="sgd", g_learning_rate=s.g_learning_rate,
                   g_weight_decay=s.weight_decay)
    else:
        raise UserError(f"unknown l2lda model {name!r}")
    cfg = ExperimentConfig(
        data=DataConfig(dataset=s.dataset, train_limit=s.train_limit,
                        test_limit=s.test_limit, batch_size=s.batch_size,
                        augment=s.augment, data_dir=s.data_dir),
        model=ModelConfig(name=s.model),
        train=replace_trainer(TrainConfig(**train), own),
        eval=EvalConfig(attacks="fgsm", eps=s.eps, batch_size=s.eval_batch_size),
        seed=s.seed + seed_offset, preset=s.preset)
    return cfg.validate()


def models_to_train(s):
    """Model names in training order (plain and plain_s2 first: the others start
    from them)."""
    names = ["plain", "plain_s2"] + list(TABLE2_ROWS[1:])
    if s.table1:
        rows = TABLE1A_ROWS + (TABLE1B_ROWS if s.table1b else ())
        names += [r for r in rows if r not in names]
    return names + ["fgsm_s2", "pgd10_s2"]


# -------------------------------------------------------------------- evaluation

def gradient_attacks(s):
    """FGSM, PGD10, PGD100, C&W100, C&W1000 of Table 2 as attack callables."""
    from tf_advnet.attacks.cw_linf import carlini_wagner_linf
    from tf_advnet.attacks.fgsm import fgm
    from tf_advnet.attacks.pgd import pgd

    e = s.eps

    def cw(steps):
        return lambda fn, xb, yb: carlini_wagner_linf(
            fn, xb, yb, eps=e, max_iterations=steps,
            binary_search_steps=s.cw_binary_steps)

    return {
        "fgsm": lambda fn, xb, yb: fgm(fn, xb, yb, eps=e, norm="inf"),
        "pgd10": lambda fn, xb, yb: pgd(fn, xb, yb, eps=e, step_size=e / 4, num_steps=10,
                                        random_start=True, keep_best=True, seed=s.seed),
        "pgd100": lambda fn, xb, yb: pgd(fn, xb, yb, eps=e, step_size=e / 12,
                                         num_steps=100, random_start=True,
                                         keep_best=True, seed=s.seed),
        "cw100": cw(100),
        "cw1000": cw(1000),
    }


def l2lda_attack_fn(s, generator, normalize=True):
    from tf_advnet.attacks.l2lda import l2lda_attack

    return lambda fn, xb, yb: l2lda_attack(
        generator, fn, xb, yb, eps=s.eps, num_steps=s.num_steps,
        num_samples=s.attack_samples, normalize=normalize, seed=s.seed)


class AttackSlots:
    """One classifier and one generator that take each row's weights in turn.

    The L2L-DA attack generator is fine-tuned and run once per attacked model (six
    Table 2 rows, three surrogates), all of one architecture. A trainer and an
    attack built around each row's own objects trace the T-step recursion (and its
    gradient) again for every row: the largest graph of the study, tens of seconds
    per trace on 2 cores (benchmarks/l2lda_step.py). Here one trainer and one
    compiled attack serve every row; loading a row's weights and resetting the
    optimiser to its fresh state gives the same numbers as fresh objects.
    """

    def __init__(self, s, classifier, generator):
        import keras

        from tf_advnet.eval.robustness import as_model_fn
        from tf_advnet.trainers.l2lda import L2LDATrainer

        self.s = s
        self.clf = keras.models.clone_model(classifier)
        self.gen = keras.models.clone_model(generator)
        self.fn = as_model_fn(self.clf)
        self.clf.trainable = False  # the generator alone trains (the trainer's frozen mode)
        self.trainer = L2LDATrainer(self.clf, self.gen, eps=s.eps, num_steps=s.num_steps,
                                    lam=s.lam, g_weight_decay=s.weight_decay, seed=s.seed)
        self.trainer.compile(g_optimizer=keras.optimizers.SGD(
            s.g_learning_rate, momentum=0.9, global_clipnorm=s.clipnorm))
        from tf_advnet.utils.compiled import optimizer_state

        self._fresh = optimizer_state(self.trainer.g_optimizer)

    def load(self, classifier, generator):
        """Copies `classifier`'s and `generator`'s weights into the slots."""
        from tf_advnet.utils.compiled import assign_weights

        assign_weights(self.clf, classifier)
        assign_weights(self.gen, generator)

    def finetune(self, x, y, epochs):
        """Trains the generator alone from its loaded weights, the optimiser fresh."""
        from tf_advnet import data as data_lib
        from tf_advnet.utils.compiled import reseed, restore_optimizer_state

        restore_optimizer_state(self.trainer.g_optimizer, self._fresh)
        reseed(self.s.seed)  # the compiled trainer kept (set_random_seed would clear it)
        self.trainer.fit(data_lib.make_dataset(x, y, self.s.batch_size, training=True,
                                               seed=self.s.seed),
                         epochs=epochs, verbose=2, shuffle=False)

    def craft(self, classifier, generator, x, y):
        """The L2L-DA attack of `generator` on `classifier` over (x, y)."""
        from tf_advnet.attacks.transfer import craft

        self.load(classifier, generator)
        return craft(self.fn, l2lda_attack_fn(self.s, self.gen), x, y,
                     batch_size=self.s.eval_batch_size)


def finetune_l2lda(s, clf, init_generator, x, y, store=None, *, progress=print,
                   slots=None):
    """The L2L-DA attack generator: `init_generator`'s copy trained alone against
    the fixed `clf` for `attack_epochs` (README of the code). Kept in `store` (a
    `tf_advnet.store.Store`, or None) under the classifier's and the initial
    generator's weights, the data and the recipe. `slots` (an `AttackSlots`) trains
    in its compiled trainer instead of a new one."""
    import keras

    from tf_advnet import data as data_lib
    from tf_advnet.pipelines import common
    from tf_advnet.trainers.l2lda import L2LDATrainer

    def make():
        progress("[l2lda] fine-tuning the L2L-DA attack generator")
        if slots is not None:
            slots.load(clf, init_generator)
            slots.finetune(x, y, s.attack_epochs)
            return slots.gen
        common.set_seed(s.seed)
        gen = _copy(init_generator)
        clf.trainable = False  # the generator alone trains (the trainer's frozen mode)
        trainer = L2LDATrainer(clf, gen, eps=s.eps, num_steps=s.num_steps, lam=s.lam,
                               g_weight_decay=s.weight_decay, seed=s.seed)
        trainer.compile(g_optimizer=keras.optimizers.SGD(
            s.g_learning_rate, momentum=0.9, global_clipnorm=s.clipnorm))
        trainer.fit(data_lib.make_dataset(x, y, s.batch_size, training=True, seed=s.seed),
                    epochs=s.attack_epochs, verbose=2, shuffle=False)
        return gen

    if store is None:
        gen = make()
        # The slots' generator is overwritten by the next row: hand out a copy.
        return _copy(gen) if slots is not None else gen
    entry = store.entry(
        "l2lda_attack_generator", classifier=clf, init_generator=init_generator,
        data=(x, y), eps=s.eps, num_steps=s.num_steps, lam=s.lam,
        weight_decay=s.weight_decay, g_learning_rate=s.g_learning_rate,
        clipnorm=s.clipnorm, epochs=s.attack_epochs, batch_size=s.batch_size,
        seed=s.seed)
    gen = entry.model("generator.keras", make, common.load_keras_model)
    return _copy(gen) if slots is not None and gen is slots.gen else gen


def _copy(model):
    import keras

    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def reproduce(preset_name="cpu", dataset=None, *, work_dir="runs/l2lda", results_dir=None,
              overrides=None, argv=None, progress=print):
    """Trains and evaluates everything of the module docstring; writes the report.

    Returns the results dict (also written to results_dir/l2lda.json).
    """
    import time

    from tf_advnet.attacks.generator_attacks import advgan_attack, gap_attack
    from tf_advnet.store import Store
    from tf_advnet.trainers.attack_generators import GeneratorSlots, train_attack_generator
    from tf_advnet.attacks.transfer import craft
    from tf_advnet.eval.loss_trajectories import loss_trajectories
    from tf_advnet.eval.robustness import as_model_fn, predict
    from tf_advnet.pipelines import common
    from tf_advnet.papers import l2lda as study_module
    from tf_advnet.papers._study import finish
    from tf_advnet.pipelines.train import curve_callbacks, curve_of, train
    from tf_advnet.utils.provenance import Provenance

    s = study(preset_name, dataset, overrides)
    prov = Provenance(seed=s.seed, preset=preset_name, argv=argv)
    root = os.path.join(work_dir, s.dataset)
    results_dir = results_dir or os.path.join("results", "l2lda", s.dataset)
    base = model_config(s, "plain")
    x_train, y_train = common.load_split(base.data, "train")
    x_test, y_test = common.load_split(base.data, "test")
    x_att, y_att = x_train[:s.attack_train_limit], y_train[:s.attack_train_limit]

    runs, seconds = {}, {}
    for name in models_to_train(s):
        t0 = time.time()
        init = None
        if name != "plain" and name != "plain_s2":
            init = runs["plain_s2" if name.endswith("_s2") else "plain"]["model_path"]
        cfg = model_config(s, name, init_model=init,
                           seed_offset=1 if name.endswith("_s2") else 0)
        runs[name] = train(cfg, os.path.join(root, name), argv=argv, progress=progress,
                           verbose=2, callbacks=curve_callbacks(cfg, s.curve_attack))
        seconds[name] = round(time.time() - t0, 1)

    models = {n: common.load_keras_model(r["model_path"]) for n, r in runs.items()}
    fns = {n: as_model_fn(m) for n, m in models.items()}
    full_gen = common.load_keras_model(os.path.join(root, "l2lda", "generator.keras"))
    store = Store(os.path.join(root, "store"))
    # Whether Table 1 is run changes no cell, so its cells stay valid either way; the
    # cells depend on every model's weights and the data, so those are in the key.
    table_cells = store.entry(
        "l2lda_cells", study={k: v for k, v in dataclasses.asdict(s).items()
               if k not in ("table1", "table1b", "curve_attack")},
        models=models, data=(x_test, y_test, x_att, y_att))

    def acc(fn, xs):
        return float((predict(fn, xs, s.eval_batch_size) == y_test).mean())

    grad_attacks = gradient_attacks(s)
    attack_seconds = {}
    built = []
    # One compiled AdvGAN and one GAP trainer for every row (all one architecture).
    generator_slots = GeneratorSlots()

    def slots():  # built on first use: a resumed run with every cell cached needs none
        if not built:
            built.append(AttackSlots(s, models["plain"], full_gen))
        return built[0]

    def white(row, col):
        def compute():
            t0 = time.time()
            fn = fns[row]
            if col == "clean":
                return acc(fn, x_test)
            if col in grad_attacks:
                xa = craft(fn, grad_attacks[col], x_test, y_test,
                           batch_size=s.eval_batch_size)
            elif col == "l2lda":
                gen = finetune_l2lda(s, models[row], full_gen, x_att, y_att, store,
                                     progress=progress, slots=slots())
                xa = slots().craft(models[row], gen, x_test, y_test)
            else:  # advgan, gap
                gen = train_attack_generator(
                    col, models[row], x_att, y_att, eps=s.eps,
                    epochs=s.attack_epochs, batch_size=s.batch_size, seed=s.seed,
                    width=s.attack_width, store=store, progress=progress,
                    slots=generator_slots)
                attack = advgan_attack if col == "advgan" else gap_attack
                xa = craft(fn, lambda _fn, xb, yb: attack(gen, xb, eps=s.eps), x_test,
                           y_test, batch_size=s.eval_batch_size)
            out = acc(fn, xa)
            attack_seconds[f"{row}/{col}"] = round(time.time() - t0, 1)
            return out
        return table_cells.value(f"{row}/{col}", compute)

    def table(rows, cols):
        out = {}
        for row in rows:
            progress(f"[l2lda] evaluating {row}: {', '.join(cols)}")
            cells = {"clean": white(row, "clean")}
            cells.update({c: white(row, c) for c in cols})
            cells["min"] = min(cells[c] for c in cols)
            out[row] = cells
        return out

    tables = {"table2": table(TABLE2_ROWS, TABLE2_COLUMNS)}
    if s.table1:
        tables["table1a"] = table(TABLE1A_ROWS, TABLE1_COLUMNS)
        if s.table1b:
            tables["table1b"] = table(TABLE1B_ROWS, TABLE1_COLUMNS)

    progress("[l2lda] black-box attacks from the surrogates (Table 3)")
    crafted = {}  # each surrogate's examples, crafted once for all rows

    def black(letter, a):
        key = f"{letter}/{a}"
        if key not in crafted:
            sname = SURROGATES[letter]
            if a == "l2lda":
                gen = finetune_l2lda(s, models[sname], full_gen, x_att, y_att, store,
                                     progress=progress, slots=slots())
                crafted[key] = slots().craft(models[sname], gen, x_test, y_test)
            else:
                crafted[key] = craft(fns[sname], grad_attacks[a], x_test, y_test,
                                     batch_size=s.eval_batch_size)
        return crafted[key]

    table3 = {}
    for row in TABLE2_ROWS:
        row_cells = {}
        for letter in SURROGATES:
            for a in TABLE3_ATTACKS:
                key = f"{a}({letter})"
                row_cells[key] = table_cells.value(
                    f"black/{row}/{key}", lambda: acc(fns[row], black(letter, a)))
        row_cells["min"] = min(row_cells.values())
        table3[row] = row_cells
    tables["table3"] = table3

    progress("[l2lda] loss curves (Fig. 2)")
    star_gen = common.load_keras_model(os.path.join(root, "l2l_star", "generator.keras"))
    n_fig = min(len(x_test), 500)
    fig2 = {}
    for row in ("pgd10", "l2lda"):
        fig2[row] = {}
        for method, gen, norm in (("pgd", None, True), ("l2l", star_gen, False),
                                  ("l2lda", full_gen, True)):
            fig2[row][method] = loss_trajectories(
                fns[row], x_test[:n_fig], y_test[:n_fig], method=method, eps=s.eps,
                generator=gen, num_steps=s.num_steps, num_attacks=10, normalize=norm,
                seed=s.seed, batch_size=s.eval_batch_size)

    trajectory_examples = _trajectory_examples(s, full_gen, fns["l2lda"], x_test, y_test)
    results = {
        "study": dataclasses.asdict(s), "n_train": int(len(x_train)),
        "n_test": int(len(x_test)), "tables": tables, "fig2": fig2,
        "fig2_images": n_fig,
        "train": {k: {"model_path": v["model_path"],
                      "test_clean_acc": v["test_clean_acc"],
                      "train_images_per_second": v["train_images_per_second"],
                      "epochs": v["config"]["train"]["epochs"],
                      "history_last": {m: h[-1] for m, h in v["history"].items() if h},
                      "curve": curve_of(v, s.curve_attack),
                      "seconds_this_invocation": seconds[k]}
                  for k, v in runs.items()},
        "attack_seconds_this_invocation": attack_seconds,
    }
    results["provenance"] = prov.finish()
    finish(study_module, results, results_dir, examples=trajectory_examples)
    return results


def _trajectory_examples(s, generator, model_fn, x, y, n=4):
    """x_adv^(t), t = 1..T, for two z samples on the first n test images."""
    import tensorflow as tf

    from tf_advnet.attacks.l2lda import sample_noise, trajectory

    xb = tf.convert_to_tensor(x[:n], tf.float32)
    yb = tf.convert_to_tensor(y[:n])
    out = []
    for k in range(2):
        z = sample_noise(generator, n, seed=[s.seed, 100 + k])
        x_advs, _ = trajectory(generator, model_fn, xb, yb, z, eps=s.eps,
                               eps_step=s.eps / 4, num_steps=s.num_steps,
                               training=False)
        out.append(np.stack([np.asarray(v) for v in x_advs], axis=1))  # (n, T, ...)
    return {"x": np.asarray(x[:n]), "trajectories": out}
