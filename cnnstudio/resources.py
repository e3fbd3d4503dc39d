"""Find the files cnnstudio ships (templates, datasets, icons) wherever it is installed.

There is exactly one lookup so that a missing resource fails the same loud way everywhere,
instead of each caller guessing paths and failing later with a confusing "no such file".
A wheel carries the repository's ``resources/`` inside the package (hatchling force-include
puts it at ``cnnstudio/_resources``, named apart from this module); an editable install or a
source checkout reads it from the repository root beside the package.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent

#: Where resources may live, in the order they are tried: installed wheel, then source checkout.
SEARCH_ROOTS: tuple[Path, ...] = (
    _PACKAGE_DIR / "_resources",
    _PACKAGE_DIR.parent / "resources",
)


def resource_path(*parts: str) -> Path:
    """Return the path of a shipped resource, e.g. ``resource_path("datasets", "digits.npz")``.

    Raises FileNotFoundError naming every place looked in, because a missing resource means a
    broken installation and the user (or packager) needs to know where it was expected.
    """
    if not parts:
        raise ValueError("resource_path() needs at least one path part")
    for root in SEARCH_ROOTS:
        candidate = root.joinpath(*parts)
        if candidate.exists():
            return candidate
    looked = ", ".join(str(root.joinpath(*parts)) for root in SEARCH_ROOTS)
    raise FileNotFoundError(
        f"cnnstudio resource {'/'.join(parts)!r} is missing (looked in: {looked}); "
        "the installation is incomplete"
    )
