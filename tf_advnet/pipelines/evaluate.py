"""Evaluate saved classifiers under an attack list; write JSON, Markdown and plots.

`evaluate(models, data_config, eval_config, out_dir, metrics=...)` is what
`experiments/evaluate.py` and the demo call. Every number in the outputs comes from
this run; the Markdown and the plots are generated from the JSON it writes.
"""

import os

from tf_advnet.attacks.registry import parse_attacks
from tf_advnet.configs import to_dict
from tf_advnet.errors import check_choice
from tf_advnet.eval import metrics as metrics_lib
from tf_advnet.eval import plots, report
from tf_advnet.eval.robustness import accuracy_vs_eps, accuracy_vs_steps, evaluate_attacks
from tf_advnet.pipelines import common
from tf_advnet.utils.provenance import Provenance, write_json

METRICS = ("rho2", "rho_inf", "eps_ref", "rho_cw")


def evaluate(models, data_config, eval_config, out_dir, *, metrics=(), transfer=False,
             eps_ref_from=None, seed=0, preset="cpu", argv=None, progress=print,
             title=None, checks=False):
    """Evaluates each model; returns the results dict written to out_dir/eval.json.

    Args:
      models: dict name -> keras.Model (or path to a .keras file).
      data_config: `DataConfig` (dataset, test_limit, data_dir).
      eval_config: `EvalConfig` (attacks, eps, eps_l2, batch size, eps grid).
      out_dir: where eval.json, eval.md and plots go.
      metrics: subset of METRICS to compute as well.
      transfer: also craft each attack on every model and test it on the others.
      eps_ref_from: with metric "eps_ref", the model whose 50%-error FGS eps is
        eps_ref for all models (DeepDefense Sec. 4.1 uses the DeepDefense model);
        default the first model.
      seed: seed of the attacks' random starts.
      checks: also run the gradient-masking checks of `tf_advnet.eval.masking` on
        each model (fed with its white-box and Square accuracies).
    """
    for m in metrics:
        check_choice("metrics", m, METRICS)
    prov = Provenance(seed=seed, preset=preset, argv=argv)
    attacks = parse_attacks(eval_config.attacks, eps=eval_config.eps,
                            eps_l2=eval_config.eps_l2)
    models = {name: common.load_keras_model(m) if isinstance(m, str) else m
              for name, m in models.items()}
    x, y = common.load_split(data_config, "test")
    bs = eval_config.batch_size
    results = {"dataset": data_config.dataset, "n": int(len(x)),
               "eval_config": to_dict(eval_config), "models": {}, "metrics": {},
               "acc_vs_eps": {"attack": "pgd10", "eps": list(eval_config.eps_grid),
                              "acc": {}},
               "acc_vs_steps": {"attack": "pgd", "step_size": "eps/4",
                                "eps": eval_config.eps,
                                "steps": list(eval_config.steps_grid), "acc": {}}}
    for name, model in models.items():
        progress(f"[eval] {name} on {len(x)} {data_config.dataset} test images")
        results["models"][name] = evaluate_attacks(model, x, y, attacks, batch_size=bs,
                                                   seed=seed, progress=progress)
        results["acc_vs_eps"]["acc"][name] = accuracy_vs_eps(
            model, x, y, "pgd10", eval_config.eps_grid, batch_size=bs, seed=seed)
        results["acc_vs_steps"]["acc"][name] = accuracy_vs_steps(
            model, x, y, "pgd", eval_config.steps_grid, eps=eval_config.eps,
            step_size=eval_config.eps / 4, batch_size=bs, seed=seed)
        results["metrics"][name] = _metrics(model, x, y, metrics, bs, progress)
        if checks:
            results["models"][name]["checks"] = _checks(
                model, x, y, results["models"][name], eval_config.eps, seed, bs, progress)
    if "eps_ref" in metrics:
        results["eps_ref"] = _eps_ref(models, x, y, eps_ref_from, bs, progress)
    if transfer and len(models) > 1:
        from tf_advnet.attacks.transfer import transfer_matrix
        from tf_advnet.eval.robustness import as_model_fn

        fns = {n: as_model_fn(m) for n, m in models.items()}
        bounded = {a.spec: (lambda a: lambda f, xb, yb: a(f, xb, yb, seed))(a)
                   for a in attacks if a.bounded}
        results["transfer"] = transfer_matrix(fns, bounded, fns, x, y, batch_size=bs)
    results["provenance"] = prov.finish()
    write_outputs(results, out_dir, title=title)
    return results


def _metrics(model, x, y, names, bs, progress):
    out = {}
    if "rho2" in names:
        out["rho2"] = metrics_lib.rho_2(model, x, batch_size=bs)
    if "rho_inf" in names:
        out["rho_inf"] = metrics_lib.rho_inf(model, x, y, batch_size=bs)
    if "rho_cw" in names:
        out["rho_cw"] = metrics_lib.rho_cw(model, x, y, batch_size=min(bs, 128))
    if out:
        progress(f"  metrics: {out}")
    return out


def _checks(model, x, y, res, eps, seed, bs, progress):
    """The masking checks, given the bounded white-box and Square accuracies."""
    import dataclasses

    from tf_advnet.eval.masking import run_checks

    accs = {spec: rec["acc"] for spec, rec in res["attacks"].items() if rec["bounded"]}
    out = [dataclasses.asdict(c) for c in run_checks(model, x, y, eps=eps, accs=accs,
                                                      seed=seed, batch_size=bs)]
    for c in out:
        progress(f"  check {c['name']}: {'FIRED' if c['fired'] else 'passed'}: {c['reason']}")
    return out


def _eps_ref(models, x, y, ref_name, bs, progress):
    """DeepDefense Sec. 4.1: one model's 50%-error FGS eps, then FGS accuracy of
    every model at 0.2 / 0.5 / 1.0 x that eps."""
    from tf_advnet.errors import UserError

    ref_name = ref_name or next(iter(models))
    if ref_name not in models:
        raise UserError(f"--eps_ref_from={ref_name!r} is not one of the models: "
                        + ", ".join(models))
    eps_ref = metrics_lib.fgs_eps_at_error(models[ref_name], x, y, batch_size=bs)
    out = {"from": ref_name, "eps_ref": eps_ref, "acc": {}}
    if eps_ref is not None:
        out["acc"] = {name: metrics_lib.accuracy_at_eps_ref(m, x, y, eps_ref, batch_size=bs)
                      for name, m in models.items()}
    progress(f"  eps_ref from {ref_name}: {eps_ref}")
    return out


def render(out_dir, *, title=None):
    """Regenerates eval.md and the plots of out_dir from its eval.json."""
    import json

    path = os.path.join(out_dir, "eval.json")
    if not os.path.exists(path):
        from tf_advnet.errors import UserError

        raise UserError(f"--results_dir={out_dir}: no eval.json there")
    with open(path) as f:
        results = json.load(f)
    return write_outputs(results, out_dir, title=title or results.get("title"),
                         write_json_file=False)


def write_outputs(results, out_dir, *, title=None, write_json_file=True):
    """Writes eval.json, eval.md and the plots from a results dict."""
    os.makedirs(out_dir, exist_ok=True)
    if title:
        results["title"] = title
    if write_json_file:
        write_json(os.path.join(out_dir, "eval.json"), results)
    md = [f"# {title or 'Robustness on ' + results['dataset']}", "",
          f"Accuracy (%) on {results['n']} {results['dataset']} test images. "
          "Generated from eval.json by tf_advnet.pipelines.evaluate; do not edit.", "",
          report.robustness_table(results["models"]), report.attack_legend(results["models"])]
    minimal = report.minimal_attack_table(results["models"])
    if minimal:
        md += ["## Minimal-perturbation attacks", "",
               "Success = prediction differs from the true label (clean errors count, at "
               "distance 0); L2 over successful examples, in [0, 1] pixel units.", "",
               minimal]
    if results.get("transfer"):
        md += ["## Transfer (rows: target; columns: surrogate/attack)", "",
               report.transfer_table(results["transfer"])]
    if results.get("eps_ref", {}).get("acc"):
        e = results["eps_ref"]
        md += [f"## FGS accuracy (%) at multiples of eps_ref = {e['eps_ref']:.4g} "
               f"(the 50%-error eps of {e['from']})", "",
               "| model | 0.2 eps_ref | 0.5 eps_ref | 1.0 eps_ref |", "|---|---|---|---|"]
        md += [f"| {n} | " + " | ".join(f"{100 * a[k]:.2f}" for k in ("0.2", "0.5", "1"))
               + " |" for n, a in e["acc"].items()]
        md.append("")
    checked = {n: r["checks"] for n, r in results["models"].items() if r.get("checks")}
    if checked:
        md += ["## Gradient-masking checks", ""]
        for name, checks in checked.items():
            md += [f"**{name}**", ""] + [
                f"- `{c['name']}` {'FIRED' if c['fired'] else 'passed'}: {c['reason']}"
                for c in checks] + [""]
    if any(results["metrics"].values()):
        md += ["## Metrics", ""]
        for name, m in results["metrics"].items():
            md.append(f"- {name}: `{m}`")
        md.append("")
    p = results["provenance"]
    md += report.provenance_markdown(p)
    with open(os.path.join(out_dir, "eval.md"), "w") as f:
        f.write("\n".join(md))
    ave = results["acc_vs_eps"]
    if ave["acc"]:
        plots.plot_curves(os.path.join(out_dir, "acc_vs_eps.png"), ave["eps"], ave["acc"],
                          xlabel=f"L-inf eps ({ave['attack']})",
                          title=f"{results['dataset']}: accuracy vs eps")
    avs = results.get("acc_vs_steps", {})
    if avs.get("acc"):
        plots.plot_curves(os.path.join(out_dir, "acc_vs_steps.png"), avs["steps"],
                          avs["acc"], logx=True,
                          xlabel=f"PGD steps (eps={avs['eps']:.3g}, step eps/4)",
                          title=f"{results['dataset']}: accuracy vs attack steps")
    return out_dir
