"""The claims ledger: run each study over seeds, then results/claims.json and CLAIMS.md.

Runs every (study, seed) of the ledger's spec (`tf_advnet.papers.ledger.SPEC`) whose
results JSON is missing under results/ledger/<study>/<dataset>/seed<k>/, or stale: it
records other settings than the preset has now (an interrupted ledger resumes: each
study reuses what it trained), then aggregates each
claim over the seeds that exist and writes results/claims.json, results/CLAIMS.md and
the README's summary (between its `<!-- claims-ledger -->` markers). --studies and
--seeds choose which runs run; the ledger always covers every study and every seed run.

  tf-advnet ledger --preset=long --seeds=0,1,2
  tf-advnet ledger --studies=bat,pgn --render_only
"""

from tf_advnet.cli._command import Command
from tf_advnet.errors import UserError

COMMAND = Command("ledger", __doc__)
_PRESET = COMMAND.string("preset", "long", "the preset every study runs at")
_SEEDS = COMMAND.list("seeds", ["0", "1", "2"], "the seeds, comma-separated integers >= 0")
_STUDIES = COMMAND.list("studies", None, "the studies to run and aggregate (default all "
                                         "of the ledger's), comma-separated")
_RENDER_ONLY = COMMAND.bool("render_only", False, "aggregate the seed runs that exist "
                                                  "without running the missing or stale ones")
_WORK_DIR = COMMAND.string("work_dir", "runs/ledger", "root of the studies' training dirs")


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
    studies = ledger.select(ledger.SPEC, _STUDIES.value)
    names = [s.study for s in studies] if _STUDIES.value else None
    if not _RENDER_ONLY.value:
        ledger.run_missing(ledger.SPEC, seeds=chosen, preset=_PRESET.value, studies=names,
                           work_dir=_WORK_DIR.value)
    # --studies and --seeds choose what runs; the ledger aggregates every study over
    # every seed that exists, so a partial run does not shrink it.
    out = ledger.build(ledger.SPEC, seeds=tuple(sorted(set(ledger.SEEDS) | set(chosen))),
                       preset=_PRESET.value)
    for e in out["claims"]:
        print(f"{e['study']:<12} {e['id']:<40} {len(e['seeds'])} seed(s)  {e['verdict']}")
    print(f"wrote {ledger.JSON_FILE} and {ledger.MD_FILE}")
