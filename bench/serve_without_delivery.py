"""`authsvc serve` minus the in-process mail loop: the request path alone.

Production may run delivery as `authsvc worker` elsewhere; this isolates what a request costs
from what delivering its mail costs. Messages stay PENDING in the outbox. Same uvicorn settings
as `authsvc serve`. The data directory must already be prepared (`authsvc demo` does it).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import uvicorn

from authsvc.cli import SERVICE_EVENT_LOOP
from authsvc.config import load_settings
from authsvc.factory import create_app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    settings = load_settings(data_dir=args.data_dir)
    app = create_app(settings, run_outbox_worker=False)
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level=settings.log_level.lower(),
        loop=SERVICE_EVENT_LOOP,
    )


if __name__ == "__main__":
    main()
