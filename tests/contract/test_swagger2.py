"""Swagger 2.0 read as Prism reads it (issue 19 item 2): the 3.0 shape the plan compiler and the
mock read, with @stoplight/http-spec's semantics. Answers are compared with Prism's by
tests/mock/test_parity.py; these pin the conversion itself."""

from __future__ import annotations

from typing import Any

import pytest

from authsvc.contract import load_contract
from authsvc.contract.swagger2 import EXAMPLES_AS_LISTED, convert

PETS: dict[str, Any] = {
    "swagger": "2.0",
    "info": {"title": "pets", "version": "1"},
    "host": "api.example.test",
    "basePath": "/v1",
    "schemes": ["https", "ftp"],
    "consumes": ["application/json", "application/x-www-form-urlencoded"],
    "produces": ["application/json", "application/xml"],
    "securityDefinitions": {
        "key": {"type": "apiKey", "in": "query", "name": "api_key"},
        "cookie": {"type": "apiKey", "in": "cookie", "name": "sid"},
        "login": {"type": "oauth2", "flow": "application", "tokenUrl": "https://a.test/t"},
    },
    "security": [{"key": []}],
    "paths": {
        "/pets": {
            "parameters": [{"name": "limit", "in": "query", "type": "integer", "maximum": 50}],
            "get": {
                "parameters": [
                    {"name": "ids", "in": "query", "type": "array", "items": {"type": "integer"}},
                    {"name": "tag", "in": "query", "type": "array", "collectionFormat": "multi"},
                    {"name": "q", "in": "query", "type": "string", "allowEmptyValue": False},
                ],
                "responses": {
                    "200": {
                        "description": "pets",
                        "schema": {"type": "array", "items": {"$ref": "#/definitions/Pet"}},
                        "examples": {"application/xml": "<pets/>", "text/csv": "name"},
                    },
                    "x-note": {"description": "an extension, not a response"},
                },
            },
            "post": {
                "security": [{"cookie": []}, {}],
                "parameters": [
                    {"name": "pet", "in": "body", "schema": {"$ref": "#/definitions/Pet"}}
                ],
                "responses": {
                    "201": {"description": "created", "schema": {"$ref": "#/definitions/Pet"}}
                },
            },
        },
        "/pets/{id}/photo": {
            "put": {
                "schemes": ["http"],
                "consumes": ["multipart/form-data"],
                "parameters": [
                    {"name": "id", "in": "path", "required": True, "type": "integer"},
                    {"name": "file", "in": "formData", "type": "file", "required": True},
                    {"name": "tags", "in": "formData", "type": "array", "collectionFormat": "csv"},
                ],
                "responses": {"204": {"description": "stored"}},
            }
        },
    },
    "definitions": {
        "Pet": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string"},
                "nick": {"type": "string", "x-nullable": True},
            },
            "example": {"name": "Rex"},
        }
    },
}


@pytest.fixture(scope="module")
def converted() -> dict[str, Any]:
    return dict(
        load_contract(PETS, lenient=True).resolved
    )  # `ftp` and the cookie key: 2.0 has neither


def test_convert__servers_from_host_base_path_and_valid_schemes(converted: dict[str, Any]) -> None:
    assert converted["servers"] == [{"url": "https://api.example.test/v1"}]
    photo = converted["paths"]["/pets/{id}/photo"]["put"]
    assert photo["servers"] == [{"url": "http://api.example.test/v1"}]


def test_convert__parameters_take_schema_and_style_from_their_keywords(
    converted: dict[str, Any],
) -> None:
    params = {p["name"]: p for p in converted["paths"]["/pets"]["get"]["parameters"]}
    assert list(params) == ["ids", "tag", "q", "limit"]  # the operation's first, then the path's
    assert params["ids"]["schema"] == {"type": "array", "items": {"type": "integer"}}
    assert (params["ids"]["style"], params["ids"]["explode"]) == ("form", False)
    assert (params["tag"]["style"], params["tag"]["explode"]) == ("form", True)
    assert params["q"]["schema"] == {"type": "string", "minLength": 1}


def test_convert__body_and_form_data_by_consumes(converted: dict[str, Any]) -> None:
    body = converted["paths"]["/pets"]["post"]["requestBody"]
    assert list(body["content"]) == ["application/json"]  # form types are for formData
    form = converted["paths"]["/pets/{id}/photo"]["put"]["requestBody"]["content"]
    schema = form["multipart/form-data"]["schema"]
    assert schema["required"] == ["file"]
    assert schema["properties"]["file"] == {"type": "file"}
    assert form["multipart/form-data"]["encoding"] == {
        "tags": {"style": "commaDelimited", "explode": False}
    }


def test_convert__responses_by_produces_with_examples_as_listed(converted: dict[str, Any]) -> None:
    responses = converted["paths"]["/pets"]["get"]["responses"]
    assert list(responses) == ["200"]  # `x-note` is no response
    content = responses["200"]["content"]
    assert list(content) == ["application/json", "application/xml"]
    assert content["application/json"]["examples"] == {"text/csv": {"value": "name"}}
    assert content["application/xml"]["examples"] == {"application/xml": {"value": "<pets/>"}}
    assert content["application/json"][EXAMPLES_AS_LISTED] is True
    created = converted["paths"]["/pets"]["post"]["responses"]["201"]["content"]
    assert created["application/json"]["examples"] == {"default": {"value": {"name": "Rex"}}}


def test_convert__security_as_http_spec_reads_it(converted: dict[str, Any]) -> None:
    schemes = converted["components"]["securitySchemes"]
    assert set(schemes) == {"key", "login"}  # an apiKey in a cookie is not a 2.0 scheme
    assert schemes["login"]["flows"] == {
        "clientCredentials": {"tokenUrl": "https://a.test/t", "scopes": {}}
    }
    assert converted["paths"]["/pets"]["get"]["security"] == [{"key": []}]
    # `cookie` is declared but unreadable: its requirement is empty, like the optional `{}`.
    assert converted["paths"]["/pets"]["post"]["security"] == [{}, {}]


def test_convert__x_nullable_is_nullable(converted: dict[str, Any]) -> None:
    schema = converted["paths"]["/pets"]["post"]["requestBody"]["content"]["application/json"]
    assert schema["schema"]["properties"]["nick"] == {"type": "string", "nullable": True}


def test_convert__no_produces_keeps_examples_under_no_media_type() -> None:
    document = {
        "paths": {
            "/a": {
                "get": {
                    "responses": {
                        "200": {"description": "ok", "schema": {"type": "object", "example": {}}}
                    }
                }
            }
        }
    }
    response = convert(document)["paths"]["/a"]["get"]["responses"]["200"]
    assert list(response["content"]) == [""]
