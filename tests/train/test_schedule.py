"""lr schedule: lr_factor against an independent float64 reference, the named edge cases, and the LambdaLR."""

import math
from fractions import Fraction
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from harness.train.engine import lr_factor, make_scheduler

SCHEDULES = ("cosine", "linear", "constant")


def reference(total, ratio, schedule):
    """float64 factors for steps 0 .. total (one past the last) from anchor points: the lr is the straight line from
    (-1, 0) to (W, 1), then the decay curve from (W, 1) to (total, 0); W = ceil(ratio * total) counted exactly
    (Fraction of the decimal ratio), at least 1 when ratio > 0, at most total - 1."""
    warm = min(max(1, math.ceil(Fraction(repr(ratio)) * total)) if ratio > 0 else 0, total - 1)
    s = np.arange(total + 1, dtype=np.float64)
    up = np.interp(s, [-1.0, warm], [0.0, 1.0])
    p = np.clip((s - warm) / (total - warm), 0.0, 1.0)
    down = {"cosine": (1.0 + np.cos(np.pi * p)) / 2.0, "linear": 1.0 - p, "constant": np.ones_like(p)}[schedule]
    return np.where(s < warm, up, down), warm


@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("ratio", [0.0, 0.01, 0.03, 0.05, 0.1, 0.2, 0.25, 1 / 3, 0.5, 0.7, 0.99, 1.0])
def test_lr_factor_matches_float64_reference(schedule, ratio):
    for total in [*range(1, 41), 97, 100, 300, 1000, 1234]:
        ref, warm = reference(total, ratio, schedule)
        got = np.array([lr_factor(s, total, ratio, schedule) for s in range(total + 1)])
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12, err_msg=f"total={total} ratio={ratio}")
        assert got[warm] == 1.0 and (got[:warm] < 1.0).all()  # the peak is reached at step W, not before
        assert (np.diff(got[:warm + 1]) > 0).all()  # warm-up strictly rising
        if schedule != "constant":
            assert np.count_nonzero(got[:total] == 1.0) == 1  # the peak is used exactly once
            assert (np.diff(got[warm:]) < 0).all()  # decay starts right after the peak, strictly falling
            assert got[total - 1] > 0 and got[total] == 0.0  # last step > 0, zero one step after it
        assert (got[:total] > 0).all()  # no step runs at lr 0


def test_lr_factor_named_edge_cases():
    # 0.03 over 10 steps: W = ceil(0.3) = 1 -> one warm-up step at half the peak (the old code ran it at the peak)
    f = [lr_factor(s, 10, 0.03, "cosine") for s in range(10)]
    assert f[0] == 0.5 and f[1] == 1.0 and f[2] < 1.0
    # a 3-step run decays (the old code used the peak twice, so a 3-step run with W=2 never decayed)
    assert [lr_factor(s, 3, 0.03, "cosine") for s in range(4)] == pytest.approx([0.5, 1.0, 0.5, 0.0], abs=1e-15)
    assert [lr_factor(s, 3, 0.03, "linear") for s in range(4)] == pytest.approx([0.5, 1.0, 0.5, 0.0], abs=1e-15)
    # the warm-up never swallows the whole run: the peak is the last step at the latest
    assert [lr_factor(s, 3, 1.0, "cosine") for s in range(3)] == pytest.approx([1 / 3, 2 / 3, 1.0])
    assert lr_factor(0, 1, 0.5, "cosine") == 1.0 and lr_factor(1, 1, 0.5, "cosine") == 0.0
    # no warm-up: the first step is the peak; ratio * total that float rounding lifts past an integer stays at it
    assert lr_factor(0, 10, 0.0, "linear") == 1.0 and lr_factor(1, 10, 0.0, "linear") == pytest.approx(0.9)
    assert 0.07 * 100 > 7 and lr_factor(7, 100, 0.07, "cosine") == 1.0 and lr_factor(6, 100, 0.07, "cosine") == 0.875


@pytest.mark.parametrize("args,match", [((0, 10, 0.1, "step"), "cosine | linear | constant"),
                                        ((0, 0, 0.1, "cosine"), "total_steps >= 1"),
                                        ((-1, 10, 0.1, "cosine"), "step >= 0"),
                                        ((0, 10, 1.5, "cosine"), r"warmup_ratio must be in \[0, 1\]"),
                                        ((0, 10, -0.1, "cosine"), r"warmup_ratio must be in \[0, 1\]")])
def test_lr_factor_refuses_bad_settings(args, match):
    with pytest.raises(ValueError, match=match):
        lr_factor(*args)


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_scheduler_step_s_runs_at_peak_times_factor(schedule):
    """With a real optimizer: the lr each optimizer step uses is peak * lr_factor(step)."""
    p = torch.nn.Parameter(torch.zeros(2))
    opt = torch.optim.SGD([p], lr=0.4)
    total, cfg = 12, SimpleNamespace(warmup_ratio=0.2, schedule=schedule)
    sched = make_scheduler(opt, cfg, total)
    used = []
    for _ in range(total):
        used.append(opt.param_groups[0]["lr"])
        p.grad = torch.ones(2)
        opt.step()
        sched.step()
    ref, _ = reference(total, 0.2, schedule)
    np.testing.assert_allclose(used, 0.4 * ref[:total], rtol=1e-12, atol=0)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.4 * ref[total], abs=1e-15)
