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

from authsvc.contract import Operation, OperationPlan, response_key
from authsvc.contract.plan import header_parameters
from authsvc.mock.engine.media import is_json, wildcard_match
from authsvc.mock.engine.model import Violation
from authsvc.mock.engine.negotiation import find_response
from authsvc.mock.engine.params import ParameterValidator
from authsvc.mock.engine.schemas import violations

# `check(value=...)` default: the body bytes are what is checked.
UNPARSED: Any = object()
_MEMO_MAX_BODY = 4096
_MEMO_MAX_ENTRIES = 256


class ResponseChecker:
    """The responses of one operation, checked with the validators of its plan."""

    def __init__(self, operation: Operation, plan: OperationPlan) -> None:
        self._responses: Mapping[str, Any] = operation.responses
        self.plan = plan
        self._header_validators: dict[str, ParameterValidator] = {}
        # Static mode sends the same few answers again and again; their verdict never changes.
        self._verdicts: dict[tuple[Any, ...], tuple[Violation, ...]] = {}

    @cached_property
    def codes(self) -> str:
        return ",".join(map(str, self._responses))

    def schema_and_validator(self, key: str, media_type: str) -> tuple[Any, Validator] | None:
        """The converted response schema (writeOnly stripped) and its validator."""
        check = self.plan.responses.get((key, media_type))
        return None if check is None else (check.schema, check.validator)

    def response_key(self, status: int) -> str | None:
        return response_key(self._responses, status)

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
            check = self.plan.response_headers.get(key)
            self._header_validators[key] = ParameterValidator(
                header_parameters(declared),
                {"header": check} if check is not None else {},
                context="Response",
            )
        return self._header_validators[key].validate_sources(
            {"header": {k.lower(): [v] for k, v in headers.items()}}
        )
