"""Store test fixtures: one moto S3 server on loopback for the whole session."""

from __future__ import annotations

import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from maas.store.artifacts.s3 import S3ArtifactStore

S3_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
"""Dummy credentials: moto accepts anything, and passing them keeps boto3 off the real chain."""

S3_REGION = "us-east-1"


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """``http://127.0.0.1:PORT`` of a moto S3 server running in a thread of this process."""
    pytest.importorskip("boto3", reason="boto3 is not installed (pip install 'maas[s3]')")
    server_module = pytest.importorskip(
        "moto.server", reason="moto[server] is not installed (pip install 'maas[dev]')"
    )
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    with pytest.MonkeyPatch.context() as mp:
        # Traffic must stay on loopback: if the machine has a proxy configured, bypass it.
        if urllib.request.getproxies():
            mp.setenv("NO_PROXY", "127.0.0.1")
            mp.setenv("no_proxy", "127.0.0.1")
        try:
            yield f"http://{host}:{port}"
        finally:
            server.stop()


@pytest.fixture
def s3_client(moto_endpoint: str) -> Any:
    """A raw boto3 S3 client on the moto server, for tests that tamper with stored objects."""
    import boto3  # type: ignore[import-untyped]
    from botocore.config import Config  # type: ignore[import-untyped]

    session = boto3.session.Session(region_name=S3_REGION, **S3_CREDENTIALS)
    return session.client(
        "s3",
        endpoint_url=moto_endpoint,
        config=Config(s3={"addressing_style": "path"}, proxies={}),
    )


@pytest.fixture
def make_s3_store(moto_endpoint: str) -> Callable[[str], S3ArtifactStore]:
    """Build an ``S3ArtifactStore`` for a root URI on the moto server, with dummy credentials."""

    def make(root_uri: str) -> S3ArtifactStore:
        return S3ArtifactStore(
            root_uri, endpoint_url=moto_endpoint, region=S3_REGION, **S3_CREDENTIALS
        )

    return make
