"""`python -m authsvc.mock SPEC ...`: the mock server without the authsvc CLI."""

from __future__ import annotations

import argparse
import sys

from authsvc.mock.serve.cli import add_mock_arguments, run_mock


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m authsvc.mock", description=__doc__)
    add_mock_arguments(parser)
    return run_mock(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
