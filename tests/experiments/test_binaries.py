"""End-to-end smoke tests of the experiment binaries on generated data, and the
one-line messages for user mistakes (no stack traces).

The user mistakes run in this process (the `cli` fixture, tests/experiments/
conftest.py); one per binary runs in a subprocess, the only place TensorFlow's C++
start-up lines could show next to the message."""

import json
import os
import sys

import keras
import pytest

from tests.experiments._run import ROOT, assert_one_line_error, run_binary

TINY = ["--dataset=synthetic", "--train_limit=1024", "--test_limit=64", "--epochs=2"]


_run = run_binary


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """`experiments/train.py` run once for the module, in this process as the `cli`
    fixture runs a command (train.py's own subprocess run, TensorFlow's start-up
    included, is test_missing_dataset_message). sys.argv is the script's, as in a
    subprocess, since results record it as their command."""
    from tf_advnet.cli import run_command

    work = tmp_path_factory.mktemp("train")
    args = ["--method=pgd_at", "--attack_steps=2", "--eps=0.03", *TINY,
            f"--out_dir={work}"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TF_ADVNET_ALLOW_DOWNLOAD", "0")
        mp.chdir(ROOT)
        mp.setattr(sys, "argv", [os.path.join(ROOT, "experiments", "train.py"), *args])
        status = run_command("train", args)
    assert status == 0
    return work


def test_train_writes_model_checkpoints_results(trained):
    work = trained
    assert (work / "model.keras").exists()
    assert list((work / "checkpoints").glob("epoch001.weights.h5"))
    assert (work / "tensorboard").is_dir()
    res = json.loads((work / "train_results.json").read_text())
    prov = res["provenance"]
    for key in ("command", "commit", "seed", "preset", "wall_time_s", "versions"):
        assert key in prov
    assert "train.py" in prov["command"] and prov["preset"] == "cpu"
    assert res["config"]["train"]["method"] == "pgd_at"
    assert res["test_clean_acc"] > 0.6 and res["train_images_per_second"] > 0


def test_train_again_reuses_finished_run(trained, cli):
    work = trained
    status, out, _ = cli("train", "--method=pgd_at", "--attack_steps=2", "--eps=0.03",
                         *TINY, f"--out_dir={work}")
    assert status == 0 and "already trained" in out


def test_evaluate_writes_json_markdown_plot(trained, tmp_path, cli):
    # In this process: evaluate.py's own subprocess run is test_evaluate_corrupt_model.
    work = trained
    status, _, err = cli("evaluate", f"--model_path=a={work}/model.keras,b={work}/model.keras",
                         "--dataset=synthetic", "--test_limit=32",
                         "--attacks=fgsm,pgd5,deepfool", "--eps=0.1",
                         "--metrics=rho2,rho_inf,eps_ref", "--eps_ref_from=b", "--transfer",
                         f"--out_dir={tmp_path}")
    assert status == 0, err[-3000:]
    res = json.loads((tmp_path / "eval.json").read_text())
    assert set(res["models"]) == {"a", "b"} and "rho2" in res["metrics"]["a"]
    assert res["transfer"]["transfer"]["a"]["a/pgd5"] == res["models"]["a"]["attacks"]["pgd5"]["acc"]
    assert "| model | n | clean | fgsm | pgd5 | deepfool | worst case |" in \
        (tmp_path / "eval.md").read_text()
    assert (tmp_path / "acc_vs_eps.png").stat().st_size > 1000
    assert (tmp_path / "acc_vs_steps.png").stat().st_size > 1000
    md = (tmp_path / "eval.md").read_text()
    assert "## Minimal-perturbation attacks" in md and "| a | deepfool |" in md
    # The Markdown is generated from the JSON: rendering again gives the same file.
    from tf_advnet.pipelines.evaluate import render

    (tmp_path / "eval.md").unlink()
    render(str(tmp_path))
    assert (tmp_path / "eval.md").read_text() == md
    ref = res["eps_ref"]
    assert ref["from"] == "b" and 0 < ref["eps_ref"] <= 1
    # The reference model misclassifies ~50% at 1.0 eps_ref by construction.
    assert ref["acc"]["b"]["1"] <= 0.5 + 1e-9
    assert res["metrics"]["a"]["rho_inf"]["eps"] == ref["eps_ref"]  # a and b are equal


@pytest.mark.parametrize("args,needle", [
    (["--dataset=imagenet"], "--dataset='imagenet' is not valid; allowed values:"),
    (["--method=trades"], "--method='trades' is not valid; allowed values: standard, pgd_at"),
    (["--model=vgg"], "--model='vgg' is not valid; allowed values:"),
    (["--eps=1.5"], "--eps=1.5 is out of range"),
    (["--attack_steps=-3"], "--attack_steps=-3 is out of range"),
    (["--batch_size=0"], "--batch_size=0 is out of range"),
    (["--method=bat", "--set", "trainer.variant=R-XX-LA"],
     "trainer.variant='R-XX-LA' is not valid"),
    (["--method=bat", "--set", "trainer.beta=0"], "trainer.beta must be > 0, got 0"),
    (["--method=pgn", "--set", "trainer.c_l=0"], "trainer.c_l must be > 0, got 0"),
    (["--method=pgn", "--set", "trainer.ema_decay=1.5"],
     "trainer.ema_decay must be in (0, 1], got 1.5"),
    (["--method=pgd_at", "--norm=1"], "--norm='1' is not valid; allowed values: inf, 2"),
    (["--preset=gpu"], "--preset"),
    (["stray"], "unexpected arguments: ['stray']"),
])
def test_train_bad_flags(args, needle, tmp_path, cli):
    status, _, err = cli("train", *TINY, f"--out_dir={tmp_path}", *args)
    assert_one_line_error(status, err, needle)


def test_corrupt_checkpoint_message(tmp_path, cli):
    (tmp_path / "backup").mkdir()
    (tmp_path / "backup" / "latest.weights.h5").write_bytes(b"not an h5 file")
    status, _, err = cli("train", *TINY, f"--out_dir={tmp_path}")
    assert_one_line_error(status, err, "is corrupt; delete it")


def test_missing_dataset_message(tmp_path):
    """In a subprocess: TensorFlow starts and looks for the data; stderr is still our
    one line and nothing reaches stdout."""
    proc = _run("train.py", "--dataset=cifar10", f"--data_dir={tmp_path}",
                f"--out_dir={tmp_path}/w")
    assert_one_line_error(proc.returncode, proc.stderr, "cifar10")
    assert str(tmp_path) in proc.stderr
    assert not proc.stdout, proc.stdout[-2000:]


@pytest.mark.parametrize("args,needle", [
    (["--model_path=/nonexistent/m.keras"], "no such file"),
    (["--attacks=pgd"], "needs a step count"),
    (["--attacks=laser"], "unknown attack 'laser'"),
    (["--eps=-1"], "--eps=-1.0 is out of range"),
])
def test_evaluate_bad_flags(args, needle, tmp_path, cli):
    base = [f"--model_path={tmp_path}/x.keras", "--dataset=synthetic",
            f"--out_dir={tmp_path}"]
    (tmp_path / "x.keras").write_bytes(b"garbage")
    status, _, err = cli("evaluate", *base, *args)
    assert_one_line_error(status, err, needle)


def test_evaluate_corrupt_model(tmp_path):
    """In a subprocess: TensorFlow starts and Keras tries the file; stderr is still
    our one line and nothing reaches stdout."""
    (tmp_path / "x.keras").write_bytes(b"garbage")
    proc = _run("evaluate.py", f"--model_path={tmp_path}/x.keras",
                "--dataset=synthetic", f"--out_dir={tmp_path}")
    assert_one_line_error(proc.returncode, proc.stderr, "is corrupt or not a Keras model")
    assert not proc.stdout, proc.stdout[-2000:]


def test_training_resumes_after_interruption(tmp_path):
    """Interrupt during epoch 2 of 3; the second call finishes epochs 2-3 only, and
    the run's history (and a reuse's) has all three epochs, from history.csv."""
    from tf_advnet.configs import override, preset
    from tf_advnet.pipelines.train import train

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt

    cfg = override(preset("cpu", "synthetic"), train_limit=128, test_limit=32, epochs=3)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, str(tmp_path), callbacks=[Interrupt()], verbose=0, progress=lambda s: 0)
    assert (tmp_path / "backup" / "latest.weights.h5").exists()
    res = train(cfg, str(tmp_path), verbose=0, progress=lambda s: 0)
    assert res["epochs_run_this_invocation"] == 2
    assert not (tmp_path / "backup").exists()  # removed once training completes
    assert all(len(v) == 3 for v in res["history"].values()), res["history"]
    again = train(cfg, str(tmp_path), verbose=0, progress=lambda s: 0)
    assert again["history"] == res["history"]
    # Another config in the same directory starts a fresh log: no stale epoch.
    other = train(override(cfg, epochs=2, seed=5), str(tmp_path), verbose=0,
                  progress=lambda s: 0)
    assert all(len(v) == 2 for v in other["history"].values())
    assert len((tmp_path / "history.csv").read_text().strip().splitlines()) == 1 + 2


def test_corrupt_latest_backup_falls_back_to_previous(tmp_path):
    from tf_advnet.configs import override, preset
    from tf_advnet.pipelines.train import train

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt

    cfg = override(preset("cpu", "synthetic"), train_limit=128, test_limit=32, epochs=3)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, str(tmp_path), callbacks=[Interrupt()], verbose=0, progress=lambda s: 0)
    latest = tmp_path / "backup" / "latest.weights.h5"
    assert (tmp_path / "backup" / "latest.weights.h5.bkp").exists()
    latest.write_bytes(b"\x00" * 64)  # e.g. the disk filled up mid-write
    lines = []
    res = train(cfg, str(tmp_path), verbose=0, progress=lines.append)
    assert any("resuming from the previous backup" in l for l in lines)
    assert res["epochs_run_this_invocation"] == 2  # the previous backup was epoch 1


def test_evaluate_strong_attacks_and_checks(trained, tmp_path, cli):
    """`--attacks=strong` expands to AutoAttack's standard version (APGD-CE, APGD-T,
    FAB-T, Square); `--checks` adds the gradient-masking checks, each with its reason,
    to the JSON and the Markdown."""
    work = trained
    status, _, err = cli("evaluate", f"--model_path={work}/model.keras",
                         "--dataset=synthetic", "--test_limit=32", "--attacks=pgd5,strong",
                         "--eps=0.1", "--checks", "--steps_grid=1,2", f"--out_dir={tmp_path}")
    assert status == 0, err[-3000:]
    res = json.loads((tmp_path / "eval.json").read_text())["models"]["model"]
    assert list(res["attacks"]) == ["pgd5", "apgd100", "apgdt100:targets=9",
                                    "fabt100:targets=9", "square5000"]
    names = [c["name"] for c in res["checks"]]
    assert len(names) == 6 and all(c["reason"] for c in res["checks"])
    md = (tmp_path / "eval.md").read_text()
    assert "## Gradient-masking checks" in md
    assert md.count("FIRED") + md.count("passed") >= len(names)
