"""The generation stage's run folder (a ``harness.run.Files``; only this class joins names):

    <run_dir>/
      gen_config.json        the resolved GenRunConfig (a rerun with other result fields is refused)
      tokenizer/, data/      as in every run folder (harness.run.RunDir)
      gen/state/<i>.json     per-relation progress: steps done, every prompt with every candidate (resume point)
      gen/manifest.json      what produced the samples (written last: its presence means complete)
      samples/               train.jsonl, dev.jsonl, test.jsonl: a data.dataset=jsonl folder (test = the real test)
      candidates.jsonl       every prompt with its candidates (text, reason, similarity to the window)
      rejects.jsonl          every candidate not kept, with its reason
      metrics.json           diversity and correctness figures
      pairs.jsonl            preference pairs (gen pairs)
      warmup/                the generator warm-up's training run folder (gen.warmup_epochs > 0; harness.recipes.gen.warmup):
                             config.json, checkpoints/, metrics.jsonl, export/ (the generator generation loads)
"""

from __future__ import annotations

from pathlib import Path

from harness.run import Files, RunDir


class GenFiles(Files):
    def __init__(self, root: str | Path):
        super().__init__(root)
        self.run = RunDir(self.root)

    config = property(lambda self: self.root / "gen_config.json")
    state_dir = property(lambda self: self.root / "gen" / "state")
    manifest = property(lambda self: self.root / "gen" / "manifest.json")
    samples = property(lambda self: self.root / "samples")
    candidates = property(lambda self: self.root / "candidates.jsonl")
    rejects = property(lambda self: self.root / "rejects.jsonl")
    metrics = property(lambda self: self.root / "metrics.json")
    pairs = property(lambda self: self.root / "pairs.jsonl")
    warmup = property(lambda self: self.root / "warmup")

    def state(self, relation_index: int) -> Path:
        return self.state_dir / f"{relation_index}.json"

    def split(self, name: str) -> Path:
        return self.samples / f"{name}.jsonl"
