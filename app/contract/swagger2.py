"""Swagger 2.0, read as Prism reads it: converted once into the OpenAPI 3.0 shape the plan
compiler and the mock read, with @stoplight/http-spec's semantics (its `oas2` transformers).

The input is the document with its references already resolved (`ContractRefs.inline`), so a
`$ref` left in it closes a cycle and is followed by the validators themselves. What changes:

- `host`, `basePath` and `schemes` (document or operation) become `servers`, one per valid
  scheme, and none without a host;
- query, path and header parameters get a schema picked from their own keywords (`type`,
  `format`, `enum`, `items`, bounds...; `allowEmptyValue: false` is `minLength: 1`), and a style
  from `collectionFormat` (`csv` split on commas, `multi` repeated, `ssv`, `pipes`...);
- a `body` parameter is the request body, under each media type of `consumes` except the two
  form types; `formData` parameters are an object schema under the form types of `consumes`,
  their `collectionFormat` an encoding. No `consumes`: a body declared with no media type (Prism
  then refuses a body that names its Content-Type);
- a response has a content per media type of `produces` that has a schema or an example
  (`examples` by media type, else the schema's `example` and `x-examples`); examples for media
  types `produces` does not list go to the first content (or to a content without a media type,
  which no `Accept` matches). No `produces`: no response body;
- `securityDefinitions` are security schemes (basic, apiKey in header or query, oauth2 with a
  known flow; others are left out of their requirement), requirements naming none are dropped,
  an empty requirement among others means "no credentials";
- `x-nullable` is `nullable`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
# A converted media type whose examples are exactly those listed (Prism's own order): the 3.x
# rule that a schema's `example` comes first does not apply to 2.0 responses.
EXAMPLES_AS_LISTED = "x-authsvc-examples-as-listed"
_SCHEMES = ("http", "https", "ws", "wss")
_PARAMETER_LOCATIONS = ("query", "header", "path", "body", "formData")
_SCHEMA_KEYWORDS = (
    "type",
    "format",
    "default",
    "enum",
    "exclusiveMaximum",
    "exclusiveMinimum",
    "maxItems",
    "maxLength",
    "maximum",
    "minItems",
    "minimum",
    "minLength",
    "title",
    "items",
    "pattern",
    "uniqueItems",
    "multipleOf",
)
_QUERY_STYLES: dict[str, dict[str, Any]] = {
    "csv": {"style": "form", "explode": False},
    "ssv": {"style": "spaceDelimited", "explode": False},
    "tsv": {"style": "tabDelimited", "explode": False},
    "pipes": {"style": "pipeDelimited", "explode": False},
    "multi": {"style": "form", "explode": True},
}
_ENCODINGS: dict[str, dict[str, Any]] = {
    "csv": {"style": "commaDelimited", "explode": False},
    "pipes": {"style": "pipeDelimited", "explode": False},
    "multi": {"style": "form", "explode": True},
    "ssv": {"style": "spaceDelimited", "explode": False},
}
_OAUTH2_FLOWS = {
    "implicit": ("implicit", ("authorizationUrl",)),
    "password": ("password", ("tokenUrl",)),
    "application": ("clientCredentials", ("tokenUrl",)),
    "accessCode": ("authorizationCode", ("authorizationUrl", "tokenUrl")),
}


def convert(document: Mapping[str, Any]) -> dict[str, Any]:
    """The 3.0-shaped view of a resolved Swagger 2.0 document."""
    _nullable(document)
    definitions = _mapping(document.get("securityDefinitions"))
    schemes = {
        name: scheme
        for name, definition in definitions.items()
        if (scheme := _security_scheme(definition)) is not None
    }
    out: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": document.get("info") if isinstance(document.get("info"), Mapping) else {},
        "paths": {},
        "components": {"securitySchemes": schemes},
    }
    servers = _servers(document, document.get("schemes"))
    if servers:
        out["servers"] = servers
    for path, item in _mapping(document.get("paths")).items():
        if not isinstance(item, Mapping):
            continue
        converted: dict[str, Any] = {}
        for method in HTTP_METHODS:
            operation = item.get(method)
            if isinstance(operation, Mapping):
                converted[method] = _operation(document, item, operation, definitions, schemes)
        out["paths"][path] = converted
    return out


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _strings(value: Any) -> list[str]:
    """`consumes`/`produces` as http-spec reads them: strings of a (possibly nested) list."""
    if not isinstance(value, list):
        return []
    flat: list[Any] = []
    for item in value:
        flat.extend(item if isinstance(item, list) else [item])
    return [item for item in flat if isinstance(item, str)]


def _servers(document: Mapping[str, Any], schemes: Any) -> list[dict[str, Any]]:
    host = document.get("host")
    if not isinstance(host, str) or not host or not isinstance(schemes, list):
        return []
    base_path = document.get("basePath")
    path = base_path if isinstance(base_path, str) and base_path else ""
    if path and not path.startswith("/"):
        path = "/" + path
    return [
        {"url": f"{scheme}://{host}{path}".rstrip("/")}
        for scheme in schemes
        if isinstance(scheme, str) and scheme in _SCHEMES
    ]


def _operation(
    document: Mapping[str, Any],
    item: Mapping[str, Any],
    operation: Mapping[str, Any],
    definitions: Mapping[str, Any],
    schemes: Mapping[str, Any],
) -> dict[str, Any]:
    out: dict[str, Any] = {
        key: operation[key]
        for key in ("operationId", "summary", "description", "tags")
        if key in operation
    }
    if isinstance(operation.get("deprecated"), bool):
        out["deprecated"] = operation["deprecated"]
    consumes = _strings(operation.get("consumes") or document.get("consumes"))
    produces = _strings(operation.get("produces") or document.get("produces"))
    parameters, body = _request(item, operation, consumes)
    out["parameters"] = parameters
    if body is not None:
        out["requestBody"] = body
    out["responses"] = {
        str(code): converted
        for code, response in _mapping(operation.get("responses")).items()
        if not str(code).startswith("x-")
        and (converted := _response(response, produces)) is not None
    }
    out["security"] = _security(document, operation, definitions, schemes)
    if isinstance(operation.get("schemes"), list):
        servers = _servers(document, operation["schemes"])
        if servers:
            out["servers"] = servers
    return out


def _request(
    item: Mapping[str, Any], operation: Mapping[str, Any], consumes: list[str]
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Parameters (the operation's first, then the path's; the first of a name and location
    wins) and the request body from `body` or `formData` parameters."""
    own = operation.get("parameters")
    shared = item.get("parameters")
    seen: set[tuple[str, str]] = set()
    parameters: list[dict[str, Any]] = []
    body: dict[str, Any] | None = None
    form: list[Mapping[str, Any]] = []
    for param in [
        *(own if isinstance(own, list) else ()),
        *(shared if isinstance(shared, list) else ()),
    ]:
        if not (
            isinstance(param, Mapping)
            and isinstance(param.get("name"), str)
            and param.get("in") in _PARAMETER_LOCATIONS
        ):
            continue
        key = (param["name"], param["in"])
        if key in seen:
            continue
        seen.add(key)
        if param["in"] == "body":
            body = _body(param, consumes)
        elif param["in"] == "formData":
            form.append(param)
        else:
            parameters.append(_parameter(param))
    if body is None and form:
        body = _form(form, consumes)
    return parameters, body


def _parameter_schema(param: Mapping[str, Any]) -> dict[str, Any]:
    """http-spec's `buildSchemaForParameter`: {schema?, deprecated?, description?}."""
    schema = {key: param[key] for key in _SCHEMA_KEYWORDS if key in param}
    if param.get("allowEmptyValue") is False:
        schema["minLength"] = 1
    out: dict[str, Any] = {}
    if schema:
        out["schema"] = schema
    if isinstance(param.get("x-deprecated"), bool):
        out["deprecated"] = param["x-deprecated"]
    if isinstance(param.get("description"), str):
        out["description"] = param["description"]
    return out


def _parameter(param: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"name": param["name"], "in": param["in"]}
    if param["in"] == "query":
        style = _QUERY_STYLES.get(str(param.get("collectionFormat")), _QUERY_STYLES["csv"])
        out.update(style if param.get("type") == "array" else {"style": "form", "explode": False})
    else:
        out["style"] = "simple"
    out.update(_parameter_schema(param))
    if isinstance(param.get("required"), bool):
        out["required"] = param["required"]
    return out


def _body(param: Mapping[str, Any], consumes: list[str]) -> dict[str, Any]:
    schema = param.get("schema")
    content: dict[str, Any] = {}
    for media_type in consumes:
        if media_type in FORM_TYPES:
            continue
        content[media_type] = {"schema": schema} if isinstance(schema, Mapping) else {}
    out: dict[str, Any] = {"content": content}
    if isinstance(param.get("required"), bool):
        out["required"] = param["required"]
    return out


def _form(params: list[Mapping[str, Any]], consumes: list[str]) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    required: list[str] = []
    encoding: dict[str, Any] = {}
    for param in params:
        built = _parameter_schema(param)
        prop = dict(built.get("schema") or {})
        if built.get("description"):
            prop["description"] = built["description"]
        properties[param["name"]] = prop
        if param.get("required"):
            required.append(param["name"])
        style = _ENCODINGS.get(str(param.get("collectionFormat")))
        if style is not None:
            encoding[param["name"]] = dict(style)
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    content: dict[str, Any] = {}
    for media_type in consumes:
        if media_type in FORM_TYPES and media_type not in content:
            content[media_type] = {"schema": schema}
            if encoding:
                content[media_type]["encoding"] = encoding
    return {"content": content}


def _examples(response: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The response's examples, keyed by media type or name, in http-spec's order."""
    examples = response.get("examples")
    # Any value JavaScript finds true (an empty object too) stands for the schema's examples.
    if examples is not None and examples is not False and examples not in (0, ""):
        return list(examples.items()) if isinstance(examples, Mapping) else []
    schema = response.get("schema")
    if not isinstance(schema, Mapping):
        return []
    found = dict(_mapping(schema.get("x-examples")))
    if "example" in schema:
        found["default"] = schema["example"]
    return list(found.items())


def _response(response: Any, produces: list[str]) -> dict[str, Any] | None:
    if not isinstance(response, Mapping) or not any(
        key in response for key in ("description", "schema", "headers", "examples")
    ):
        return None
    out: dict[str, Any] = {"description": str(response.get("description") or "")}
    headers = {
        name: _header(header)
        for name, header in _mapping(response.get("headers")).items()
        if isinstance(header, Mapping)
    }
    if headers:
        out["headers"] = headers
    schema = response.get("schema")
    examples = _examples(response)
    contents: list[tuple[str, dict[str, Any]]] = []
    for media_type in produces:
        own = {key: {"value": value} for key, value in examples if key == media_type}
        if not isinstance(schema, Mapping) and not own:
            continue
        content: dict[str, Any] = {EXAMPLES_AS_LISTED: True, "examples": own}
        if isinstance(schema, Mapping):
            content["schema"] = schema
        contents.append((media_type, content))
    foreign = [(key, value) for key, value in examples if key not in produces]
    if foreign:
        if not contents:
            contents.append(("", {EXAMPLES_AS_LISTED: True, "schema": {}, "examples": {}}))
        first = contents[0][1]["examples"]
        for key, value in foreign:
            first.setdefault(key, {"value": value})
    if contents:
        out["content"] = dict(contents)
    return out


def _header(header: Mapping[str, Any]) -> dict[str, Any]:
    out = _parameter_schema(header)
    if isinstance(header.get("required"), bool):
        out["required"] = header["required"]
    return out


def _security_scheme(definition: Any) -> dict[str, Any] | None:
    if not isinstance(definition, Mapping) or not isinstance(definition.get("type"), str):
        return None
    kind = definition["type"]
    if kind == "basic":
        return {"type": "http", "scheme": "basic"}
    if kind == "apiKey" and definition.get("in") in ("query", "header"):
        name = definition.get("name")
        return {
            "type": "apiKey",
            "in": definition["in"],
            "name": name if isinstance(name, str) else "",
        }
    flow = definition.get("flow")
    if kind == "oauth2" and isinstance(flow, str) and flow in _OAUTH2_FLOWS:
        name, urls = _OAUTH2_FLOWS[flow]
        scopes = {k: v for k, v in _mapping(definition.get("scopes")).items() if isinstance(v, str)}
        settings = {url: str(definition.get(url) or "") for url in urls}
        return {"type": "oauth2", "flows": {name: {**settings, "scopes": scopes}}}
    return None


def _security(
    document: Mapping[str, Any],
    operation: Mapping[str, Any],
    definitions: Mapping[str, Any],
    schemes: Mapping[str, Any],
) -> list[dict[str, list[str]]]:
    """The operation's requirements as http-spec's `getSecurities` reads them."""
    if not definitions:
        return []
    security = operation.get("security")
    if security is None:
        security = document.get("security")
    if not isinstance(security, list):
        return []
    requirements: list[dict[str, list[str]]] = []
    for requirement in security:
        if not isinstance(requirement, Mapping):
            continue
        named = [
            name
            for name in requirement
            if isinstance(definitions.get(name), Mapping)
            and isinstance(definitions[name].get("type"), str)
        ]
        if named:
            # A scheme Prism cannot check (apiKey in a cookie, an unknown flow) leaves the
            # requirement; a requirement left empty then means "no credentials".
            requirements.append({name: [] for name in named if name in schemes})
    if len(security) > 1 and any(not r for r in security if isinstance(r, Mapping)):
        requirements.append({})
    return requirements


def _nullable(document: Mapping[str, Any]) -> None:
    """`x-nullable` as 3.0's `nullable`, in place, in every schema of the resolved document."""
    seen: set[int] = set()
    stack: list[Any] = [document]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            if "x-nullable" in node and "nullable" not in node:
                node["nullable"] = node.pop("x-nullable")
            stack.extend(
                value
                for key, value in node.items()
                if key not in ("example", "examples", "x-examples", "default", "enum")
            )
