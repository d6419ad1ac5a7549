"""Connexion 3.3 on an OpenAPI 3.1 contract, through two small adaptations.

Connexion validates every document against its bundled OpenAPI **3.0** schema (Draft 4) and refuses
`openapi: 3.1.0` (upstream issue #1396). Its request and response validators are Draft 4 too, so
`format: uuid`, `const`, type arrays, boolean subschemas and `prefixItems` are ignored or misread.

1. `install_openapi31_support()` swaps `OpenAPISpecification._validate_spec` for one that validates
   a 3.1 document with openapi-spec-validator's 3.1 validator (3.0 documents keep the stock check).
   Connexion offers no hook for this: `Specification.from_dict` always builds this class. The patch
   is idempotent, leaves the version string alone (so `/openapi.json` tells the truth), and caches
   the verdict per document, because Swagger UI's middleware re-validates a clone on every request.
2. `VALIDATOR_MAP_2020_12` plugs Draft 2020-12 validators (with a format checker) into Connexion's
   supported `validator_map` extension point, compiled once per schema instead of once per request.

Type arrays in *parameter* schemas stay unsupported (Connexion's parameter coercion raises
TypeError on them); `check_parameters_supported` refuses such a contract at startup instead.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from connexion.datastructures import MediaTypeDict
from connexion.exceptions import InvalidSpecification
from connexion.spec import OpenAPISpecification
from connexion.validators import (
    JSONRequestBodyValidator,
    JSONResponseBodyValidator,
    ParameterValidator,
    TextResponseBodyValidator,
)
from jsonschema import Draft202012Validator
from jsonschema.protocols import Validator
from openapi_spec_validator import OpenAPIV31SpecValidator

from authsvc.contract import Contract, ContractError

_MARKER = "_authsvc_openapi31"
_validated_31: set[str] = set()


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


@lru_cache(maxsize=512)
def _compiled(schema_json: str) -> Validator:
    schema = json.loads(schema_json)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


# Connexion hands the same schema object to every request of an operation, so the validator is
# looked up by identity first; serialising the schema to find it in `_compiled` cost more per
# request than validating. The entry keeps its schema alive, so an id is never reused while cached.
_by_identity: dict[int, tuple[Mapping[str, Any], Validator]] = {}
_BY_IDENTITY_MAX = 1024


def draft_2020_12(schema: Mapping[str, Any]) -> Validator:
    """A cached Draft 2020-12 validator (with formats) for `schema`."""
    cached = _by_identity.get(id(schema))
    if cached is not None and cached[0] is schema:
        return cached[1]
    validator = _compiled(json.dumps(schema, sort_keys=True, default=str))
    if len(_by_identity) >= _BY_IDENTITY_MAX:
        _by_identity.clear()
    _by_identity[id(schema)] = (schema, validator)
    return validator


# Verdicts on scalar parameter values, per schema: clients send the same ids again and again, and
# a jsonschema pass (uuid format included) cost more than the rest of reading the parameter. The
# value's type is part of the key (1, 1.0 and True are equal in Python, not to a schema).
_param_verdicts: dict[tuple[int, type, Any], tuple[Mapping[str, Any], str | None]] = {}
_PARAM_VERDICTS_MAX = 4096
_MEMO_TYPES = (str, int, float, bool)


def _parameter_error(schema: Mapping[str, Any], value: Any) -> str | None:
    memo = type(value) in _MEMO_TYPES and (not isinstance(value, str) or len(value) <= 256)
    key = (id(schema), type(value), value)
    if memo and (cached := _param_verdicts.get(key)) is not None and cached[0] is schema:
        return cached[1]
    error = next(iter(draft_2020_12(schema).iter_errors(value)), None)
    message = None if error is None else error.message
    if memo:
        if len(_param_verdicts) >= _PARAM_VERDICTS_MAX:
            _param_verdicts.clear()
        _param_verdicts[key] = (schema, message)  # keeps the schema alive: its id stays unique
    return message


class ParameterValidator202012(ParameterValidator):  # type: ignore[misc]
    """Connexion's parameter validator with 2020-12 semantics (uuid, const, ...)."""

    @staticmethod
    def validate_parameter(
        parameter_type: str, value: Any, param: dict[str, Any], param_name: str | None = None
    ) -> str | None:
        if value is not None:
            message = _parameter_error(param.get("schema", param), value)
            return None if message is None else f"{param.get('name')}: {message}"
        if param.get("required"):
            return f"Missing {parameter_type} parameter '{param['name']}'"
        return None


class JSONRequestBodyValidator202012(JSONRequestBodyValidator):  # type: ignore[misc]
    @property
    def _validator(self) -> Validator:
        return draft_2020_12(self._schema)


# Verdicts on response bodies already found valid, per schema: handlers often return the same
# bytes (the resend answer is a constant), and re-parsing and re-validating them is pure cost.
# Only small bodies are remembered; invalid ones never are (they are rare and must be logged).
_valid_bodies: dict[tuple[int, bytes], Mapping[str, Any]] = {}
_VALID_BODIES_MAX = 256
_VALID_BODY_MAX_BYTES = 1024
_KNOWN_VALID = object()


class JSONResponseBodyValidator202012(JSONResponseBodyValidator):  # type: ignore[misc]
    @property
    def validator(self) -> Validator:
        return draft_2020_12(self._schema)

    def _parse(self, stream: Iterable[bytes]) -> Any:
        raw = b"".join(stream)
        self._raw = raw
        if _valid_bodies.get((id(self._schema), raw)) is self._schema:
            return _KNOWN_VALID
        return super()._parse(iter((raw,)))

    def _validate(self, body: Any) -> None:
        if body is _KNOWN_VALID:
            return
        super()._validate(body)  # raises NonConformingResponseBody when invalid
        raw = getattr(self, "_raw", b"")
        if len(raw) <= _VALID_BODY_MAX_BYTES:
            if len(_valid_bodies) >= _VALID_BODIES_MAX:
                _valid_bodies.clear()
            _valid_bodies[(id(self._schema), raw)] = self._schema


class TextResponseBodyValidator202012(TextResponseBodyValidator):  # type: ignore[misc]
    @property
    def validator(self) -> Validator:
        return draft_2020_12(self._schema)


VALIDATOR_MAP_2020_12: dict[str, Any] = {
    "parameter": ParameterValidator202012,
    "body": MediaTypeDict({"*/*json": JSONRequestBodyValidator202012}),
    "response": MediaTypeDict(
        {"*/*json": JSONResponseBodyValidator202012, "text/plain": TextResponseBodyValidator202012}
    ),
}
