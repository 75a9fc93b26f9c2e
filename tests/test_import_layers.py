"""The import structure of trainer/: no loops, and every module imports only from its own layer
or below (LAYERS, top first). Imports inside functions count too: a late import is still a
dependency. A new module must be given a layer here, which is the point: placing it is a design
decision, not an accident."""
import ast
import os
from typing import Dict, Set

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Top first. A module is matched by its longest listed prefix.
LAYERS = [
    ["trainer.task", "trainer.translate", "trainer.submit", "trainer.demo"],   # entry points
    ["trainer.quality.modes"],                                                 # the quality CLI modes
    ["trainer.run"],                                                           # the training/serving verbs
    ["trainer.progan_growth"],                                                 # ProGAN's stage-by-stage training
    ["trainer.quality", "trainer.sampling", "trainer.graph_errors"],           # users of a trained model
    ["trainer.gan_model_fn"],                                                  # the one model_fn, input_fn
    ["trainer.trained_generator"],                                             # build + restore a generator
    ["trainer.networks"],                                                      # Keras models as the skeleton calls them
    ["trainer.config"],                                                        # validated configuration
    ["trainer.models"],                                                        # model registry and model modules
    ["trainer.tpu"],                                                           # TPU-vs-CPU differences
    ["trainer.data"],                                                          # records: schema, converter, pipeline
    ["trainer.checkpoints", "trainer.event_files", "trainer.fields", "trainer.images",
     "trainer.image_pool", "trainer.nan_policy", "trainer.progress", "trainer"],  # the ground floor
]


def _modules() -> Dict[str, str]:
    found = {}
    for folder, _, files in os.walk(os.path.join(ROOT, "trainer")):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                module = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
                found[module[:-len(".__init__")] if module.endswith(".__init__") else module] = path
    return found


MODULES = _modules()


def _imports(module: str, path: str) -> Set[str]:
    """The trainer modules `module` imports anywhere in its file."""
    package = module if path.endswith("__init__.py") else module.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                out.add(candidate if candidate in MODULES else base)
    return {m for m in out if m in MODULES and m != module}


GRAPH = {module: _imports(module, path) for module, path in MODULES.items()}


def layer_of(module: str) -> int:
    matches = [(len(prefix), index) for index, prefixes in enumerate(LAYERS) for prefix in prefixes
               if module == prefix or module.startswith(prefix + ".")]
    if not matches:
        raise KeyError(module)
    return max(matches)[1]


def test_every_module_has_a_layer():
    unplaced = []
    for module in MODULES:
        try:
            layer_of(module)
        except KeyError:
            unplaced.append(module)
    assert not unplaced, f"give these modules a layer in LAYERS: {unplaced}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_only_its_own_layer_or_below(module):
    upward = sorted(m for m in GRAPH[module] if layer_of(m) < layer_of(module))
    assert not upward, f"{module} (layer {layer_of(module)}) imports from above: {upward}"


def _cycles(graph: Dict[str, Set[str]]):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_loops():
    assert _cycles(GRAPH) == []


def test_the_checks_catch_a_loop_and_an_upward_import():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c"]]
    assert layer_of("trainer.run") < layer_of("trainer.models.dcgan") < layer_of("trainer.fields")
