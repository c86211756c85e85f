"""Binned cascading ensemble (seed 000 §3; issue 12) on the Llama MMLU and MedMCQA cascades (5 models).

Everything is trained on ``train`` (calibration, bins, the operating point, the mu sweep) and scored once on ``test``.
Rows: the calibrated policy at its default setting (5 quantile bins per model, suffix fallback, min_count 20, mu
chosen on train by 10 x 80/20 cross-validation as the cheapest point of the sweep whose validation accuracy matches
the all-model weighted majority vote's), the same procedure on uncalibrated probabilities, the all-model WMV
(calibrated and raw), every single model; variants (prefix "parent" fallback, the seed's hits-only reward mu = 0,
optuna-optimised bin edges); and the AUC of the policy's mu sweep against the rational-tuning frontier of the same
cascade (top-level ``fit_markov_copula`` / ``tune``) on their common test cost range.

``--nested`` adds the train-only nested comparison that chose the defaults (outer 80/20 splits of ``train``; the
operating point is selected on the outer-train part and scored on the outer-validation part; test is not used).

``--candidates N`` adds the search for a train-only default that meets the cost target on both benchmarks (the
"honest negative" section): for every candidate (bins per model, min_count, fallback, answer strategies) the mu
sweep is cross-validated on N x 80/20 splits of ``train``; each selection rule (first N or first 10 splits,
first-crossing or cheapest, a margin on the WMV target) picks mu on train only and the chosen policy is scored once
on test. The cheapest test-selected sweep point is reported beside it as a diagnostic only.

    python experiments/ensemble_llama.py [--data ../shared/data/llm_cascades] [--trials 50] [--nested 12] [--candidates 30]

Writes ``experiments/results/ensemble_llama.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from probcascade import calibrate, load_benchmark
from probcascade.policies.ensemble import default_mus, read_answers, strategy_outputs, train_ensemble, train_ensemble_sweep
from probcascade.policies.ensemble_report import (
    cv_splits, ensemble_report, format_table, select_operating_point, wmv_all,
)
from probcascade.policies.ensemble_strategies import DEFAULT_STRATEGIES, encode_labels, resolve_strategies

ROOT = Path(__file__).resolve().parents[1]
BENCHES = ("mmlu", "medmcqa")


def rational_points(train, test, p_tr, p_te):
    """Test (cost per query, accuracy) of the rational-tuning frontier of the 5-model cascade, or None."""
    try:
        import probcascade as pc

        model = pc.fit_markov_copula(p_tr, train.models, correct=train.correct)
        frontier = pc.tune(model, train.expected_costs.to_numpy())
        ev = frontier.evaluate(p_te, test.correct, test.cost.mean(axis=0))
        return ev["test_cost"].to_numpy(), 1.0 - ev["test_error"].to_numpy(), len(ev)
    except Exception as exc:                      # the package is being restructured: report, don't fail
        print(f"rational tuning unavailable: {type(exc).__name__}: {exc}", file=sys.stderr)
        return None


def _hindsight(rep, wmv) -> str:
    """Cost (vs WMV) of the cheapest test-sweep point with test accuracy >= WMV's: test-selected, a diagnostic only."""
    ok = [c for c, a in rep["sweep"] if a >= wmv["accuracy"]]
    return f"{min(ok) / wmv['cost_per_query']:.1%}" if ok else "-"


def nested(train, answers, p, n_outer: int, configs) -> list[dict]:
    """Train-only nested check of operating-point rules (see the module docstring)."""
    n = train.n_queries
    tot = train.cost.sum(axis=1).mean()
    w = wmv_all(answers.answers, p) == answers.gold
    rows = []
    for label, fallback, mcs in configs:
        res = []
        for t, v in cv_splits(n, n_outer, 0.2, seed=123):
            op = select_operating_point(p[t], train.correct[t], train.cost[t], answers.take(t), min_counts=mcs,
                                        fallback=fallback, seed=1)
            pol = train_ensemble(p[t], train.correct[t], train.cost[t], answers.take(t), mu=op["mu"],
                                 min_count=op["min_count"], fallback=fallback)
            d = pol.route(p[v], train.cost[v], answers.answers[v])
            res.append(((d.answer == answers.gold[v]).mean() - w[v].mean(), d.cost.mean() / tot))
        r = np.asarray(res)
        rows.append({"config": label, "acc_minus_wmv": r[:, 0].mean(), "se": r[:, 0].std(ddof=1) / np.sqrt(len(r)),
                     "cost_rel": r[:, 1].mean(), "share_met": float(np.mean((r[:, 0] >= 0) & (r[:, 1] <= 0.5)))})
    return rows


#: candidate defaults: (bins per model, min_count, fallback, strategies)
CANDIDATES = ([(b, mc, fb, DEFAULT_STRATEGIES) for b in (2, 3, 4, 5, 6, 10) for mc in (10, 20, 40)
               for fb in ("suffix", "prefix")]
              + [(5, 20, "suffix", st) for st in (("last",), ("wmv",), ("last", "wmv"))])
#: selection rules of mu on train: (number of CV splits used, rule, margin added to the WMV target accuracy)
RULES = [(ns, rule, mg) for ns in (10, None) for rule in ("first_crossing", "cheapest")
         for mg in (-0.01, -0.005, 0.0, 0.005, 0.01)]


def _acc_cost(pols, conf, cost, answers, gold, strategies):
    """Accuracy and mean paid cost of every policy of a sweep (strategy outputs computed once)."""
    vocab, codes, _ = encode_labels(answers)
    out = strategy_outputs(codes, conf, resolve_strategies(strategies), len(vocab))
    rows, cum = np.arange(len(conf)), np.cumsum(cost, axis=1)
    res = []
    for p in pols:
        ex, s = p.exits(conf)
        res.append(((vocab[out[rows, ex, s]].astype(str) == gold.astype(str)).mean(), cum[rows, ex].mean()))
    return np.asarray(res).T


def candidate_curves(train, test, a_tr, a_te, p_tr, p_te, n_splits: int, mus) -> dict:
    """Cross-validated (train) and test mu-sweeps of every candidate in :data:`CANDIDATES`."""
    splits = cv_splits(train.n_queries, n_splits, 0.2, seed=0)
    w_tr = wmv_all(a_tr.answers, p_tr).astype(str) == a_tr.gold.astype(str)
    full_tr, full_te = train.cost.sum(axis=1).mean(), test.cost.sum(axis=1).mean()
    out = {"wmv_cv": np.array([w_tr[v].mean() for _, v in splits]),
           "wmv_test": float(np.mean(wmv_all(a_te.answers, p_te).astype(str) == a_te.gold.astype(str))), "curves": {}}
    for bins, mc, fb, st in CANDIDATES:
        kw = dict(bins=bins, min_count=mc, fallback=fb, strategies=st)
        cv = np.zeros((2, n_splits, len(mus)))
        for s, (t, v) in enumerate(splits):
            pols = train_ensemble_sweep(p_tr[t], train.correct[t], train.cost[t], a_tr.take(t), mus=mus, **kw)
            cv[:, s] = _acc_cost(pols, p_tr[v], train.cost[v], a_tr.answers[v], a_tr.gold[v], st)
        pols = train_ensemble_sweep(p_tr, train.correct, train.cost, a_tr, mus=mus, **kw)
        ta, tc = _acc_cost(pols, p_te, test.cost, a_te.answers, a_te.gold, st)
        out["curves"][(bins, mc, fb, st)] = {"cv_acc": cv[0], "cv_cost": cv[1] / full_tr, "test_acc": ta,
                                             "test_cost": tc / full_te}
    return out


def pick_mu(cv_acc, cv_cost, goal: float, mus, rule: str) -> tuple[int, bool]:
    """Index of the mu chosen on train (the rule of ``select_operating_point``) and whether the target was reached."""
    acc, cost = cv_acc.mean(axis=0), cv_cost.mean(axis=0)
    ok = []
    for m in np.argsort(mus, kind="stable"):
        if acc[m] >= goal - 1e-12:
            ok.append(m)
        elif rule == "first_crossing":
            break
    if ok:
        return min(ok, key=lambda m: (cost[m], -acc[m], -mus[m])), True
    return max(range(len(mus)), key=lambda m: (acc[m], -cost[m])), False


def candidate_rows(res: dict, mus, n_splits, rule: str, margin: float) -> dict:
    """Per candidate: the train-CV choice under one rule and its test outcome (plus the test-selected diagnostic)."""
    wt, rows = res["wmv_test"], {}
    for cfg, c in res["curves"].items():
        cva, cvc, wcv = c["cv_acc"][:n_splits], c["cv_cost"][:n_splits], res["wmv_cv"][:n_splits]
        m, met_tr = pick_mu(cva, cvc, wcv.mean() + margin, mus, rule)
        ok = c["test_acc"] >= wt - 1e-12
        rows[cfg] = {"mu": float(mus[m]), "cv_diff": float(cva.mean(0)[m] - wcv.mean()), "cv_cost": float(cvc.mean(0)[m]),
                     "met_train": met_tr, "acc": float(c["test_acc"][m]), "cost": float(c["test_cost"][m]),
                     "met": bool(c["test_acc"][m] >= wt - 1e-12 and c["test_cost"][m] <= 0.5),
                     "hindsight": float(c["test_cost"][ok].min()) if ok.any() else float("nan")}
    return rows


def _cfg_name(cfg) -> str:
    b, mc, fb, st = cfg
    return f"{b} bins, min_count {mc}, {fb}" + ("" if st == DEFAULT_STRATEGIES else f", strategies {'+'.join(st)}")


def negative_section(cands: dict, mus, n_splits: int) -> list[str]:
    """The "honest negative" section: can any candidate, with mu chosen on train only, meet the target on both?"""
    benches = list(cands)
    md = ["## Search for a train-only default meeting the cost target on both benchmarks", "",
          f"Candidates: {len(CANDIDATES)} settings (bins per model 2/3/4/5/6/10 x min_count 10/20/40 x suffix/prefix "
          "fallback, all four answer strategies; plus 5 bins, min_count 20, suffix with the strategy subsets last, wmv, "
          f"last+wmv), each with a {len(mus)}-point mu sweep. The mu sweep of every candidate is cross-validated on "
          f"{n_splits} x 80/20 splits of train (seed 0; the first 10 are the default's 10 splits). A rule picks mu on "
          "train only: the cheapest cross-validated point whose mean validation accuracy is at least the all-model "
          "WMV's mean validation accuracy plus a margin (first-crossing: only before the first mu that falls below; "
          "cheapest: any). The policy trained on all of train at that mu is scored once on test. \"met\" = test "
          "accuracy >= WMV's and cost <= 50 % of WMV's. **Hindsight** = the cheapest point of the candidate's test "
          "sweep with test accuracy >= WMV's: selected on test, a diagnostic only, never a result. The finer mu grid "
          "alone moves the default candidate (5 bins, min_count 20, suffix) from the report's operating point above "
          "to another one: the choice is that sensitive.", "",
          "| mu rule (train only) | candidates meeting MMLU | meeting MEDMCQA | meeting both |", "|---|---|---|---|"]
    default_rows, seen = None, set()
    for ns, rule, mg in RULES:
        ns_ = min(ns or n_splits, n_splits)
        if (ns_, rule, mg) in seen:
            continue
        seen.add((ns_, rule, mg))
        per = {b: candidate_rows(cands[b], mus, ns_, rule, mg) for b in benches}
        if (ns, rule, mg) == (10, "first_crossing", 0.0):
            default_rows = per
        both = [cfg for cfg in per[benches[0]] if all(per[b][cfg]["met"] for b in benches)]
        md.append(f"| {ns_} splits, {rule.replace('_', '-')}, margin {mg:+.3f} | "
                  + " | ".join(f"{sum(r['met'] for r in per[b].values())} / {len(per[b])}" for b in benches)
                  + f" | {len(both)}" + (f" ({'; '.join(_cfg_name(c) for c in both)})" if both else "") + " |")
    met = [sum(r["met"] for r in default_rows[b].values()) for b in benches]
    both = sum(all(default_rows[b][c]["met"] for b in benches) for c in default_rows[benches[0]])
    md += ["", f"Under the default rule (10 splits, first-crossing, margin 0) {met[0]} / {len(CANDIDATES)} candidates "
           f"meet the target on {benches[0].upper()} and {met[1]} / {len(CANDIDATES)} on {benches[1].upper()}; were "
           f"passing on one benchmark unrelated to passing on the other, about {met[0] * met[1] / len(CANDIDATES):.1f} "
           f"candidates would pass both by chance, and {both} do{'es' if both == 1 else ''}. A candidate passing both "
           "here was found by its test outcome among many, so it is not adopted as the default."]
    md += ["", "Joint choice on train (the candidate and mu with the lowest cross-validated cost among all candidates' "
           "eligible points, i.e. the bin count, min_count, fallback and strategies also chosen by train CV):", "",
           "| rule | benchmark | chosen on train | mu | CV accuracy - WMV | CV cost | test accuracy (WMV) | test cost vs WMV "
           "| met |", "|---|---|---|---|---|---|---|---|---|"]
    for ns, rule in dict.fromkeys(((min(10, n_splits), "first_crossing"), (n_splits, "first_crossing"),
                                   (n_splits, "cheapest"))):
        ns_ = ns
        for b in benches:
            rows = candidate_rows(cands[b], mus, ns_, rule, 0.0)
            elig = [c for c, r in rows.items() if r["met_train"]]
            if not elig:
                md.append(f"| {ns_} splits, {rule.replace('_', '-')} | {b.upper()} | none reaches WMV on train | | | | "
                          "| | |")
                continue
            c = min(elig, key=lambda c: (rows[c]["cv_cost"], -rows[c]["cv_diff"]))
            r = rows[c]
            md.append(f"| {ns_} splits, {rule.replace('_', '-')} | {b.upper()} | {_cfg_name(c)} | {r['mu']:.4g} | "
                      f"{r['cv_diff']:+.4f} | {r['cv_cost']:.1%} | {r['acc']:.4f} ({cands[b]['wmv_test']:.4f}) | "
                      f"{r['cost']:.1%} | {'yes' if r['met'] else 'no'} |")
    md += ["", "Per candidate, the default rule (10 splits, first-crossing, margin 0; the library's "
           "`select_operating_point`) and its test outcome, with the test-selected hindsight minimum (diagnostic):", "",
           "<details><summary>table</summary>", "",
           "| candidate | " + " | ".join(f"{b.upper()} mu (train) | {b.upper()} test acc (WMV {cands[b]['wmv_test']:.4f})"
                                        f" | {b.upper()} test cost vs WMV | {b.upper()} hindsight" for b in benches)
           + " |", "|---" * (1 + 4 * len(benches)) + "|"]
    for cfg in CANDIDATES:
        cells = []
        for b in benches:
            r = default_rows[b][cfg]
            cells += [f"{r['mu']:.4g}", f"{r['acc']:.4f}", f"{r['cost']:.1%}" + (" **met**" if r["met"] else ""),
                      "-" if not np.isfinite(r["hindsight"]) else f"{r['hindsight']:.1%}"]
        md.append(f"| {_cfg_name(cfg)} | " + " | ".join(cells) + " |")
    md += ["", "</details>", ""]
    hind = {b: min((r["hindsight"] for r in default_rows[b].values() if np.isfinite(r["hindsight"])), default=np.nan)
            for b in benches}
    md += ["Hindsight (selected on test, diagnostic only): the cheapest test-sweep point reaching WMV's test accuracy "
           "over all candidates costs " + ", ".join(("-" if not np.isfinite(hind[b]) else f"{hind[b]:.1%}")
                                                    + f" of WMV's on {b.upper()}" for b in benches) + ".", ""]
    return md


def data_facts(train, test, a_tr, a_te, p_tr, p_te) -> dict:
    """Numbers behind the "why" paragraph: cost shares, WMV and last-model accuracies on train and test."""
    full = test.cost.sum(axis=1).mean()
    hit = lambda a, p: float(np.mean(wmv_all(a.answers, p).astype(str) == a.gold.astype(str)))
    return {"last_share": float(test.cost[:, -1].mean() / full), "n_train": train.n_queries, "n_test": test.n_queries,
            "wmv_train": hit(a_tr, p_tr), "wmv_test": hit(a_te, p_te), "last_train": float(train.correct[:, -1].mean()),
            "last_test": float(test.correct[:, -1].mean())}


def why_section(facts: dict) -> list[str]:
    """Why a train-only default cannot be relied on to meet the 50 % target here (numbers from :func:`data_facts`)."""
    lines = ["Why (the numbers behind the negative):", ""]
    for b, f in facts.items():
        share = (0.5 - (1 - f["last_share"])) / f["last_share"]
        se = np.sqrt(f["wmv_test"] * (1 - f["wmv_test"]) / f["n_test"])
        lines.append(f"* {b.upper()}: the last model costs {f['last_share']:.1%} of WMV's cost, so a policy that asks "
                     f"the first four models of every query stays within 50 % only if at most {share:.1%} of queries "
                     f"reach the last model. WMV accuracy on train {f['wmv_train']:.4f} vs test {f['wmv_test']:.4f}; "
                     f"the last model alone {f['last_train']:.4f} vs {f['last_test']:.4f} (the train split of "
                     f"{f['n_train']} queries is not distributed like the test split, so train CV misjudges how "
                     f"early queries may exit). WMV's test accuracy has a binomial standard error of {se:.4f}.")
    lines += ["* The accuracy condition (>= WMV) sits on a knife edge: a train-CV estimate from validation parts of "
              "about 60 queries cannot tell apart operating points whose test accuracies differ by less than a "
              "standard error, while the cost condition asks for the cheapest such point. Choosing the bins, "
              "min_count, fallback or strategies on train as well (the joint choice above) selects on that noise: "
              "the point with the lowest cross-validated cost is the one whose validation accuracy was luckiest.",
              "* Closest to the seed's setting (its Algorithm 1 with the hits reward, 5 or 10 bins per model, bin "
              "edges optimised by optuna on 10 x 80/20 splits) are the \"hits-only reward (mu = 0)\" and \"optuna "
              "edges\" rows of each benchmark (ours optimise accuracy, the seed F1). The seed's > 2x cut was "
              "measured with 3 models on binary tasks of about 1000 labelled items each, the best of many "
              "configurations; here there are 5 models, 4 answer letters and about 300 training queries.", ""]
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "llm_cascades")
    ap.add_argument("--out", type=Path, default=ROOT / "experiments" / "results" / "ensemble_llama.md")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--trials", type=int, default=50, help="optuna trials of the optimised-edges variant (0: skip)")
    ap.add_argument("--nested", type=int, default=0, help="outer splits of the train-only nested check (0: skip)")
    ap.add_argument("--candidates", type=int, default=0,
                    help="CV splits of the search for a train-only default over candidate settings (0: skip)")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    t_start = time.time()
    md = ["# Binned cascading ensemble on the Llama cascades (seed 000 §3, issue 12)", "",
          f"Command: `python experiments/ensemble_llama.py --trials {args.trials} --nested {args.nested}"
          + (f" --candidates {args.candidates}" if args.candidates else "") + "` "
          f"(seed {args.seed}). Trained on `train`, scored on `test`; nothing is tuned on `test`. Cost = mean USD per "
          "test query of the models consulted; \"vs WMV\" = cost relative to the weighted majority vote over all 5 "
          "models (which pays all of them).", ""]
    summary, cands, facts = [], {}, {}
    cand_mus = default_mus(64)
    for bench in BENCHES:
        stem = f"{bench}_llama"
        train, test = load_benchmark(args.data, stem)
        a_tr = read_answers(args.data / f"{stem}_train.csv", train)
        a_te = read_answers(args.data / f"{stem}_test.csv", test)
        cal = calibrate(train)
        p_tr, p_te = cal.predict(train), cal.predict(test)
        rat = rational_points(train, test, p_tr, p_te)
        kw = dict(train_answers=a_tr, test_answers=a_te, seed=args.seed, calibration=cal, details=True)
        rep = ensemble_report(train, test, rational=None if rat is None else rat[:2], **kw)
        variants = {
            "prefix (parent) fallback, same procedure": ensemble_report(train, test, fallback="prefix", **kw),
            "hits-only reward (mu = 0, the seed's)": ensemble_report(train, test, mu=0.0, **kw),
        }
        if args.trials:
            variants[f"optuna edges ({args.trials} trials, accuracy over 10 x 80/20 train splits)"] = \
                ensemble_report(train, test, optimize_bins=args.trials, progress=True, **kw)
        pol, wmv = rep["policy"], rep["wmv"]
        met = pol["accuracy"] >= wmv["accuracy"] and pol["cost_per_query"] <= 0.5 * wmv["cost_per_query"]
        summary.append((bench, pol, wmv, met))
        st = rep["settings"]
        op = st["operating_point"]
        md += [f"## {bench.upper()} (Llama, n_train = {train.n_queries}, n_test = {test.n_queries})", "",
               "```", format_table(rep), "```", "",
               f"Operating point (train only): mu = {st['mu']:.4g} (min_count {st['min_count']}, fallback "
               f"{st['fallback']}): cross-validated accuracy {op['cv_accuracy']:.4f} vs WMV {op['target_accuracy']:.4f}"
               f" at {op['cv_cost']:.1%} of the full-cascade cost (target reached on train: {op['met']}). "
               f"Bins per model: {st['bins']}.", "",
               f"**Done-when check (test)**: policy accuracy {pol['accuracy']:.4f} vs WMV {wmv['accuracy']:.4f}, cost "
               f"{pol['cost_per_query'] / wmv['cost_per_query']:.1%} of WMV's -> "
               f"{'met' if met else 'NOT met'}.", "",
               "| variant | accuracy | macro-F1 | cost/query (USD) | vs WMV | depth shares | hindsight (test-selected, "
               "diagnostic) |", "|---|---|---|---|---|---|---|"]
        for name, r in [("default", rep)] + list(variants.items()):
            b = r["policy"]
            md.append(f"| {name} | {b['accuracy']:.4f} | {b['f1']:.4f} | {b['cost_per_query']:.3e} | "
                      f"{b['cost_per_query'] / wmv['cost_per_query']:.1%} | "
                      f"{' / '.join(f'{s:.2f}' for s in b['depth_shares'])} | {_hindsight(r, wmv)} |")
        md.append("")
        if rat is not None:
            lo, hi = st["auc_range"]
            win = "policy sweep" if rep["policy_auc"] < rep["rational_auc_same_range"] else "rational tuning"
            md += [f"AUC of test error vs cost on the common cost range [{lo:.3e}, {hi:.3e}] USD (lower is better; "
                   f"local helper, the project's definition): policy mu-sweep ({len(rep['sweep'])} points) "
                   f"**{rep['policy_auc']:.4f}**, rational-tuning frontier ({rat[2]} threshold vectors, "
                   f"Markov-copula model fitted on train) **{rep['rational_auc_same_range']:.4f}** -> {win} wins.", ""]
        else:
            md += ["AUC against rational tuning: not computed (top-level `fit_markov_copula`/`tune` unavailable).", ""]
        md += ["Diagnostic only (selected on test, not a result): the cheapest point of the policy's mu sweep with "
               f"test accuracy >= WMV's costs {_hindsight(rep, wmv)} of WMV's.", ""]
        md += ["<details><summary>JSON report (<code>ensemble_report(...)</code>, the CLI's <code>--format json</code>)"
               "</summary>", "", "```json", "{"]
        keys = ("policy", "wmv", "single", "sweep", "rational_auc_same_range", "policy_auc")
        md += [f' "{k}": {json.dumps(rep[k])}' + ("," if k != keys[-1] else "") for k in keys]
        md += ["}", "```", "</details>", ""]
        if args.nested:
            configs = [("prefix, min_count 20", "prefix", (20,)), ("prefix, min_count auto", "prefix", (5, 10, 20, 40)),
                       ("suffix, min_count 20 (default)", "suffix", (20,)),
                       ("suffix, min_count auto", "suffix", (5, 10, 20, 40))]
            rows = nested(train, a_tr, p_tr, args.nested, configs)
            md += [f"Train-only nested check ({args.nested} outer 80/20 splits of train; operating point selected on "
                   "each outer-train part, scored on its outer-validation part against WMV there):", "",
                   "| configuration | accuracy - WMV | s.e. | cost vs full cascade | share of splits meeting both |",
                   "|---|---|---|---|---|"]
            md += [f"| {r['config']} | {r['acc_minus_wmv']:+.4f} | {r['se']:.4f} | {r['cost_rel']:.1%} | "
                   f"{r['share_met']:.2f} |" for r in rows]
            md.append("")
        if args.candidates:
            cands[bench] = candidate_curves(train, test, a_tr, a_te, p_tr, p_te, args.candidates, cand_mus)
            facts[bench] = data_facts(train, test, a_tr, a_te, p_tr, p_te)
        print(f"{bench} done ({time.time() - t_start:.0f} s)", file=sys.stderr, flush=True)
    md.insert(4, "Summary (default calibrated policy vs WMV over all 5): " + "; ".join(
        f"{b.upper()} accuracy {p['accuracy']:.4f} vs {w['accuracy']:.4f}, cost {p['cost_per_query'] / w['cost_per_query']:.1%}"
        f" of WMV ({'met' if m else 'not met'})" for b, p, w, m in summary) + ".")
    md.insert(5, "")
    if cands:
        md += negative_section(cands, cand_mus, args.candidates) + why_section(facts)
    md += ["## Notes", "",
           "* Quantile bins are invariant under the (monotone) calibration map, so calibration changes the policy only "
           "through the confidence-weighted strategies (`wmv`, `most_confident`) and through the operating point, "
           "whose target is the WMV accuracy computed with the same (calibrated or raw) confidences.",
           "* The rational-tuning curve is scored with per-model mean test costs (`Frontier.evaluate`), the policy's "
           "sweep with per-query costs; the AUC helper is a local copy of the project's definition.",
           "* Defaults (5 quantile bins, suffix fallback, min_count 20, mu by cross-validation on train) were chosen "
           "from train-only cross-validation (the nested check above) before these test numbers were computed; the "
           "variants are shown for information and were not used to choose anything.", ""]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(md) + "\n")
    print(f"wrote {args.out} ({time.time() - t_start:.0f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
