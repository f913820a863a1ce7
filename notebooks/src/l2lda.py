# %% [markdown]
# # Adversarial defense via learning to generate diverse attacks (L2L-DA, Jang et al., ICCV 2019)
#
# <a href="https://colab.research.google.com/github/tf-advnet/tf_advnet/blob/main/notebooks/l2lda.ipynb"><img src="https://colab.research.google.com/assets/colab-badge.svg" alt="Open In Colab"/></a>
#
# L2L-DA trains a classifier f against a *learned* attacker g_phi. The attacker differs
# from a one-shot generator in two ways.
#
# **It is recursive (Eq. 5).** Starting from delta^(0) = 0, the generator sees the image
# x, the label y (through class-conditional batch normalisation), a latent code z, the
# perturbation so far delta^(t), and the classifier's normalised loss gradient
# grad^(t) at x_adv^(t). It then proposes the next step:
#
# $$\delta^{(t+1)} = \Pi_S\big(\delta^{(t)} + \epsilon_{step}\, g_\phi(x, y, z, \delta^{(t)}, \nabla^{(t)})\big),
#   \qquad x_{adv}^{(t+1)} = \Pi_X(x + \delta^{(t+1)}),$$
#
# for t = 0 .. T-1. Here Pi_S clips to the L-inf ball of radius eps, Pi_X clips to
# [0, 1], and eps_step = eps / 4. The generator therefore works like a learned
# optimiser, similar to PGD but with a learned update rule.
#
# **It is stochastic.** z ~ N(0, I) is drawn once per trajectory, and a diversity term
# keeps different z from collapsing onto the same attack. The generator ascends
#
# $$L_{cls} = \frac{1}{T}\sum_{t=1}^{T} \mathrm{CE}\big(f(x_{adv}^{(t)}), y\big) \quad \text{(Eq. 6)},\qquad
#   L_{div} = \frac{1}{T}\sum_{t} \frac{\lVert x_{adv}^{(t)}(z_1) - x_{adv}^{(t)}(z_2)\rVert_1}{\lVert z_1 - z_2\rVert_1} \quad \text{(Eq. 7)},$$
#
# as L_cls + lambda L_div (Eq. 8, lambda = 0.02 on MNIST). Averaging the loss over
# *every* step t, not only the last one, asks each step to raise the loss. The
# classifier then descends the cross-entropy on the clean images and on x_adv^(T).
# One training step is **Algorithm 1**: each batch is duplicated with two codes
# z_1 and z_2, the generator takes one ascent step on Eq. (8), and the classifier takes
# one descent step.
#
# This notebook pre-trains a plain LeNet-5 on MNIST digits. It then fine-tunes the
# classifier with L2L-DA through `model.fit`, shows the recursive trajectories for two
# z samples, and compares the plain and L2L-DA models under FGSM, PGD10 and the L2L-DA
# attack at eps = 0.3.
#
# The outputs stored with this notebook were produced by `python notebooks/sync.py
# --execute` at the tiny setting that CI runs (`TF_ADVNET_NOTEBOOK_TINY=1`: 128
# training and 16 test images, one epoch each, generator width 4, T = 3; the full
# setting is 2,000 / 200 images, 5 and 2 epochs, width 16, T = 10), so they show
# what each cell prints and draws, not the paper's numbers.

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
import tensorflow as tf

from tf_advnet import data, models
from tf_advnet.attacks.fgsm import fgm
from tf_advnet.attacks.l2lda import l2lda_attack, sample_noise, trajectory
from tf_advnet.attacks.pgd import pgd
from tf_advnet.models.l2lda_generator import l2lda_generator
from tf_advnet.trainers import L2LDATrainer

TINY = os.environ.get("TF_ADVNET_NOTEBOOK_TINY") == "1"
# Sizes: training images, test images, plain and L2L-DA epochs, generator width, T.
N_TRAIN, N_TEST, PLAIN_EPOCHS, EPOCHS, WIDTH, T = (
    (128, 16, 1, 1, 4, 3) if TINY else (2000, 200, 5, 2, 16, 10))
EPS = 0.3  # L-inf budget in [0, 1] pixel units (the paper's MNIST setting)

keras.utils.set_random_seed(0)
x_train, y_train = data.load("mnist_5k", "train", limit=N_TRAIN)
x_test, y_test = data.load("mnist_5k", "test", limit=N_TEST)
print(x_train.shape, x_test.shape)

# %% [markdown]
# ## 1. A plain LeNet-5
# The paper starts L2L-DA from a pre-trained plain classifier (Sec. 5.1). Here that is
# a LeNet-5 (logits output) trained on clean digits with Adam. Before L2L-DA changes
# the weights, a copy of this model is kept as the baseline.

# %%
classifier = models.lenet5((28, 28, 1), 10)
classifier.compile(optimizer=keras.optimizers.Adam(1e-3),
                   loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                   metrics=["accuracy"])
classifier.fit(x_train, y_train, batch_size=64, epochs=PLAIN_EPOCHS, verbose=2)

plain = keras.models.clone_model(classifier)
plain.set_weights(classifier.get_weights())

# %% [markdown]
# ## 2. Train L2L-DA with `model.fit` (Algorithm 1)
# The generator is the paper's U-Net g_phi(x, y, z, delta, grad): z_dim = 8 and
# class-conditional BN on y. Its width is 16 here (4 in the CI-size run) instead of the
# paper's 64, to save time. `L2LDATrainer` is a `keras.Model`, so training is the usual
# `compile` + `fit`. `trainer.compile()` with no arguments gives both players the
# paper's optimiser: SGD with lr 0.01, momentum 0.9 and gradient-norm clipping at 1.
# The classifier keeps it. The generator uses Adam (lr 1e-3) here, because this run has
# only 64 steps instead of the paper's 100k iterations. In a trial on this CPU budget,
# the paper's SGD left the generator close to its initial, almost-zero output, and the
# loss barely rose along the trajectory. To use the paper's setting, call
# `trainer.compile()`. The log has these columns:
#
# - `l_cls` (Eq. 6) and `l_div` (Eq. 7): the generator's two objectives;
# - `adv_loss_first` / `adv_loss_last`: the mean cross-entropy at x_adv^(1) and at
#   x_adv^(T). The recursion should make the second larger;
# - `adv_acc` / `clean_acc`: the classifier's training-batch accuracy on x_adv^(T) and on x;
# - `loss`: the classifier's cross-entropy over [x; x_adv^(T)(z_1); x_adv^(T)(z_2)].

# %%
generator = l2lda_generator((28, 28, 1), 10, width=WIDTH, z_dim=8)
trainer = L2LDATrainer(classifier, generator, eps=EPS, num_steps=T, lam=0.02)
# The classifier: the default SGD 0.01, momentum 0.9, clipnorm 1 (the paper's).
trainer.compile(g_optimizer=keras.optimizers.Adam(1e-3))
history = trainer.fit(x_train, y_train, batch_size=64, epochs=EPOCHS, verbose=2)

keys = ["l_cls", "l_div", "adv_loss_first", "adv_loss_last", "adv_acc", "clean_acc"]
print("epoch" + "".join(f"{k:>16}" for k in keys))
for e in range(EPOCHS):
    print(f"{e + 1:>5}" + "".join(f"{history.history[k][e]:16.4f}" for k in keys))

# %% [markdown]
# ## 3. Recursive, diverse trajectories (Eq. 5)
# The trained generator is run on a few test images against the L2L-DA classifier,
# with two z samples (z_1, z_2), and its BatchNorm in inference mode. Each row shows
# the perturbation x_adv^(t) - x for t = 1 .. T (grey = 0, black = -eps,
# white = +eps). Two rows of the same image differ only in z. How much they differ is
# the diversity that Eq. (7) rewards; the printed mean gap
# |x_adv^(T)(z_1) - x_adv^(T)(z_2)| measures it (with lambda = 0.02 and a short run it
# can be small). The loss curves plot the mean cross-entropy at x_adv^(t). Eq. (6)
# asks for a loss that rises with t, and a curve that goes up is that claim on this run.

# %%
def model_fn_of(model):
    return lambda v: model(v, training=False)


N_SHOW = 3
x_show, y_show = x_test[:N_SHOW], y_test[:N_SHOW]
l2lda_fn = model_fn_of(trainer.classifier)
# `trajectory` is the low-level recursion: it wants tensors (numpy labels next to
# tensor inputs make the Keras generator call fail), unlike `l2lda_attack` below.
x_t, y_t = tf.constant(x_test), tf.constant(y_test)
runs, last = {}, {}
for k in (1, 2):
    z = sample_noise(generator, len(x_test), seed=[7, k])
    x_advs, losses = trajectory(generator, l2lda_fn, x_t, y_t, z, eps=EPS,
                                eps_step=EPS / 4, num_steps=T, training=False)
    runs[f"z{k}"] = ([xa.numpy()[:N_SHOW] for xa in x_advs],
                     [float(np.mean(l.numpy())) for l in losses])
    last[f"z{k}"] = x_advs[-1].numpy()

fig, axes = plt.subplots(2 * N_SHOW, T + 1, figsize=(1.2 * (T + 1), 1.3 * 2 * N_SHOW))
for i in range(N_SHOW):
    for k, name in enumerate(runs):
        row = 2 * i + k
        axes[row, 0].imshow(x_show[i, ..., 0], cmap="gray", vmin=0, vmax=1)
        axes[row, 0].set_ylabel(f"y={y_show[i]}, {name}", fontsize=8)
        for t, xa in enumerate(runs[name][0]):
            axes[row, t + 1].imshow(xa[i, ..., 0] - x_show[i, ..., 0], cmap="gray",
                                    vmin=-EPS, vmax=EPS)
            if row == 0:
                axes[row, t + 1].set_title(f"t = {t + 1}", fontsize=8)
axes[0, 0].set_title("x", fontsize=8)
for ax in axes.ravel():
    ax.set_xticks([])
    ax.set_yticks([])
plt.tight_layout()
plt.show()

fig, ax = plt.subplots(figsize=(4.8, 3.4))
for name, (_, curve) in runs.items():
    ax.plot(range(1, T + 1), curve, marker="o", label=name)
ax.set_xlabel("step t")
ax.set_ylabel("mean CE at x_adv^(t)")
ax.set_title(f"L2L-DA generator vs L2L-DA classifier ({len(x_test)} images)", fontsize=9)
ax.grid(alpha=0.3)
ax.legend()
plt.tight_layout()
plt.show()
for name, (_, curve) in runs.items():
    print(name, "loss per step:", " ".join(f"{v:.3f}" for v in curve))
print(f"mean |x_adv^(T)(z1) - x_adv^(T)(z2)| = {np.abs(last['z1'] - last['z2']).mean():.4f}"
      f" (mean |x_adv^(T) - x| = {np.abs(last['z1'] - x_test).mean():.4f})")

# %% [markdown]
# ## 4. Plain vs L2L-DA under attack
# White-box attacks at eps = 0.3 on each model:
#
# - FGSM: one signed-gradient step of size eps;
# - PGD10: 10 steps of eps / 4 from a random start;
# - the L2L-DA attack: the trained generator's T-step recursion, 5 z samples, with an
#   example counted as robust only if no sample fools the model.
#
# The generator reads each model's own gradient at every step. It was trained
# against the L2L-DA classifier, though, so on the plain model it is a learned
# optimiser used on a model it was not trained against. These numbers come
# from a few minutes of CPU training on 2,000 digits, so they demonstrate the method
# and do not reproduce the paper's Table 2.

# %%
def accuracy(model, x):
    pred = np.argmax(model.predict(x, batch_size=256, verbose=0), -1)
    return float((pred == y_test).mean())


rows = {}
for name, model in (("plain", plain), ("L2L-DA", trainer.classifier)):
    fn = model_fn_of(model)
    x_fgsm = fgm(fn, x_test, y_test, eps=EPS, norm="inf").numpy()
    x_pgd = pgd(fn, x_test, y_test, eps=EPS, step_size=EPS / 4, num_steps=10,
                random_start=True, seed=0).numpy()
    x_l2l = l2lda_attack(generator, fn, x_test, y_test, eps=EPS, num_steps=T,
                         num_samples=5).numpy()
    rows[name] = [accuracy(model, xa) for xa in (x_test, x_fgsm, x_pgd, x_l2l)]

print(f"accuracy (%) on {len(x_test)} test images, eps = {EPS}\n")
print("| model  | clean | FGSM  | PGD10 | L2L-DA attack |")
print("|--------|------:|------:|------:|--------------:|")
for name, accs in rows.items():
    print(f"| {name:<6} | " + " | ".join(f"{100 * a:5.1f}" for a in accs[:3])
          + f" | {100 * accs[3]:13.1f} |")

# %% [markdown]
# ## The full experiment
# `python experiments/reproduce_l2lda.py --preset=cpu --dataset=mnist_5k` trains the
# plain LeNet-5 and, starting from it, PGD10-, PGD100- and C&W100-AT, L2L*, L2L-DA and
# the ablations of Table 1 (recursion R, diversity D, and the delta and y inputs). It
# also trains the surrogates of Table 3 and evaluates the white-box, black-box and
# learned attacks. It writes `results/l2lda/mnist_5k/` (l2lda.md with Tables 1-3,
# fig2.png with the PGD / L2L / L2L-DA loss curves of Fig. 2, and trajectories.png).
# `--preset=paper --dataset=mnist` follows the paper's setting (100k iterations,
# generator width 64, 10 z samples). The cpu preset, like this notebook, is a
# small-budget demonstration: its numbers are not the paper's.
