"""The migration history, one per backend, with the same steps under the same names: the
scripts in migrations/<dialect>/, applied in order and each once."""

from __future__ import annotations

from importlib import resources


def migrations(dialect: str) -> list[tuple[str, list[str]]]:
    """(name, statements) of every migration of `dialect` ("sqlite", "postgresql"), in order.
    Statements end with `;` at the end of a line; comments are kept, empty ones dropped."""
    folder = resources.files("callrec.storage").joinpath(f"migrations/{dialect}")
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            pieces = entry.read_text("utf-8").split(";\n")
            found.append((entry.name, [piece for piece in pieces if _has_code(piece)]))
    return sorted(found)


def _has_code(piece: str) -> bool:
    return any(line.strip() and not line.lstrip().startswith("--") for line in piece.splitlines())
