"""Checkpoints restore after the model_dir is moved or copied (relative paths in `checkpoint`),
and old state files with absolute paths are repaired instead of restoring from elsewhere."""
import os
import shutil

from datasets import make_dataset
from runs import checkpoint_values, tiny_config
from trainer import checkpoints, run


def test_moved_model_dir_resumes_from_its_own_checkpoint(tmp_path):
    data = make_dataset(str(tmp_path / "d"), 32, count=8)
    cfg = tiny_config("dcgan_32", data, "train_steps=2")
    original = str(tmp_path / "original")
    run.train(cfg, original)
    state = open(os.path.join(original, "checkpoint")).read()
    assert str(tmp_path) not in state  # relative paths only

    moved = str(tmp_path / "elsewhere" / "moved")
    shutil.copytree(original, moved)
    shutil.rmtree(original)
    assert checkpoints.latest_step(moved) == 2
    assert run.train(cfg.replace(train_steps=4), moved) == 4
    assert checkpoint_values(moved)["global_step"] == 4


def test_absolute_paths_from_another_location_are_rewritten(tmp_path):
    data = make_dataset(str(tmp_path / "d"), 32, count=8)
    cfg = tiny_config("dcgan_32", data, "train_steps=2")
    original = str(tmp_path / "a")
    run.train(cfg, original)
    copy = str(tmp_path / "b")
    shutil.copytree(original, copy)
    # What a TF1-era Saver writes: absolute paths to the directory it trained in.
    with open(os.path.join(copy, "checkpoint"), "w") as f:
        f.write(f'model_checkpoint_path: "{original}/model.ckpt-2"\n'
                f'all_model_checkpoint_paths: "{original}/model.ckpt-2"\n')
    shutil.rmtree(original)
    assert checkpoints.latest_step(copy) == 2
    assert open(os.path.join(copy, "checkpoint")).read().startswith('model_checkpoint_path: "model.ckpt-2"')
