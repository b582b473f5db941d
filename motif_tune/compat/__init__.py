"""Every private name of another library the project uses, behind one door per library.

Each module here is named for the library it opens (``python``, ``ray``,
``mlflow``) and lists the private names it touches in ``PRIVATE_NAMES``, with
why they are needed and which public API would replace them. An upgrade of a
library means checking one file; ``tests/test_compat.py`` checks that every
listed name exists in the pinned versions and that no other module of the
package reaches for a private name.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PrivateName:
    """``owner.name``, private to its library: why it is used, and its public successor."""

    owner: str  # a module, or a module and class: "ray.rllib.algorithms.algorithm.Algorithm"
    name: str
    why: str
    public: str  # the public API that would replace it, or why there is none
    instance: bool = False  # an attribute the class's instances get in __init__

    @property
    def path(self) -> str:
        return f"{self.owner}.{self.name}"
