"""Validate a response against the contract: status, media type, body and headers.

The engine checks its own answers with it (a bad example in the contract shows up in
`sl-violations`), and the validation proxy checks the upstream's answers, as `prism proxy` does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cached_property
from typing import Any

from jsonschema.protocols import Validator

from authsvc.contract import Operation
from authsvc.mock.media import is_json, wildcard_match
from authsvc.mock.model import Violation
from authsvc.mock.negotiation import find_response
from authsvc.mock.params import ParameterValidator
from authsvc.mock.prism_schema import for_prism
from authsvc.mock.schemas import make_validator, strip_properties, to_json_schema, violations

# `check(value=...)` default: the body bytes are what is checked.
UNPARSED: Any = object()
_MEMO_MAX_BODY = 4096
_MEMO_MAX_ENTRIES = 256


class ResponseChecker:
    """The responses of one operation, with schema validators compiled on first use."""

    def __init__(
        self, operation: Operation, *, is_31: bool, root: Mapping[str, Any] | None = None
    ) -> None:
        self._responses: Mapping[str, Any] = operation.responses
        self._is_31 = is_31
        self._root = root
        self._validators: dict[tuple[str, str], tuple[Any, Validator]] = {}
        self._header_validators: dict[str, ParameterValidator] = {}
        # Static mode sends the same few answers again and again; their verdict never changes.
        self._verdicts: dict[tuple[Any, ...], tuple[Violation, ...]] = {}

    @cached_property
    def codes(self) -> str:
        return ",".join(map(str, self._responses))

    def schema_and_validator(self, key: str, media_type: str) -> tuple[Any, Validator] | None:
        """The converted response schema (writeOnly stripped) and its validator."""
        if (key, media_type) not in self._validators:
            response = self._responses.get(key) or {}
            content = ((response.get("content") or {}).get(media_type)) or {}
            if "schema" not in content:
                return None
            schema = to_json_schema(
                strip_properties(for_prism(content["schema"], self._root), "writeOnly"),
                is_31=self._is_31,
            )
            self._validators[key, media_type] = (
                schema,
                make_validator(schema, is_31=self._is_31, root=self._root),
            )
        return self._validators[key, media_type]

    def response_key(self, status: int) -> str | None:
        for key in self._responses:
            if str(key).lower() == str(status):
                return str(key)
        if f"{str(status)[0]}XX" in self._responses:
            return f"{str(status)[0]}XX"
        return "default" if "default" in self._responses else None

    def check(
        self,
        status: int,
        headers: Mapping[str, str],
        body: bytes,
        *,
        has_body: bool = True,
        value: Any = UNPARSED,
    ) -> list[Violation]:
        """Violations of this response; `headers` are keyed in lower case.

        `value`, when given, is checked instead of the body it was serialised to (XML).
        """
        if len(body) > _MEMO_MAX_BODY:
            return self._check(status, headers, body, has_body=has_body, value=value)
        # The body bytes stand for the value: the same value always serialises the same way.
        memo_key = (status, tuple(sorted(headers.items())), body, has_body, value is UNPARSED)
        verdict = self._verdicts.get(memo_key)
        if verdict is None:
            if len(self._verdicts) >= _MEMO_MAX_ENTRIES:
                self._verdicts.clear()
            verdict = tuple(self._check(status, headers, body, has_body=has_body, value=value))
            self._verdicts[memo_key] = verdict
        return list(verdict)

    def _check(
        self,
        status: int,
        headers: Mapping[str, str],
        body: bytes,
        *,
        has_body: bool,
        value: Any = UNPARSED,
    ) -> list[Violation]:
        key = self.response_key(status)
        if key is None or (find_response(self._responses, status) is None and key != "default"):
            severity = "Error" if 200 <= status < 300 else "Warning"
            message = (
                "Unable to match the returned status code with those defined in the document: "
                + self.codes
            )
            return [Violation((), None, message, severity)]
        response = self._responses[key] or {}
        found = self._check_headers(key, response, headers)
        contents: Mapping[str, Any] = response.get("content") or {}
        if not contents or not has_body:
            return found
        content_type = headers.get("content-type", "")
        media_type = next(
            (m for m in contents if content_type and wildcard_match(m, content_type)), None
        )
        if media_type is None:
            plural = "s" if len(contents) > 1 else ""
            return [
                Violation(
                    (),
                    None,
                    f'The received media type "{content_type}" does not match the one{plural} '
                    f"specified in the current response: {', '.join(contents)}",
                ),
                *found,
            ]
        compiled = self.schema_and_validator(key, media_type)
        if compiled is None:
            return found
        try:
            if value is not UNPARSED:
                instance = value
            else:
                instance = json.loads(body) if is_json(content_type) else body.decode()
            return [*violations(compiled[1], instance, prefix="body", context="Response"), *found]
        except (ValueError, UnicodeDecodeError) as exc:
            return [Violation(("body",), "json", f"Response body is not valid JSON: {exc}"), *found]
        except RecursionError:  # an upstream's answer nested past the stack (proxy mode)
            message = "Response body is nested too deeply to be checked"
            return [Violation(("body",), "json", message), *found]

    def _check_headers(
        self, key: str, response: Mapping[str, Any], headers: Mapping[str, str]
    ) -> list[Violation]:
        declared = response.get("headers") or {}
        if not declared:
            return []
        if key not in self._header_validators:
            specs = [
                {
                    "name": name,
                    "in": "header",
                    "required": bool(h.get("required")),
                    "schema": h.get("schema") or {},
                }
                for name, h in declared.items()
                if name.lower() != "content-type"
            ]
            self._header_validators[key] = ParameterValidator(
                specs, is_31=self._is_31, context="Response", root=self._root
            )
        return self._header_validators[key].validate_sources(
            {"header": {k.lower(): [v] for k, v in headers.items()}}
        )
