"""The one `$ref` mechanism: a `referencing.Registry` over the contract and the files it names.

The registry serves two readers:
- `inline()` builds the contract's resolved view (every reference inlined) by looking each
  `$ref` up in the registry. A reference that closes a cycle (or a schema reference more than
  `MAX_INLINED_HEIGHT` deep) stays a `$ref`, rewritten to its absolute URI, so that it means the
  same thing wherever the inlined copy ends up;
- JSON Schema validators are built with the same registry (`registry=`), so those remaining
  references (recursive schemas) are followed by jsonschema itself.

What is a reference and what is data: `$ref` keys inside example values, `default`, `const`,
`enum` and `x-` extensions are data (GitHub's description has such keys in its examples) and are
never followed. File references are confined to the contract's own directory tree, and remote
(http, https) references are never fetched: both are one-line `RefError`s.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urldefrag, urljoin, urlsplit

from referencing import Registry, Resource, Specification
from referencing.exceptions import NoSuchResource, Unresolvable
from referencing.jsonschema import DRAFT202012

from authsvc.contract.documents import DocumentError, read_document

# Keys whose value is data, wherever they appear outside a map of names.
_DATA_KEYS = frozenset({"example", "default", "const", "enum"})
# Keys whose value is a map from names (of properties, responses, media types...) to objects.
_NAME_MAPS = frozenset(
    {
        "properties",
        "patternProperties",
        "$defs",
        "definitions",
        "dependentSchemas",
        "paths",
        "webhooks",
        "schemas",
        "responses",
        "parameters",
        "headers",
        "content",
        "encoding",
        "callbacks",
        "links",
        "variables",
        "securitySchemes",
        "requestBodies",
        "pathItems",
        "examples",
        "mapping",
        "scopes",
    }
)
_REMOTE_SCHEMES = frozenset({"http", "https"})
IN_MEMORY_URI = "urn:authsvc:contract"
# Keywords that apply their subschemas to parts of the instance: recursion through them ends.
_INSTANCE_KEYWORDS = frozenset(
    {
        "properties",
        "patternProperties",
        "additionalProperties",
        "unevaluatedProperties",
        "propertyNames",
        "items",
        "prefixItems",
        "additionalItems",
        "unevaluatedItems",
        "contains",
    }
)
# A chain of references deeper than this is refused rather than followed to a RecursionError.
_MAX_REF_DEPTH = 200

Result = tuple[Any, bool, int]
# Schema references inlined into one another at most this deep; deeper ones stay `$ref`s.
MAX_INLINED_HEIGHT = 32


class RefError(ValueError):
    """A `$ref` cannot be followed; `ref` is the reference as written, the message one line."""

    def __init__(self, ref: str, message: str) -> None:
        super().__init__(message)
        self.ref = ref
        self.message = message


class ContractRefs:
    """The registry of one contract: its root document and the files it references, read once."""

    def __init__(
        self, root: Any, *, uri: str, directory: Path | None, specification: Specification[Any]
    ) -> None:
        self.uri = uri
        self._directory = directory.resolve() if directory is not None else None
        self._specification = specification
        self._files: dict[str, Resource[Any]] = {}
        root_resource = specification.create_resource(root)
        # `retrieve` is an attrs alias that mypy's attrs plugin does not see.
        registry: Registry[Any] = Registry(retrieve=self._retrieve)  # type: ignore[call-arg]
        self.registry: Registry[Any] = registry.with_resource(uri, root_resource)

    @classmethod
    def of(cls, root: Mapping[str, Any] | ContractRefs | None) -> ContractRefs:
        """`root` itself, or a registry over an in-memory document (its own refs only)."""
        if isinstance(root, ContractRefs):
            return root
        return cls(root or {}, uri=IN_MEMORY_URI, directory=None, specification=DRAFT202012)

    def _retrieve(self, uri: str) -> Resource[Any]:
        if uri in self._files:
            return self._files[uri]
        parts = urlsplit(uri)
        if parts.scheme in _REMOTE_SCHEMES:
            raise RefError(uri, f"remote reference {uri} is not fetched (only local files are)")
        if parts.scheme != "file" or self._directory is None:
            raise RefError(uri, f"cannot resolve {uri}: only files beside the contract are read")
        path = Path(unquote(parts.path)).resolve()
        if not path.is_relative_to(self._directory):
            raise RefError(uri, f"reference {uri} points outside the contract's directory")
        try:
            contents = read_document(path)
        except DocumentError as exc:
            raise RefError(uri, f"{path}: {exc}") from None
        resource = self._specification.create_resource(contents)
        self._files[uri] = resource
        return resource

    def lookup(self, ref: str, base: str | None = None) -> tuple[Any, str]:
        """The node `ref` names (relative to `base`, the root by default) and its document's URI."""
        absolute = join(base or self.uri, ref)
        try:
            resolved = self.registry.resolver().lookup(absolute)
        except Unresolvable as exc:
            raise _ref_error(ref, exc) from None
        except (ValueError, TypeError, LookupError, AttributeError):
            # A target that is no schema (a string where a schema was meant), or a pointer
            # through a value of another kind: followed as a plain JSON pointer, as Prism does.
            return self._plain_pointer(ref, absolute), urldefrag(absolute).url
        return resolved.contents, urldefrag(absolute).url

    def _plain_pointer(self, ref: str, absolute: str) -> Any:
        url, fragment = urldefrag(absolute)
        try:
            node = self.registry.resolver().lookup(url).contents
        except Exception:
            raise RefError(ref, f"unresolvable $ref {ref!r}") from None
        for part in [unquote(p) for p in fragment.split("/")[1:]]:
            part = part.replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                raise RefError(ref, f"unresolvable $ref {ref!r}")
        return node

    def resolve(self, ref: str) -> Any:
        """The node a (root-relative or absolute) `$ref` names; `{}` when it names nothing."""
        try:
            return self.lookup(ref)[0]
        except RefError:
            return {}

    def inline(self, document: Any) -> Any:
        """`document` with its references inlined (see the module docstring for those kept)."""
        return _Inliner(self).walk(document, self.uri, ())[0]


def _ref_error(ref: str, exc: Unresolvable) -> RefError:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, RefError):
            return RefError(ref, cause.message)
        cause = cause.__cause__ or (
            cause.__context__ if isinstance(cause, NoSuchResource) else None
        )
    return RefError(ref, f"unresolvable $ref {ref!r}")


class _Inliner:
    """A walk over the document; each reference's result is built once and shared, not copied.

    A `$ref` left in place (absolute) means the same as its target inlined, so a result is
    reusable wherever the reference appears, whichever walk built it. Each result carries its
    height: how many inlined schema references deep it goes. A schema reference whose target is
    taller than `MAX_INLINED_HEIGHT`, or met more than `MAX_INLINED_HEIGHT` references deep, stays
    a `$ref`, so no chain of references, however long, makes the resolved view (whose readers
    recurse) deeper than that; the validators and the mock's samplers follow the `$ref`.
    """

    def __init__(self, refs: ContractRefs) -> None:
        self._refs = refs
        self._done: dict[tuple[str, bool, bool], tuple[Any, int]] = {}

    def walk(
        self,
        node: Any,
        base: str,
        stack: tuple[str, ...],
        chain: tuple[str, ...] = (),
        *,
        example: bool = False,
        schema: bool = False,
    ) -> Result:
        """(inlined node, whether a cycle was left inside it, height).

        `stack` holds the references being followed, `chain` those followed since the walk last
        went down into the instance (`properties`, `items`...): a cycle within `chain` never
        reaches a value (`A: {allOf: [B]}`, `B: {oneOf: [A]}`, a parameter that is its own
        `$ref`) and is refused. `example`: the node is an Example Object; `schema`: the node is
        (inside) a Schema Object.
        """
        if isinstance(node, list):
            items, cyclic, height = [], False, 0
            for item in node:
                value, inner, tall = self.walk(item, base, stack, chain, schema=schema)
                items.append(value)
                cyclic, height = cyclic or inner, max(height, tall)
            return items, cyclic, height
        if not isinstance(node, dict):
            return node, False, 0
        ref = node.get("$ref")
        if isinstance(ref, str):
            return self._follow(node, ref, base, stack, chain, example=example, schema=schema)
        out: dict[str, Any] = {}
        cyclic, height = False, 0
        for key, value in node.items():
            inner, tall = False, 0
            if _is_data(key, value) or (example and key == "value"):
                out[key] = value
            elif key in _NAME_MAPS and isinstance(value, dict):
                in_schema = schema or key == "schemas"
                out[key], inner, tall = self._walk_names(
                    value, base, stack, example=key == "examples", schema=in_schema
                )
            else:
                inner_chain = () if key in _INSTANCE_KEYWORDS else chain
                in_schema = schema or key == "schema"
                out[key], inner, tall = self.walk(value, base, stack, inner_chain, schema=in_schema)
            cyclic, height = cyclic or inner, max(height, tall)
        return out, cyclic, height

    def _walk_names(
        self,
        node: dict[str, Any],
        base: str,
        stack: tuple[str, ...],
        *,
        example: bool,
        schema: bool,
    ) -> Result:
        out: dict[str, Any] = {}
        cyclic, height = False, 0
        for name, value in node.items():
            out[name], inner, tall = self.walk(value, base, stack, example=example, schema=schema)
            cyclic, height = cyclic or inner, max(height, tall)
        return out, cyclic, height

    def _follow(
        self,
        node: Mapping[str, Any],
        ref: str,
        base: str,
        stack: tuple[str, ...],
        chain: tuple[str, ...],
        *,
        example: bool,
        schema: bool,
    ) -> Result:
        absolute = join(base, ref)
        if absolute in chain:
            raise RefError(ref, f"circular $ref {ref!r} never reaches a value")
        if absolute in stack:
            return {**node, "$ref": absolute}, True, 0
        if schema and len(stack) >= MAX_INLINED_HEIGHT:
            return {**node, "$ref": absolute}, False, 0
        if len(stack) > _MAX_REF_DEPTH:
            raise RefError(ref, f"references nested more than {_MAX_REF_DEPTH} deep at {ref!r}")
        key = (absolute, example, schema)
        done = self._done.get(key)
        if done is not None:
            (resolved, height), cyclic = done, False
        else:
            target, target_base = self._refs.lookup(ref, base)
            resolved, cyclic, height = self.walk(
                target,
                target_base,
                (*stack, absolute),
                (*chain, absolute),
                example=example,
                schema=schema,
            )
            self._done[key] = (resolved, height)
        if schema:
            height += 1
            if height > MAX_INLINED_HEIGHT:
                return {**node, "$ref": absolute}, cyclic, 0
        siblings = {k: v for k, v in node.items() if k != "$ref"}
        if siblings and isinstance(resolved, dict):
            # 3.1 allows keywords next to $ref (e.g. description); they win.
            extra, inner, tall = self.walk(
                siblings, base, stack, chain, example=example, schema=schema
            )
            return {**resolved, **extra}, cyclic or inner, max(height, tall)
        return resolved, cyclic, height


def _is_data(key: str, value: Any) -> bool:
    if key in _DATA_KEYS or key.startswith("x-"):
        return True
    return key == "examples" and isinstance(value, list)  # JSON Schema's examples: values


def join(base: str, ref: str) -> str:
    """`ref` made absolute against `base` (also for a `urn:` base, which urljoin ignores)."""
    if ref.startswith("#"):
        return urldefrag(base).url + ref
    return urljoin(base, ref)


def file_uri(path: Path) -> str:
    """The URI a contract file is registered under (and its relative `$ref`s resolve against)."""
    return path.resolve().as_uri()
