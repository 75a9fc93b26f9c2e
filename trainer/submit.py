"""Train on a Cloud TPU VM: print (default) or run the exact gcloud commands (`gan-submit`).

  python -m trainer.submit --config configs/dcgan_64.yaml --config configs/tpu.yaml \
      --set train_data=gs://BUCKET/data64 --model_dir gs://BUCKET/runs/dcgan64 \
      --tpu my-tpu --zone us-central1-b --project my-project [--accelerator_type v3-8] \
      [--spot | --preemptible] [--reuse] [--dry_run | --execute]

The steps, one command each, in order:
  1. build a wheel of this checkout into dist/gan-submit/, next to the constraints file and
     config.yaml (the --config files and --set items merged and validated here);
  2. create the TPU VM (skipped with --reuse), TensorFlow 2.15 PJRT runtime; slices of more than
     8 cores get the -pod runtime;
  3. make ~/gan-submit on every worker and 4. copy the three files there;
  5. install the wheel on every worker: --no-deps, because TensorFlow is the runtime's own TPU
     build and must not be replaced from PyPI; its other requirements under the constraints;
  6. start `python3 -m trainer.task` in the background on worker 0, appending to
     ~/gan-submit/train.log. One host: `tpu: local`. A pod slice: the pod runtime serves every
     host, worker 0 runs the one TPUEstimator client, which finds the slice by name (`tpu: NAME`,
     TPU_LOAD_LIBRARY=0) and has each host read its own shards.
Then it prints how to follow the log, open TensorBoard on model_dir, and delete the TPU.

--dry_run (the default) only prints: nothing is built, written or started. --execute runs the
commands (needs gcloud; model_dir and the data must be gs://, a TPU VM cannot see local paths).
Checked before anything runs: the config as the TPU will run it (placement set, num_shards the
TPU's devices: every batch, progan's per-stage batches included, must split over them).
Bad flags or config: one line on stderr, exit code 2. A failed command: exit code 1.
"""
import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
from typing import List, Sequence

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STAGING = os.path.join(ROOT, "dist", "gan-submit")
CONSTRAINTS = os.path.join(ROOT, "requirements", "constraints.txt")
REQUIREMENTS = os.path.join(ROOT, "requirements", "base.txt")
REMOTE_DIR = "gan-submit"  # in the home folder of each TPU VM worker
RUNTIME = "tpu-vm-tf-2.15.0{pod}-pjrt"
CORES_PER_HOST = 8  # v2, v3 and v4 alike: a v3-32 is 4 hosts


class SubmitError(ValueError):
    """A problem with the flags or the config; str() is one line for the user."""


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m trainer.submit", description=__doc__.split("\n")[0])
    p.add_argument("--config", action="append", default=[], metavar="YAML", help="as trainer.task; repeatable")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides")
    p.add_argument("--model_dir", required=True, help="gs://BUCKET/runs/NAME")
    p.add_argument("--tpu", required=True, help="TPU VM name")
    p.add_argument("--zone", required=True)
    p.add_argument("--project", required=True)
    p.add_argument("--accelerator_type", default="v3-8", help="v2-8, v3-8, v4-8, v3-32, ...")
    p.add_argument("--runtime_version", help="default tpu-vm-tf-2.15.0-pjrt (-pod-pjrt for slices)")
    price = p.add_mutually_exclusive_group()
    price.add_argument("--spot", action="store_true", help="Spot TPU: cheaper, can be preempted")
    price.add_argument("--preemptible", action="store_true", help="the older preemptible TPUs")
    p.add_argument("--reuse", action="store_true", help="the TPU VM exists already: skip create")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--dry_run", action="store_true", help="print the commands (default)")
    mode.add_argument("--execute", action="store_true", help="run them")
    return p.parse_args(argv)


def tpu_shape(accelerator_type: str):
    """'v3-32' -> (TensorCores 32, TPU devices TensorFlow sees 32, hosts 4). v4 chips show up as
    one device each (megacore), so a v4-8 has 4 devices."""
    match = re.fullmatch(r"v([234])-(\d+)", accelerator_type)
    if not match or int(match[2]) % CORES_PER_HOST:
        raise SubmitError(f"--accelerator_type {accelerator_type!r}: expected v2-N, v3-N or v4-N with N a "
                          "multiple of 8 (the TPUs with TensorFlow 2.15 runtimes)")
    cores = int(match[2])
    return cores, cores // 2 if match[1] == "4" else cores, cores // CORES_PER_HOST


def placement(args, hosts: int) -> List[str]:
    """The --set items that put training on this TPU (see the module docstring)."""
    if hosts == 1:
        return ["use_tpu=true", "tpu=local"]
    return ["use_tpu=true", f"tpu={args.tpu}", f"zone={args.zone}", f"project={args.project}"]


def check(args, cfg, devices: int) -> None:
    """What would only fail on the TPU VM, after paying for it."""
    if not cfg["train_data"]:
        raise SubmitError("train_data is not set; e.g. --set train_data=gs://BUCKET/data")
    if args.execute:
        paths = {"--model_dir": args.model_dir, "train_data": cfg["train_data"], "eval_data": cfg["eval_data"]}
        for name, path in paths.items():
            if path and not path.startswith("gs://"):
                raise SubmitError(f"{name} {path}: a TPU VM cannot read local paths; use gs://BUCKET/...")
    shards = cfg["num_shards"] or devices
    if shards != devices:
        raise SubmitError(f"num_shards={shards} but a {args.accelerator_type} has {devices} TPU devices; "
                          f"--set num_shards={devices}")
    for key in ("train_batch_size", "eval_batch_size", "predict_batch_size"):
        if cfg[key] % shards:
            raise SubmitError(f"{key}={cfg[key]} is not a multiple of the {shards} TPU devices")


def wheel_name() -> str:
    with open(os.path.join(ROOT, "setup.py")) as f:
        text = f.read()
    name, version = (re.search(key + r'="([^"]+)"', text)[1] for key in ("name", "version"))
    return f"{name.replace('-', '_')}-{version}-py3-none-any.whl"


def remote_requirements() -> List[str]:
    """requirements/base.txt without TensorFlow (the TPU runtime brings its own build)."""
    with open(REQUIREMENTS) as f:
        lines = [line.split("#")[0].strip() for line in f]
    return [line for line in lines if line and not line.startswith("tensorflow")]


def gcloud(verb: str, args, *rest: str) -> List[str]:
    return ["gcloud", "compute", "tpus", "tpu-vm", verb, args.tpu, *rest, "--zone", args.zone,
            "--project", args.project]


def ssh(args, command: str, worker: str = "all") -> List[str]:
    return gcloud("ssh", args, f"--worker={worker}", "--command", command)


def commands(args, hosts: int, wheel: str) -> List[tuple]:
    """[(comment, argv)] in the order they run."""
    runtime = args.runtime_version or RUNTIME.format(pod="-pod" if hosts > 1 else "")
    create = gcloud("create", args, "--accelerator-type", args.accelerator_type, "--version", runtime)
    create += ["--spot"] if args.spot else ["--preemptible"] if args.preemptible else []
    files = [os.path.join(STAGING, name) for name in (wheel, "constraints.txt", "config.yaml")]
    install = (f"cd {REMOTE_DIR} && python3 -m pip install --user --no-deps --force-reinstall {wheel} && "
               f"python3 -m pip install --user -c constraints.txt "
               + " ".join(f'"{r}"' if re.search(r"[^\w.=-]", r) else r for r in remote_requirements()))
    if hosts > 1:
        env = ["TPU_LOAD_LIBRARY=0"]  # worker 0 is a client of the slice, not a local TPU user
    elif runtime.endswith("-pjrt"):
        env = ["NEXT_PLUGGABLE_DEVICE_USE_C_API=true", "TF_PLUGGABLE_DEVICE_LIBRARY_PATH=/lib/libtpu.so"]
    else:
        env = []
    train = ["python3", "-m", "trainer.task", "--config", "config.yaml",
             *[item for s in placement(args, hosts) for item in ("--set", s)],
             "--model_dir", args.model_dir, "--mode", "train"]
    start = (f"cd {REMOTE_DIR} && nohup env {' '.join(env + [shlex.join(train)])} "
             ">> train.log 2>&1 < /dev/null &")
    steps = [("1. build the package (pip wheel) into dist/gan-submit/",
              [sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", STAGING, ROOT])]
    if not args.reuse:
        steps.append((f"2. create the TPU VM ({args.accelerator_type}, {runtime})", create))
    steps += [("3. a folder for the job on every worker", ssh(args, f"mkdir -p {REMOTE_DIR}")),
              ("4. copy the wheel, constraints and operative config to every worker",
               ["gcloud", "compute", "tpus", "tpu-vm", "scp", *files, f"{args.tpu}:{REMOTE_DIR}/",
                "--worker=all", "--zone", args.zone, "--project", args.project]),
              ("5. install it (TensorFlow stays the runtime's TPU build)", ssh(args, install)),
              ("6. start training in the background on worker 0", ssh(args, start, worker="0"))]
    return steps


def stage(cfg_yaml: str, wheel: str, build: Sequence[str]) -> None:
    """--execute: dist/gan-submit/ = the wheel + constraints.txt + config.yaml, built afresh."""
    shutil.rmtree(STAGING, ignore_errors=True)
    subprocess.run(build, check=True)
    if not os.path.exists(os.path.join(STAGING, wheel)):
        raise SubmitError(f"the build did not produce {os.path.join(STAGING, wheel)}")
    shutil.copy(CONSTRAINTS, os.path.join(STAGING, "constraints.txt"))
    with open(os.path.join(STAGING, "config.yaml"), "w") as f:
        f.write(cfg_yaml)


def afterwards(args) -> str:
    tail = shlex.join(ssh(args, f"tail -f {REMOTE_DIR}/train.log", worker="0"))
    return "\n".join([
        "# follow the training log (Ctrl-C stops following, not training):", tail,
        "# TensorBoard on the model_dir (needs `gcloud auth application-default login` once):",
        f"tensorboard --logdir {shlex.quote(args.model_dir)}",
        "# sample grid / SavedModel on this machine, from the checkpoints in the bucket:",
        *(f"python -m trainer.task --model_dir {shlex.quote(args.model_dir)} --set use_tpu=false --mode {mode}"
          for mode in ("predict", "export")),
        "# delete the TPU when done (it is billed while it exists):",
        shlex.join(gcloud("delete", args, "--quiet"))])


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from trainer import config
    try:
        cores, devices, hosts = tpu_shape(args.accelerator_type)
        cfg = config.build(args.config, args.overrides)
        on_tpu = args.overrides + placement(args, hosts)
        check(args, config.build(args.config, on_tpu), devices)
        # Rules of the config's own that need the core count (e.g. progan's batch of every growth
        # stage) run once more with num_shards = this TPU's devices (what an unset num_shards means).
        config.build(args.config, on_tpu + [f"num_shards={devices}"])
        if args.execute and shutil.which("gcloud") is None:
            raise SubmitError("gcloud not found on PATH; install the Google Cloud CLI, or drop --execute")
    except (config.ConfigError, SubmitError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    sources = " ".join(args.config + [f"--set {o}" for o in args.overrides])
    cfg_yaml = f"# Operative config written by trainer.submit from: {sources}\n{cfg.to_yaml()}"
    wheel = wheel_name()
    steps = commands(args, hosts, wheel)
    if not args.execute:
        print(f"# Dry run ({args.accelerator_type}: {cores} cores, {hosts} host(s)); nothing was run. "
              "These commands run with --execute:")
        for comment, argv_ in steps:
            print(f"# {comment}\n{shlex.join(argv_)}")
        print("# dist/gan-submit/config.yaml will hold:\n" + "\n".join(
            f"#   {line}" for line in cfg_yaml.splitlines()[1:]))
        print(afterwards(args))
        return 0
    try:
        for comment, argv_ in steps:
            print(f"# {comment}\n{shlex.join(argv_)}", flush=True)
            if argv_[0] == sys.executable:
                stage(cfg_yaml, wheel, argv_)
            else:
                subprocess.run(argv_, check=True)
    except subprocess.CalledProcessError as e:
        hint = " (the TPU exists already? rerun with --reuse)" if "create" in e.cmd else ""
        print(f"error: exit code {e.returncode} from: {shlex.join(e.cmd)}{hint}", file=sys.stderr)
        return 1
    except SubmitError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"# training started on {args.tpu}; checkpoints and events go to {args.model_dir}")
    print(afterwards(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
