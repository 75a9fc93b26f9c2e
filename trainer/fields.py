"""The vocabulary of configuration, a leaf module: `Field` declares one config key and
`ConfigError` reports a bad value. Model modules declare their keys with these; trainer/config.py
collects them (through the model registry) and validates."""
import dataclasses
from typing import Any, Optional, Tuple


class ConfigError(ValueError):
    """A configuration problem; str(error) is a single line meant for the user (a model's
    `validate` sets `.key` so that config.build can name the file the key came from)."""


@dataclasses.dataclass(frozen=True)
class Field:
    """One config key: default, type, and the constraints validation enforces."""
    default: Any
    type: type
    choices: Optional[Tuple[Any, ...]] = None
    min_value: Optional[float] = None  # inclusive
    optional: bool = False             # None allowed
    arch: bool = False                 # changes the checkpoint: must match a model_dir's run
    help: str = ""


def positive_int(default, **kw) -> Field:
    return Field(default, int, min_value=1, **kw)
