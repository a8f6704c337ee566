"""Post 9687's Gaussian claims and identities, one function each: measured loops in, a Claim or Check out.

kexue.fm/archives/9687 (Eq. 1–2) and Alemohammad et al. 2023, Sec. 3. The rules are in `claims.py`, the
exact predictions in `exact.py`. On the page "±" is always one standard deviation over seeds (loops);
a Monte Carlo standard error is written "SE".
"""
from __future__ import annotations

import numpy as np

from kexue.mad import claims as rules
from kexue.mad import exact
from kexue.mad.loops import LoopResult
from kexue.mad.measure import last_measured, shrink_sums, spread_ratio
from kexue.mad.presets import MADPreset
from kexue.result import Check, Claim

SD = "(± is one s.d. over seeds)"


def ms(x) -> str:
    """mean ± s.d. over seeds (the only meaning of ± on this page)."""
    x = np.asarray(x, dtype=float)
    return f"{x.mean():.4g} ± {x.std(ddof=1):.2g}" if x.size > 1 else f"{x.mean():.4g}"


def mean_walk_claim(syn: LoopResult, cfg: MADPreset) -> Claim:
    """Eq. 2 at λ = 1: E‖μ_t − μ_0‖² = (t/n) tr Σ_0, read at t = 1, T/2 and T."""
    d, n, G = cfg.exact_d, cfg.exact_n, cfg.exact_generations
    err = syn.per_lam("mean_sq_err", 1.0)
    _, b = exact.moments("synthetic", 1.0, G, n, n, n)  # b_t = t/n at λ = 1
    ts = sorted({1, (G + 1) // 2, G})
    decision = rules.moments_match([(err[t - 1], b[t - 1] * d, f"mean ‖μ_{t} − μ_0‖²") for t in ts],
                                   "E‖μ_t − μ_0‖² = (t/n) tr Σ_0 within 4 SE at each t read")
    parts = [f"t = {t}: {np.mean(err[t - 1]):.4g} (SE {rules.se(err[t - 1]):.2g}) vs (t/n) tr Σ_0 = {b[t - 1] * d:.4g}"
             for t in ts]
    mix = spread_ratio(err[-1], b[-1], d)
    return decision.to_claim(
        f"Post Eq. 2, without bias (λ = 1): the fitted mean random-walks away from μ_0, Cov(μ_t) = (t/n) Σ_0. "
        f"Tested: its second moment, E‖μ_t − μ_0‖² = (t/n) tr Σ_0 at t = {', '.join(map(str, ts))} (n = {n}, d = {d}, "
        f"{err.shape[1]} loops). Not tested: normality: for t ≥ 2, μ_t given Σ_(t−1) is normal but Σ_(t−1) is random, "
        f"so μ_t is a scale mixture of normals, not the N(μ_0, (t/n) Σ_0) of Eq. 2",
        "; ".join(parts) + f". For context: Var ‖μ_{G} − μ_0‖² is {mix:.3g}× what a normal μ_{G} would give "
                           f"(the scale mixture's heavier spread)",
        figure="exact_synthetic/curves.png", evidence={f"‖μ_{G} − μ_0‖²": err[-1]}, quote=rules.QUOTES["mean_walk"], needs="more loops (a smaller Monte Carlo SE)")


def shrink_claim(syn: LoopResult, cfg: MADPreset, lam: float = 0.8) -> Claim:
    """With bias λ < 1 the variance shrinks by λ each generation: E tr Σ_{t+1} / E tr Σ_t = λ."""
    G, d = cfg.exact_generations, cfg.exact_d
    tr = syn.per_lam("tr_sigma", lam)
    num, den = shrink_sums(tr, G)
    r, lo, hi = rules.ratio_interval(num, den)
    a, _ = exact.moments("synthetic", lam, G, cfg.exact_n, cfg.exact_n, cfg.exact_n)
    return rules.shrinks_by(num, den, lam).to_claim(
        f"With truncation λ < 1 the variance (diversity) shrinks by the factor λ every generation, towards 0: "
        f"E tr Σ_(t+1) / E tr Σ_t = λ (λ = {lam:g}, n = {cfg.exact_n}, d = {d}, t = 1 … {G})",
        f"E tr Σ_(t+1) / E tr Σ_t = {r:.4f}, 95 % interval [{lo:.4f}, {hi:.4f}] over {tr.shape[1]} loops "
        f"(ratio of the means summed over t = 1 … {G - 1}); tr Σ_{G}/d = {np.mean(tr[-1]) / d:.3g} "
        f"(exact λ^(T−1) = {a[-1]:.3g}): it goes to 0", figure="exact_synthetic/curves.png",
        evidence={"tr Σ_(t+1) summed / tr Σ_t summed, per loop": num / den}, quote=rules.QUOTES["shrink"],
        needs="more loops (an interval narrower than the band)")


def level_check(syn: LoopResult, cfg: MADPreset, lam: float = 0.8) -> Check:
    """E tr Σ_t = λ^{t−1} tr Σ_0 and E‖μ_t − μ_0‖² = (1/n + Σ_{k=1}^{t−1} λ^k/n) tr Σ_0 at t ≤ exact_read;
    the control counts the real data as biased too (λ^t and Σ_{k=1}^{t} λ^k/n), the off-by-one."""
    d, n, T = cfg.exact_d, cfg.exact_n, min(cfg.exact_read, cfg.exact_generations)
    tr, err = syn.per_lam("tr_sigma", lam)[:T] / d, syn.per_lam("mean_sq_err", lam)[:T] / d
    a, b = exact.moments("synthetic", lam, T, n, n, n)
    t = np.arange(1, T + 1)
    # the off-by-one: E Σ_t = λ^t Σ_0, Cov(μ_t) = Σ_{k=1}^{t} λ^k Σ_0 / n
    a_wrong, b_wrong = lam**t, np.cumsum(lam**t) / n

    def rule(a_, b_):
        return rules.moments_match([(tr[i], a_[i], f"mean tr Σ_{i + 1}/d") for i in range(T)]
                                   + [(err[i], b_[i], f"mean ‖μ_{i + 1} − μ_0‖²/d") for i in range(T)],
                                   f"all {2 * T} moments equal their exact values within 4 SE")
    return rule(a, b).to_check(
        f"Fully synthetic loop, λ = {lam:g} (real data unbiased): E tr Σ_t = λ^(t−1) tr Σ_0 and E‖μ_t − μ_0‖² = "
        f"(1/n + Σ_(k=1)^(t−1) λ^k/n) tr Σ_0, t = 1 … {T} (n = {n}, d = {d})",
        f"t = 1: tr Σ_1/d {np.mean(tr[0]):.4f} vs 1; t = {T}: tr Σ_{T}/d {np.mean(tr[-1]):.4g} vs λ^{T - 1} = {a[-1]:.4g}, "
        f"‖μ_{T} − μ_0‖²/d {np.mean(err[-1]):.4g} vs {b[-1]:.4g}",
        rule(a_wrong, b_wrong), "control, the off-by-one λ^t and Σ_(k=1)^t λ^k/n (real data counted as biased)",
        figure="exact_synthetic/curves.png")


def maps_check(res: dict[str, LoopResult], cfg: MADPreset) -> Check:
    """The augment and fresh loops' exact moment maps (exact.py) at the last generation; the control drops
    the pooled scatter's between-means term."""
    d, n, G = cfg.exact_d, cfg.exact_n, cfg.exact_generations

    def rule(between_means: bool):
        checks = []
        for loop in ("augment", "fresh"):
            for lam in (1.0, 0.8):
                a, b = exact.moments(loop, lam, G, n, n, n, between_means=between_means)
                checks += [(res[loop].per_lam("tr_sigma", lam)[-1] / d, a[-1], f"{loop} λ={lam:g} tr Σ_T/d"),
                           (res[loop].per_lam("mean_sq_err", lam)[-1] / d, b[-1], f"{loop} λ={lam:g} ‖μ_T − μ_0‖²/d")]
        return rules.moments_match(checks, "all eight moments equal their exact values within 4 SE")
    parts = []
    for loop in ("augment", "fresh"):
        for lam in (1.0, 0.8):
            a, b = exact.moments(loop, lam, G, n, n, n)
            parts.append(f"{loop} λ={lam:g}: tr {np.mean(res[loop].per_lam('tr_sigma', lam)[-1]) / d:.4g} vs {a[-1]:.4g}, "
                         f"mean err {np.mean(res[loop].per_lam('mean_sq_err', lam)[-1]) / d:.4g} vs {b[-1]:.4g}")
    return rule(True).to_check(
        f"The fixed-real (augment) and fresh-data loops follow their exact moment maps (exact.py, from the pooled "
        f"sample covariance), t = {G}, n = {n}, d = {d}", "; ".join(parts),
        rule(False), "control, the maps without the pooled scatter's between-means term", figure="exact_fresh/curves.png")


def collapse_claim(col: LoopResult, cfg: MADPreset) -> Claim:
    """λ = 1 is not safe either: E tr Σ_t stays tr Σ_0 while the typical loop's Σ_t → 0."""
    dc, nc, Gc, Sc = cfg.collapse
    tr = col.per_lam("tr_sigma", 1.0)
    med = np.median(tr, axis=1)
    tm = max(Gc // 3, 1) - 1  # the mean is read where its Monte Carlo error is still honest (tails grow with t)
    return rules.almost_sure_collapse(tr[tm], tr[0], tr[-1], float(dc)).to_claim(
        "Even without bias (λ = 1) the fully synthetic loop degenerates: E tr Σ_t stays tr Σ_0 while the typical "
        "loop's Σ_t → 0 (the paper's Proposition: Σ_t → 0 almost surely)",
        f"d = {dc}, n = {nc}, {Sc} loops: mean tr Σ_t {np.mean(tr[0]):.3g} → {np.mean(tr[tm]):.3g} at t = {tm + 1} "
        f"(SE {rules.se(tr[tm]):.2g}; exact {dc}); median {med[0]:.3g} → {med[-1]:.3g} after {Gc} generations; "
        f"{np.mean(tr[-1] < tr[0]):.1%} of the loops shrank", figure="collapse/curves.png",
        evidence={"tr Σ_T": tr[-1]}, quote=rules.QUOTES["collapse"],
        needs="more loops or generations (the share of shrunk loops inside its binomial band)")


def log_det_check(col: LoopResult, cfg: MADPreset) -> Check:
    """E log det Σ_T = ℓ(n − 1) + (T − 1) ℓ(n − 1) at λ = 1 (exact.expected_log_det); the control uses the
    Wishart's n degrees of freedom instead of n − 1."""
    dc, nc, Gc, _ = cfg.collapse
    ld = col.per_lam("log_det", 1.0)[-1]
    pred = float(exact.expected_log_det(1.0, Gc, nc, nc, dc)[-1])
    wrong = float(exact.expected_log_det(1.0, Gc, nc + 1, nc + 1, dc)[-1])  # ℓ(n) instead of ℓ(n − 1)
    return rules.moment_matches(ld, pred, "mean log det Σ_T").to_check(
        f"λ = 1: E log det Σ_t falls linearly, E log det Σ_t = log det Σ_0 + t ℓ(n − 1), ℓ(k) = Σ_(i<d) ψ((k − i)/2) "
        f"+ d log(2/k) < 0 (d = {dc}, n = {nc}, t = {Gc})",
        f"mean log det Σ_{Gc} = {np.mean(ld):.4g} (SE {rules.se(ld):.2g}) vs exact {pred:.4g}",
        rules.moment_matches(ld, wrong, "mean log det Σ_T"),
        f"control, the Wishart's n degrees of freedom instead of n − 1 (exact {wrong:.4g})", figure="collapse/curves.png")


def w2_grows_claim(syn: LoopResult, cfg: MADPreset) -> Claim:
    """λ = 1, fully synthetic, d = 100: W2 to P_r at T above W2 at t = 1 (paired over seeds)."""
    T = last_measured(syn.history["w2"])
    w1, wT = syn.per_lam("w2", 1.0)[0], syn.per_lam("w2", 1.0)[T]
    return rules.degrades(w1, wT, higher_is_better=False, what="W2").to_claim(
        f"Without truncation (λ = 1), training each generation on the last one's samples drifts away from the "
        f"real distribution: W2 to P_r grows with the generations (fully synthetic, d = {cfg.d}, n = {cfg.n_s})",
        f"W2 {ms(w1)} at t = 1 → {ms(wT)} at t = {T + 1} {SD}", figure="synthetic/curves.png",
        evidence={"W2 t=1": w1, f"W2 t={T + 1}": wT}, quote=rules.QUOTES["w2_grows"],
        needs="more seeds or generations")


def augment_claim(syn: LoopResult, aug: LoopResult, cfg: MADPreset, lam: float = 0.8) -> Claim:
    """A fixed real set slows the degradation but does not stop it."""
    T = last_measured(syn.history["w2"])
    s_T, a_1, a_T = syn.per_lam("w2", lam)[T], aug.per_lam("w2", lam)[0], aug.per_lam("w2", lam)[T]
    return rules.fixed_real_only_slows(s_T, a_T, a_1).to_claim(
        f"A fixed real set (synthetic augmentation) only slows the degradation, it does not stop it (λ = {lam:g}, "
        f"{cfg.n_real} real + {cfg.n_s} synthetic a generation)",
        f"W2 at t = {T + 1}: augment {ms(a_T)}, fully synthetic {ms(s_T)}; augment at t = 1 {ms(a_1)} {SD}",
        figure="augment/curves.png", evidence={"augment W2_T": a_T, "synthetic W2_T": s_T, "augment W2_1": a_1},
        quote=rules.QUOTES["augment"], needs="more seeds or generations")


def fresh_claim(res: dict[str, LoopResult], cfg: MADPreset, lam: float = 0.8) -> Claim:
    """Fresh real data every generation stop the degradation: a limit set by (n_r, n_s, λ), not by G_1."""
    small, large = cfg.fresh_n_ini
    n_r, n_s = cfg.fresh
    ws, wl = res[f"fresh_ini{small}"].per_lam("w2", lam), res[f"fresh_ini{large}"].per_lam("w2", lam)
    T = last_measured(wl)
    measured = np.where(~np.isnan(wl).all(1))[0]
    mid = int(measured[measured <= T // 2][-1])  # the last measured generation by T/2
    tol = rules.FRESH_LIMIT_SHARE * float(np.mean(wl[T]))
    a_inf, _ = exact.fresh_limit(lam, n_r, n_s)
    w_mix = res[f"fresh_ini{large}"].per_lam("w2", 1.0)[T]
    w_real = res["fresh_real_only"].per_lam("w2", 1.0)[T]
    return rules.fresh_settles(ws[T], wl[T], ws[0], wl[0], wl[mid], tol).to_claim(
        f"Fresh real data every generation stop the degradation: the loop settles at a limit set by (n_r, n_s, λ), "
        f"whatever G_1 was fitted on (n_ini = {small} vs {large}; n_r = {n_r}, n_s = {n_s}, λ = {lam:g}, d = {cfg.d})",
        f"W2 at t = 1: {ms(ws[0])} vs {ms(wl[0])}; at t = {mid + 1}: {ms(wl[mid])}; at t = {T + 1}: {ms(ws[T])} vs "
        f"{ms(wl[T])} {SD}; band: within {rules.FRESH_LIMIT_SHARE:.0%} of the limit, {tol:.3g}; exact limit of E tr Σ/d "
        f"{a_inf:.4g}, measured {np.mean(res[f'fresh_ini{large}'].per_lam('tr_sigma', lam)[-1]) / cfg.d:.4g}. "
        f"Context (the paper's finding, not the post's): at λ = 1 the limit with the n_s synthetic points is W2 "
        f"{ms(w_mix)}, with the n_r real points alone {ms(w_real)}",
        figure=f"fresh_ini{large}/curves.png",
        evidence={f"W2_T n_ini={small}": ws[T], f"W2_T n_ini={large}": wl[T], f"W2_{mid + 1} n_ini={large}": wl[mid]},
        quote=rules.QUOTES["fresh"], needs="more seeds (an interval narrower than the 5 % band)")

