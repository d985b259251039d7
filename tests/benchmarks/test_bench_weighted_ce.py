"""bench_weighted_ce.py at tiny shapes: inputs made once on the device, losses checked against the fp32 reference,
a provider that fails is recorded and skips only itself, rows appended per shape, the dry-run (no speed
assertions: the machine is shared)."""

import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchmarks import bench_weighted_ce as bwc  # noqa: E402
from benchmarks.common import read_rows  # noqa: E402


def _spec(providers, **kw):
    return {"n": 7, "h": 16, "v": 50, "dtype": "float32", "device": "cpu", "chunk_size": 3, "mode": "times",
            "providers": providers, "warmup": 0, "repeats": 2, **kw}


def test_inputs_are_seeded_and_on_the_device():
    a = bwc.make_inputs(5, 8, 30, torch.float32, "cpu")
    b = bwc.make_inputs(5, 8, 30, torch.float32, torch.device("cpu"))
    assert [tuple(t.shape) for t in a] == [(5, 8), (30, 8), (5,), (5,)]
    assert all(torch.equal(x, y) for x, y in zip(a, b)) and a[0].requires_grad and a[1].requires_grad
    assert float(a[3].min()) >= 0 and float(a[3].max()) <= 2


def test_reference_losses_in_float64():
    h, w, t, r = bwc.make_inputs(6, 8, 20, torch.float32, "cpu")
    logp = torch.log_softmax(h.detach().double() @ w.detach().double().T, dim=-1)[torch.arange(6), t]
    ref = bwc.reference_losses(h, w, t, r)
    assert ref["weighted"] == pytest.approx(float(-(logp * r.double()).sum()), rel=1e-5)
    assert ref["unweighted"] == pytest.approx(float(-logp.sum()), rel=1e-5)


def test_measure_shape_records_a_failing_provider_and_goes_on():
    """liger / cce are not installed on the CPU machines: each is recorded with its import error, alone."""
    res = bwc.measure_shape(_spec(["naive", "liger", "chunked", "cce_nofilter"], memory=True))  # the CUDA flow
    for p in ("naive", "chunked"):
        assert len(res[p]["times_s"]) == 2 and "error" not in res[p] and res[p]["peak_mb"] >= 0
        assert res[p]["loss"] == pytest.approx(res["_ref"]["weighted"], rel=1e-5)
    for p in ("liger", "cce_nofilter"):
        if bwc.installed(p):
            pytest.skip(f"{p} is installed here")
        assert res[p]["times_s"] == [] and res[p]["error"].startswith("ModuleNotFoundError")
    rows = bwc.shape_rows({"device": "cpu"}, (7, 16, 50), res, "float32", 3, 1)
    by = {r["provider"]: r for r in rows}
    assert by["naive"]["error"] == "" and float(by["naive"]["loss_rel_err"]) < 1e-5 and by["naive"]["weighted"]
    assert by["liger"]["error"].startswith("ModuleNotFoundError") and "median_s" not in by["liger"]
    assert by["cce_nofilter"]["weighted"] is False


def test_cpu_run_appends_rows(tmp_path):
    out = tmp_path / "wce.csv"
    bwc.main(["--device", "cpu", "--shapes", "6,16,40", "--providers", "naive,chunked,liger", "--repeats", "1",
              "--warmup", "0", "--chunk-size", "4", "--out", str(out)])
    rows = read_rows(out)
    assert [(r["provider"], r["N"]) for r in rows] == [("naive", "6"), ("chunked", "6")]  # liger: CUDA only
    for r in rows:
        assert r["error"] == "" and float(r["median_s"]) > 0 and float(r["peak_mb"]) >= 0
        assert float(r["loss_rel_err"]) < 1e-5 and r["weighted"] == "True"


def test_dry_run_plans_the_gpu_list(tmp_path, capsys):
    out = tmp_path / "wce.csv"
    rows = bwc.main(["--dry-run", "--cases-from", "gpu:kernel", "--out", str(out)])
    written = read_rows(out)
    # issue 22's plan: the kernel rows at N = 16,384 only (naive / chunked / triton vs Liger and CCE), one shape
    assert len(rows) == len(written) == 1 and all(r["dry_run"] == "plan" for r in written)
    assert [(r["N"], r["H"], r["V"], r["dtype"]) for r in written] == [("16384", "3584", "152064", "bfloat16")]
    assert written[0]["provider"] == "naive chunked triton liger cce"
    assert "[dry-run] weighted_ce N=16384" in capsys.readouterr().out
    with pytest.raises(ValueError, match="unknown provider"):
        bwc.main(["--dry-run", "--shapes", "8,8", "--providers", "naive,nope", "--out", str(out)])


@pytest.mark.gpu
@pytest.mark.parametrize("provider", ["liger", "cce", "cce_nofilter"])
def test_third_party_provider_matches_the_unweighted_reference_on_cuda(provider):
    """On the GPU (device_run.sh call1 runs it before the benchmark): the wrapped third-party call has the right
    signature and computes the unweighted sum of CE; its gradients match torch's."""
    if not bwc.installed(provider):
        pytest.skip(f"{bwc.THIRD_PARTY[provider]} is not installed (device_run.sh installs it from .whl/)")
    h, w, t, r = bwc.make_inputs(64, 128, 1000, torch.bfloat16, "cuda")
    ref_h, ref_w = h.detach().float().requires_grad_(), w.detach().float().requires_grad_()
    torch.nn.functional.cross_entropy(ref_h @ ref_w.T, t, reduction="sum").backward()
    loss = bwc.provider_fn(provider, h, w, t, r, None)()
    assert float(loss) == pytest.approx(bwc.reference_losses(h, w, t, r)["unweighted"], rel=2e-2)
    torch.testing.assert_close(h.grad.float(), ref_h.grad, atol=2e-2, rtol=5e-2)
    torch.testing.assert_close(w.grad.float(), ref_w.grad, atol=2e-2, rtol=5e-2)
