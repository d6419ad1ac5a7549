"""The parity corpus's documents, batched: one served document per version for most behaviours.

Each behaviour is a small document in `documents/`, written as teams write them (status codes
unquoted, no `info`): `NAME.yaml` in OpenAPI 3.0 (its 3.1 copy is the same text with
`openapi: 3.1.0`, unless `NAME.31.yaml` exists) and `NAME.20.yaml` in Swagger 2.0 where the
behaviour applies. Its paths start with `/NAME`, its component names are its own.

Prism serves one document per process and takes seconds to start, so the behaviours of one
version are merged into one document (paths, components, definitions, shared parameters and
responses, security definitions); a behaviour that needs document-level keys of its own
(`servers`, `security`, `consumes`, `host`, `info`...) is served alone, as written. Merging keeps
the shapes (YAML integer keys stay integers, absent keys stay absent), but it re-writes the YAML:
scalars YAML 1.1 and 1.2 read differently (`yes`, dates) belong in a document served alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

DOCUMENTS = Path(__file__).resolve().parent / "documents"
VERSIONS = ("3.0", "3.1", "2.0")
_VERSION_KEYS = ("openapi", "swagger")
_MERGED = ("paths", "definitions", "parameters", "responses", "securityDefinitions")


@dataclass(frozen=True)
class Behaviour:
    name: str
    version: str
    text: str  # as written: a document served alone is served verbatim

    @property
    def document(self) -> dict[str, Any]:
        # PyYAML reads YAML 1.1; the merged documents' files keep only 1.1/1.2-neutral scalars.
        return yaml.safe_load(self.text)  # type: ignore[no-any-return]

    @property
    def standalone(self) -> bool:
        """Whether it needs keys of its own at the document's top level."""
        return any(key not in (*_VERSION_KEYS, *_MERGED, "components") for key in self.document)


def behaviours(version: str) -> list[Behaviour]:
    """Every behaviour document of one version, by name."""
    found = []
    for path in sorted(DOCUMENTS.glob("*.yaml")):
        name, _, rest = path.name.partition(".")
        if rest == "yaml" and version in ("3.0", "3.1"):
            own = DOCUMENTS / f"{name}.31.yaml"
            text = path.read_text()
            if version == "3.1":
                text = own.read_text() if own.exists() else _as_31(text)
            found.append(Behaviour(name, version, text))
        elif rest == "20.yaml" and version == "2.0":
            found.append(Behaviour(name, version, path.read_text()))
    return found


def _as_31(text: str) -> str:
    replaced, count = re.subn(r"(?m)^openapi: *['\"]?3\.0\.\d+['\"]?$", "openapi: 3.1.0", text)
    assert count == 1, "a 3.0 behaviour document declares `openapi: 3.0.x` once"
    return replaced


def write_batches(version: str, folder: Path) -> dict[str, Path]:
    """The served documents of one version, written into `folder`, by behaviour name."""
    merged: dict[str, Any] = {}
    members: list[str] = []
    served: dict[str, Path] = {}
    for behaviour in behaviours(version):
        if behaviour.standalone:
            path = folder / f"{behaviour.name}.{version}.yaml"
            path.write_text(behaviour.text)
            served[behaviour.name] = path
            continue
        _merge(merged, behaviour)
        members.append(behaviour.name)
    if members:
        path = folder / f"merged.{version}.yaml"
        path.write_text(yaml.safe_dump(merged, sort_keys=False))
        served.update(dict.fromkeys(members, path))
    return served


def _merge(into: dict[str, Any], behaviour: Behaviour) -> None:
    document = behaviour.document
    for key in _VERSION_KEYS:
        if key in document:
            into.setdefault(key, document[key])
    for path in document.get("paths") or {}:
        assert str(path).startswith(f"/{behaviour.name}"), (behaviour.name, path)
    for key in _MERGED:
        _union(into.setdefault(key, {}), document.get(key) or {}, (behaviour.name, key))
    for section, entries in (document.get("components") or {}).items():
        target = into.setdefault("components", {}).setdefault(section, {})
        _union(target, entries, (behaviour.name, section))
    for key in [k for k in _MERGED if not into.get(k)]:
        del into[key]


def _union(into: dict[Any, Any], entries: dict[Any, Any], where: tuple[str, str]) -> None:
    for name, value in entries.items():
        assert name not in into, f"{where}: {name} is already declared by another behaviour"
        into[name] = value
