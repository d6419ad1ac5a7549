"""Real-world OpenAPI documents, and the requests generated from them, for the Prism differential.

The documents are not in this repository: they come from npm packages (installed at test time,
see docs/mock.md "CI") whose licences allow it. `$AUTHSVC_TEST_CORPUS_DIR` names the npm prefix
they were installed into (the folder holding `node_modules`).

Per operation the generator builds: a valid request, the same without credentials, a wrong
parameter type, a `Prefer: code=` for a documented non-2xx answer, an unknown path and a wrong
method; each static and dynamic (`Prefer: dynamic=true`).
"""

from __future__ import annotations

import json
import os
import random
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest

from authsvc.contract import Contract, Operation
from authsvc.mock.engine.sampler import sample

# Left out: @readme/oas-examples' parameters-style documents. Prism 5.14 exits on their first
# request without an optional array header (a TypeError in its deserializer), and their 3.1
# copy declares no responses, on which Prism also exits.
# Every `npm install` line the corpus needs (the CI script runs exactly this).
NPM_PACKAGES = ("@octokit/openapi@23", "@readme/oas-examples@8")


@dataclass(frozen=True)
class Document:
    """One public description: where it comes from, and under which licence we use it."""

    name: str
    path: str  # inside node_modules
    source: str
    licence: str
    sample_every: int = 1  # replay every n-th operation (GitHub has 1,200)


_README = "@readme/oas-examples (npm, MIT, ReadMe)"
DOCUMENTS = (
    Document(
        "github",
        "@octokit/openapi/generated/api.github.com.json",
        "GitHub REST API description, via @octokit/openapi (npm)",
        "MIT (github/rest-api-description, octokit/openapi)",
        sample_every=4,
    ),
    Document(
        "train-travel",
        "@readme/oas-examples/3.1/json/train-travel.json",
        "Bump.sh Train Travel API (3.1), " + _README,
        "MIT (package); the API is Bump.sh's public example, CC BY-NC-SA 4.0 upstream",
    ),
    Document(
        "star-trek",
        "@readme/oas-examples/3.0/json/star-trek.json",
        "STAPI, the Star Trek API (3.0), " + _README,
        "MIT (package)",
    ),
    Document(
        "uspto",
        "@readme/oas-examples/3.0/json/uspto.json",
        "USPTO Data Set API (3.0), " + _README,
        "MIT (package); a U.S. government work upstream",
    ),
    Document(
        "petstore-31",
        "@readme/oas-examples/3.1/json/petstore.json",
        "Swagger Petstore (3.1), " + _README,
        "MIT (package); Apache-2.0 upstream",
    ),
    Document(
        "readme",
        "@readme/oas-examples/3.1/json/readme.json",
        "ReadMe's own API (3.1), " + _README,
        "MIT (package)",
    ),
    Document(
        "http-status-codes",
        "@readme/oas-examples/3.0/json/http-status-codes.json",
        "Every HTTP status code (3.0), " + _README,
        "MIT (package)",
    ),
    Document(
        "polymorphism",
        "@readme/oas-examples/3.0/json/polymorphism.json",
        "allOf/oneOf/anyOf and discriminators (3.0), " + _README,
        "MIT (package)",
    ),
    Document(
        "request-examples",
        "@readme/oas-examples/3.0/json/request-examples.json",
        "Request examples (3.0), " + _README,
        "MIT (package)",
    ),
    Document(
        "multiple-media-types",
        "@readme/oas-examples/3.0/json/response-multiple-mediatypes.json",
        "Responses with several media types (3.0), " + _README,
        "MIT (package)",
    ),
    Document(
        "schema-circular",
        "@readme/oas-examples/3.0/json/schema-circular.json",
        "Recursive schemas (3.0), " + _README,
        "MIT (package)",
    ),
    Document(
        "schema-types",
        "@readme/oas-examples/3.0/json/schema-types.json",
        "Every schema type (3.0), " + _README,
        "MIT (package)",
    ),
    Document(
        "response-examples",
        "@readme/oas-examples/3.0/json/response-examples.json",
        "Response examples (3.0), " + _README,
        "MIT (package)",
    ),
    Document(
        "security",
        "@readme/oas-examples/3.1/json/security.json",
        "Every security scheme (3.1), " + _README,
        "MIT (package)",
    ),
    Document(
        "form-data",
        "@readme/oas-examples/3.0/json/form-data.json",
        "Form bodies (3.0), " + _README,
        "MIT (package)",
    ),
    Document(
        "file-uploads",
        "@readme/oas-examples/3.0/json/file-uploads.json",
        "Multipart file uploads (3.0), " + _README,
        "MIT (package)",
    ),
    Document(
        "petstore-20",
        "@readme/oas-examples/2.0/json/petstore.json",
        "Swagger Petstore (Swagger 2.0), " + _README,
        "MIT (package); Apache-2.0 upstream",
    ),
    Document(
        "petstore-expanded-20",
        "@readme/oas-examples/2.0/json/petstore-expanded.json",
        "Swagger Petstore, expanded (Swagger 2.0), " + _README,
        "MIT (package); Apache-2.0 upstream",
    ),
    Document(
        "api-with-examples-20",
        "@readme/oas-examples/2.0/json/api-with-examples.json",
        "Response examples by media type (Swagger 2.0), " + _README,
        "MIT (package); Apache-2.0 upstream",
    ),
)

MISSING = (
    "real-world corpus not installed: `npm install --prefix DIR "
    + " ".join(NPM_PACKAGES)
    + "` and set AUTHSVC_TEST_CORPUS_DIR=DIR"
)


def corpus_dir() -> Path | None:
    configured = os.environ.get("AUTHSVC_TEST_CORPUS_DIR")
    if not configured:
        return None
    modules = Path(configured) / "node_modules"
    return modules if modules.is_dir() else None


def require_documents() -> dict[str, Path]:
    """The corpus files by name; skip locally without them, fail under CI."""
    modules = corpus_dir()
    found = {d.name: modules / d.path for d in DOCUMENTS} if modules else {}
    if not found or not all(p.is_file() for p in found.values()):
        if os.environ.get("CI") == "true":
            pytest.fail(MISSING)
        pytest.skip(MISSING)
    return found


Case = tuple[str, str, str, str, dict[str, str], bytes | None]

_WRONG_METHODS = ("patch", "put", "delete", "post", "get")
_CREDENTIALS = {
    "bearer": ("header", "Authorization", "Bearer token"),
    "basic": ("header", "Authorization", "Basic dXNlcjpwYXNz"),
    "digest": ("header", "Authorization", 'Digest username="u", realm="r", nonce="n"'),
}


def generate(name: str, contract: Contract, document: Document | None = None) -> Iterator[Case]:
    """Six requests per operation, each twice: static, then `Prefer: dynamic=true`."""
    every = document.sample_every if document else 1
    schemes = contract.security_schemes()
    root_security = contract.resolved.get("security") or []
    paths: Mapping[str, Any] = contract.resolved.get("paths") or {}
    for index, op in enumerate(contract.operations()):
        if index % every:
            continue
        for case in _operation_cases(name, contract, op, schemes, root_security, paths):
            yield case
            cid, doc, method, url, headers, body = case
            yield (cid + "~dyn", doc, method, url, {**headers, **_dynamic(headers)}, body)


def _dynamic(headers: Mapping[str, str]) -> dict[str, str]:
    prefer = headers.get("Prefer")
    return {"Prefer": f"{prefer}, dynamic=true" if prefer else "dynamic=true"}


def _operation_cases(
    name: str,
    contract: Contract,
    op: Operation,
    schemes: Mapping[str, Any],
    root_security: list[Any],
    paths: Mapping[str, Any],
) -> Iterator[Case]:
    cid = f"{name}:{op.method.upper()} {op.path}"
    security = op.spec.get("security")
    security = root_security if security is None else security
    creds = _credentials(security, schemes)
    path, query, headers = _parameters(op, contract)
    body, media = _body(op, contract)
    if media:
        headers["Content-Type"] = media
    full_query = {**query, **creds.get("query", {})}
    full_headers = {**headers, **creds.get("header", {})}
    if creds.get("cookie"):
        full_headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in creds["cookie"].items())
    url = path + (("?" + urlencode(full_query)) if full_query else "")
    method = op.method.upper()
    yield (cid + " valid", name, method, url, full_headers, body)
    if creds:
        bare = path + (("?" + urlencode(query)) if query else "")
        yield (cid + " no-security", name, method, bare, headers, body)
    wrong = _wrong_type(op, contract, path, full_query)
    if wrong is not None:
        yield (cid + " wrong-type", name, method, wrong, full_headers, body)
    code = next((c for c in op.responses if str(c).isdigit() and not str(c).startswith("2")), None)
    if code is not None:
        prefer = {**full_headers, "Prefer": f"code={code}"}
        yield (cid + f" prefer-{code}", name, method, url, prefer, body)
    # (Prism reads `//x` as a URL with host `x`: the unknown path never starts with two slashes.)
    unknown = path.rstrip("/") + "/zz-unknown-segment"
    yield (cid + " unknown-path", name, method, unknown, full_headers, body)
    declared = set(paths.get(op.path) or {})
    other = next((m for m in _WRONG_METHODS if m not in declared), None)
    if other is not None:
        yield (cid + " wrong-method", name, other.upper(), url, full_headers, None)


def _credentials(security: list[Any], schemes: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """Credentials that satisfy the first requirement ({} when none is needed)."""
    if not security or not security[0]:
        return {}
    found: dict[str, dict[str, str]] = {}
    for scheme_name in security[0]:
        scheme = schemes.get(scheme_name) or {}
        kind = scheme.get("type")
        if kind == "apiKey":
            found.setdefault(scheme.get("in", "header"), {})[scheme.get("name", "key")] = "k1"
        elif kind == "http":
            where, header, value = _CREDENTIALS.get(
                str(scheme.get("scheme", "")).lower(), _CREDENTIALS["bearer"]
            )
            found.setdefault(where, {})[header] = value
        else:  # oauth2, openIdConnect
            found.setdefault("header", {})["Authorization"] = "Bearer token"
    return found


def _value(param: Mapping[str, Any], contract: Contract) -> Any:
    if "example" in param:
        return param["example"]
    for example in (param.get("examples") or {}).values():
        if isinstance(example, Mapping) and "value" in example:
            return example["value"]
    schema = param.get("schema")
    if schema is None:
        content = param.get("content") or {}
        schema = next(iter(content.values()), {}).get("schema", {})
    return sample(schema, contract.resolved)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(_text(v) for v in value)
    if isinstance(value, dict):
        return ",".join(f"{k},{_text(v)}" for k, v in value.items())
    return "" if value is None else str(value)


def _parameters(op: Operation, contract: Contract) -> tuple[str, dict[str, str], dict[str, str]]:
    path = op.path
    query: dict[str, str] = {}
    headers: dict[str, str] = {}
    for param in op.parameters:
        where, pname = param.get("in"), str(param.get("name"))
        if where == "path":
            text = _text(_value(param, contract)) or "1"
            path = path.replace("{" + pname + "}", quote(text, safe=""))
        elif param.get("required") and where == "query":
            query[pname] = _text(_value(param, contract))
        elif param.get("required") and where == "header":
            headers[pname] = _text(_value(param, contract)) or "x"
    return path, query, headers


def _body(op: Operation, contract: Contract) -> tuple[bytes | None, str | None]:
    spec = op.spec.get("requestBody") or {}
    content: Mapping[str, Any] = spec.get("content") or {}
    media = next((m for m in content if "json" in m), None)
    if media is None:
        return _form_body(content, contract)
    item = content[media] or {}
    if "example" in item:
        value = item["example"]
    elif item.get("examples"):
        first = next(iter(item["examples"].values()))
        value = first.get("value") if isinstance(first, Mapping) else None
    else:
        value = sample(item.get("schema") or {}, contract.resolved)
    return json.dumps(value).encode(), media


def _form_body(content: Mapping[str, Any], contract: Contract) -> tuple[bytes | None, str | None]:
    """A form body from the schema's sample: urlencoded, else multipart (scalars as text)."""
    media = next((m for m in content if m in _FORM_TYPES), None)
    if media is None:
        return None, None
    value = sample((content[media] or {}).get("schema") or {}, contract.resolved)
    fields = {
        str(k): _text(v)
        for k, v in (value.items() if isinstance(value, dict) else ())
        if v is not None
    }
    if media == _FORM_TYPES[0]:
        return urlencode(fields).encode(), media
    parts = "".join(
        f'--{_BOUNDARY}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
        for k, v in fields.items()
    )
    return f"{parts}--{_BOUNDARY}--\r\n".encode(), f"{media}; boundary={_BOUNDARY}"


_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
_BOUNDARY = "corpus-boundary"


def _wrong_type(
    op: Operation, contract: Contract, path: str, query: Mapping[str, str]
) -> str | None:
    """The valid URL with one typed (integer, number, boolean, enum) parameter spoiled."""
    rng = random.Random(op.path + op.method)
    for param in sorted(op.parameters, key=lambda p: p.get("in") != "path"):
        schema = param.get("schema") or {}
        if not isinstance(schema, Mapping):
            continue
        if schema.get("type") not in ("integer", "number", "boolean") and "enum" not in schema:
            continue
        bad = f"not-a-value-{rng.randrange(100)}"
        if param.get("in") == "path":
            template = op.path.replace("{" + str(param["name"]) + "}", bad)
            for other in op.parameters:
                if other.get("in") == "path" and other is not param:
                    value = quote(_text(_value(other, contract)) or "1", safe="")
                    template = template.replace("{" + str(other["name"]) + "}", value)
            return template + (("?" + urlencode(query)) if query else "")
        if param.get("in") == "query":
            return path + "?" + urlencode({**query, str(param["name"]): bad})
    return None


def ajv_cannot_compile(schema: Any) -> bool:
    """Whether Prism's ajv refuses this schema (after http-spec), so Prism skips validating it.

    ajv throws on `nullable` without `type` (http-spec converts `nullable` only next to a single
    type), and on `nullable: false` next to a type that allows null.
    """
    from authsvc.mock.engine.prism_schema import prism_view

    stack = [prism_view(schema)]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, Mapping):
            continue
        kind = node.get("type")
        types = kind if isinstance(kind, list) else [kind] if kind else []
        if "nullable" in node and not types:
            return True
        if "null" in types and node.get("nullable") is False:
            return True
        for key, value in node.items():
            if key not in ("example", "examples", "default", "enum", "const"):
                stack.append(value)
    return False


def operation_of(contract: Contract, case_id: str) -> Operation | None:
    """The operation a generated case was built from (its id reads `doc:METHOD /path kind`)."""
    _doc, _, rest = case_id.partition(":")
    method, _, rest = rest.partition(" ")
    path = rest.rsplit(" ", 1)[0]
    return next(
        (op for op in contract.operations() if op.method == method.lower() and op.path == path),
        None,
    )


def no_final_answer(contract: Contract) -> Callable[[Case], bool]:
    """Cases whose answer is a 1xx status: neither server sends a final response after it.

    An informational status cannot end an exchange (RFC 9110 15.2), so both servers leave the
    client waiting until they drop the connection (5 to 6 s each, 12 cases of one document, over
    two minutes of the suite). The replay waits a short time for these: it still sees that
    neither side answers.
    """

    def informational(case: Case) -> bool:
        if re.search(r"code=1\d\d", case[4].get("Prefer", "")):
            return True
        # Only the valid request: the other kinds (unknown path, wrong method, missing security,
        # a wrong type) get a prompt 4xx and keep the usual wait.
        if case[0].removesuffix("~dyn").rsplit(" ", 1)[-1] != "valid":
            return False
        op = operation_of(contract, case[0])
        statuses = [str(s) for s in (op.spec.get("responses") or {})] if op is not None else []
        return bool(statuses) and all(s.startswith("1") for s in statuses)

    return informational
