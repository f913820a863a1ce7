"""The claims ledger: run each study over seeds, then results/claims.json and CLAIMS.md.

Runs every (study, seed) of the ledger's spec (`tf_advnet.papers.ledger.SPEC`) whose
results JSON is missing under results/ledger/<study>/<dataset>/seed<k>/, or stale: it
records other settings than the preset has now (an interrupted ledger resumes: each
study reuses what it trained), then aggregates each
claim over the seeds that exist and writes results/claims.json, results/CLAIMS.md and
the README's summary (between its `<!-- claims-ledger -->` markers). --studies and
--seeds choose which runs run; the ledger always covers every study and every seed run.
Runs go study by study in the order --studies names them. --jobs=N runs N (study,
seed) runs at a time, each in its own process with its share of the cores and its
log under <work_dir>/logs/ (a report card seed as three: its standard row, then its
L2L-DA row beside its other rows, then the card from them).

  tf-advnet ledger --preset=long --seeds=0,1,2
  tf-advnet ledger --studies=pgn --seeds=1,2 --jobs=2
  tf-advnet ledger --studies=bat,pgn --render_only
"""

from tf_advnet.cli._command import Command
from tf_advnet.errors import UserError

COMMAND = Command("ledger", __doc__)
_PRESET = COMMAND.string("preset", "long", "the preset every study runs at")
_SEEDS = COMMAND.list("seeds", ["0", "1", "2"], "the seeds, comma-separated integers >= 0")
_STUDIES = COMMAND.list("studies", None, "the studies to run (in this order) and aggregate "
                                         "(default all of the ledger's), comma-separated")
_RENDER_ONLY = COMMAND.bool("render_only", False, "aggregate the seed runs that exist "
                                                  "without running the missing or stale ones")
_WORK_DIR = COMMAND.string("work_dir", "runs/ledger", "root of the studies' training dirs")
_JOBS = COMMAND.integer("jobs", 1, "how many (study, seed) runs run at a time, each in its "
                                   "own process; 1: one after another in this process")
_AGGREGATE = COMMAND.bool("aggregate", True, "write claims.json, CLAIMS.md and the "
                                             "README's summary after the runs (--jobs's "
                                             "workers run with --noaggregate)")


def seeds(values):
    """The --seeds values as distinct integers; UserError (one line) otherwise."""
    out = []
    for v in values:
        if not v.strip().isdigit():
            raise UserError(f"--seeds={','.join(values)} is not valid; allowed values: "
                            "comma-separated integers >= 0, e.g. 0,1,2")
        out.append(int(v))
    if not out or len(set(out)) != len(out):
        raise UserError(f"--seeds={','.join(values)} is not valid; allowed values: "
                        "distinct integers >= 0, at least one")
    return tuple(out)


def presets():
    """Every preset a study of the ledger has, and the ledger's own."""
    from tf_advnet.papers import _study, ledger

    names = {ledger.PRESET}
    for src in ledger.SPEC:
        names.update(_study.load(src.study).PRESETS)
    return sorted(names)


def main():
    from tf_advnet.errors import check_choice
    from tf_advnet.papers import ledger

    check_choice("preset", _PRESET.value, presets())
    chosen = seeds(_SEEDS.value)
    if _JOBS.value < 1:
        raise UserError(f"--jobs={_JOBS.value} is not valid; allowed values: integers >= 1")
    if _RENDER_ONLY.value and not _AGGREGATE.value:
        raise UserError("--render_only and --noaggregate together do nothing; allowed: "
                        "one of them")
    ledger.select(ledger.SPEC, _STUDIES.value)  # one-line error for an unknown study
    # the user's order, not the spec's: the ledger runs the studies in this order
    names = list(dict.fromkeys(_STUDIES.value)) if _STUDIES.value else None
    if not _RENDER_ONLY.value:
        if _JOBS.value == 1:
            ledger.run_missing(ledger.SPEC, seeds=chosen, preset=_PRESET.value,
                               studies=names, work_dir=_WORK_DIR.value)
        else:
            todo = ledger.missing(ledger.SPEC, seeds=chosen, preset=_PRESET.value,
                                  studies=names)
            ledger.run_parallel(ledger.plan(todo, preset=_PRESET.value,
                                            work_dir=_WORK_DIR.value), _JOBS.value)
    if not _AGGREGATE.value:
        return
    # --studies and --seeds choose what runs; the ledger aggregates every study over
    # every seed that exists, so a partial run does not shrink it.
    out = ledger.build(ledger.SPEC, seeds=tuple(sorted(set(ledger.SEEDS) | set(chosen))),
                       preset=_PRESET.value)
    for e in out["claims"]:
        print(f"{e['study']:<12} {e['id']:<40} {len(e['seeds'])} seed(s)  {e['verdict']}")
    print(f"wrote {ledger.JSON_FILE} and {ledger.MD_FILE}")
