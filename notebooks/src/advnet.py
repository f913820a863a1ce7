# %% [markdown]
# # Robust deep learning with adversarial networks (Wang & Yu, ICLR 2019)
#
# <a href="https://colab.research.google.com/github/tf-advnet/tf_advnet/blob/main/notebooks/advnet.ipynb"><img src="https://colab.research.google.com/assets/colab-badge.svg" alt="Open In Colab"/></a>
#
# Wang & Yu train the classifier D_theta against a perturbation generator G_phi instead
# of a per-example attack. The two players solve the minimax of Eq. (4):
#
# $$\min_\theta \max_\phi F(\theta, \phi) = \sum_i l(D_\theta(x_i), y_i)
#   + \lambda \sum_i l(D_\theta(x_i + \epsilon G_\phi(x_i)), y_i).$$
#
# G ends in a tanh, so eps * G(x) is an L-inf perturbation of size at most eps. G
# depends on the image but not on theta, and phi is shared by all examples. Each
# training step takes a few gradient-ascent steps of G on the batch, then one descent
# step of D.
#
# To keep the game stable, D minimises the gradient-regularised objective of Eq. (8),
# F + gamma/2 ||grad_phi F||^2. The gradient of that objective contains a
# Hessian-vector product with v = grad_phi F. Eq. (9) approximates it by a finite
# difference, (grad_theta F(theta, phi + h v) - grad_theta F(theta, phi)) / h, with
# h = eta_G / 10. In other words, it compares D's gradient before and after one
# trial ascent step of G, so no double back-propagation is needed.
#
# This notebook trains D1 against the MNIST generator G0 with `model.fit` on real MNIST
# digits (eps = 0.3, the paper's MNIST budget). It shows G's perturbations and compares
# the adversarial network C with a standard model A under FGS, PGD and G's own attack.
#
# The outputs stored with this notebook were produced by `python notebooks/sync.py
# --execute` at the tiny setting that CI runs (`TF_ADVNET_NOTEBOOK_TINY=1`: 256
# training and 64 test images, one epoch, one generator step; the full setting is
# 4,000 / 500 images, 5 epochs, 5 steps), so they show what each cell prints and
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

# %%
import keras
import matplotlib.pyplot as plt
import numpy as np

from tf_advnet import data, models
from tf_advnet.attacks.fgsm import fgsm
from tf_advnet.attacks.generator import generator_attack
from tf_advnet.attacks.pgd import pgd
from tf_advnet.models.advnet_generators import advnet_g0
from tf_advnet.trainers import StandardTrainer
from tf_advnet.trainers.advnet import AdvNetTrainer

TINY = os.environ.get("TF_ADVNET_NOTEBOOK_TINY") == "1"
N_TRAIN, N_TEST, EPOCHS, G_STEPS = (256, 64, 1, 1) if TINY else (4000, 500, 5, 5)
EPS = 0.3  # L-inf budget in [0, 1] pixel units (the paper's MNIST setting)

keras.utils.set_random_seed(0)
x_train, y_train = data.load("mnist_5k", "train", limit=N_TRAIN)
x_test, y_test = data.load("mnist_5k", "test", limit=N_TEST)
train_ds = data.make_dataset(x_train, y_train, 64, training=True, seed=0)
print(x_train.shape, x_test.shape)

# %% [markdown]
# ## Train the adversarial network C with `model.fit`
# D is D1, and G is G0 (an encoder-decoder on the image, k = 32 here to save time).
# Each batch gets `g_steps` ascent steps of G (SGD with momentum, as in the paper).
# Then D takes one Adam step (the paper uses SGD; Adam needs fewer steps) on Eq. (8),
# with the finite-difference term of Eq. (9) and gamma = 0.01. The log shows F
# (`loss`), its clean and adversarial parts, D's accuracy on x and on x + eps G(x),
# ||grad_phi F||^2 (the regularised quantity), and G's loss (minus the adversarial
# CE, plus weight decay).

# %%
classifier_c = models.build_model("advnet_d1", (28, 28, 1), 10)
trainer = AdvNetTrainer(classifier_c, advnet_g0((28, 28, 1), k=32), eps=EPS,
                        g_steps=G_STEPS, gamma=0.01, hvp="finite_difference",
                        weight_decay=1e-5)
trainer.compile(optimizer=keras.optimizers.Adam(1e-3),
                g_optimizer=keras.optimizers.SGD(0.01, momentum=0.9))
history = trainer.fit(train_ds, epochs=EPOCHS, verbose=2)

# %% [markdown]
# ## A standard model A for comparison
# A has the same D1 architecture, trained on clean images only.

# %%
classifier_a = models.build_model("advnet_d1", (28, 28, 1), 10)
standard = StandardTrainer(classifier_a)
standard.compile(optimizer=keras.optimizers.Adam(1e-3))
standard.fit(train_ds, epochs=EPOCHS, verbose=2)


def predict(model, x):
    return np.argmax(model.predict(x, batch_size=256, verbose=0), -1)


# %% [markdown]
# ## What the generator does
# The rows are the test image x, the perturbation eps * G(x) (grey = 0, black = -eps,
# white = +eps), and the adversarial image x + eps G(x) clipped to [0, 1]. The titles
# of the last row give the predictions of A and C on the adversarial image. The
# generator is used as a fixed attack and never sees the classifier's weights
# (`generator_attack`). G's BatchNorm runs on the batch's statistics (`training=True`), as
# in the official code: after a short run its moving averages are not yet settled.

# %%
x_show, y_show = x_test[:8], y_test[:8]
# The whole test batch goes through G (BN statistics of many images), then 8 are shown.
x_gen = generator_attack(trainer.generator, x_test, y_test, eps=EPS, clip=False,
                         training=True).numpy()[:8]
delta = x_gen - x_show
x_gen = np.clip(x_gen, 0.0, 1.0)
pred_a, pred_c = predict(classifier_a, x_gen), predict(classifier_c, x_gen)
fig, axes = plt.subplots(3, 8, figsize=(10.4, 4.4))
for j in range(8):
    axes[0, j].imshow(x_show[j, ..., 0], cmap="gray", vmin=0, vmax=1)
    axes[0, j].set_title(f"y = {y_show[j]}", fontsize=8)
    axes[1, j].imshow(delta[j, ..., 0], cmap="gray", vmin=-EPS, vmax=EPS)
    axes[2, j].imshow(x_gen[j, ..., 0], cmap="gray", vmin=0, vmax=1)
    axes[2, j].set_title(f"A:{pred_a[j]} C:{pred_c[j]}", fontsize=8)
axes[0, 0].set_ylabel("x")
axes[1, 0].set_ylabel("eps G(x)")
axes[2, 0].set_ylabel("x + eps G(x)")
for ax in axes.ravel():
    ax.set_xticks([])
    ax.set_yticks([])
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Evaluate A and C
# White-box attacks on each model at eps = 0.3: FGS (one signed-gradient step) and
# PGD (10 steps of 0.075 from a random start). The last column is C's generator used
# against each model. For A this is a transfer attack, because G was trained against
# C and not against A. The numbers below come from this run's small training, not
# from the paper's.

# %%
def model_fn_of(model):
    return lambda t: model(t, training=False)


rows = {}
x_gen_test = generator_attack(trainer.generator, x_test, y_test, eps=EPS,
                              training=True).numpy()
for name, model in (("A (standard)", classifier_a), ("C (adv. network)", classifier_c)):
    model_fn = model_fn_of(model)
    x_fgs = fgsm(model_fn, x_test, y_test, eps=EPS).numpy()
    x_pgd = pgd(model_fn, x_test, y_test, eps=EPS, step_size=0.075, num_steps=10,
                seed=0).numpy()
    rows[name] = [float((predict(model, xa) == y_test).mean())
                  for xa in (x_test, x_fgs, x_pgd, x_gen_test)]

header = f"{'model':<18}{'clean':>8}{'FGS':>8}{'PGD-10':>8}{'G of C':>8}"
print(f"accuracy (%) on {len(x_test)} test images, eps = {EPS}")
print(header)
print("-" * len(header))
for name, accs in rows.items():
    print(f"{name:<18}" + "".join(f"{100 * a:8.1f}" for a in accs))

# %% [markdown]
# ## The full experiment
# `python experiments/reproduce_advnet.py --preset=cpu --dataset=mnist_5k` trains and
# evaluates the models behind the paper's Tables 1-6 (and 10-11): A, PGD adversarial
# training B, the adversarial network C, surrogates with another seed, ensemble
# adversarial training, C with other generators, and generators trained against the
# fixed A, B and C. It writes `results/advnet/mnist_5k/advnet.md`. The cpu preset is a
# demonstration: 4,000 digits, 10 epochs, Adam for D. It is not the paper's
# 200k-iteration SGD training on full MNIST, so neither its numbers nor the ones
# above are a reproduction of the paper's.
