"""Contract startup on a large document: read, resolve, validate, compile (issue 12 item 8).

Generates a synthetic OpenAPI 3.1 description of about 2.5 MB (GitHub's is 2.9 MB) in a temporary
directory, then times each phase in a fresh interpreter (imports included, as a starting mock
pays them), median of `--rounds`. `--before TREE` also times an older `app/` tree's loader on the
same document (its verdict cache pointed at an empty temporary directory: a first start).

    python -m bench.contract_startup [--rounds 3] [--before DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

PHASES = r"""
import json, sys, time
t0 = time.perf_counter()
import yaml
from authsvc.contract import documents, load_contract
from authsvc.contract.loader import _validate
t1 = time.perf_counter()
path = sys.argv[1]
text = open(path, encoding="utf-8").read()
t2 = time.perf_counter()
yaml.load(text, Loader=yaml.SafeLoader)
t3 = time.perf_counter()
documents.parse_document(text)
t4 = time.perf_counter()
contract = load_contract(path)
t5 = time.perf_counter()
contract.plans  # every operation's plan (the mock compiles each on its first request)
t6 = time.perf_counter()
from authsvc.mock.engine.pipeline import MockEngine
MockEngine(contract)
t7 = time.perf_counter()
_validate(dict(contract.raw), path, base_uri=contract.refs.uri)
t8 = time.perf_counter()
json.dump({"imports": t1 - t0, "yaml_pure_python": t3 - t2, "yaml_c_with_alias_check": t4 - t3,
           "load_contract": t5 - t4, "plans": t6 - t5, "mock_engine": t7 - t6,
           "validate_again_warm": t8 - t7}, sys.stdout)
"""

# What `authsvc mock` does before it can serve: load the contract, build the engine.
STARTUP = r"""
import json, sys, time
t0 = time.perf_counter()
from authsvc.contract import load_contract
contract = load_contract(sys.argv[1])
from authsvc.mock.engine.pipeline import MockEngine
MockEngine(contract)
json.dump({"startup": time.perf_counter() - t0}, sys.stdout)
"""


def synthetic_contract(operations: int = 700, schemas: int = 900) -> dict[str, Any]:
    """A 3.1 document shaped like the big public ones: many operations, shared schemas, examples."""
    components: dict[str, Any] = {}
    for i in range(schemas):
        properties: dict[str, Any] = {
            "id": {"type": "integer", "format": "int64", "description": f"Identifier of item {i}"},
            "name": {"type": "string", "maxLength": 200, "description": "A human-readable name"},
            "url": {"type": "string", "format": "uri", "example": f"https://example.com/{i}"},
            "created_at": {"type": "string", "format": "date-time"},
            "state": {"type": "string", "enum": ["open", "closed", "draft"]},
            "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 20},
        }
        if i:  # a tree of references, about ten deep (a 900-long chain breaks the older loader)
            properties["owner"] = {"$ref": f"#/components/schemas/S{(i - 1) // 2}"}
        components[f"S{i}"] = {
            "type": "object",
            "description": f"Schema number {i}, with a description long enough to be realistic.",
            "required": ["id", "name"],
            "properties": properties,
        }
    paths: dict[str, Any] = {}
    for i in range(operations):
        ref = {"$ref": f"#/components/schemas/S{i % schemas}"}
        example = {"id": i, "name": f"item {i}", "url": f"https://example.com/items/{i}"}
        paths[f"/items{i}/{{itemID}}"] = {
            "parameters": [
                {"name": "itemID", "in": "path", "required": True, "schema": {"type": "integer"}}
            ],
            "get": {
                "operationId": f"get-item-{i}",
                "summary": f"Get item {i}",
                "description": "Returns the item. " * 5,
                "parameters": [
                    {
                        "name": "per_page",
                        "in": "query",
                        "schema": {"type": "integer", "maximum": 100},
                    },
                    {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}},
                    {"name": "If-None-Match", "in": "header", "schema": {"type": "string"}},
                ],
                "responses": {
                    "200": {
                        "description": "the item",
                        "content": {"application/json": {"schema": ref, "example": example}},
                    },
                    "304": {"description": "not modified"},
                    "404": {"$ref": "#/components/responses/NotFound"},
                },
            },
            "patch": {
                "operationId": f"update-item-{i}",
                "requestBody": {"required": True, "content": {"application/json": {"schema": ref}}},
                "responses": {
                    "200": {
                        "description": "updated",
                        "content": {"application/json": {"schema": ref}},
                    },
                    "422": {"$ref": "#/components/responses/NotFound"},
                },
            },
        }
    return {
        "openapi": "3.1.0",
        "info": {"title": "synthetic large API", "version": "1.0.0"},
        "servers": [{"url": "https://api.example.com"}],
        "paths": paths,
        "components": {
            "schemas": components,
            "responses": {
                "NotFound": {
                    "description": "not found",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {"message": {"type": "string"}},
                            }
                        }
                    },
                }
            },
        },
    }


def _run(script: str, path: Path, env: dict[str, str]) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", script, str(path)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=600,
    )
    if done.returncode != 0:
        raise RuntimeError(f"exit {done.returncode}: {done.stderr[-800:]}")
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def _median(samples: list[dict[str, float]]) -> dict[str, float]:
    return {k: round(statistics.median(s[k] for s in samples), 3) for k in samples[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--before", type=Path, help="an older tree with app/ (its loader)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "large.yaml"
        path.write_text(yaml.safe_dump(synthetic_contract(), sort_keys=False))
        env = {**os.environ, "XDG_CACHE_HOME": str(Path(tmp) / "cache")}
        result: dict[str, Any] = {"document_bytes": path.stat().st_size}
        result["after_phases"] = _median([_run(PHASES, path, env) for _ in range(args.rounds)])
        result["after_startup"] = _median([_run(STARTUP, path, env) for _ in range(args.rounds)])
        if args.before is not None:
            shim = Path(tmp) / "before"
            shim.mkdir()
            (shim / "authsvc").symlink_to(args.before.resolve() / "app")
            samples = []
            for round_ in range(args.rounds):
                # a fresh, empty verdict cache each round: every sample is a first start
                cold = {**env, "PYTHONPATH": str(shim)}
                cold["XDG_CACHE_HOME"] = str(Path(tmp) / f"cache-{round_}")
                samples.append(_run(STARTUP, path, cold))
            result["before_startup_first"] = _median(samples)
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
