"""`authsvc mock SPEC`: arguments, startup banner and the uvicorn run."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from authsvc.contract import ContractError, load_contract
from authsvc.mock.engine.model import MockOptions
from authsvc.mock.serve.jwt import DEFAULT_ALGORITHMS, JwtCheck


def add_mock_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `authsvc mock`, named as Prism's where Prism has one."""
    parser.add_argument("spec", type=Path, help="OpenAPI 3.0/3.1 document (YAML or JSON)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", "-p", type=int, default=4010)
    parser.add_argument("--dynamic", "-d", action="store_true", help="bodies from schemas")
    parser.add_argument("--seed", help="make dynamic bodies repeatable")
    parser.add_argument("--ignore-examples", action="store_true", help="never serve examples")
    parser.add_argument("--no-cors", dest="cors", action="store_false", help="no CORS headers")
    parser.add_argument("--errors", action="store_true", help="violations become 500 problems")
    parser.add_argument("--delay", type=int, default=0, metavar="MS", help="latency per answer")
    parser.add_argument("--proxy", metavar="URL", help="forward to URL and validate the traffic")
    parser.add_argument("--no-watch", dest="watch", action="store_false", help="no hot reload")
    jwt_group = parser.add_argument_group("real bearer tokens (--verify-jwt)")
    jwt_group.add_argument("--verify-jwt", action="store_true", help="verify bearer JWTs")
    jwt_group.add_argument("--jwt-public-key", type=Path, metavar="PEM")
    jwt_group.add_argument("--jwks-url", metavar="URL")
    jwt_group.add_argument("--jwt-issuer")
    jwt_group.add_argument("--jwt-audience")
    jwt_group.add_argument("--jwt-algorithm", action="append", dest="jwt_algorithms")
    jwt_group.add_argument(
        "--jwt-customer-param",
        default="customerID",
        help="path parameter that must equal the token's customer claim, else 403",
    )
    jwt_group.add_argument("--jwt-customer-claim", default="customer_id")


def build_options(args: argparse.Namespace) -> MockOptions:
    """MockOptions from parsed arguments; a bad JWT setup raises ValueError naming the option."""
    verifier = None
    if args.verify_jwt:
        verifier = JwtCheck.build(
            public_key_file=args.jwt_public_key,
            jwks_url=args.jwks_url,
            issuer=args.jwt_issuer,
            audience=args.jwt_audience,
            algorithms=tuple(args.jwt_algorithms or DEFAULT_ALGORITHMS),
            customer_param=args.jwt_customer_param or None,
            customer_claim=args.jwt_customer_claim,
        )
    if args.delay < 0:
        raise ValueError("--delay must be a number of milliseconds >= 0")
    return MockOptions(
        dynamic=args.dynamic,
        seed=args.seed,
        cors=args.cors,
        errors=args.errors,
        ignore_examples=args.ignore_examples,
        delay_ms=args.delay,
        jwt=verifier,
    )


def run_mock(args: argparse.Namespace) -> int:
    """Serve the mock until interrupted; 2 on a bad contract or options (one line on stderr)."""
    import uvicorn  # imported here: building the parser must not load the server stack

    from authsvc.mock.serve.server import MockApp
    from authsvc.mock.serve.serving import uvicorn_options

    try:
        contract = load_contract(args.spec)
        options = build_options(args)
    except ContractError as exc:
        # One line: the validator's own message can span many (it quotes the schema).
        message = exc.message.splitlines()[0] if exc.message else ""
        print(f"authsvc mock: {exc.source}: {exc.pointer or '/'}: {message}", file=sys.stderr)
        return 2
    except (ValueError, OSError) as exc:
        print(f"authsvc mock: {exc}", file=sys.stderr)
        return 2
    except (RecursionError, MemoryError) as exc:
        # One line and status 2 whatever the loader lets through (a $ref cycle, an alias bomb).
        print(
            f"authsvc mock: {args.spec}: /: the contract nests too deeply to load "
            f"({type(exc).__name__})",
            file=sys.stderr,
        )
        return 2
    app = MockApp(contract, options, proxy=args.proxy, watch=args.watch)
    base = f"http://{args.host}:{args.port}"
    mode = f"proxy to {args.proxy}" if args.proxy else "dynamic" if options.dynamic else "static"
    print(f"authsvc mock: {args.spec} ({mode}), {len(app.engine.routes())} routes", flush=True)
    for method, path in app.engine.routes():
        print(f"  {method:<7} {base}{path}", flush=True)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    uvicorn.run(app, host=args.host, port=args.port, **uvicorn_options())
    return 0
