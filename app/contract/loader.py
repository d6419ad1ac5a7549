"""Load an OpenAPI 3.0/3.1 document, validate it, and resolve its `$ref`s.

This is the single reader of the contract. The Connexion app, the mock engine and the tests all
consume the `Contract` it returns, so a contract that loads here is one every part agrees on.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import yaml

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


class ContractError(Exception):
    """The contract cannot be used; the message names the file and the JSON pointer."""

    def __init__(self, source: str, pointer: str, message: str) -> None:
        self.source = source
        self.pointer = pointer
        self.message = message
        super().__init__(f"{source}: {pointer or '/'}: {message}")


@dataclass(frozen=True)
class Operation:
    """One operation of the contract, with path-level parameters merged in and `$ref`s resolved."""

    path: str
    method: str
    spec: Mapping[str, Any]
    parameters: tuple[Mapping[str, Any], ...]

    @property
    def operation_id(self) -> str | None:
        return self.spec.get("operationId")

    @property
    def responses(self) -> Mapping[str, Any]:
        responses: Mapping[str, Any] = self.spec.get("responses", {})
        return responses


@dataclass(frozen=True)
class Contract:
    """A validated OpenAPI document: `raw` as written, `resolved` with every `$ref` inlined."""

    source: str
    raw: Mapping[str, Any]
    resolved: Mapping[str, Any]
    path: Path | None = None
    _ops: tuple[Operation, ...] = field(default=(), repr=False)

    @property
    def version(self) -> tuple[int, int]:
        major, minor = str(self.raw["openapi"]).split(".")[:2]
        return int(major), int(minor)

    @property
    def is_31(self) -> bool:
        return self.version >= (3, 1)

    @property
    def servers(self) -> list[Mapping[str, Any]]:
        return list(self.resolved.get("servers") or [{"url": "/"}])

    @property
    def base_path(self) -> str:
        """The path of the first server URL (`/auth/api/v1`), without a trailing slash."""
        server = self.servers[0]
        url = str(server.get("url", "/"))
        for name, var in (server.get("variables") or {}).items():
            url = url.replace("{" + name + "}", str(var.get("default", "")))
        return urlsplit(url).path.rstrip("/")

    @cached_property
    def json_bytes(self) -> bytes:
        """The document as written, serialised once (it is served on every `GET /openapi.json`)."""
        return json.dumps(self.raw, ensure_ascii=False).encode()

    def operations(self) -> Iterator[Operation]:
        """Every operation in document order."""
        for path, item in (self.resolved.get("paths") or {}).items():
            shared = list(item.get("parameters") or [])
            for method in HTTP_METHODS:
                spec = item.get(method)
                if spec is None:
                    continue
                own = list(spec.get("parameters") or [])
                overridden = {(p.get("name"), p.get("in")) for p in own}
                merged = [p for p in shared if (p.get("name"), p.get("in")) not in overridden]
                yield Operation(path, method, spec, tuple(merged + own))

    def security_schemes(self) -> Mapping[str, Any]:
        return (self.resolved.get("components") or {}).get("securitySchemes") or {}


def default_contract_path(name: str = "auth-service.yaml") -> Path:
    """A contract shipped in `openapi/`, which installs as the package data `authsvc.openapi`."""
    # Wheels install unzipped, so the resource is a real file and relative `$ref`s resolve beside it.
    return Path(str(resources.files("authsvc.openapi").joinpath(name)))


def load_contract(source: str | Path | Mapping[str, Any]) -> Contract:
    """Read, validate (as the version it declares) and resolve an OpenAPI 3.0 or 3.1 document."""
    if isinstance(source, Mapping):
        raw: Any = copy.deepcopy(dict(source))
        name, base = "<dict>", None
    else:
        base = Path(source).resolve()
        name = str(source)
        raw = _read_document(base)
    if not isinstance(raw, dict):
        raise ContractError(name, "", "the document is not a mapping")
    _validate(raw, name)
    resolved = _Resolver(raw, base).resolve()
    return Contract(source=name, raw=raw, resolved=resolved, path=base)


def _validate(raw: dict[str, Any], name: str) -> None:
    """Validate as the version the document declares; remember documents already found valid.

    openapi-spec-validator costs about 0.3 s to import and tens of ms to run, most of a mock's
    startup. A valid verdict is kept in the user's cache directory, keyed by the document's content
    and the validator's version, so an unchanged contract is validated once, not on every start.
    """
    version = str(raw.get("openapi", ""))
    if not version.startswith(("3.0", "3.1")):
        raise ContractError(name, "/openapi", f"unsupported OpenAPI version {version!r}")
    marker = _verdict_marker(raw)
    if marker is not None and marker.exists():
        return
    from openapi_spec_validator import OpenAPIV30SpecValidator, OpenAPIV31SpecValidator

    validator_cls: Any = (
        OpenAPIV31SpecValidator if version.startswith("3.1") else OpenAPIV30SpecValidator
    )
    error = next(iter(validator_cls(raw).iter_errors()), None)
    if error is not None:
        pointer = "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in error.path)
        # The validator's message trails a multi-line dump of the schema; its first line says it.
        message = (error.message.splitlines() or ["invalid"])[0]
        raise ContractError(name, pointer if error.path else "", message)
    if marker is not None:
        try:
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.touch()
        except OSError:
            pass  # a read-only home only costs the next start its validation


def _verdict_marker(raw: dict[str, Any]) -> Path | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        validator_version = version("openapi-spec-validator")
    except PackageNotFoundError:
        return None
    cache_home = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    content = json.dumps(raw, sort_keys=True, default=str).encode()
    digest = hashlib.sha256(validator_version.encode() + b"\0" + content).hexdigest()
    return Path(cache_home) / "authsvc" / "valid-contracts" / digest


def _read_document(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ContractError(str(path), "", exc.strerror or str(exc)) from None
    try:
        if path.suffix == ".json":
            return json.loads(text)
        return yaml.safe_load(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise ContractError(str(path), "", f"not valid YAML/JSON: {exc}") from None


class _Resolver:
    """Inline `$ref`s (local and relative-file); a cyclic reference is left as a `$ref`."""

    def __init__(self, root: Mapping[str, Any], base: Path | None) -> None:
        self._root = root
        self._base = base
        self._files: dict[Path, Any] = {}

    def resolve(self) -> dict[str, Any]:
        result = self._walk(self._root, self._root, self._base, ())
        assert isinstance(result, dict)
        return result

    def _walk(self, node: Any, doc: Any, base: Path | None, stack: tuple[str, ...]) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                key = f"{base}#{ref}" if not ref.startswith("#") else f"{base}{ref}"
                if key in stack:
                    return dict(node)
                target, target_doc, target_base = self._lookup(ref, doc, base)
                resolved = self._walk(target, target_doc, target_base, (*stack, key))
                siblings = {k: v for k, v in node.items() if k != "$ref"}
                if siblings and isinstance(resolved, dict):
                    # 3.1 allows keywords next to $ref (e.g. description); they win.
                    return {**resolved, **self._walk(siblings, doc, base, stack)}
                return resolved
            return {k: self._walk(v, doc, base, stack) for k, v in node.items()}
        if isinstance(node, list):
            return [self._walk(v, doc, base, stack) for v in node]
        return node

    def _lookup(self, ref: str, doc: Any, base: Path | None) -> tuple[Any, Any, Path | None]:
        file_part, _, fragment = ref.partition("#")
        if file_part:
            if base is None:
                raise ContractError("<dict>", ref, "a file $ref needs a contract read from a file")
            target_path = (base.parent / file_part).resolve()
            if target_path not in self._files:
                self._files[target_path] = _read_document(target_path)
            doc, base = self._files[target_path], target_path
        node = doc
        for token in [t for t in fragment.split("/") if t]:
            token = unquote(token).replace("~1", "/").replace("~0", "~")
            if isinstance(node, list) and token.isdigit() and int(token) < len(node):
                node = node[int(token)]
            elif isinstance(node, dict) and token in node:
                node = node[token]
            else:
                raise ContractError(str(base or "<dict>"), fragment, f"unresolvable $ref {ref!r}")
        return node, doc, base
