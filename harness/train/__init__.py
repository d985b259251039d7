"""Training: loss, DeepSpeed engine setup, the loop, checkpoints, export (the only package importing deepspeed)."""
