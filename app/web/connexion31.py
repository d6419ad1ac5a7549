"""Connexion 3.3 on an OpenAPI 3.1 contract, through two small adaptations.

Connexion validates every document against its bundled OpenAPI **3.0** schema (Draft 4) and refuses
`openapi: 3.1.0` (upstream issue #1396). Its request and response validators are Draft 4 too, so
`format: uuid`, `const`, type arrays, boolean subschemas and `prefixItems` are ignored or misread.

1. `install_openapi31_support()` swaps `OpenAPISpecification._validate_spec` for one that validates
   a 3.1 document with openapi-spec-validator's 3.1 validator (3.0 documents keep the stock check).
   Connexion offers no hook for this: `Specification.from_dict` always builds this class. The patch
   is idempotent, leaves the version string alone (so `/openapi.json` tells the truth), and caches
   the verdict per document, because Swagger UI's middleware re-validates a clone on every request.
2. `validator_map(contract)` plugs the contract's compiled validators (Draft 2020-12 for 3.1, with
   formats) into Connexion's supported `validator_map` extension point, by operation.

Request bodies get what Connexion leaves out: a chunked body is read (Connexion takes a body
without `Content-Length` for none at all); a body without `Content-Type`, not UTF-8, nested
deeper than `MAX_JSON_DEPTH` (json.loads raises RecursionError near 1,000), made of more than
`MAX_JSON_CONTAINERS` arrays and objects, or holding a lone surrogate escape (`"\\ud800"` decodes
to a string no database or hash can encode) is the documented 400. A refusal
is logged as where (a JSON pointer) and which rule (the schema keyword), never the value: a
refused body may hold a password.

Type arrays in *parameter* schemas stay unsupported (Connexion's parameter coercion raises
TypeError on them); `check_parameters_supported` refuses such a contract at startup instead.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

from connexion.datastructures import MediaTypeDict
from connexion.exceptions import BadRequestProblem, InvalidSpecification, NonConformingResponseBody
from connexion.spec import OpenAPISpecification
from connexion.validators import (
    JSONRequestBodyValidator,
    JSONResponseBodyValidator,
    ParameterValidator,
    TextResponseBodyValidator,
)
from jsonschema.exceptions import ValidationError
from jsonschema.protocols import Validator
from openapi_spec_validator import OpenAPIV31SpecValidator
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import Message, Receive, Scope

from authsvc.contract import Check, Contract, ContractError, OperationPlan
from authsvc.contract.dialect import first_error

logger = logging.getLogger("authsvc.validation")

_MARKER = "_authsvc_openapi31"
_validated_31: set[str] = set()
# Far above any body the contract describes (its deepest is a user with a subrole: 2), far below
# where json.loads, jsonschema or Connexion's second parse of the body would recurse too deep.
MAX_JSON_DEPTH = 64
# Arrays and objects in one body, counted as `[` and `{` anywhere, strings included (one pass in
# C). No body whose values all sit in the contract's fields comes near it (their lengths are
# bounded); past it, a body is mostly containers, whose parsing wakes the garbage collector over
# the whole heap: 350,000 empty arrays in 1 MiB held the event loop 1.5 s, 4.4 s on accept.
MAX_JSON_CONTAINERS = 1000
# Only a `\uD800`-`\uDFFF` escape can put a surrogate into a decoded JSON string (UTF-8 cannot
# encode one, and a valid pair decodes to one character).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def install_openapi31_support() -> None:
    """Let Connexion load 3.1 documents, validating them as 3.1 (idempotent)."""
    if getattr(OpenAPISpecification, _MARKER, False):
        return
    stock = OpenAPISpecification._validate_spec

    def _validate_spec(cls: type[OpenAPISpecification], spec: dict[str, Any]) -> None:
        if not str(spec.get("openapi", "")).startswith("3.1"):
            stock(spec)
            return
        digest = hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()
        if digest in _validated_31:
            return
        error = next(iter(OpenAPIV31SpecValidator(spec).iter_errors()), None)
        if error is not None:
            raise InvalidSpecification(f"{'/'.join(map(str, error.path))}: {error.message}")
        _validated_31.add(digest)

    OpenAPISpecification._validate_spec = classmethod(_validate_spec)  # type: ignore[assignment,method-assign,arg-type]
    setattr(OpenAPISpecification, _MARKER, True)


def check_parameters_supported(contract: Contract) -> None:
    """Refuse, at startup, parameter schemas that Connexion cannot coerce (type arrays)."""
    for operation in contract.operations():
        for index, parameter in enumerate(operation.parameters):
            if isinstance((parameter.get("schema") or {}).get("type"), list):
                pointer = f"/paths/{operation.path}/{operation.method}/parameters/{index}"
                raise ContractError(
                    contract.source, pointer, "type arrays in parameter schemas are not supported"
                )


def _plan(contract: Contract, scope: Mapping[str, Any]) -> OperationPlan | None:
    routing = (scope.get("extensions") or {}).get("connexion_routing") or {}
    operation = contract.operations_by_id.get(routing.get("operation_id") or "")
    return contract.plan(operation) if operation is not None else None


def validator_map(contract: Contract) -> dict[str, Any]:
    """Connexion's `validator_map` for `contract`: every validator is the plan's, by operation.

    Connexion builds these classes per request, handing them its own copy of the schema; they
    look their operation up in the request's routing scope and use the contract's compiled
    validators instead (Draft 2020-12 for 3.1, OpenAPI's 3.0 dialect, formats checked). The
    schema Connexion passes is used only for an operation the plan does not know (none of ours:
    every operation has an operationId), compiled for that request alone.
    """
    contract.plans  # noqa: B018 - compiled now, at startup, not on the first request

    class ParameterValidator202012(ParameterValidator):  # type: ignore[misc]
        """Connexion's parameter validator with the plan's checks (uuid, const, ...)."""

        _plan: OperationPlan | None = None

        def validate(self, scope: Mapping[str, Any]) -> None:
            self._plan = _plan(contract, scope)
            super().validate(scope)

        def validate_parameter(  # type: ignore[override]
            self,
            parameter_type: str,
            value: Any,
            param: dict[str, Any],
            param_name: str | None = None,
        ) -> str | None:
            if value is not None:
                check = self._plan.parameter(parameter_type, param["name"]) if self._plan else None
                if check is None:
                    schema = param.get("schema", param)
                    error = first_error(contract.compile_schema(schema), value)
                    message = None if error is None else error.message
                else:
                    message = check.first_message(value)
                return None if message is None else f"{param.get('name')}: {message}"
            if param.get("required"):
                return f"Missing {parameter_type} parameter '{param['name']}'"
            return None

    class JSONRequestBodyValidator202012(JSONRequestBodyValidator):  # type: ignore[misc]
        _check: Check | None = None

        async def wrap_receive(self, receive: Any, *, scope: Any) -> Any:
            plan = _plan(contract, scope)
            headers = Headers(scope=scope)
            content_type = headers.get("content-type") or "application/json"
            self._check = plan.body(content_type) if plan is not None else None
            chunked = "content-length" not in headers and "transfer-encoding" in headers
            if "content-type" not in headers and (
                chunked or headers.get("content-length", "0") != "0"
            ):
                # Connexion would validate it as JSON, then hand the handler bytes.
                raise BadRequestProblem(detail="a body needs a Content-Type")
            if chunked:
                receive, scope = await _read_chunked_body(receive, scope)
            return await super().wrap_receive(receive, scope=scope)

        async def _parse(self, stream: AsyncIterator[bytes], scope: Scope) -> Any:
            raw = b"".join([chunk async for chunk in stream])
            if not raw:
                return None
            try:
                # UTF-8 whatever a charset parameter says: RFC 8259 defines none for JSON, and
                # the handler's own parse of the body (Starlette's) reads UTF-8 only.
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise BadRequestProblem(detail="the body is not UTF-8") from None
            return parse_json_body(text)

        def _validate(self, body: Any) -> None:
            if not self._nullable and body is None:
                raise BadRequestProblem(detail="Request body must not be empty")
            error = first_error(self._validator, body)
            if error is not None:
                where = refusal(error)
                logger.info("request body refused: %s", where)
                raise BadRequestProblem(detail=where)

        @property
        def _validator(self) -> Validator:
            if self._check is not None:
                return self._check.validator
            return contract.compile_schema(self._schema)

    class _ResponseBody:
        """The plan's response check for this request's operation, status and media type."""

        _scope: Mapping[str, Any]
        _schema: Any
        _status: int = 0
        _content_type: str = ""
        _checked: Check | bool | None = False

        def wrap_send(self, send: Any) -> Any:
            wrapped = super().wrap_send(send)  # type: ignore[misc]

            async def remember_status(message: Any) -> None:
                if message["type"] == "http.response.start":
                    self._status = int(message["status"])
                    headers = dict(message.get("headers") or ())
                    self._content_type = headers.get(b"content-type", b"").decode("latin-1")
                await wrapped(message)

            return remember_status

        def check(self) -> Check | None:
            if self._checked is False:
                plan = _plan(contract, self._scope)
                found = plan.response(self._status, self._content_type) if plan else None
                self._checked = found
            return self._checked if isinstance(self._checked, Check) else None

        @property
        def validator(self) -> Validator:
            check = self.check()
            return check.validator if check else contract.compile_schema(self._schema)

        def _validate(self, body: Any) -> None:
            error = first_error(self.validator, body)
            if error is not None:
                # Where and which rule: the body holds users' names and addresses.
                raise NonConformingResponseBody(detail=refusal(error))

    class JSONResponseBodyValidator202012(_ResponseBody, JSONResponseBodyValidator):  # type: ignore[misc]
        def _parse(self, stream: Iterable[bytes]) -> Any:
            raw = b"".join(stream)
            self._raw = raw
            check = self.check()
            if check is not None and check.known_valid(raw):
                return _KNOWN_VALID
            return super()._parse(iter((raw,)))

        def _validate(self, body: Any) -> None:
            if body is _KNOWN_VALID:
                return
            super()._validate(body)  # raises NonConformingResponseBody when invalid
            check = self.check()
            if check is not None:
                # Handlers often return the same bytes (the resend answer is a constant):
                # valid ones are remembered, bounded, in the plan; invalid ones never are.
                check.remember_valid(getattr(self, "_raw", b""))

    class TextResponseBodyValidator202012(_ResponseBody, TextResponseBodyValidator):  # type: ignore[misc]
        pass

    return {
        "parameter": ParameterValidator202012,
        "body": MediaTypeDict({"*/*json": JSONRequestBodyValidator202012}),
        "response": MediaTypeDict(
            {
                "*/*json": JSONResponseBodyValidator202012,
                "text/plain": TextResponseBodyValidator202012,
            }
        ),
    }


_KNOWN_VALID = object()


def refusal(error: ValidationError) -> str:
    """Where a value broke the schema (JSON pointer) and which rule (keyword): never the value."""
    pointer = "".join(
        "/" + str(part).replace("~", "~0").replace("/", "~1") for part in error.absolute_path
    )
    # A pointer is made of the schema's property names and indexes, unless the schema lets the
    # client name properties: bounded, so even then it is no channel for a long secret.
    return f"{(pointer or '/')[:200]} ({error.validator})"


def parse_json_body(text: str) -> Any:
    """The JSON value of a request body; `BadRequestProblem` unless every layer can handle it.

    Runs on the event loop: the checks cost a pass in C, or a walk over at most
    `MAX_JSON_CONTAINERS` containers, of a body the HTTP server bounds.
    """
    brackets = text.count("[") + text.count("{")
    if brackets > MAX_JSON_CONTAINERS:
        raise BadRequestProblem(detail=f"more than {MAX_JSON_CONTAINERS} arrays and objects")
    try:
        value = json.loads(text)
    except ValueError:
        raise BadRequestProblem(detail="the body is not JSON") from None
    except RecursionError:
        raise BadRequestProblem(detail=f"nested deeper than {MAX_JSON_DEPTH}") from None
    # Each bracket opens at most one level: most bodies need no walk.
    if brackets > MAX_JSON_DEPTH and _depth(value) > MAX_JSON_DEPTH:
        raise BadRequestProblem(detail=f"nested deeper than {MAX_JSON_DEPTH}")
    if _SURROGATE_ESCAPE.search(text) is not None:
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise BadRequestProblem(detail="a string holds a lone surrogate") from None
    return value


def _depth(value: Any) -> int:
    """Levels of arrays and objects in `value`, level by level: no recursion."""
    depth, level = 0, [value]
    while level:
        containers = [node for node in level if isinstance(node, list | dict)]
        if not containers:
            break
        depth += 1
        level = [
            item
            for node in containers
            for item in (node.values() if isinstance(node, dict) else node)
        ]
    return depth


async def _read_chunked_body(receive: Receive, scope: Scope) -> tuple[Receive, Scope]:
    """Read a body sent without `Content-Length` whole (the HTTP server bounds its size) and
    replay it with one, as Connexion's validators and parameter decorator expect."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break  # the client left: what arrived is all there is
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    scope = {**scope, "headers": list(scope["headers"])}
    headers = MutableHeaders(scope=scope)
    del headers["transfer-encoding"]
    headers["content-length"] = str(len(body))
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay, scope
