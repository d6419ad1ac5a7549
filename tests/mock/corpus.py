"""Requests replayed against Prism and our mock: (id, contract, method, path, headers, body).

Each case is something a client does; together they cover every row of the parity table in
docs/mock.md (valid/invalid input, auth variants, every Prefer form, methods, paths, Accept, CORS).
"""

from __future__ import annotations

from typing import Any

SEED = "seed.yaml"
PETS = "petstore-30.yaml"
BOOKS = "library-31.yaml"
STATIC = "mock-static-bodies.yaml"
ROUTING = "mock-routing.yaml"
DYNEX = "mock-dynamic-example.yaml"

C = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
U = "3fa85f64-5717-4562-b3fc-2c963f66afa7"
RESEND = f"/customers/{C}/users/{U}/resend-invite"
BEARER = {"Authorization": "Bearer token"}
KEY = {"X-API-Key": "k", "X-Request-Id": "r1"}
BASIC = {"Authorization": "Basic eDp5", "Content-Type": "application/json"}
JSON = {"Content-Type": "application/json"}

Case = tuple[str, str, str, str, dict[str, str], bytes | None]

# fmt: off
CASES: list[Case] = [
    # routing
    ("seed-valid", SEED, "POST", RESEND, BEARER, None),
    ("seed-unknown-path", SEED, "GET", "/nope", {}, None),
    ("seed-trailing-slash", SEED, "POST", RESEND + "/", BEARER, None),
    ("seed-wrong-method", SEED, "GET", RESEND, BEARER, None),
    ("seed-base-path-not-prepended", SEED, "POST", "/auth/api/v1" + RESEND, BEARER, None),
    ("seed-percent-encoded-param", SEED, "POST", RESEND.replace(U, "%33" + U[1:]), BEARER, None),
    (
        "seed-dot-segments",
        SEED,
        "POST",
        f"/customers/{C}/users/{U}/../x/resend-invite",
        BEARER,
        None,
    ),
    (
        "seed-server-known",
        SEED,
        "POST",
        RESEND + "?__server=https://api.joinworth.com/auth/api/v1",
        BEARER,
        None,
    ),
    ("seed-server-unknown", SEED, "POST", RESEND + "?__server=http://other.test", BEARER, None),
    # security
    ("seed-no-auth", SEED, "POST", RESEND, {}, None),
    ("seed-lowercase-bearer", SEED, "POST", RESEND, {"Authorization": "bearer x"}, None),
    ("seed-bearer-without-token", SEED, "POST", RESEND, {"Authorization": "Bearer"}, None),
    ("seed-basic-instead-of-bearer", SEED, "POST", RESEND, {"Authorization": "Basic eDp5"}, None),
    ("seed-security-beats-prefer", SEED, "POST", RESEND, {"Prefer": "code=200"}, None),
    (
        "seed-security-beats-invalid-params",
        SEED,
        "POST",
        "/customers/a/users/b/resend-invite",
        {},
        None,
    ),
    # validation
    ("seed-invalid-uuid", SEED, "POST", "/customers/abc/users/def/resend-invite", BEARER, None),
    (
        "seed-invalid-ignores-code",
        SEED,
        "POST",
        "/customers/abc/users/def/resend-invite",
        {**BEARER, "Prefer": "code=403"},
        None,
    ),
    ("seed-body-not-declared", SEED, "POST", RESEND, {**BEARER, **JSON}, b'{"a":1}'),
    (
        "seed-text-body-not-declared",
        SEED,
        "POST",
        RESEND,
        {**BEARER, "Content-Type": "text/plain"},
        b"hello",
    ),
    # preferences
    ("seed-prefer-code", SEED, "POST", RESEND, {**BEARER, "Prefer": "code=403"}, None),
    ("seed-prefer-code-undocumented", SEED, "POST", RESEND, {**BEARER, "Prefer": "code=999"}, None),
    ("seed-prefer-code-malformed", SEED, "POST", RESEND, {**BEARER, "Prefer": "code=abc"}, None),
    (
        "seed-prefer-two-malformed",
        SEED,
        "POST",
        RESEND,
        {**BEARER, "Prefer": "code=abc, dynamic=maybe"},
        None,
    ),
    ("seed-prefer-bare-dynamic", SEED, "POST", RESEND, {**BEARER, "Prefer": "dynamic"}, None),
    (
        "seed-prefer-example-unknown",
        SEED,
        "POST",
        RESEND,
        {**BEARER, "Prefer": "example=nope"},
        None,
    ),
    (
        "seed-prefer-example-default",
        SEED,
        "POST",
        RESEND,
        {**BEARER, "Prefer": "example=default"},
        None,
    ),
    ("seed-prefer-unknown-token", SEED, "POST", RESEND, {**BEARER, "Prefer": "foo=bar"}, None),
    ("seed-query-code", SEED, "POST", RESEND + "?__code=403", BEARER, None),
    (
        "seed-header-beats-query",
        SEED,
        "POST",
        RESEND + "?__code=403",
        {**BEARER, "Prefer": "code=500"},
        None,
    ),
    (
        "seed-any-header-disables-query",
        SEED,
        "POST",
        RESEND + "?__code=403",
        {**BEARER, "Prefer": "foo=1"},
        None,
    ),
    ("seed-query-example-unknown", SEED, "POST", RESEND + "?__example=zzz", BEARER, None),
    # negotiation
    ("seed-accept-unavailable", SEED, "POST", RESEND, {**BEARER, "Accept": "text/plain"}, None),
    (
        "seed-accept-q-values",
        SEED,
        "POST",
        RESEND,
        {**BEARER, "Accept": "application/xml, application/json;q=0.5"},
        None,
    ),
    ("seed-accept-any", SEED, "POST", RESEND, {**BEARER, "Accept": "*/*"}, None),
    ("seed-accept-range", SEED, "POST", RESEND, {**BEARER, "Accept": "application/*"}, None),
    # CORS
    (
        "seed-preflight",
        SEED,
        "OPTIONS",
        RESEND,
        {"Origin": "http://a.test", "Access-Control-Request-Method": "POST"},
        None,
    ),
    (
        "seed-preflight-headers",
        SEED,
        "OPTIONS",
        RESEND,
        {
            "Origin": "http://a.test",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, x-y",
        },
        None,
    ),
    ("seed-options-not-preflight", SEED, "OPTIONS", RESEND, {}, None),
    ("seed-origin-echoed", SEED, "POST", RESEND, {**BEARER, "Origin": "http://a.test"}, None),
    # petstore 3.0: apiKey, basic, query/header params, several media types and examples
    ("pets-missing-header", PETS, "GET", "/pets", {"X-API-Key": "k"}, None),
    ("pets-list", PETS, "GET", "/pets", KEY, None),
    ("pets-head-on-get", PETS, "HEAD", "/pets", KEY, None),
    ("pets-bad-query", PETS, "GET", "/pets?limit=0&tag=fish", KEY, None),
    ("pets-query-not-integer", PETS, "GET", "/pets?limit=abc", KEY, None),
    ("pets-query-coerced", PETS, "GET", "/pets?limit=5&tag=dog", KEY, None),
    ("pets-no-api-key", PETS, "GET", "/pets?limit=5", {"X-Request-Id": "r1"}, None),
    ("pets-accept-xml", PETS, "GET", "/pets", {**KEY, "Accept": "application/xml"}, None),
    ("pets-named-example", PETS, "GET", "/pets", {**KEY, "Prefer": "example=empty"}, None),
    ("pets-code-500", PETS, "GET", "/pets", {**KEY, "Prefer": "code=500"}, None),
    ("pets-code-via-default", PETS, "GET", "/pets", {**KEY, "Prefer": "code=503"}, None),
    ("pets-accept-html", PETS, "GET", "/pets", {**KEY, "Accept": "text/html"}, None),
    ("pets-create-no-auth", PETS, "POST", "/pets", JSON, b'{"name":"Rex"}'),
    ("pets-create", PETS, "POST", "/pets", BASIC, b'{"name":"Rex"}'),
    (
        "pets-create-example-tom",
        PETS,
        "POST",
        "/pets",
        {**BASIC, "Prefer": "example=tom"},
        b'{"name":"Rex"}',
    ),
    (
        "pets-create-invalid-body",
        PETS,
        "POST",
        "/pets",
        BASIC,
        b'{"name":"","extra":1,"tag":"fish"}',
    ),
    ("pets-create-missing-body", PETS, "POST", "/pets", BASIC, b""),
    (
        "pets-create-wrong-media-type",
        PETS,
        "POST",
        "/pets",
        {**BASIC, "Content-Type": "text/plain"},
        b"hi",
    ),
    ("pets-create-array-body", PETS, "POST", "/pets", BASIC, b"[1]"),
    (
        "pets-create-invalid-example-unknown",
        PETS,
        "POST",
        "/pets",
        {**BASIC, "Prefer": "code=422, example=nope"},
        b"{}",
    ),
    ("pets-create-invalid-code-400", PETS, "POST", "/pets", {**BASIC, "Prefer": "code=400"}, b"{}"),
    ("pets-show", PETS, "GET", "/pets/12", {"X-API-Key": "k"}, None),
    ("pets-show-generated-422", PETS, "GET", "/pets/abc", {"X-API-Key": "k"}, None),
    ("pets-show-text", PETS, "GET", "/pets/12", {"X-API-Key": "k", "Accept": "text/plain"}, None),
    (
        "pets-show-text-by-q",
        PETS,
        "GET",
        "/pets/12",
        {"X-API-Key": "k", "Accept": "text/*;q=0.9, application/json;q=0.1"},
        None,
    ),
    ("pets-show-404", PETS, "GET", "/pets/12", {"X-API-Key": "k", "Prefer": "code=404"}, None),
    ("pets-delete-204", PETS, "DELETE", "/pets/12", {}, None),
    ("pets-inventory-no-key", PETS, "GET", "/store/inventory", {}, None),
    ("pets-inventory-from-schema", PETS, "GET", "/store/inventory?api_key=1", {}, None),
    (
        "pets-server-second",
        PETS,
        "GET",
        "/pets/12?__server=http://staging.petstore.test/v2",
        {"X-API-Key": "k"},
        None,
    ),
    # library 3.1: alternative security, body from schema, examples in 4xx
    ("books-search-from-schema", BOOKS, "GET", "/books?q=dune", {}, None),
    ("books-search-missing-q", BOOKS, "GET", "/books", {}, None),
    ("books-search-short-q", BOOKS, "GET", "/books?q=d", {}, None),
    (
        "books-create-cookie-auth",
        BOOKS,
        "POST",
        "/books",
        {"Cookie": "session=abc", **JSON},
        b'{"title":"Dune","position":[1,"a"]}',
    ),
    ("books-create-no-auth", BOOKS, "POST", "/books", JSON, b'{"title":"Dune","position":[1,"a"]}'),
    (
        "books-create-missing-title",
        BOOKS,
        "POST",
        "/books",
        {**BEARER, **JSON},
        b'{"position":[1,"a"]}',
    ),
    (
        "books-create-example-by-code",
        BOOKS,
        "POST",
        "/books",
        {**BEARER, **JSON, "Prefer": "code=400, example=wrong"},
        b"{}",
    ),
    ("books-show", BOOKS, "GET", "/books/978-0441013593", {}, None),
    ("books-show-bad-isbn", BOOKS, "GET", "/books/abc", {}, None),
    ("books-show-404", BOOKS, "GET", "/books/978-0441013593?__code=404", {}, None),
    # issue 12 item 1: bodies sampled after http-spec's rewrite (format bounds, example last)
    ("static-format-bounds", STATIC, "GET", "/numbers", {}, None),
    ("static-example-after-default-enum-allof", STATIC, "GET", "/precedence", {}, None),
    ("static-bounds-and-byte-checked", STATIC, "POST", "/bytes", JSON, b'{"blob":"string","n":3000000000}'),
    ("static-int32-in-range", STATIC, "POST", "/bytes", JSON, b'{"blob":"YWJj","n":-2147483648}'),
    # issue 12 items 3 and 6: Prism's segment scores; an empty non-exploded array is missing
    ("routing-literal-beats-template", ROUTING, "GET", "/c/1/show.json", {}, None),
    ("routing-slug-and-id", ROUTING, "GET", "/c/abc/2.json", {}, None),
    ("routing-equal-scores-last-wins", ROUTING, "GET", "/t/x.json", {}, None),
    ("routing-single-template", ROUTING, "GET", "/t/x", {}, None),
    ("query-empty-array-is-missing", ROUTING, "GET", "/items?type=", {}, None),
    ("query-array-non-exploded", ROUTING, "GET", "/items?type=a,b", {}, None),
    ("query-array-absent", ROUTING, "GET", "/items", {}, None),
    # issue 12 item 5 and deep bodies: both deliberate differences (docs/mock.md)
    ("dynamic-example-without-schema", DYNEX, "GET", "/greeting", {"Prefer": "dynamic=true"}, None),
    ("static-example-without-schema", DYNEX, "GET", "/greeting", {}, None),
    ("json-nested-100-levels", DYNEX, "POST", "/echo", JSON, b'{"a":' * 100 + b"1" + b"}" * 100),
    ("json-nested-1000-levels", DYNEX, "POST", "/echo", JSON, b'{"a":' * 1000 + b"1" + b"}" * 1000),
]
# fmt: on

# Where we deliberately differ (docs/mock.md, "Differences"): Prism validates 3.1 schemas as
# draft-07, so it rejects `prefixItems` tuples and its sampler leaves them empty.
KNOWN_DIFFERENCES = {
    "books-search-from-schema": "sampler fills prefixItems tuples; Prism's leaves them []",
    "books-create-cookie-auth": "2020-12 accepts the prefixItems tuple Prism rejects (draft-07)",
    "books-create-missing-title": "2020-12: no bogus 'false schema' violations for prefixItems",
    "dynamic-example-without-schema": "the example is served; Prism answers 500 (no schema)",
    "json-nested-1000-levels": "bodies nested deeper than 256 levels are a json violation",
}

# Dynamic answers cannot be equal to json-schema-faker's; both must be valid and of one status.
# fmt: off
DYNAMIC_CASES: list[Case] = [
    ("seed-dynamic", SEED, "POST", RESEND, {**BEARER, "Prefer": "dynamic=true, seed=5"}, None),
    ("pets-dynamic-list", PETS, "GET", "/pets?__dynamic=true&__seed=1", KEY, None),
    (
        "pets-dynamic-inventory",
        PETS,
        "GET",
        "/store/inventory?api_key=1",
        {"Prefer": "dynamic=true"},
        None,
    ),
    (
        "books-dynamic-search",
        BOOKS,
        "GET",
        "/books?q=dune",
        {"Prefer": "dynamic=true, seed=9"},
        None,
    ),
]


def as_kwargs(case: Case) -> dict[str, Any]:
    _id, _contract, method, path, headers, body = case
    return {"method": method, "url": path, "headers": headers, "content": body}
