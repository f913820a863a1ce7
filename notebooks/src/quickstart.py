# %% [markdown]
# # tf_advnet quickstart: train, attack, evaluate
#
# <a href="https://colab.research.google.com/github/tf-advnet/tf_advnet/blob/main/notebooks/quickstart.ipynb"><img src="https://colab.research.google.com/assets/colab-badge.svg" alt="Open In Colab"/></a>
#
# This notebook trains a standard and a PGD adversarially trained classifier on
# Fashion-MNIST with the ordinary Keras `model.fit`, looks at adversarial examples,
# evaluates both models under FGSM, PGD and C&W, then the robust one under APGD and
# Square with the gradient-masking checks. Everything it calls lives in
# `tf_advnet`; the notebook only glues it together.
#
# The outputs stored with this notebook were produced by `python notebooks/sync.py
# --execute` at the tiny setting that CI runs (`TF_ADVNET_NOTEBOOK_TINY=1`: 2,000
# training and 100 test images, one epoch, a reduced strong attack; the full setting
# is 60,000 / 1,000 images and 3 epochs), so they show what each cell prints and
# draws, not the paper's numbers.

# %% tags=["colab-setup"]
# On Colab: fetch tf_advnet and install its pinned requirements (skipped elsewhere).
# REPO comes from pyproject.toml ([project.urls] Repository) through
# notebooks/sync.py; set TF_ADVNET_REPO to use your fork instead.
import os
import subprocess
import sys

REPO = os.environ.get("TF_ADVNET_REPO", "https://github.com/tf-advnet/tf_advnet")
if "google.colab" in sys.modules:
    if not os.path.isdir("tf_advnet_src"):
        subprocess.run(["git", "clone", "-q", REPO, "tf_advnet_src"], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-r",
                    "tf_advnet_src/requirements.txt"], check=True)
    sys.path.insert(0, os.path.abspath("tf_advnet_src"))
else:  # a local checkout: the repository root is one level up
    sys.path.insert(0, os.path.abspath(".."))
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
from tf_advnet.utils.cli import quiet_tensorflow  # noqa: E402

quiet_tensorflow()  # TensorFlow's C++ start-up lines would fill the first output

# %% [markdown]
# ## Data
# Images come as float32 in [0, 1] (NHWC), labels as int64. `TINY` keeps the
# notebook to a minute when it runs in CI.

# %%
import keras
import numpy as np

from tf_advnet import data, models
from tf_advnet.trainers import PGDATTrainer, StandardTrainer

TINY = os.environ.get("TF_ADVNET_NOTEBOOK_TINY") == "1"
N_TRAIN, N_TEST, EPOCHS = (2000, 100, 1) if TINY else (60000, 1000, 3)
EPS = 0.1  # L-inf budget in [0, 1] pixel units

keras.utils.set_random_seed(0)
x_train, y_train = data.load("fashion_mnist", "train", limit=N_TRAIN)
x_test, y_test = data.load("fashion_mnist", "test", limit=N_TEST)
train_ds = data.make_dataset(x_train, y_train, 128, training=True, seed=0)
print(x_train.shape, x_train.dtype, x_train.min(), x_train.max())

# %% [markdown]
# ## Train with `model.fit`
# Each defence is a `keras.Model` whose `train_step` plays its game. PGD-AT
# (Madry et al. 2018) crafts PGD examples (random start, steps of eps/4) with the
# classifier in inference mode and trains on them.

# %%
classifiers = {}
for name, make in [("standard", lambda c: StandardTrainer(c)),
                   ("pgd_at", lambda c: PGDATTrainer(c, eps=EPS, num_steps=7))]:
    clf = models.build_model("small_cnn", (28, 28, 1), 10)
    trainer = make(clf)
    trainer.compile(optimizer=keras.optimizers.Adam(1e-3))
    trainer.fit(train_ds, epochs=EPOCHS, verbose=2)
    classifiers[name] = clf

# %% [markdown]
# ## Adversarial examples
# Attacks are pure functions on a logits callable.

# %%
import matplotlib.pyplot as plt

from tf_advnet.attacks import pgd

model_fn = lambda v: classifiers["standard"](v, training=False)
x_adv = pgd(model_fn, x_test[:8], y_test[:8], eps=EPS, step_size=EPS / 4,
            num_steps=10, seed=0).numpy()
pred = np.argmax(model_fn(x_adv), -1)
names = data.info("fashion_mnist").class_names
fig, axes = plt.subplots(2, 8, figsize=(12, 3.4))
for i in range(8):
    axes[0, i].imshow(x_test[i, ..., 0], cmap="gray")
    axes[0, i].set_title(names[y_test[i]], fontsize=8)
    axes[1, i].imshow(x_adv[i, ..., 0], cmap="gray")
    axes[1, i].set_title(f"-> {names[pred[i]]}", fontsize=8)
for ax in axes.flat:
    ax.axis("off")
plt.tight_layout()

# %% [markdown]
# ## Evaluate
# Accuracy under each attack and the per-example worst case over the bounded
# ones; C&W and DeepFool are minimal-perturbation attacks reported with their
# perturbation size (rho).

# %%
from tf_advnet.attacks import parse_attacks
from tf_advnet.eval.report import robustness_table
from tf_advnet.eval.robustness import evaluate_attacks

attacks = parse_attacks("fgsm,pgd10,pgd40,cw20,deepfool", eps=EPS)
results = {name: evaluate_attacks(clf, x_test, y_test, attacks, batch_size=200)
           for name, clf in classifiers.items()}
print(robustness_table(results))
assert results["pgd_at"]["attacks"]["pgd10"]["acc"] > results["standard"]["attacks"]["pgd10"]["acc"]

# %% [markdown]
# ## A strong, honest evaluation
# Papers often evaluate with their own, weaker attacks. `strong` is AutoAttack's
# standard version (Croce & Hein 2020): APGD-CE, APGD-T (targeted DLR over 9 classes),
# FAB-T (targeted minimal perturbation) and Square (score-based, gradient-free). `evaluate_ensemble` keeps a per-example "still
# robust" flag: with `standalone=True` every attack runs on every clean-correct image
# (so each column is its own accuracy), otherwise only on the survivors; `state_path`
# makes a long evaluation resumable. The gradient-masking checks (Athalye et al. 2018;
# Carlini et al. 2019) then say, with numbers, whether the result looks trustworthy.

# %%
from tf_advnet.eval.ensemble import evaluate_ensemble
from tf_advnet.eval.masking import run_checks

strong = "apgd20,apgdt20:targets=3,square200" if TINY else "strong"
clf = classifiers["pgd_at"]
ens = evaluate_ensemble(clf, x_test, y_test, parse_attacks(strong, eps=EPS),
                        standalone=True, batch_size=200)
print({spec: round(rec["acc"], 3) for spec, rec in ens["attacks"].items()},
      "worst case", ens["robust_acc"])
for check in run_checks(clf, x_test, y_test, eps=EPS, accs=ens):
    print("FIRED " if check.fired else "passed", f"{check.name:13s}", check.reason)
assert ens["robust_acc"] <= min(rec["acc"] for rec in ens["attacks"].values())
