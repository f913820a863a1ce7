"""`tf-advnet`: the command line of tf_advnet (also `python -m tf_advnet`).

  tf-advnet train --method=pgd_at --dataset=fashion_mnist
  tf-advnet evaluate --model_path=runs/fashion_mnist_pgd_at/model.keras --attacks=strong
  tf-advnet reproduce bat --dataset=fashion_mnist --preset=cpu
  tf-advnet <command> --help

Each command lives in its own module of this package and defines its own absl flags;
only the chosen one is imported, so `--help` is quick and lists that command's flags.
"""

import importlib
import sys

# name: (module, one-line summary). The summaries are the first lines of the
# modules' docstrings (tests/test_cli.py checks), kept here so that the command
# list prints without importing every command.
COMMANDS = {
    "train": ("train", "Train a classifier (any method of tf_advnet.trainers) with "
                       "model.fit at a preset."),
    "evaluate": ("evaluate", "Evaluate saved classifiers under an attack list."),
    "reproduce": (None, "Reproduce one paper's tables and figures: reproduce <paper>, "
                        "paper in advnet | bat | deepdefense | l2lda | pgn."),
    "report-card": ("report_card", "One report card for every defence: each paper's "
                                   "protocol beside AutoAttack's."),
    "demo": ("demo", "The main job (README): standard vs PGD-AT vs BAT, then four "
                     "demo-sized paper studies."),
    "render": ("render", "Regenerate the Markdown (and plots) of a results directory "
                         "from its JSON."),
    "ledger": ("ledger", "The claims ledger: run each study over seeds, then "
                         "results/claims.json and CLAIMS.md."),
}
PAPERS = {
    "advnet": ("reproduce_advnet", "Reproduce Wang & Yu (ICLR 2019), adversarial "
                                   "networks: Tables 1-6 and 10-11."),
    "bat": ("reproduce_bat", "Reproduce Bilateral Adversarial Training (Wang & Zhang, "
                             "ICCV 2019)."),
    "deepdefense": ("reproduce_deepdefense", "Reproduce DeepDefense (Yan, Guo & Zhang, "
                                             "NeurIPS 2018), Table 1."),
    "l2lda": ("reproduce_l2lda", "Reproduce L2L-DA (Jang et al., ICCV 2019): Tables "
                                 "1(a), 1(b), 2, 3 and Fig. 2."),
    "pgn": ("reproduce_pgn", "Reproduce the PGN paper (Lee, Han & Lee, ICLR 2020 "
                             "submission): Table 2, Figs. 2-5."),
}


def usage():
    width = max(len(n) for n in COMMANDS)
    lines = ["usage: tf-advnet [--verbose] <command> [--flag=value ...]", "",
             "commands:"]
    lines += [f"  {name:<{width}}  {summary}" for name, (_, summary) in COMMANDS.items()]
    lines += ["", "tf-advnet <command> --help lists a command's flags; --verbose shows "
              "TensorFlow's start-up log."]
    return "\n".join(lines)


def reproduce_usage():
    width = max(len(n) for n in PAPERS)
    lines = ["usage: tf-advnet reproduce <paper> [--flag=value ...]", "", "papers:"]
    lines += [f"  {name:<{width}}  {summary}" for name, (_, summary) in PAPERS.items()]
    lines += ["", "tf-advnet reproduce <paper> --help lists its flags."]
    return "\n".join(lines)


def command_module(name, paper=None):
    """The module of command `name` (and `paper` for reproduce), imported."""
    module = PAPERS[paper][0] if name == "reproduce" else COMMANDS[name][0]
    return importlib.import_module(f"tf_advnet.cli.{module}")


def run_command(name, args, paper=None):
    """Runs one command on its arguments (without the program and command names);
    returns the exit status."""
    mod = command_module(name, paper)
    return mod.COMMAND.run(mod.main, args)


def _error(text):
    print(f"error: {text}", file=sys.stderr)
    return 2


def main(argv=None):
    """The `tf-advnet` entry point: dispatches to one command, returns its status."""
    if argv is None:
        # Results record sys.argv as their command: `tf-advnet demo ...` reruns
        # anywhere, the entry point's or __main__.py's absolute path would not.
        sys.argv[0] = "tf-advnet"
    args = list(sys.argv[1:] if argv is None else argv)
    # --verbose may come before the command too; the command's parser accepts it.
    lead = [a for a in args[:1] if a in ("--verbose", "--noverbose")]
    args = args[len(lead):]
    if not args or args[0] in ("--help", "-h", "-?", "--helpfull", "help"):
        print(usage())
        return 0 if args else 2
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        return _error(f"unknown command {name!r}; allowed values: {', '.join(COMMANDS)}")
    paper = None
    if name == "reproduce":
        if not rest or rest[0] in ("--help", "-h", "-?", "--helpfull"):
            print(reproduce_usage())
            return 0 if rest else 2
        paper, rest = rest[0], rest[1:]
        if paper not in PAPERS:
            return _error(f"unknown paper {paper!r} for reproduce; allowed values: "
                          f"{', '.join(PAPERS)}")
    return run_command(name, lead + rest, paper)
