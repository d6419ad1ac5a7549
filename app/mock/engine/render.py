"""Turn a negotiated response into bytes and headers: the example, or a body from the schema."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from authsvc.contract import Contract
from authsvc.mock.engine.generator import generate
from authsvc.mock.engine.media import is_xml, serialise
from authsvc.mock.engine.model import MockOptions
from authsvc.mock.engine.negotiation import NO_EXAMPLE, Negotiated
from authsvc.mock.engine.response_check import UNPARSED, ResponseChecker
from authsvc.mock.engine.sampler import sample

_FRAMING = {"content-type", "content-length", "transfer-encoding", "connection"}


class Renderer:
    """Bodies and headers for one contract; static answers are Prism's, dynamic ones seeded."""

    def __init__(self, contract: Contract, options: MockOptions) -> None:
        self._refs = contract.refs
        # http-spec leaves the schemas of a document with its own JSON Schema dialect alone.
        self._rewrite = not isinstance(contract.raw.get("jsonSchemaDialect"), str)
        self._ignore_examples = options.ignore_examples

    def render(
        self, checker: ResponseChecker, chosen: Negotiated, *, dynamic: bool, seed: str | None
    ) -> tuple[int, list[tuple[str, str]], bytes, bool, Any]:
        """(status, headers, body, whether a body was produced, the value to check).

        The value to check is the structured value an XML body was written from (Prism checks
        its answer before serialising it), else `UNPARSED`: the body itself is checked.
        """
        key = checker.response_key(chosen.status)
        headers = self._headers(checker, key, chosen.headers, dynamic=dynamic, seed=seed)
        value: Any = None
        has_body = False
        if chosen.example is not NO_EXAMPLE and not self._ignore_examples:
            value, has_body = self._local_refs(chosen.example, 0), True
        elif chosen.schema is not None and chosen.media_type is not None:
            has_body = True
            compiled = checker.schema_and_validator(key, _content_key(chosen)) if key else None
            if dynamic and compiled is not None:
                value = generate(compiled[0], compiled[1], seed=seed, root=self._refs)
            else:
                value = sample(chosen.schema, self._refs, rewrite=self._rewrite)
        if chosen.media_type is not None:
            headers.append(("content-type", chosen.media_type))
        body = serialise(value, chosen.media_type) if has_body else b""
        structured = has_body and not isinstance(value, (str, bytes)) and value is not None
        checked = value if structured and is_xml(chosen.media_type or "") else UNPARSED
        return chosen.status, headers, body, has_body, checked

    def _local_refs(self, value: Any, depth: int) -> Any:
        """An example with its local `{"$ref": "#/..."}` objects followed, as Prism (which
        dereferences the whole document) serves it; anything else in example data is data."""
        if depth > 32:
            return value
        if isinstance(value, dict):
            ref = value.get("$ref")
            if len(value) == 1 and isinstance(ref, str) and ref.startswith("#/"):
                found = self._refs.resolve(ref)
                return self._local_refs(found, depth + 1) if found != {} else value
            return {k: self._local_refs(v, depth + 1) for k, v in value.items()}
        if isinstance(value, list):
            return [self._local_refs(v, depth + 1) for v in value]
        return value

    def _headers(
        self,
        checker: ResponseChecker,
        key: str | None,
        declared: Mapping[str, Any],
        *,
        dynamic: bool,
        seed: str | None,
    ) -> list[tuple[str, str]]:
        result: list[tuple[str, str]] = []
        for name, spec in declared.items():
            # The body's framing is the server's to state: a contract's example Content-Length
            # (GitHub declares one) would contradict the body actually sent.
            if name.lower() in _FRAMING or not isinstance(spec, Mapping):
                continue
            value = _header_example(spec)
            schema = spec.get("schema")
            if value is NO_EXAMPLE and isinstance(schema, Mapping):
                check = checker.plan.header_values.get((key, name)) if key else None
                if dynamic and check is not None:
                    value = generate(check.schema, check.validator, seed=seed, root=self._refs)
                else:
                    value = sample(schema, self._refs, rewrite=self._rewrite)
            # Like Prism, only scalar values make sense in a header line.
            if isinstance(value, (str, int, float)) and not isinstance(value, bool):
                result.append((name, str(value)))
        return result


def _header_example(spec: Mapping[str, Any]) -> Any:
    if "example" in spec:
        return spec["example"]
    for item in (spec.get("examples") or {}).values():
        if isinstance(item, Mapping) and "value" in item:
            return item["value"]
    return NO_EXAMPLE


def _content_key(chosen: Negotiated) -> str:
    contents = chosen.response.get("content") or {}
    if chosen.media_type in contents:
        return str(chosen.media_type)
    return "*/*" if "*/*" in contents else str(chosen.media_type)
