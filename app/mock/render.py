"""Turn a negotiated response into bytes and headers: the example, or a body from the schema."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from authsvc.contract import Contract
from authsvc.mock.generator import generate
from authsvc.mock.media import is_xml, serialise
from authsvc.mock.model import MockOptions
from authsvc.mock.negotiation import NO_EXAMPLE, Negotiated
from authsvc.mock.prism_schema import for_prism
from authsvc.mock.response_check import UNPARSED, ResponseChecker
from authsvc.mock.sampler import sample
from authsvc.mock.schemas import make_validator, to_json_schema

_FRAMING = {"content-type", "content-length", "transfer-encoding", "connection"}


class Renderer:
    """Bodies and headers for one contract; static answers are Prism's, dynamic ones seeded."""

    def __init__(self, contract: Contract, options: MockOptions) -> None:
        self._root = contract.resolved
        self._is_31 = contract.is_31
        self._ignore_examples = options.ignore_examples

    def render(
        self, checker: ResponseChecker, chosen: Negotiated, *, dynamic: bool, seed: str | None
    ) -> tuple[int, list[tuple[str, str]], bytes, bool, Any]:
        """(status, headers, body, whether a body was produced, the value to check).

        The value to check is the structured value an XML body was written from (Prism checks
        its answer before serialising it), else `UNPARSED`: the body itself is checked.
        """
        headers = self._headers(chosen.headers, dynamic=dynamic, seed=seed)
        value: Any = None
        has_body = False
        if chosen.example is not NO_EXAMPLE and not self._ignore_examples:
            value, has_body = chosen.example, True
        elif chosen.schema is not None and chosen.media_type is not None:
            has_body = True
            key = checker.response_key(chosen.status)
            compiled = checker.schema_and_validator(key, _content_key(chosen)) if key else None
            if dynamic and compiled is not None:
                value = generate(compiled[0], compiled[1], seed=seed, root=self._root)
            else:
                value = sample(chosen.schema, self._root)
        if chosen.media_type is not None:
            headers.append(("content-type", chosen.media_type))
        body = serialise(value, chosen.media_type) if has_body else b""
        structured = has_body and not isinstance(value, (str, bytes)) and value is not None
        checked = value if structured and is_xml(chosen.media_type or "") else UNPARSED
        return chosen.status, headers, body, has_body, checked

    def _headers(
        self, declared: Mapping[str, Any], *, dynamic: bool, seed: str | None
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
                if dynamic:
                    converted = to_json_schema(for_prism(schema, self._root), is_31=self._is_31)
                    validator = make_validator(converted, is_31=self._is_31, root=self._root)
                    value = generate(converted, validator, seed=seed, root=self._root)
                else:
                    value = sample(schema, self._root)
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
