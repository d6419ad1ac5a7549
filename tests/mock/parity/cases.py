"""What a client does to each behaviour of the parity corpus (documents/), in every version the
behaviour has a document for; ids read `BEHAVIOUR VERSION: LABEL`."""

from __future__ import annotations

from dataclasses import dataclass, field

JSON = {"Content-Type": "application/json"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
BEARER = {"Authorization": "Bearer token"}


@dataclass(frozen=True)
class Request:
    label: str
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    versions: tuple[str, ...] = ("3.0", "3.1", "2.0")
    dynamic: bool = False  # bodies are random: compare all but the body


def multipart(boundary: str = "B", **fields: str) -> bytes:
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in fields.items()
    ]
    return ("".join(parts) + f"--{boundary}--\r\n").encode()


def MULTIPART(boundary: str = "B") -> dict[str, str]:
    return {"Content-Type": f"multipart/form-data; boundary={boundary}"}


R = Request
CASES: dict[str, list[Request]] = {
    "status-keys": [
        R("lowest 2xx", "GET", "/status-keys/orders"),
        R("prefer 404", "GET", "/status-keys/orders", {"Prefer": "code=404"}),
        R("prefer 201", "GET", "/status-keys/orders", {"Prefer": "code=201"}),
        R("prefer 500 is default", "GET", "/status-keys/orders", {"Prefer": "code=500"}),
        R(
            "named example",
            "GET",
            "/status-keys/orders",
            {"Prefer": "example=none"},
            versions=("3.0", "3.1"),
        ),
        R("dynamic", "GET", "/status-keys/orders", {"Prefer": "dynamic=true"}, dynamic=True),
        R("wrong method", "DELETE", "/status-keys/orders"),
        R("unknown path", "GET", "/status-keys/nope"),
        R(
            "preflight",
            "OPTIONS",
            "/status-keys/orders",
            {"Origin": "http://app.test", "Access-Control-Request-Method": "GET"},
        ),
        R("origin echoed", "GET", "/status-keys/orders", {"Origin": "http://app.test"}),
    ],
    "param-no-schema": [
        R("all there", "GET", "/param-no-schema/search?q=x&page=2", {"X-Trace": "t"}),
        R("required missing", "GET", "/param-no-schema/search?page=2"),
        R("empty is absent", "GET", "/param-no-schema/search?q=&page=1"),
        R("typed one invalid", "GET", "/param-no-schema/search?q=x&page=0"),
    ],
    "path-undeclared": [
        R("both", "GET", "/path-undeclared/users/ann/posts/3"),
        R("declared one invalid", "GET", "/path-undeclared/users/ann/posts/x"),
        R("empty undeclared", "GET", "/path-undeclared/users//posts/3"),
    ],
    "extra-keys": [
        R("served", "GET", "/extra-keys/profile"),
        R("valid body", "PUT", "/extra-keys/profile", JSON, b'{"name":"Ann"}'),
        R("invalid body", "PUT", "/extra-keys/profile", JSON, b'{"name":"Annabel"}'),
        R("missing field", "PUT", "/extra-keys/profile", JSON, b"{}"),
    ],
    "oauth2-no-scopes": [
        R("token", "GET", "/oauth2-no-scopes/me", BEARER),
        R("no token", "GET", "/oauth2-no-scopes/me"),
        R("not a bearer", "GET", "/oauth2-no-scopes/me", {"Authorization": "Basic eDp5"}),
    ],
    "forms": [
        R("valid", "POST", "/forms/signup", FORM, b"email=a%40b.test&age=20"),
        R("coerced and trimmed", "POST", "/forms/signup", FORM, b"email=a%40b.test&age=+20"),
        R("too young", "POST", "/forms/signup", FORM, b"email=a%40b.test&age=17"),
        R("not a number", "POST", "/forms/signup", FORM, b"email=a%40b.test&age=old"),
        R("missing both", "POST", "/forms/signup", FORM, b"note=hi"),
        R("bad email", "POST", "/forms/signup", FORM, b"email=nope&age=30"),
        R("unknown field", "POST", "/forms/signup", FORM, b"email=a%40b.test&age=30&zz=1"),
        R("ids encoded", "POST", "/forms/signup", FORM, b"email=a%40b.test&age=30&ids=1%2C2"),
        R("ids reserved", "POST", "/forms/signup", FORM, b"email=a%40b.test&age=30&ids=1,2"),
        R("ids bad item", "POST", "/forms/signup", FORM, b"email=a%40b.test&age=30&ids=1%2Cx"),
        R("tags one", "POST", "/forms/signup", FORM, b"email=a%40b.test&age=30&tags=a"),
        R(
            "note reserved allowed",
            "POST",
            "/forms/signup",
            FORM,
            b"email=a%40b.test&age=30&note=a,b",
            versions=("3.0", "3.1"),
        ),
        R("as json", "POST", "/forms/signup", JSON, b'{"email":"a@b.test","age":30}'),
        R("empty body", "POST", "/forms/signup", FORM, b""),
        R("upload", "POST", "/forms/upload", MULTIPART(), multipart(file="GIF89a", kind="avatar")),
        R(
            "upload bad enum",
            "POST",
            "/forms/upload",
            MULTIPART(),
            multipart(file="x", kind="logo"),
        ),
        R(
            "upload too big",
            "POST",
            "/forms/upload",
            MULTIPART(),
            multipart(file="x", kind="avatar", size="101"),
        ),
        R("upload no file", "POST", "/forms/upload", MULTIPART(), multipart(kind="avatar")),
        R(
            "upload no boundary",
            "POST",
            "/forms/upload",
            {"Content-Type": "multipart/form-data"},
            b"kind=avatar",
        ),
        R(
            "recursive schema: not checked",
            "POST",
            "/forms/tree",
            FORM,
            b"node=x&name=y",
            versions=("3.0", "3.1"),
        ),
        R(
            "recursive schema: reserved characters",
            "POST",
            "/forms/tree",
            FORM,
            b"node=a,b",
            versions=("3.0", "3.1"),
        ),
    ],
    "security-alternatives": [
        R("bearer", "GET", "/security-alternatives/reports", BEARER),
        R("basic", "GET", "/security-alternatives/reports", {"Authorization": "Basic eDp5"}),
        R("neither", "GET", "/security-alternatives/reports"),
        R("bad basic", "GET", "/security-alternatives/reports", {"Authorization": "Basic !!"}),
        R("both keys", "GET", "/security-alternatives/keys?key=1", {"X-Key": "k"}),
        R("one key", "GET", "/security-alternatives/keys", {"X-Key": "k"}),
        R("no key at all", "GET", "/security-alternatives/keys"),
        R("anonymous with a token", "GET", "/security-alternatives/keys", BEARER),
        R("undeclared scheme", "GET", "/security-alternatives/unknown"),
        R("undeclared scheme with a token", "GET", "/security-alternatives/unknown", BEARER),
    ],
    "violations": [
        R(
            "valid",
            "POST",
            "/violations/users",
            JSON,
            b'{"first_name":"A","last_name":"B","email":"a@b.test"}',
        ),
        R("two missing", "POST", "/violations/users", JSON, b'{"first_name":"A"}'),
        R("three missing", "POST", "/violations/users", JSON, b"{}"),
        R(
            "missing and enum",
            "POST",
            "/violations/users",
            JSON,
            b'{"first_name":"A","role":"owner"}',
        ),
        R(
            "contains",
            "POST",
            "/violations/users",
            JSON,
            b'{"first_name":"A","last_name":"B","email":"a@b.test","tags":["x"]}',
            versions=("3.0", "3.1"),
        ),
        R("not an object", "POST", "/violations/users", JSON, b"[]"),
        R("uuid", "GET", "/violations/users/3fa85f64-5717-4562-b3fc-2c963f66afa6"),
        R("urn uuid", "GET", "/violations/users/urn:uuid:3fa85f64-5717-4562-b3fc-2c963f66afa6"),
        R("not a uuid", "GET", "/violations/users/42"),
    ],
    "negotiation": [
        R("no accept", "GET", "/negotiation/books/1"),
        R("xml", "GET", "/negotiation/books/1", {"Accept": "application/xml"}),
        R("text", "GET", "/negotiation/books/1", {"Accept": "text/plain"}),
        R(
            "q-values",
            "GET",
            "/negotiation/books/1",
            {"Accept": "application/xml;q=0.2, text/plain;q=0.9"},
        ),
        R("anything", "GET", "/negotiation/books/1", {"Accept": "*/*"}),
        R("nothing acceptable", "GET", "/negotiation/books/1", {"Accept": "image/png"}),
        R(
            "404 without content",
            "GET",
            "/negotiation/books/1",
            {"Prefer": "code=404", "Accept": "application/json"},
        ),
        R("bad id", "GET", "/negotiation/books/x"),
        R(
            "dynamic json",
            "GET",
            "/negotiation/books/1",
            {"Prefer": "dynamic=true", "Accept": "application/json"},
            dynamic=True,
        ),
    ],
    "routing": [
        R("concrete beats template", "GET", "/routing/items/latest"),
        R("template", "GET", "/routing/items/42"),
        R("two templates", "GET", "/routing/books/7.json"),
        R("trailing slash", "GET", "/routing/items/42/"),
        R("dot segments", "GET", "/routing/items/x/../latest"),
        R("percent-encoded", "GET", "/routing/items/a%20b"),
        R("405", "POST", "/routing/items/42"),
    ],
    "headers": [
        R("all there", "GET", "/headers/export", {"X-Version": "2"}),
        R("header missing", "GET", "/headers/export"),
        R("header too big", "GET", "/headers/export", {"X-Version": "4"}),
        R("deprecated param", "GET", "/headers/export?legacy=true", {"X-Version": "1"}),
    ],
    "body-media": [
        R("json", "POST", "/body-media/notes", JSON, b'{"text":"hi"}'),
        R("json invalid", "POST", "/body-media/notes", JSON, b'{"text":""}'),
        R(
            "text",
            "POST",
            "/body-media/notes",
            {"Content-Type": "text/plain"},
            b"hello",
            versions=("3.0", "3.1"),
        ),
        R(
            "text too long",
            "POST",
            "/body-media/notes",
            {"Content-Type": "text/plain"},
            b"hello world",
            versions=("3.0", "3.1"),
        ),
        R("unsupported", "POST", "/body-media/notes", {"Content-Type": "application/xml"}, b"<a/>"),
        R("no content type", "POST", "/body-media/notes", {}, b'{"text":"hi"}'),
        R("no body", "POST", "/body-media/notes"),
        R("body where none is declared", "POST", "/body-media/ping", JSON, b"{}"),
    ],
    "swagger-examples": [
        R("json sampled, xml listed", "GET", "/swagger-examples/pets"),
        R("xml listed", "GET", "/swagger-examples/pets", {"Accept": "application/xml"}),
        R("schema example", "GET", "/swagger-examples/pets", {"Prefer": "code=203"}),
        R(
            "schema example as xml",
            "GET",
            "/swagger-examples/pets",
            {"Prefer": "code=203", "Accept": "application/xml"},
        ),
        R("listed wins", "GET", "/swagger-examples/pets", {"Prefer": "code=206"}),
        R("other media type", "GET", "/swagger-examples/pets", {"Prefer": "code=207"}),
        R("x-examples", "GET", "/swagger-examples/pets", {"Prefer": "code=208"}),
        R("nullable", "GET", "/swagger-examples/pets", {"Prefer": "code=209"}),
        R(
            "example by key",
            "GET",
            "/swagger-examples/pets",
            {"Prefer": "code=206, example=application/json"},
        ),
    ],
    "swagger-params": [
        R("csv", "GET", "/swagger-params/search?ids=1,2&limit=5"),
        R("csv bad item", "GET", "/swagger-params/search?ids=1,x"),
        R("multi", "GET", "/swagger-params/search?tags=a&tags=b"),
        R("pipes", "GET", "/swagger-params/search?sizes=S|M"),
        R("pipes bad", "GET", "/swagger-params/search?sizes=S|XL"),
        R("empty not allowed", "GET", "/swagger-params/search?q="),
        R("enum", "GET", "/swagger-params/search?sort=up"),
        R("shared parameter", "GET", "/swagger-params/search?limit=51"),
        R("header array", "GET", "/swagger-params/tagged", {"X-Tags": "1,2"}),
        R("header array bad item", "GET", "/swagger-params/tagged", {"X-Tags": "1,y"}),
        R("nullable in body", "PUT", "/swagger-params/profile", JSON, b'{"nick":null,"age":1}'),
        R("invalid body", "PUT", "/swagger-params/profile", JSON, b'{"age":-1}'),
    ],
    "swagger-no-produces": [
        R("body with content type", "POST", "/swagger-no-produces/things", JSON, b'{"name":"x"}'),
        R("body without content type", "POST", "/swagger-no-produces/things", {}, b'{"name":"x"}'),
        R("no body", "POST", "/swagger-no-produces/things"),
        R(
            "accept json",
            "POST",
            "/swagger-no-produces/things",
            {"Accept": "application/json"},
            b'{"name":"x"}',
        ),
        R("list", "GET", "/swagger-no-produces/things"),
        R("list accept json", "GET", "/swagger-no-produces/things", {"Accept": "application/json"}),
    ],
    "swagger-security": [
        R("key", "GET", "/swagger-security/default?api_key=k"),
        R("no key", "GET", "/swagger-security/default"),
        R("basic", "GET", "/swagger-security/basic", {"Authorization": "Basic eDp5"}),
        R("basic missing", "GET", "/swagger-security/basic?api_key=k"),
        R("open", "GET", "/swagger-security/open"),
        R("optional without", "GET", "/swagger-security/optional"),
        R(
            "optional with basic",
            "GET",
            "/swagger-security/optional",
            {"Authorization": "Basic eDp5"},
        ),
        R("optional with a bearer", "GET", "/swagger-security/optional", BEARER),
        R("cookie scheme", "GET", "/swagger-security/cookie"),
    ],
    "swagger-servers": [
        R("no server", "GET", "/swagger-servers/ping"),
        R("https server", "GET", "/swagger-servers/ping?__server=https://api.example.test/v2"),
        R("http server", "GET", "/swagger-servers/ping?__server=http://api.example.test/v2"),
        R("other server", "GET", "/swagger-servers/ping?__server=https://other.test/v2"),
        R(
            "operation schemes",
            "GET",
            "/swagger-servers/secure?__server=http://api.example.test/v2",
        ),
        R("base path not prepended", "GET", "/v2/swagger-servers/ping"),
    ],
    "prefer": [
        R("default", "GET", "/prefer/pets"),
        R("code", "GET", "/prefer/pets", {"Prefer": "code=400"}),
        R("code without content", "GET", "/prefer/pets", {"Prefer": "code=503"}),
        R("code undocumented", "GET", "/prefer/pets", {"Prefer": "code=418"}),
        R("code malformed", "GET", "/prefer/pets", {"Prefer": "code=abc"}),
        R("example", "GET", "/prefer/pets", {"Prefer": "example=dog"}, versions=("3.0", "3.1")),
        R("example unknown", "GET", "/prefer/pets", {"Prefer": "example=bird"}),
        R("query code", "GET", "/prefer/pets?__code=400"),
        R("query example", "GET", "/prefer/pets?__example=cat", versions=("3.0", "3.1")),
        R("header beats query", "GET", "/prefer/pets?__code=503", {"Prefer": "code=400"}),
        R("unknown preference", "GET", "/prefer/pets", {"Prefer": "wait=5"}),
        R("dynamic", "GET", "/prefer/pets", {"Prefer": "dynamic=true, seed=3"}, dynamic=True),
        R("dynamic malformed", "GET", "/prefer/pets", {"Prefer": "dynamic=maybe"}),
    ],
    "servers": [
        R("no server", "GET", "/servers/ping", versions=("3.0", "3.1")),
        R(
            "variable",
            "GET",
            "/servers/ping?__server=https://us.api.example.test/v1",
            versions=("3.0", "3.1"),
        ),
        R(
            "variable not in enum",
            "GET",
            "/servers/ping?__server=https://ap.api.example.test/v1",
            versions=("3.0", "3.1"),
        ),
        R(
            "second server",
            "GET",
            "/servers/ping?__server=http://localhost:8080",
            versions=("3.0", "3.1"),
        ),
    ],
    "param-styles": [
        R(
            "all valid",
            "GET",
            "/param-styles/items?id=1&id=2&tag=a,bc&filter[color]=red&filter[size]=2",
            {"X-Ids": "1,2"},
        ),
        R("exploded item", "GET", "/param-styles/items?id=1&id=x", {"X-Ids": "1"}),
        R("comma item too long", "GET", "/param-styles/items?tag=a,long", {"X-Ids": "1"}),
        R("deep object enum", "GET", "/param-styles/items?filter[color]=green", {"X-Ids": "1"}),
        R("deep object type", "GET", "/param-styles/items?filter[size]=big", {"X-Ids": "1"}),
        R("header array item", "GET", "/param-styles/items", {"X-Ids": "1,z"}),
        R("label", "GET", "/param-styles/label/.5"),
        R("label not a number", "GET", "/param-styles/label/.x"),
        R("cookie key", "GET", "/param-styles/session", {"Cookie": "sid=abc"}),
        R("cookie missing", "GET", "/param-styles/session"),
    ],
    "sampling": [
        R("sampled", "GET", "/sampling/account"),
        R("sampled as created", "POST", "/sampling/account", JSON, b'{"name":"longname"}'),
        R(
            "readOnly not required",
            "POST",
            "/sampling/account",
            JSON,
            b'{"name":"longname","active":true}',
        ),
        R("too short", "POST", "/sampling/account", JSON, b'{"name":"short"}'),
        R("dynamic", "GET", "/sampling/account", {"Prefer": "dynamic=true"}, dynamic=True),
    ],
    "xml": [
        R("sampled xml", "GET", "/xml/feed"),
        R("atom example", "GET", "/xml/feed", {"Accept": "application/atom+xml"}),
        R("any xml", "GET", "/xml/feed", {"Accept": "application/*"}),
    ],
    "methods": [
        R("head", "HEAD", "/methods/thing"),
        R("get", "GET", "/methods/thing"),
        R("options", "OPTIONS", "/methods/thing"),
        R("405", "PUT", "/methods/thing"),
    ],
    "yaml-scalars": [
        R("served as written", "GET", "/yaml-scalars/album"),
        R("yes is a string", "GET", "/yaml-scalars/album?answer=yes"),
        R("true is not yes", "GET", "/yaml-scalars/album?answer=true"),
        R("010 is ten", "GET", "/yaml-scalars/album?count=10"),
        R("above ten", "GET", "/yaml-scalars/album?count=11"),
    ],
    "security-undeclared": [
        R("nothing", "GET", "/security-undeclared/cache"),
        R("a token", "GET", "/security-undeclared/cache", BEARER),
    ],
}

# Where the mock answers otherwise on purpose (docs/mock.md, "Deliberate differences"), by id
# (`BEHAVIOUR VERSION: LABEL`); each must still differ, or the entry is stale.
KNOWN_DIFFERENCES: dict[str, str] = {
    **{
        f"status-keys {v}: dynamic": "dynamic mode serves the example of a response without schema"
        for v in ("3.0", "3.1")
    },
    "swagger-params 2.0: empty not allowed": "`?q=` is checked against its schema, as the service "
    "checks it (Prism reads it as absent)",
    **{
        f"violations {v}: urn uuid": "a `urn:uuid:` value is no uuid, for the mock as for the service"
        for v in ("3.0", "3.1", "2.0")
    },
}
