"""Post 9554's identities as checks: each holds on the real code and its negative control is rejected by the
same rule; and the topic's modules choose no plotting backend at import (kexue.fm/archives/9554)."""
import subprocess
import sys

from kexue.lru import claims, measure


def test_ring_and_disk_hold_and_their_controls_fail():
    init, lam, eig = measure.ring_and_disk(2000, 0.5, 0.99, 6.28)
    assert claims.ks_uniform(max(init["ks_modulus2"], init["ks_phase"]), 2000, "λ").verdict == "held"
    # uniform in radius instead of in area: the KS test of |λ|² rejects it
    assert claims.ks_uniform(init["control_ks_modulus2_uniform_radius"], 2000, "λ").verdict == "not held"
    assert claims.disk_law(init["glorot_disk_max_error"]).verdict == "held"
    assert claims.disk_law(init["control_disk_max_error_uniform_radius"]).verdict == "not held"
    assert lam.numel() == 2000 and eig.numel() == 500


def test_gamma_power_holds_and_the_wrong_prediction_fails():
    gam, _ = measure.gamma_effect(0.5, 0.99, 8, 16, 600)
    assert claims.gamma_power(gam["with_gamma_mean"], gam["without_vs_prediction_rel_error"]).verdict == "held"
    assert claims.gamma_power(gam["with_gamma_mean"],
                              gam["control_without_vs_1_over_1_minus_r_rel_error"]).verdict == "not held"


def test_closed_form_and_scans_hold_and_their_controls_fail():
    over = measure.closed_form_overflow()
    assert claims.overflows(over["closed_form_nonfinite"], 1000).verdict == "held"
    assert claims.overflows(over["control_closed_form_nonfinite"], 100).verdict == "not held"
    scans = measure.scans_vs_loop()
    scale = scans["reference_max_abs"]
    assert claims.equal_to_reference(max(scans["scan_max_abs_error"].values()), scale, "scans").verdict == "held"
    assert claims.equal_to_reference(scans["control_off_by_one_max_abs_error"], scale, "λ·loop").verdict == "not held"


def test_streaming_holds_and_one_token_late_fails():
    s = measure.streaming_parity(length=40)
    assert claims.equal_to_reference(s["max_abs_diff"], s["output_max_abs"], "step").verdict == "held"
    assert claims.equal_to_reference(s["control_one_token_late_max_abs_diff"], s["output_max_abs"],
                                     "late").verdict == "not held"


def test_scan_cells_are_interleaved_repeats_of_every_side():
    cells = measure.scan_cells(64, (1,), 4, repeats=3)
    assert list(cells) == ["b1_fwd_bwd"]
    assert {k: len(v) for k, v in cells["b1_fwd_bwd"].items()} == {"sequential": 3, "parallel": 3, "chunked": 3}


def test_no_plotting_backend_is_chosen_at_import():
    code = ("import matplotlib; before = matplotlib.rcParams._get_backend_or_none(); "
            "import kexue.lru.reproduce, kexue.lru.measure, kexue.lru.figures; "
            "assert matplotlib.rcParams._get_backend_or_none() == before, matplotlib.get_backend()")
    subprocess.run([sys.executable, "-c", code], check=True)
