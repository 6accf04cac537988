"""A real uvicorn server in a thread on a free loopback port (as httpx's own tests do)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn

from maas.api.app import create_app
from maas.settings import Settings
from tests.conftest import ADMIN_KEY
from tests.factories import failure_model, register, tool_life_model


@dataclass
class LiveServer:
    url: str
    host: str
    port: int
    settings: Settings
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def start_server(settings: Settings, *, prepare: bool = True) -> LiveServer:
    app = create_app(settings)
    if prepare:
        register(app, "machine-failure", failure_model())
        register(app, "tool-life", tool_life_model())
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    return LiveServer(f"http://127.0.0.1:{port}", "127.0.0.1", port, settings, server, thread)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data: Path = tmp_path_factory.mktemp("live") / "data"
    settings = Settings(data_dir=data, examples=False, admin_key=ADMIN_KEY)
    server = start_server(settings)
    yield server
    server.stop()
