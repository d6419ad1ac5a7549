"""Stateful mode's sessions: one `SessionState` per `X-Mock-Session`, and the state endpoint.

The engine reads and changes the state it is handed; this module decides which state that is,
serialises requests on it (the ASGI server answers on its loop or, with `--verify-jwt` and a
JWKS, in threads; respx may be called from any thread), and answers `/__mock/state`, which is
outside every contract's paths: GET the session's state, POST (or PUT) one in the fixture format,
DELETE to empty the session. Nothing here decides an answer to a contract operation.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from typing import Any

from authsvc.mock.engine.model import MockRequest, MockResponse
from authsvc.mock.engine.pipeline import MockEngine, cors_headers
from authsvc.mock.engine.problems import PROBLEM_MEDIA_TYPE
from authsvc.mock.engine.store import SessionState, StateError

SESSION_HEADER = "x-mock-session"
STATE_PATH = "/__mock/state"
DEFAULT_SESSION = ""
_MAX_SESSIONS = 4096  # the least recently used session is forgotten past this many


class Sessions:
    """The sessions of one mock; each new one starts from the start state."""

    def __init__(self, engine: MockEngine, start: Any = None) -> None:
        """`start`: a state fixture (docs/mock.md), else the contract's examples."""
        if engine.stateful is None:
            raise ValueError("sessions need an engine built with MockOptions(stateful=True)")
        self._start = (
            engine.stateful.initial_state() if start is None else engine.stateful.load(start)
        )
        self._sessions: OrderedDict[str, SessionState] = OrderedDict()
        self._lock = threading.Lock()

    def handle(self, engine: MockEngine, request: MockRequest) -> MockResponse:
        """The engine's answer in the request's session, or the state endpoint's."""
        name = request.headers.get(SESSION_HEADER, DEFAULT_SESSION)
        with self._lock:
            if request.path.rstrip("/") == STATE_PATH and request.method != "OPTIONS":
                return self._state_endpoint(engine, request, name)
            return engine.handle(request, self._session(name))

    def _session(self, name: str) -> SessionState:
        state = self._sessions.get(name)
        if state is None:
            state = self._sessions[name] = self._start.copy()
            if len(self._sessions) > _MAX_SESSIONS:
                self._sessions.popitem(last=False)
        else:
            self._sessions.move_to_end(name)
        return state

    def _state_endpoint(self, engine: MockEngine, request: MockRequest, name: str) -> MockResponse:
        assert engine.stateful is not None
        cors = cors_headers(request) if engine.options.cors else ()
        if request.method == "GET":
            document = self._session(name).as_fixture(engine.stateful.resources)
            return _json(200, document, cors)
        if request.method == "DELETE":
            self._sessions[name] = SessionState()
            return MockResponse(204, cors)
        if request.method in ("POST", "PUT"):
            try:
                state = engine.stateful.load(json.loads(request.body or b"{}"))
            except ValueError as exc:  # StateError, or JSON that does not parse
                pointer = exc.pointer if isinstance(exc, StateError) else ""
                return _problem(400, "Invalid mock state", str(exc), pointer, cors)
            self._sessions[name] = state
            return _json(200, state.as_fixture(engine.stateful.resources), cors)
        return _problem(
            405,
            "Method not allowed",
            "GET, POST, PUT or DELETE",
            "",
            (*cors, ("allow", "GET, POST, PUT, DELETE")),
        )


def _json(status: int, value: Any, headers: tuple[tuple[str, str], ...]) -> MockResponse:
    body = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
    return MockResponse(status, (*headers, ("content-type", "application/json")), body)


def _problem(
    status: int, title: str, detail: str, pointer: str, headers: tuple[tuple[str, str], ...]
) -> MockResponse:
    document = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    if pointer:
        document["pointer"] = pointer
    body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
    return MockResponse(status, (*headers, ("content-type", PROBLEM_MEDIA_TYPE)), body)
