"""TPU-compile layer for CycleGAN (128, 256 px): TRAIN in a loop, EVAL and PREDICT, float32 and
bfloat16, built by the real model_fn and compiled with XLA on CPU (tests/tpu_compile.py).
One file per model family, so the test processes share the work."""
from tpu_compile import check_mode, datasets_fixture, every_case

CONFIGS = ("cyclegan_128", "cyclegan_256")
data = datasets_fixture(CONFIGS)


@every_case(CONFIGS)
def test_step_compiles_for_tpu(data, name, precision, mode, tmp_path):
    check_mode(name, data[name], precision, mode, str(tmp_path / "m"))
