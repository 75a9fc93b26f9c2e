"""Config: defaults -> files in order -> --set -> validate -> frozen; one-line errors naming
the key and the source; every shipped YAML validates and documents how to run it; the config
saved in model_dir holds absolute data paths."""
import glob
import os

import pytest

from trainer import config, models
from trainer.config import ConfigError

CONFIGS = os.path.join(os.path.dirname(os.path.dirname(__file__)), "configs")


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_order_defaults_then_files_then_set(tmp_path):
    base = write(tmp_path, "base.yaml", "model: dcgan\nresolution: 64\nlearning_rate: 0.001\nnoise_dim: 50\n")
    overlay = write(tmp_path, "overlay.yaml", "learning_rate: 0.002\ntrain_steps: 7\n")
    cfg = config.build([base, overlay], ["train_steps=9"])
    assert cfg.learning_rate == 0.002          # the later file wins over the earlier
    assert cfg.train_steps == 9                # --set wins over files
    assert cfg.noise_dim == 50                 # file wins over the default
    assert cfg.beta1 == 0.5                    # default kept
    assert cfg["resolution"] == 64


def test_config_is_frozen(tmp_path):
    cfg = config.build([write(tmp_path, "a.yaml", "model: dcgan\n")])
    with pytest.raises(AttributeError):
        cfg.train_steps = 3
    assert cfg.replace(train_steps=3).train_steps == 3 and cfg.train_steps != 3


def test_set_values_are_typed(tmp_path):
    cfg = config.build([write(tmp_path, "a.yaml", "model: dcgan\n")],
                       ["learning_rate=1e-4", "use_tpu=true", "train_steps=12", "iterations_per_loop=4",
                        "tpu=my-tpu"])
    assert cfg.learning_rate == pytest.approx(1e-4) and cfg.use_tpu is True
    assert cfg.train_steps == 12 and cfg.iterations_per_loop == 4 and cfg.tpu == "my-tpu"


@pytest.mark.parametrize("text, sets, expected", [
    ("model: dcgan\nlearnin_rate: 0.1\n", [], ["unknown key 'learnin_rate'", "did you mean 'learning_rate'", "a.yaml"]),
    ("model: dcgan\ntrain_steps: many\n", [], ["key 'train_steps'", "expected int", "a.yaml"]),
    ("model: dcgan\ntrain_steps: 0\n", [], ["key 'train_steps'", "below the minimum"]),
    ("model: dcgan\nresolution: 48\n", [], ["key 'resolution'", "48", "allowed: 32, 64, 128", "a.yaml"]),
    ("model: dcgan\n", ["precision=float16"], ["--set", "key 'precision'", "allowed: float32, bfloat16"]),
    ("model: dcgan\n", ["use_tpu=yes please"], ["--set", "key 'use_tpu'", "expected bool"]),
    ("model: gan9000\n", [], ["key 'model'", "unknown model 'gan9000'", "dcgan"]),
    ("- just\n- a list\n", [], ["a.yaml", "expected a mapping"]),
    ("model: [dcgan\n", [], ["a.yaml", "not valid YAML"]),
    ("resolution: 64\n", [], ["key 'model' is not set"]),
    ("model: dcgan\n", ["noequals"], ["--set", "expected key=value"]),
])
def test_errors_are_one_line_and_name_key_and_source(tmp_path, text, sets, expected):
    path = write(tmp_path, "a.yaml", text)
    with pytest.raises(ConfigError) as info:
        config.build([path], sets)
    message = str(info.value)
    assert "\n" not in message
    for part in expected:
        assert part in message


def test_overlay_for_another_model_is_refused(tmp_path):
    base = write(tmp_path, "base.yaml", "model: dcgan\n")
    other = write(tmp_path, "other.yaml", "model: pix2pix\n")
    with pytest.raises(ConfigError, match=r"other.yaml: key 'model': 'pix2pix' conflicts with 'dcgan'"):
        config.build([base, other])


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        config.build([str(tmp_path / "nope.yaml")])


def test_yaml_is_read_with_safe_loading_only(tmp_path):
    path = write(tmp_path, "evil.yaml", "model: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        config.build([path])


def shipped_configs():
    paths = sorted(glob.glob(os.path.join(CONFIGS, "*.yaml")))
    assert paths
    return paths


@pytest.mark.parametrize("path", shipped_configs(), ids=os.path.basename)
def test_every_shipped_yaml_has_a_header_and_validates(path):
    text = open(path).read()
    header = text.split("\n\n")[0] if not text.startswith("#") else "".join(
        line for line in text.splitlines(True) if line.startswith("#"))
    assert text.startswith("#") and "Run:" in header and "Hardware / time:" in header
    data = config.read_yaml(path)
    if "model" in data:  # a full config: validate it as is (skip models not merged yet)
        if not models.available(data["model"]):
            pytest.skip(f"model {data['model']} not present")
        cfg = config.build([path])
        assert cfg.model == data["model"]
    else:  # an overlay: validates on top of a full config
        cfg = config.build([os.path.join(CONFIGS, "dcgan_64.yaml"), path])
        for key, value in data.items():
            assert cfg[key] == value


def model_configs():
    """The full shipped configs: every YAML that sets a model (not the tpu/tiny/demo overlays)."""
    return [p for p in shipped_configs() if "model" in config.read_yaml(p)]


@pytest.mark.parametrize("path", model_configs(), ids=os.path.basename)
def test_every_shipped_model_config_builds_on_tpu(path):
    model = config.read_yaml(path)["model"]
    if not models.available(model):
        pytest.skip(f"model {model} not present")
    cfg = config.build([path, os.path.join(CONFIGS, "tpu.yaml")])
    assert cfg.use_tpu and cfg.iterations_per_loop == 500


@pytest.mark.parametrize("key", list(config.LOOP_BOUNDARY_KEYS))
def test_on_tpu_step_counts_off_the_loop_boundaries_are_refused(tmp_path, key):
    steps = {"train_steps": 3000, "eval_every_steps": 1000, "save_checkpoints_steps": 500, key: 750}
    model = write(tmp_path, "model.yaml", "model: dcgan\n" + "".join(f"{k}: {v}\n" for k, v in steps.items()))
    tpu = write(tmp_path, "tpu.yaml", "use_tpu: true\niterations_per_loop: 500\n")
    with pytest.raises(ConfigError) as info:
        config.build([model, tpu])
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{model}: key {key!r}: 750 is not a multiple of iterations_per_loop (500, from {tpu})")
    assert message.endswith("use a multiple of 500")


def test_loop_boundary_error_names_the_layer_that_set_each_value(tmp_path):
    model = write(tmp_path, "model.yaml", "model: dcgan\n")
    with pytest.raises(ConfigError, match=r"^--set: key 'eval_every_steps': 1000 is not a multiple of "
                                          r"iterations_per_loop \(300, from --set\)"):
        config.build([model], ["use_tpu=true", "iterations_per_loop=300", "eval_every_steps=1000",
                               "save_checkpoints_steps=600", "train_steps=3000"])
    with pytest.raises(ConfigError, match=r"^defaults: key 'save_checkpoints_steps': 500 is not a multiple of "
                                          r"iterations_per_loop \(300, from --set\)"):
        config.build([model], ["use_tpu=true", "iterations_per_loop=300"])


def test_on_tpu_multiples_of_the_loop_are_accepted(tmp_path):
    model = write(tmp_path, "model.yaml", "model: dcgan\ntrain_steps: 3000\neval_every_steps: 1500\n"
                                          "save_checkpoints_steps: 750\n")
    cfg = config.build([model], ["use_tpu=true", "iterations_per_loop=750"])
    assert (cfg.train_steps, cfg.eval_every_steps, cfg.save_checkpoints_steps) == (3000, 1500, 750)


def test_off_tpu_step_counts_are_not_checked_against_the_loop(tmp_path):
    model = write(tmp_path, "model.yaml", "model: dcgan\ntrain_steps: 7\neval_every_steps: 3\n"
                                          "save_checkpoints_steps: 2\niterations_per_loop: 500\n")
    assert config.build([model]).train_steps == 7
    tiny_on_tpu = [os.path.join(CONFIGS, name) for name in ("dcgan_32.yaml", "tiny.yaml", "tpu.yaml")]
    assert config.build(tiny_on_tpu, ["use_tpu=false"]).save_checkpoints_steps == 2
    with pytest.raises(ConfigError, match="key 'save_checkpoints_steps': 2 is not a multiple"):
        config.build(tiny_on_tpu)  # tests that run tiny.yaml on TPU also set iterations_per_loop=2
    assert config.build(tiny_on_tpu, ["iterations_per_loop=2"]).use_tpu


def test_arch_keys_cover_the_variables_shape():
    cfg = config.build([os.path.join(CONFIGS, "dcgan_64.yaml")])
    assert set(config.arch_keys(cfg)) == {"model", "resolution", "noise_dim", "gf_dim", "df_dim"}


def test_model_dir_with_another_run_is_refused(tmp_path):
    cfg = config.build([os.path.join(CONFIGS, "dcgan_64.yaml")])
    config.save(cfg, str(tmp_path))
    stored = config.load_from_model_dir(str(tmp_path))
    config.check_model_dir_matches(cfg, stored, str(tmp_path))  # same run: fine
    with pytest.raises(ConfigError, match=r"resolution=64 there vs 32 here"):
        config.check_model_dir_matches(cfg.replace(resolution=32), stored, str(tmp_path))


def test_saved_config_holds_absolute_data_paths(tmp_path, monkeypatch):
    """train_data/eval_data as typed relative to where training ran are stored absolute (URLs as
    they are), so predict or evaluate read the same data from any folder."""
    monkeypatch.chdir(tmp_path)
    cfg = config.build([os.path.join(CONFIGS, "dcgan_64.yaml")], ["train_data=data/train64", "eval_data=./val"])
    model_dir = tmp_path / "runs" / "m"
    config.save(cfg, str(model_dir))
    assert cfg.train_data == "data/train64"  # the config in memory keeps what was typed
    monkeypatch.chdir(tmp_path / "runs")
    stored = config.load_from_model_dir("m")
    assert stored["train_data"] == str(tmp_path / "data" / "train64")
    assert stored["eval_data"] == str(tmp_path / "val")
    resumed = config.build([], [], base=stored)  # what --mode predict / evaluate start from
    assert resumed.train_data == str(tmp_path / "data" / "train64")

    for url in ("gs://bucket/data64", "ram://t/data"):
        config.save(cfg.replace(train_data=url, eval_data=None), str(model_dir))
        stored = config.load_from_model_dir(str(model_dir))
        assert stored["train_data"] == url and stored["eval_data"] is None
