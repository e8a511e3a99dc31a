"""typer's help formatter, loaded without the two renderers this CLI's help never uses.

``typer.rich_utils`` draws every help page. At import it also takes rich's ``Markdown`` (for
``rich_markup_mode="markdown"``; ours is rich markup) and ``Traceback`` (for the pretty traceback
of a crash). With markdown-it and pygments beneath them they cost about 50 ms of CPU, a third of
what ``--help`` costs. Here typer gets stand-ins for those two classes, each loading the real one
the first time it is used, so the help is drawn by typer's own code, unchanged, and a crash still
gets its traceback.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

_FORMATTER = "typer.rich_utils"
# What typer.rich_utils imports but does not need to draw help in rich markup.
_LATER = {"rich.markdown": "Markdown", "rich.traceback": "Traceback"}


class _Later(type):
    """A stand-in class: made or asked for an attribute, it imports the class it stands for,
    puts that in typer's module in its place, and hands the work over."""

    _module: str

    def _real(cls) -> Any:
        real = getattr(importlib.import_module(cls._module), cls.__name__)
        if real is cls:  # used while typer's module is still being imported: load it whole
            raise ImportError(f"{cls._module}.{cls.__name__} used on import")
        setattr(sys.modules[_FORMATTER], cls.__name__, real)
        return real

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        return cls._real()(*args, **kwargs)

    def __getattr__(cls, name: str) -> Any:
        return getattr(cls._real(), name)


def load() -> None:
    """Import ``typer.rich_utils`` with stand-ins for the classes in ``_LATER``."""
    if _FORMATTER in sys.modules:
        return
    placed = []
    for module, name in _LATER.items():
        if module not in sys.modules:  # already paid for: typer takes the real one
            stand_in = types.ModuleType(module)
            setattr(stand_in, name, _Later(name, (), {"_module": module}))
            sys.modules[module] = stand_in
            placed.append(module)
    try:
        importlib.import_module(_FORMATTER)
    except ImportError:
        pass  # a typer that takes more from them: it is imported whole, below
    finally:
        # Only typer's module holds the stand-ins; anyone else importing these gets the real ones.
        for module in placed:
            del sys.modules[module]
    importlib.import_module(_FORMATTER)
