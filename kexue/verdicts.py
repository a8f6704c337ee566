"""Verdict rules a sceptic trusts: pure functions from measured numbers to held / not held /
inconclusive / not checkable, each carrying its rule in words.

Every claim of `kexue reproduce` is decided by one of these (or by a topic's own rule in
`kexue/<topic>/claims.py` built from them), so the same numbers always give the same verdict and a
table test can reach every branch. The shapes of claim:

    better(a, b)            "A is better than B":     held when the whole interval of A − B is on A's side,
                                                        not held when the whole of it is on B's side
    no_better(a, b, tol)    "A is no better than B":  held when A − B < tol with confidence,
                                                        not held when A − B > tol with confidence
    equivalent(a, b, tol)   "A ≈ B":                  held when the interval of A − B lies inside ±tol,
                                                        not held when it lies wholly outside
    close_to(x, y, stderr)  an identity estimated with noise: held when |x − y| ≤ z·stderr + atol
    at_least / at_most      a threshold read against a noise band: inside the band is inconclusive
    floors(...)             "did the models learn at all?": a failed floor makes a comparison
                            "inconclusive: did not learn at this preset"

`a` and `b` are the per-seed values of the two sides (≥ 2 each for an interval; one seed cannot
decide a comparison, so it is inconclusive). The interval of mean(A) − mean(B) is Welch's t interval
at `level` (95 % by default); `paired_bootstrap` gives the interval over test items when training is
deterministic and the spread is over what is tested, not how it was trained.

Imports nothing from kexue but `kexue.result`, so every layer may use it.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from kexue.result import Check, Claim, Verdict

Quote = tuple[int, str]  # (kexue.fm archive number, the post's sentence in its own words)

LEVEL = 0.95  # the confidence of every interval unless a rule says otherwise


@dataclass(frozen=True)
class Spread:
    """Per-seed values and their summary: mean ± sample standard deviation (n)."""

    values: tuple[float, ...]

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return float(np.mean(self.values)) if self.values else math.nan

    @property
    def std(self) -> float:
        # s = sqrt(Σ (x_i − x̄)² / (n − 1)); 0 for one value
        return float(np.std(self.values, ddof=1)) if self.n > 1 else 0.0

    def fmt(self, digits: int = 3) -> str:
        if self.n == 1:
            return f"{self.mean:.{digits}g}"
        return f"{self.mean:.{digits}g} ± {self.std:.{max(digits - 1, 1)}g} (n={self.n})"

    def to_dict(self) -> dict:
        return {"mean": self.mean, "std": self.std, "n": self.n, "values": list(self.values)}


def spread(values: Sequence[float] | float) -> Spread:
    """The Spread of a list of per-seed values (a bare number is one value)."""
    if isinstance(values, (int, float)):
        values = [values]
    return Spread(tuple(float(v) for v in values))


@dataclass(frozen=True)
class Decision:
    """A verdict, the rule that gave it (in words, with its numbers) and why this branch was taken."""

    verdict: Verdict
    rule: str
    why: str = ""

    @property
    def stated(self) -> str:
        """The rule with the reason for this branch, as the page shows it."""
        return self.rule + (f" — {self.why}" if self.why else "")

    def to_claim(self, claim: str, measured: str, figure: str | None = None,
                 evidence: Mapping[str, Sequence[float] | float] | None = None,
                 quote: Quote | None = None, needs: str = "") -> Claim:
        """The Claim for the page; `evidence` names each side's per-seed values (shown as mean ± std),
        `quote` the post's own sentence, `needs` what would decide the claim when this run did not."""
        ev = {name: spread(v).to_dict() for name, v in (evidence or {}).items()}
        source, text = quote if quote else (None, "")
        return Claim(claim=claim, measured=measured, verdict=self.verdict, figure=figure, rule=self.stated,
                     evidence=ev or None, quote=text, source=source,
                     needs=needs if self.verdict in ("inconclusive", "not checkable") else "")

    def to_check(self, identity: str, measured: str, control: "Decision", control_name: str,
                 figure: str | None = None) -> Check:
        """An identity verified with its negative control: `control` is the same rule applied to a
        deliberately wrong variant (`control_name`), which must come out "not held". The Check is held
        only when this Decision is held and the control was rejected; when the control also passed,
        the check could not have failed and is "inconclusive"."""
        verdict: Verdict = self.verdict
        if self.verdict == "held" and control.verdict != "not held":
            verdict = "inconclusive"
        text = f"{control_name}: {control.verdict}" + (f" ({control.why})" if control.why else "")
        return Check(identity=identity, measured=measured, verdict=verdict, rule=self.stated, control=text,
                     figure=figure)


def not_checkable(why: str) -> Decision:
    return Decision("not checkable", "needs what this machine or preset lacks", why)


def gpu_claim(on_cpu: Decision, device: str) -> Decision:
    """A claim the post measured on GPUs (a speed-up on a 3090 / A100): decided by `on_cpu`'s rule on a
    CUDA device, "not checkable on CPU" elsewhere, with what the CPU measured kept as context."""
    if str(device).startswith("cuda"):
        return on_cpu
    return Decision("not checkable", on_cpu.rule,
                    f"not checkable on CPU (a GPU claim); measured here for context: {on_cpu.why}")


# --- intervals ---

def welch_interval(a: Sequence[float], b: Sequence[float], level: float = LEVEL) -> tuple[float, float]:
    """The `level` interval of mean(a) − mean(b) by Welch's t; (−inf, inf) when either side has one value.

    d = ā − b̄,  se = sqrt(s_a²/n_a + s_b²/n_b),  ν = se⁴ / ((s_a²/n_a)²/(n_a−1) + (s_b²/n_b)²/(n_b−1)),
    interval d ± t_{(1+level)/2, ν} · se.
    """
    from scipy.stats import t as student_t

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.size < 2 or b.size < 2:
        return -math.inf, math.inf
    d = a.mean() - b.mean()
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    se2 = va + vb
    if se2 == 0.0:
        return d, d
    # Welch–Satterthwaite ν = se²² / (va²/(n_a − 1) + vb²/(n_b − 1)), written with the shares va/se², vb/se²
    # so that tiny variances (va² underflowing to 0) cannot make it 0/0
    ra, rb = va / se2, vb / se2
    nu = 1.0 / (ra**2 / (a.size - 1) + rb**2 / (b.size - 1))
    half = float(student_t.ppf((1 + level) / 2, nu)) * math.sqrt(se2)
    return float(d - half), float(d + half)


def paired_interval(differences: Sequence[float], level: float = LEVEL) -> tuple[float, float]:
    """The `level` t interval of the mean of paired differences d_i = a_i − b_i (one per seed, draw or
    head, where both sides share what the pair shares): d̄ ± t_{(1+level)/2, k−1} · s_d / √k.
    (−inf, inf) with fewer than 2 pairs; (nan, nan) when a difference is not finite."""
    from scipy.stats import t as student_t

    d = np.asarray(differences, dtype=float)
    if d.size < 2:
        return -math.inf, math.inf
    if not np.isfinite(d).all():
        return math.nan, math.nan
    half = float(student_t.ppf((1 + level) / 2, d.size - 1)) * float(d.std(ddof=1)) / math.sqrt(d.size)
    return float(d.mean() - half), float(d.mean() + half)


def paired_bootstrap(a_items: Sequence[float], b_items: Sequence[float], level: float = LEVEL,
                     n_boot: int = 2000, seed: int = 0,
                     stat: Callable[[np.ndarray], float] = np.mean) -> tuple[float, float]:
    """The `level` percentile interval of stat(a) − stat(b) over test items resampled together."""
    a, b = np.asarray(a_items, dtype=float), np.asarray(b_items, dtype=float)
    if a.shape != b.shape or a.ndim != 1 or a.size < 2:
        raise ValueError(f"paired_bootstrap needs two equal-length lists of ≥ 2 items, got {a.shape} and {b.shape}")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, a.size, size=(n_boot, a.size))
    diffs = np.array([stat(a[i]) - stat(b[i]) for i in idx])
    lo, hi = np.quantile(diffs, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def _oriented(lo: float, hi: float, higher_is_better: bool) -> tuple[float, float]:
    """The interval of the advantage of A over B: A − B when higher is better, B − A when lower is."""
    return (lo, hi) if higher_is_better else (-hi, -lo)


def _fmt(x: float) -> str:
    return f"{x:.4g}" if math.isfinite(x) else ("∞" if x > 0 else "−∞")


# --- the shapes of claim ---

def better(a: Sequence[float], b: Sequence[float], *, higher_is_better: bool = True, margin: float = 0.0,
           level: float = LEVEL, interval: tuple[float, float] | None = None, names: tuple[str, str] = ("A", "B"),
           ) -> Decision:
    """Claim "A is better than B (by more than margin)", with the advantage u = A − B (B − A when lower
    is better): held if the interval of u lies above margin; not held if it lies below 0 (B is better);
    else inconclusive. `interval` overrides Welch's interval (e.g. a paired bootstrap over test items,
    given as A − B)."""
    lo, hi = _oriented(*(interval or welch_interval(a, b, level)), higher_is_better)
    A, B = names
    sense = "higher" if higher_is_better else "lower"
    rule = (f"{A} better than {B} ({sense} is better): held when the {level:.0%} interval of the advantage "
            f"of {A} lies above {margin:g}; not held when it lies below 0; else inconclusive")
    why = f"advantage of {A} in [{_fmt(lo)}, {_fmt(hi)}]"
    if lo > margin:
        return Decision("held", rule, why)
    if hi < 0:
        return Decision("not held", rule, why)
    return Decision("inconclusive", rule, why + (" (one seed per side)" if not math.isfinite(lo) else ""))


def no_better(a: Sequence[float], b: Sequence[float], *, higher_is_better: bool = True, tolerance: float = 0.0,
              level: float = LEVEL, interval: tuple[float, float] | None = None,
              names: tuple[str, str] = ("A", "B")) -> Decision:
    """Claim "A is no better than B (up to tolerance)": held if the advantage of A over B is below
    tolerance with confidence (high end < tolerance); not held if it is above tolerance with confidence
    (low end > tolerance); else inconclusive."""
    lo, hi = _oriented(*(interval or welch_interval(a, b, level)), higher_is_better)
    A, B = names
    rule = (f"{A} no better than {B} by more than {tolerance:g}: held when the {level:.0%} interval of the "
            f"advantage of {A} lies below {tolerance:g}; not held when it lies above; else inconclusive")
    why = f"advantage of {A} in [{_fmt(lo)}, {_fmt(hi)}]"
    if hi < tolerance:
        return Decision("held", rule, why)
    if lo > tolerance:
        return Decision("not held", rule, why)
    return Decision("inconclusive", rule, why)


def equivalent(a: Sequence[float], b: Sequence[float], *, tolerance: float, level: float = LEVEL,
               interval: tuple[float, float] | None = None, names: tuple[str, str] = ("A", "B")) -> Decision:
    """Claim "A ≈ B within ±tolerance": held if the interval of A − B lies inside (−tol, tol); not held
    if it lies wholly outside it (above tol or below −tol); else inconclusive."""
    lo, hi = interval or welch_interval(a, b, level)
    A, B = names
    rule = (f"{A} ≈ {B}: held when the {level:.0%} interval of {A} − {B} lies inside ±{tolerance:g}; "
            f"not held when it lies wholly outside; else inconclusive")
    why = f"{A} − {B} in [{_fmt(lo)}, {_fmt(hi)}]"
    if -tolerance < lo and hi < tolerance:
        return Decision("held", rule, why)
    if lo > tolerance or hi < -tolerance:
        return Decision("not held", rule, why)
    return Decision("inconclusive", rule, why)


def non_inferior(a: Sequence[float], b: Sequence[float], *, floor: float, share: float,
                 higher_is_better: bool = True, level: float = LEVEL,
                 interval: tuple[float, float] | None = None, names: tuple[str, str] = ("A", "B")) -> Decision:
    """Claim "A is as good as B": non-inferiority with the margin a share of what B learned.

    The gain of B over the floor (the unigram loss, the majority class) is G = |mean(B) − floor|; the
    margin is δ = share·G. With u the advantage of A over B: held when the interval of u lies above −δ
    (A loses less than δ), not held when it lies below −δ, else inconclusive. A band on the loss itself
    (±5 %) is wider than the whole gain when a model learned 0.2 nat, and could not fail; δ cannot be
    wider than `share` of what was learned."""
    lo, hi = _oriented(*(interval or welch_interval(a, b, level)), higher_is_better)
    gain = abs(float(np.mean(b)) - floor)
    delta = share * gain
    A, B = names
    rule = (f"{A} as good as {B}: non-inferiority margin δ = {share:g} × the gain of {B} over the floor "
            f"{floor:.4g} (gain {gain:.4g}, δ = {delta:.4g}); held when the {level:.0%} interval of the "
            f"advantage of {A} lies above −δ; not held when it lies below −δ; else inconclusive")
    why = f"advantage of {A} in [{_fmt(lo)}, {_fmt(hi)}]"
    if lo > -delta:
        return Decision("held", rule, why)
    if hi < -delta:
        return Decision("not held", rule, why)
    return Decision("inconclusive", rule, why + (" (one seed per side)" if not math.isfinite(lo) else ""))


def speedup(cells: Mapping[str, tuple[Sequence[float], Sequence[float]]], target: float, *,
            level: float = LEVEL, what: str = "t_slow / t_fast") -> Decision:
    """Claim "the fast side is at least `target`× faster", for every cell (a length, a batch size).

    `cells`: {name: (seconds of the slow side per repeat, seconds of the fast side per repeat)}, repeats
    taken interleaved on the work's own CPU clock (`kexue.timing.interleaved_seconds`). Per cell the
    `level` Welch interval of log t_slow − log t_fast: held when every cell's lies above log target, not
    held when any lies below it, else inconclusive (the ratio is within the noise of the target)."""
    rule = (f"per cell the {level:.0%} interval of log({what}) over interleaved repeats: held when every "
            f"cell's lies above log {target:g}, not held when any cell's lies below it, else inconclusive")
    parts, verdicts = [], []
    for name, (slow, fast) in cells.items():
        lo, hi = welch_interval(np.log(slow), np.log(fast), level)
        mid = math.exp(float(np.mean(np.log(slow)) - np.mean(np.log(fast))))
        parts.append(f"{name}: {mid:.2f}× [{_times(lo)}, {_times(hi)}]")
        verdicts.append("held" if lo > math.log(target) else "not held" if hi < math.log(target)
                        else "inconclusive")
    why = "; ".join(parts)
    for v in ("not held", "inconclusive"):
        if v in verdicts:
            return Decision(v, rule, why + ("; within the noise of the target" if v == "inconclusive" else ""))
    return Decision("held", rule, why)


def _times(log_ratio: float) -> str:
    return f"{math.exp(log_ratio):.2f}×" if math.isfinite(log_ratio) else ("∞" if log_ratio > 0 else "0")


def close_to(estimate: float, target: float, *, stderr: float = 0.0, z: float = 3.0, atol: float = 0.0,
             rtol: float = 0.0, name: str = "estimate") -> Decision:
    """An identity checked numerically: held if |estimate − target| ≤ z·stderr + atol + rtol·|target|,
    else not held. For a Monte Carlo estimate give its standard error; for an exact computation atol."""
    bound = z * stderr + atol + rtol * abs(target)
    parts = [f"{z:g}·SE" if stderr else "", f"{atol:g}" if atol else "", f"{rtol:g}·|target|" if rtol else ""]
    rule = f"{name} equals the prediction: held when |{name} − prediction| ≤ " + (" + ".join(p for p in parts if p) or "0")
    gap = abs(estimate - target)
    why = f"|{_fmt(estimate)} − {_fmt(target)}| = {_fmt(gap)} vs bound {_fmt(bound)}"
    return Decision("held" if gap <= bound else "not held", rule, why)


def at_least(value: float, bound: float, *, noise: float = 0.0, name: str = "value") -> Decision:
    """Claim "value ≥ bound": held if value > bound + noise, not held if value < bound − noise, else
    inconclusive (within the noise of the bound)."""
    rule = f"{name} ≥ {bound:g}: held above {bound:g} + noise {noise:g}, not held below {bound:g} − noise, else inconclusive"
    why = f"{name} = {_fmt(value)}"
    if value > bound + noise or (noise == 0.0 and value >= bound):
        return Decision("held", rule, why)
    if value < bound - noise:
        return Decision("not held", rule, why)
    return Decision("inconclusive", rule, why + " (inside the noise)")


def at_most(value: float, bound: float, *, noise: float = 0.0, name: str = "value") -> Decision:
    """Claim "value ≤ bound": held if value < bound − noise, not held if value > bound + noise, else
    inconclusive."""
    rule = f"{name} ≤ {bound:g}: held below {bound:g} − noise {noise:g}, not held above {bound:g} + noise, else inconclusive"
    why = f"{name} = {_fmt(value)}"
    if value < bound - noise or (noise == 0.0 and value <= bound):
        return Decision("held", rule, why)
    if value > bound + noise:
        return Decision("not held", rule, why)
    return Decision("inconclusive", rule, why + " (inside the noise)")


@dataclass(frozen=True)
class Floor:
    """One "did it learn?" check: `value` must beat `floor` (by `margin`) in the stated direction."""

    name: str  # e.g. "LM loss of the softmax model"
    value: float
    floor: float  # the baseline: unigram loss, majority-class accuracy, a minimum F1
    higher_is_better: bool
    margin: float = 0.0

    @property
    def passed(self) -> bool:
        if self.higher_is_better:
            return self.value > self.floor + self.margin
        return self.value < self.floor - self.margin

    def describe(self) -> str:
        op = ">" if self.higher_is_better else "<"
        sign = "+" if self.higher_is_better else "−"
        return f"{self.name} {_fmt(self.value)} {op} {_fmt(self.floor)} {sign} {self.margin:g}"


def floors(checks: Sequence[Floor], decision: Decision) -> Decision:
    """`decision` when every floor passed; else "inconclusive: did not learn at this preset", naming
    the floors that failed. The floors are written into the rule either way."""
    rule = decision.rule + "; counts only if " + "; ".join(c.describe() for c in checks)
    failed = [c for c in checks if not c.passed]
    if failed:
        names = ", ".join(c.name for c in failed)
        return Decision("inconclusive", rule, f"did not learn at this preset ({names} missed the floor)")
    return Decision(decision.verdict, rule, decision.why)


def all_of(decisions: Sequence[Decision], rule: str) -> Decision:
    """Several checks that must all hold: not held if any is not held, else inconclusive if any is,
    else not checkable if any is, else held."""
    for v in ("not held", "inconclusive", "not checkable"):
        bad = [d for d in decisions if d.verdict == v]
        if bad:
            return Decision(v, rule, "; ".join(d.why for d in bad if d.why))
    return Decision("held", rule, "; ".join(d.why for d in decisions if d.why))
