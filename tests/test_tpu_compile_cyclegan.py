"""TPU-compile layer for CycleGAN (128, 256 px): TRAIN in a loop, EVAL and PREDICT, float32 and
bfloat16, built by the real model_fn and compiled with XLA on CPU (tests/tpu_compile.py).
One file per model family, so the test processes share the work.

Extra tiny overrides (OVERRIDES), on top of configs/tiny.yaml, so that the 12 cases fit in the
default suite. They keep every code path of the real networks and model_fn:
- resnet_blocks=1: one residual block instead of 6 / 9 (the same block code, fewer copies). XLA
  on CPU compiles a TRAIN step's loop body as one LLVM function whose optimisation time grows
  ~quadratically with its size (tests/tpu_compile.py); 9 blocks took over 20 min.
- train_batch_size=1: the per-core batch of the real configs (batch 1, one image per TPU core),
  which is what this harness compiles (one replica). XLA on CPU runs the gradient convolutions
  inside the TRAIN loop as naive loops, not Eigen: ~20 s per step at batch 4 and 256 px.
  EVAL and PREDICT keep tiny's batch of 4.
"""
from tpu_compile import check_mode, datasets_fixture, every_case

CONFIGS = ("cyclegan_128", "cyclegan_256")
OVERRIDES = ("resnet_blocks=1", "train_batch_size=1")
data = datasets_fixture(CONFIGS)


@every_case(CONFIGS)
def test_step_compiles_for_tpu(data, name, precision, mode, tmp_path):
    check_mode(name, data[name], precision, mode, str(tmp_path / "m"), *OVERRIDES)
