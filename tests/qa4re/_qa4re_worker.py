"""Run by tests/qa4re/test_qa4re_score.py under torchrun (2 ranks, the NCCL twin): score tiny questions."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _qa4re_common import model, questions, tokenizer  # noqa: E402

from harness import dist  # noqa: E402
from harness.recipes.qa4re.score import MODES, greedy_choices, option_scores  # noqa: E402


def main(out_dir: str, specs: list[str]) -> None:
    dist.init(timeout_s=120)
    tok = tokenizer()
    result = {}
    for spec in specs:
        m = model(spec, tok)
        result[spec] = {mode: [s.tolist() for s in option_scores(m, tok, questions(5), mode=mode, batch_examples=2)]
                        for mode in MODES}
        result[spec]["choices"] = greedy_choices(m, tok, questions(5), batch_examples=2)
    Path(out_dir, f"rank{dist.rank()}.json").write_text(json.dumps(result))
    dist.destroy()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
