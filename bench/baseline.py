"""The baseline: a bare Starlette endpoint answering the resend route with the same JSON.

Run under the same uvicorn settings as `authsvc serve` (one worker, the same log level, so the
same access log, the same event loop), so the service/baseline ratio measures only what the
service adds.
"""

from __future__ import annotations

import argparse

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from authsvc.cli import SERVICE_EVENT_LOOP

RESEND_OK = {"status": "success", "message": "Invite mail sent successfully"}
RESEND_PATH = "/auth/api/v1/customers/{customerID}/users/{userID}/resend-invite"


async def resend(_request: Request) -> JSONResponse:
    return JSONResponse(RESEND_OK)


async def healthz(_request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok", "database": "ok"})


def build_app() -> Starlette:
    return Starlette(
        routes=[Route(RESEND_PATH, resend, methods=["POST"]), Route("/healthz", healthz)]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--loop", default=SERVICE_EVENT_LOOP, choices=["asyncio", "uvloop"])
    args = parser.parse_args()
    uvicorn.run(
        build_app(),
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        loop=args.loop,
    )


if __name__ == "__main__":
    main()
