"""openapi-spec-validator, with its per-schema meta-schema check done by jsonschema-rs first.

The validator checks every Schema Object of the document against the OpenAPI dialect's
meta-schema with Python jsonschema, one by one; on a large description that is nearly all of the
validation's cost (figures: bench/results/, `python -m bench.contract_startup`). jsonschema-rs
compiles the same meta-schema (with the resources openapi-schema-validator ships) once and
answers in microseconds. It is only a filter: a schema it finds invalid is checked again by the
stock checker, so errors and their messages stay the validator's own. Without jsonschema-rs the
stock check runs alone.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from importlib import resources
from typing import Any

from openapi_spec_validator import (
    OpenAPIV2SpecValidator,
    OpenAPIV30SpecValidator,
    OpenAPIV31SpecValidator,
)
from openapi_spec_validator.validation import keywords


def spec_validator(version: str) -> Any:
    """The spec validator class for a version string (2.0, 3.0.x or 3.1.x)."""
    if version.startswith("2"):
        return _FastV2
    return _FastV31 if version.startswith("3.1") else _FastV30


def meta_schema(version: str) -> dict[str, Any] | None:
    """The JSON Schema of the OpenAPI document format of that version (to explain its errors)."""
    from openapi_spec_validator import schemas

    name = (
        "schema_v2"
        if version.startswith("2")
        else "schema_v31"
        if version.startswith("3.1")
        else "schema_v30"
    )
    try:
        return dict(getattr(schemas, name))
    except Exception:
        return None


@functools.lru_cache(maxsize=8)
def _compiled(validator_cls: Any) -> Any:
    """jsonschema-rs compiled `validator_cls.META_SCHEMA` (one per dialect), or None."""
    try:
        import jsonschema_rs
    except ImportError:
        return None
    try:
        return jsonschema_rs.validator_for(
            validator_cls.META_SCHEMA, registry=_registry(), validate_formats=True
        )
    except (ValueError, jsonschema_rs.ReferencingError):
        return None  # a meta-schema it cannot compile: the stock check alone


@functools.lru_cache(maxsize=1)
def _registry() -> Any:
    import jsonschema_rs

    found: list[tuple[str, Any]] = []
    stack = [resources.files("openapi_schema_validator").joinpath("schemas")]
    while stack:
        for child in stack.pop().iterdir():
            if child.is_dir():
                stack.append(child)
            elif not child.name.startswith("."):
                contents = json.loads(child.read_text(encoding="utf-8"))
                if isinstance(contents, dict) and isinstance(contents.get("$id"), str):
                    found.append((contents["$id"], contents))
    return jsonschema_rs.Registry(found)


def _fast(checker: Callable[[Any], None]) -> Callable[[Any], None]:
    """`checker`, with a jsonschema-rs pass first when its meta-schema can be compiled."""
    owner = getattr(getattr(checker, "func", checker), "__self__", None)
    meta_schema = getattr(owner, "META_SCHEMA", None)
    if not isinstance(meta_schema, dict):
        return checker
    compiled = _compiled(owner)
    if compiled is None:
        return checker

    def check(schema_value: Any) -> None:
        if not compiled.is_valid(schema_value):
            checker(schema_value)  # raises with the stock message

    return check


class _Seen(list[int]):
    """The validator's lists of schema ids already seen, with set lookups (it asks `in` of a
    list once per schema visit: quadratic on a large document)."""

    def __init__(self) -> None:
        super().__init__()
        self._ids: set[int] = set()

    def append(self, schema_id: int) -> None:
        self._ids.add(schema_id)
        super().append(schema_id)

    def __contains__(self, schema_id: object) -> bool:
        return schema_id in self._ids


def _fast_classes() -> tuple[Any, Any, Any]:
    """Spec validators whose `schema` keyword checks with `_fast`; the stock ones if this
    version of openapi-spec-validator is laid out differently."""
    try:
        stock31 = keywords.OpenAPIV31SchemaValidator
        stock30 = keywords.OpenAPIV30SchemaValidator
        values31 = keywords.OpenAPIV31ValueValidator
        values30 = keywords.OpenAPIV30ValueValidator
        stock31._get_schema_checker  # noqa: B018 - the hook this relies on
        stock30._get_schema_checker  # noqa: B018
    except AttributeError:
        return OpenAPIV31SpecValidator, OpenAPIV30SpecValidator, OpenAPIV2SpecValidator

    class Fast31Schema(stock31):  # type: ignore[misc,valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.visited_schema_ids, self.meta_checked_schema_ids = _Seen(), _Seen()

        def _get_schema_checker(self, schema: Any, schema_value: Any) -> Callable[[Any], None]:
            return _fast(super()._get_schema_checker(schema, schema_value))

    class Fast30Schema(stock30):  # type: ignore[misc,valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.visited_schema_ids, self.meta_checked_schema_ids = _Seen(), _Seen()

        def _get_schema_checker(self, schema: Any, schema_value: Any) -> Callable[[Any], None]:
            return _fast(super()._get_schema_checker(schema, schema_value))

    # A schema's `default` is checked against its schema, but not its `format`: the format
    # packages the validators need (uri, hostname, ...) would otherwise refuse documents that Prism
    # and the stock validator serve, such as GitHub's `default: ""` under `format: uri`.
    class Defaults31(values31):  # type: ignore[misc,valid-type]
        value_validator_format_checker = None

    class Defaults30(values30):  # type: ignore[misc,valid-type]
        value_validator_format_checker = None

    class FastV31(OpenAPIV31SpecValidator):  # type: ignore[misc]
        keyword_validators = {  # noqa: RUF012 - the base class declares it so
            **OpenAPIV31SpecValidator.keyword_validators,
            "schema": Fast31Schema,
            "default": Defaults31,
        }

    class FastV30(OpenAPIV30SpecValidator):  # type: ignore[misc]
        keyword_validators = {  # noqa: RUF012 - the base class declares it so
            **OpenAPIV30SpecValidator.keyword_validators,
            "schema": Fast30Schema,
            "default": Defaults30,
        }

    class FastV2(OpenAPIV2SpecValidator):  # type: ignore[misc]
        # Swagger 2.0 Schema Objects are checked as 3.0's (openapi-spec-validator does so too).
        keyword_validators = {  # noqa: RUF012 - the base class declares it so
            **OpenAPIV2SpecValidator.keyword_validators,
            "schema": Fast30Schema,
            "default": Defaults30,
        }

    return FastV31, FastV30, FastV2


_FastV31, _FastV30, _FastV2 = _fast_classes()
