"""Run by tests/eval/test_rank.py under torchrun (2 ranks, gloo): rank a tiny set, record forward calls."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _rank_common import examples, model, tokenizer  # noqa: E402

from harness import dist  # noqa: E402
from harness.data.labels import SEMEVAL_19  # noqa: E402
from harness.data.prompts import get_template  # noqa: E402
from harness.eval.rank import rank_scores  # noqa: E402


def main(out_dir: str, specs: list[str]) -> None:
    dist.init(timeout_s=120)
    tok = tokenizer()
    result = {}
    for spec in specs:
        m = model(spec, tok)
        calls = []
        body = m.get_encoder() if m.config.is_encoder_decoder else m.base_model
        body.register_forward_hook(lambda *a, calls=calls: calls.append(1))
        s = rank_scores(m, tok, examples(5), SEMEVAL_19, get_template("semeval"), batch_examples=2)
        result[spec] = {"scores": s.tolist(), "calls": len(calls)}
    Path(out_dir, f"rank{dist.rank()}.json").write_text(json.dumps(result))
    dist.destroy()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
