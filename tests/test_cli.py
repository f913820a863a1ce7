"""The `tf-advnet` command line: every documented command parses, `--help` and the
first line of a run are ours (no TensorFlow start-up lines), and `--set` reaches
every config field with one-line errors.

Most checks run the parsers in this process; a few subprocesses run the installed
entry point, `python -m tf_advnet` and an experiments/ wrapper from a temporary
directory without PYTHONPATH, as a user would.
"""

import dataclasses
import typing
import os
import re
import shlex
import subprocess
import sys

import pytest

from tf_advnet import cli
from tf_advnet.cli import overrides as ov
from tf_advnet.configs import ExperimentConfig, override, preset
from tf_advnet.errors import UserError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ALL = [(name, None) for name in cli.COMMANDS if name != "reproduce"] + [
    ("reproduce", paper) for paper in cli.PAPERS]
# Lines TensorFlow 2.21 and absl print at start-up on a CPU-only machine.
NOISE = ("oneDNN", "cuda drivers", "cuInit", "absl::InitializeLog", "cpu_feature_guard")


def _module(name, paper):
    return cli.command_module(name, paper)


@pytest.mark.parametrize("name,paper", ALL, ids=lambda v: str(v))
def test_help_starts_with_usage_and_lists_own_flags(name, paper):
    mod = _module(name, paper)
    text = mod.COMMAND.help()
    shown = name if paper is None else f"reproduce {paper}"
    assert text.splitlines()[0] == f"usage: tf-advnet {shown} [--flag=value ...]"
    assert "--[no]verbose" in text
    own = [f for f in mod.COMMAND.flags]
    assert all(f"--{f}" in text or f"--[no]{f}" in text for f in own)
    # The dispatcher's one-line summary is the module docstring's first line.
    summary = (cli.PAPERS[paper] if paper else cli.COMMANDS[name])[1]
    assert mod.__doc__.strip().splitlines()[0] == summary


def test_commands_share_flag_names_without_clashing():
    """Each command parses its own flags only: train's --method is not demo's."""
    train, demo = _module("train", None), _module("demo", None)
    assert "method" in train.COMMAND.flags and "method" not in demo.COMMAND.flags
    with pytest.raises(UserError, match="Unknown command line flag 'method'"):
        demo.COMMAND.parse(["--method=bat"])


@pytest.mark.parametrize("name,paper", [("report-card", "report_card")] + [
    ("reproduce", p) for p in cli.PAPERS], ids=lambda v: str(v))
def test_preset_flag_takes_each_preset_of_its_study(name, paper):
    """`--preset` offers exactly its study's PRESETS (the ledger's `long` among them:
    `tf-advnet reproduce bat --preset=long` once answered "one of <cpu|paper>")."""
    import importlib

    presets = importlib.import_module(f"tf_advnet.papers.{paper}.study").PRESETS
    command = _module(name, None if name != "reproduce" else paper).COMMAND
    assert "long" in presets
    for p in presets:
        command.parse([f"--preset={p}"])
        assert command.flags["preset"].value == p
    with pytest.raises(UserError) as e:
        command.parse(["--preset=huge"])
    assert f"one of <{'|'.join(presets)}>" in str(e.value)


def _documented_commands():
    """Every `tf-advnet ...` command line in README.md and BUILD.md."""
    found = []
    for doc in ("README.md", "BUILD.md"):
        with open(os.path.join(ROOT, doc)) as f:
            text = f.read().replace("\\\n", " ")
        for line in text.splitlines():
            m = re.match(r"\s*(?:\$ )?(?:\S*/)?tf-advnet (.*)", line)
            if m:
                args = shlex.split(m.group(1).split("#")[0])
                found.append((doc, args))
    return found


def test_documented_commands_parse():
    """The README's and BUILD.md's `tf-advnet` lines name real commands and flags."""
    docs = _documented_commands()
    assert {args[0] for _, args in docs} >= set(cli.COMMANDS)
    for doc, args in docs:
        if args[0] in ("--help", "-h"):
            continue
        paper = args[1] if args[0] == "reproduce" else None
        assert args[0] in cli.COMMANDS, (doc, args)
        assert paper is None or paper in cli.PAPERS, (doc, args)
        rest = args[2:] if paper else args[1:]
        if "--help" in rest:
            continue
        _module(args[0], paper).COMMAND.parse(rest)  # raises UserError if a flag is bad


@pytest.mark.parametrize("args,needle", [
    (["--preset=gpu"], "flag --preset=gpu: value should be one of <cpu|paper>"),
    (["--epochs=three"], "flag --epochs=three"),
    (["--methd=bat"], "Did you mean: method"),
    (["stray"], "unexpected arguments: ['stray']"),
])
def test_train_flag_errors_are_one_line(args, needle):
    with pytest.raises(UserError) as e:
        _module("train", None).COMMAND.parse(args)
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_dispatcher_errors_name_the_allowed_values(capsys):
    assert cli.main(["fit"]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: unknown command 'fit'; allowed values: train, evaluate, reproduce, "
        "report-card, demo, render, ledger")
    assert cli.main(["reproduce", "trades"]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: unknown paper 'trades' for reproduce; allowed values: advnet, bat, "
        "deepdefense, l2lda, pgn")
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("usage: tf-advnet")
    for name in cli.COMMANDS:  # one line each
        assert sum(line.split()[:1] == [name] for line in out) == 1


# --set: one implementation over dataclass fields.

def test_set_types_come_from_the_fields():
    sets = ov.parse_sets(["trainer.lam=3", "eval.batch_size=7", "lr_boundaries=2,4",
                          "eps_y=none", "random_start=false", "data.augment=crop",
                          "seed=5", "train.eps=0.05"], ExperimentConfig)
    assert sets == {"train.trainer.lam": 3.0, "eval.batch_size": 7,
                    "train.lr_boundaries": (2, 4), "train.trainer.eps_y": None,
                    "train.random_start": False, "data.augment": "crop", "seed": 5,
                    "train.eps": 0.05}
    assert type(sets["eval.batch_size"]) is int
    # lam is DeepDefense's, eps_y BAT's: each applies to a config of its method.
    dd_sets = {k: v for k, v in sets.items() if k != "train.trainer.eps_y"}
    cfg = ov.apply_sets(preset("cpu", "synthetic", "deepdefense"), dd_sets)
    assert (cfg.train.trainer.lam, cfg.eval.batch_size, cfg.train.lr_boundaries,
            cfg.seed, cfg.train.eps, cfg.eval.eps) == (
        3.0, 7, (2, 4), 5, 0.05, preset("cpu", "synthetic").eval.eps)
    bat = ov.apply_sets(preset("cpu", "synthetic", "bat"),
                        {"train.trainer.eps_y": 0.3})
    assert ov.apply_sets(bat, {"train.trainer.eps_y": None}).train.trainer.eps_y is None


@pytest.mark.parametrize("item,needle", [
    ("eval_batch=3", "--set eval_batch: unknown key; close matches: eval.batch_size"),
    ("eps=0.1", "--set eps: ambiguous; use one of train.eps, eval.eps"),
    ("lam=abc", "--set train.trainer.lam=abc: expected float"),
    ("attack_steps=2.5", "--set train.attack_steps=2.5: expected int"),
    ("random_start=maybe", "--set train.random_start=maybe: expected bool"),
    ("step_size=big", "--set train.step_size=big: expected float or none"),
    ("lr_boundaries=1,x", "--set train.lr_boundaries=1,x: expected comma-separated ints"),
    ("epochs", "--set epochs: expected key=value"),
])
def test_set_errors_are_one_line(item, needle):
    with pytest.raises(UserError) as e:
        ov.parse_sets([item], ExperimentConfig)
    assert str(e.value).startswith(needle) and "\n" not in str(e.value)


def test_every_experiment_field_maps_to_its_flat_override_name():
    """reproduce bat / deepdefense pass `--set` through `configs.override`'s flat
    names: each dotted path, the fields of every method's own config included,
    must land on the same field as a nested replace."""
    from tf_advnet.trainers.registry import METHOD_NAMES

    for method in METHOD_NAMES:
        base = preset("cpu", "synthetic", method)
        for path, (tp, _) in ov.leaf_fields(base).items():
            value = _other_value(tp, _get(base, path))
            flat = override(base, **ov.flat_overrides({path: value},
                                                      ov.experiment_flat_name))
            assert flat == ov.apply_sets(base, {path: value}), (method, path)


def _get(cfg, path):
    for part in path.split("."):
        cfg = getattr(cfg, part)
    return cfg


def _other_value(tp, current):
    """A value of field type `tp` different from `current` (never None)."""
    import typing

    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Union:
        return _other_value([a for a in args if a is not type(None)][0], current)
    if origin is tuple:
        return (_other_value(args[0], None),)
    if tp is bool:
        return not current
    if tp is str:
        return f"{current}x"
    return (current or 0) + 3


def test_train_flags_then_set_build_the_config():
    train = _module("train", None)
    train.COMMAND.parse(["--method=deepdefense", "--dataset=synthetic", "--epochs=2",
                         "--set", "lam=4", "--set", "train.trainer.num_iter=2",
                         "--set", "epochs=3", "--set", "clipnorm=1"])
    cfg = train.config()
    assert (cfg.train.method, cfg.train.trainer.lam, cfg.train.trainer.num_iter,
            cfg.train.epochs, cfg.train.clipnorm) == ("deepdefense", 4.0, 2, 3, 1.0)
    train.COMMAND.parse(["--set", "dataset=mnist"])
    with pytest.raises(UserError, match=r"^--set dataset: use --dataset"):
        train.COMMAND.sets()


def test_set_reaches_every_study_field():
    """Every field of each study's and the report card's config is a --set key, and
    the value reaches the study the pipeline builds."""
    from tf_advnet.papers.advnet import pipeline as advnet
    from tf_advnet.papers.l2lda import pipeline as l2lda
    from tf_advnet.papers.pgn import pipeline as pgn
    from tf_advnet.papers.report_card import pipeline as report_card

    for mod, build, name in ((advnet, advnet.study, "reproduce_advnet"),
                             (l2lda, l2lda.study, "reproduce_l2lda"),
                             (pgn, pgn.study, "reproduce_pgn"),
                             (report_card, report_card.card, "report_card")):
        command = __import__(f"tf_advnet.cli.{name}", fromlist=["COMMAND"])
        schema = command.COMMAND.set_schema()
        base = build("cpu", None, None)
        assert dataclasses.is_dataclass(schema) and isinstance(base, schema)
        fields = ov.leaf_fields(schema)
        assert set(fields) == {f.name for f in dataclasses.fields(schema)}
        key, value = {"reproduce_advnet": ("gamma", "0.5"),
                      "reproduce_l2lda": ("attack_width", "0.75"),
                      "reproduce_pgn": ("fig2_test_images", "17"),
                      "report_card": ("dd_learning_rate", "0.25")}[name]
        command.COMMAND.parse(["--epochs=2", "--set", f"{key}={value}"])
        got = build("cpu", None, command.overrides())
        assert getattr(got, key) == type(getattr(base, key))(value) != getattr(base, key)
        assert got.epochs == 2


def test_deepdefense_set_reaches_reference_and_finetunings():
    from tf_advnet.papers.deepdefense.pipeline import finetune_config, reference_config

    dd = _module("reproduce", "deepdefense")
    dd.COMMAND.parse(["--dataset=synthetic", "--set", "finetune.lam=4",
                      "--set", "all.train.weight_decay=0.001",
                      "--set", "finetune.data.batch_size=32"])
    both, finetune = dd.overrides()
    ref = reference_config("synthetic", "mlp", "cpu", both)
    ft = finetune_config(ref, "synthetic", "deepdefense", dict(both, **{
        k: v for k, v in finetune.items() if v is not None}))
    assert ref.train.weight_decay == ft.train.weight_decay == 0.001
    assert ft.train.trainer.lam == 4.0 and getattr(ref.train.trainer, "lam", None) != 4.0
    assert ft.data.batch_size == 32 and ref.data.batch_size != 32
    dd.COMMAND.parse(["--set", "lam=4"])
    with pytest.raises(UserError, match="ambiguous; use one of all.train.trainer.lam, "
                                        "finetune.train.trainer.lam"):
        dd.COMMAND.sets()


# --set and the trainer configs of tf_advnet.trainers.registry.

def _train_config(*args):
    train = _module("train", None)
    train.COMMAND.parse(["--dataset=synthetic", *args])
    return train.config()


def test_every_trainer_config_field_is_reachable_by_set():
    """Each field of each method's Config, by its full path and by `trainer.<name>`,
    reaches `cfg.train.trainer` through `tf-advnet train --set`."""
    from tf_advnet.trainers.registry import REGISTRY

    for method, (_, config_cls) in REGISTRY.items():
        base = preset("cpu", "synthetic", method).train.trainer
        assert type(base) is config_cls
        hints = typing.get_type_hints(config_cls)
        for f in dataclasses.fields(config_cls):
            value = _other_value(hints[f.name], getattr(base, f.name))
            text = (",".join(map(str, value)) if isinstance(value, tuple)
                    else str(value))
            for key in (f"train.trainer.{f.name}", f"trainer.{f.name}"):
                train = _module("train", None)
                train.COMMAND.parse([f"--method={method}", "--dataset=synthetic",
                                     "--set", f"{key}={text}"])
                cfg = ov.apply_sets(preset("cpu", "synthetic", method),
                                    train.COMMAND.sets(base=preset("cpu", "synthetic",
                                                                   method)))
                assert getattr(cfg.train.trainer, f.name) == value, (method, key)


def test_set_method_switch_resets_the_trainer_config():
    cfg = _train_config("--method=deepdefense", "--set", "trainer.lam=3",
                        "--set", "train.method=bat", "--set", "trainer.beta=4")
    assert cfg.train.method == "bat"
    assert cfg.train.trainer == dataclasses.replace(
        preset("cpu", "synthetic", "bat").train.trainer, beta=4.0)
    # A switch away and back starts from the defaults again.
    cfg = _train_config("--method=bat", "--set", "trainer.beta=4", "--set",
                        "train.method=pgd_at", "--set", "method=bat")
    assert cfg.train.trainer.beta == 9.0
    # Keys resolve against the method as set so far: lam is DeepDefense's only.
    with pytest.raises(UserError, match=r"^--set lam: unknown key"):
        _train_config("--method=bat", "--set", "lam=3")
    assert _train_config("--method=bat", "--set", "method=deepdefense",
                         "--set", "lam=3").train.trainer.lam == 3.0


@pytest.mark.parametrize("args,message", [
    (["--method=deepdefense", "--set", "trainer.lam=-1"], "trainer.lam must be >= 0, got -1"),
    (["--method=advnet", "--set", "trainer.hvp=fd"],
     "trainer.hvp must be one of finite_difference, exact, none; got 'fd'"),
    (["--method=l2lda", "--set", "trainer.z_dim=0"], "trainer.z_dim must be >= 1, got 0"),
    (["--method=deepdefense", "--set", "trainer.lamda=1"],
     "--set trainer.lamda: unknown key; close matches: train.trainer.lam"),
    (["--set", "train.method=trades"], "--method='trades' is not valid; allowed values: "
                                       "standard, pgd_at"),
])
def test_trainer_config_errors_name_the_key(args, message):
    with pytest.raises(UserError) as e:
        _train_config(*args)
    assert str(e.value).startswith(message) and "\n" not in str(e.value)


# Subprocesses: the installed entry point, as a user runs it.

def _user_env():
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "TF_CPP_MIN_LOG_LEVEL")}
    return dict(env, TF_ADVNET_ALLOW_DOWNLOAD="0")


def _run(args, tmp_path, timeout=300):
    proc = subprocess.run(args, cwd=tmp_path, env=_user_env(), capture_output=True,
                          text=True, timeout=timeout)
    return proc


def _entry_point():
    path = os.path.join(os.path.dirname(sys.executable), "tf-advnet")
    assert os.path.exists(path), "tf-advnet is not installed: pip install -e ."
    return path


def test_entry_point_module_and_wrapper_help_without_pythonpath(tmp_path):
    proc = _run([_entry_point(), "--help"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0].startswith("usage: tf-advnet [--verbose] <command>")
    proc = _run([sys.executable, "-m", "tf_advnet", "reproduce", "bat", "--help"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == "usage: tf-advnet reproduce bat [--flag=value ...]"
    assert not proc.stderr
    proc = _run([sys.executable, os.path.join(ROOT, "experiments", "train.py"), "--help"],
                tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == "usage: tf-advnet train [--flag=value ...]"


def test_first_line_after_tensorflow_start_up_is_ours(tmp_path):
    """`train --set=help` imports TensorFlow and lists its devices before printing:
    quiet, the first line of stdout and stderr together is ours and no start-up line
    shows; with --verbose TensorFlow's own lines come back."""
    def run(*flags):
        proc = subprocess.run([_entry_point(), *flags, "train", "--set=help"],
                              cwd=tmp_path, env=_user_env(), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=300)
        assert proc.returncode == 0, proc.stdout[-3000:]
        return proc.stdout.splitlines()

    quiet = run()
    assert quiet[0].startswith("--set keys of ExperimentConfig"), quiet[:5]
    assert not [line for line in quiet if any(n in line for n in NOISE)]
    assert any(line.split()[:2] == ["train.trainer.lam", "float"] for line in quiet)
    verbose = run("--verbose")
    assert [line for line in verbose if any(n in line for n in NOISE)], verbose[:5]


def test_set_help_names_the_methods_that_have_each_trainer_key():
    """`--set=help` marks a `train.trainer.*` key with the methods whose config has
    it (checked against the registry), and leaves a key of every method unmarked."""
    import dataclasses

    from tf_advnet.cli import overrides as ov
    from tf_advnet.configs import ExperimentConfig
    from tf_advnet.trainers.registry import REGISTRY

    only = ov.owners(ExperimentConfig)
    text = ov.describe(ExperimentConfig)
    for method, (_, cfg) in REGISTRY.items():
        for f in dataclasses.fields(cfg):
            path = f"train.trainer.{f.name}"
            have = tuple(m for m, (_, c) in REGISTRY.items()
                         if f.name in {g.name for g in dataclasses.fields(c)})
            if len(have) < len(REGISTRY):
                assert only[path] == have and f"[{', '.join(have)}]" in text
            else:
                assert path not in only
    line = next(ln for ln in text.splitlines() if "train.trainer.c_l " in ln)
    assert line.endswith("[pgn]")
