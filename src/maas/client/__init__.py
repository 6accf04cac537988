"""The Python SDK: ``Client`` and ``AsyncClient`` speak the ``/v1`` API and raise the same
``MaasError`` classes the server raised."""

from maas.client._base import USE_CLIENT_DEFAULT
from maas.client.async_client import AsyncClient
from maas.client.client import Client

__all__ = ["USE_CLIENT_DEFAULT", "AsyncClient", "Client"]
