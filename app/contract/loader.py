"""Load an OpenAPI 3.0/3.1 document, validate it, and resolve its `$ref`s: the compiled contract.

This is the single reader of the contract. The Connexion app, the mock engine and the tests all
consume the `Contract` it returns, so a contract that loads here is one every part agrees on: one
registry of its documents (`refs`), one dialect and format checker (`compile_schema`), and one
plan of validators per operation (`plans`). Every failure is a one-line `ContractError`.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

from jsonschema.protocols import Validator

from authsvc.contract.dialect import FORMATS, specification, validator_class
from authsvc.contract.documents import DocumentError, read_document
from authsvc.contract.http import server_path
from authsvc.contract.plan import OperationPlan, compile_operation
from authsvc.contract.refs import IN_MEMORY_URI, ContractRefs, RefError, file_uri

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
    """A validated OpenAPI document: `raw` as written, `resolved` with every `$ref` inlined
    (except those that close a cycle, kept as absolute `$ref`s that `refs` resolves)."""

    source: str
    raw: Mapping[str, Any]
    resolved: Mapping[str, Any]
    refs: ContractRefs = field(repr=False, compare=False)
    path: Path | None = None

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
        return server_path(self.servers[0])

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

    def compile_schema(self, schema: Any) -> Validator:
        """A validator for `schema` in the contract's dialect, with formats and the registry."""
        cls = validator_class(is_31=self.is_31)
        validator: Validator = cls(schema, registry=self.refs.registry, format_checker=FORMATS)
        return validator

    @cached_property
    def _compiler(self) -> _PlanCompiler:
        return _PlanCompiler(self)

    @property
    def plans(self) -> Mapping[tuple[str, str], OperationPlan]:
        """The compiled plan of every operation, by (path, method)."""
        return {(op.path, op.method): self.plan(op) for op in self.operations()}

    def plan(self, operation: Operation, view: Callable[[Any], Any] | None = None) -> OperationPlan:
        """The plan of one operation, compiled on first use and then kept (a large document
        need not compile the operations nobody calls before it can answer the first request).
        `view` rewrites each schema first (`compile_operation`); each view has its own plans."""
        return self._compiler.plan(operation, view)

    @cached_property
    def operations_by_id(self) -> Mapping[str, Operation]:
        return {op.operation_id: op for op in self.operations() if op.operation_id is not None}


class _PlanCompiler:
    """Plans by (path, method, view), each compiled once; stripping of shared schemas is shared
    too. The one cache of compiled plans: the service's and the mock's."""

    def __init__(self, contract: Contract) -> None:
        self._contract = contract
        self._plans: dict[tuple[str, str, Any], OperationPlan] = {}
        self._memo: dict[str, dict[int, Any]] = {"readOnly": {}, "writeOnly": {}}
        self._lock = threading.Lock()

    def plan(self, operation: Operation, view: Callable[[Any], Any] | None) -> OperationPlan:
        key = (operation.path, operation.method, view)
        found = self._plans.get(key)
        if found is None:
            with self._lock:  # the mock may answer from worker threads (--verify-jwt with JWKS)
                found = self._plans.get(key)
                if found is None:
                    found = self._plans[key] = compile_operation(
                        operation,
                        is_31=self._contract.is_31,
                        compile_schema=self._contract.compile_schema,
                        view=view,
                        memo=self._memo,
                    )
        return found


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
        try:
            raw = read_document(base)
        except DocumentError as exc:
            raise ContractError(name, "", str(exc)) from None
    if not isinstance(raw, dict):
        raise ContractError(name, "", "the document is not a mapping")
    version = str(raw.get("openapi", ""))
    if not version.startswith(("3.0", "3.1")):
        raise ContractError(name, "/openapi", f"unsupported OpenAPI version {version!r}")
    is_31 = version.startswith("3.1")
    refs = ContractRefs(
        raw,
        uri=file_uri(base) if base is not None else IN_MEMORY_URI,
        directory=base.parent if base is not None else None,
        specification=specification(is_31=is_31),
    )
    try:
        resolved = refs.inline(raw)
    except RefError as exc:
        raise ContractError(name, exc.ref, exc.message) from None
    except RecursionError:
        raise ContractError(name, "", "the document is nested too deeply") from None
    # After our own resolution: the validator follows references itself, and by now every one is
    # known to be local, confined to the contract's directory and free of empty cycles.
    _validate(raw, name, base_uri=refs.uri if base is not None else "")
    return Contract(source=name, raw=raw, resolved=resolved, refs=refs, path=base)


def _validate(raw: dict[str, Any], name: str, *, base_uri: str) -> None:
    """Validate as the version the document declares (openapi-spec-validator)."""
    from authsvc.contract.spec_validation import spec_validator  # 0.2 s of imports: only here

    validator_cls = spec_validator(str(raw.get("openapi", "")))
    try:
        error = next(iter(validator_cls(raw, base_uri=base_uri).iter_errors()), None)
    except RecursionError:
        raise ContractError(name, "", "a $ref cycle the validator cannot follow") from None
    except Exception as exc:  # the validator resolves references itself and may fail doing so
        raise ContractError(name, "", _first_line(f"{type(exc).__name__}: {exc}")) from None
    if error is not None:
        pointer = "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in error.path)
        raise ContractError(name, pointer if error.path else "", _first_line(error.message))


def _first_line(message: str) -> str:
    # The validator's message trails a multi-line dump of the schema; its first line says it.
    return (message.splitlines() or ["invalid"])[0]
