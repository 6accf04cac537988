"""maas: Model-as-a-Service for manufacturing.

This package's top level is the Python SDK: ``Client``, ``AsyncClient`` and the ``MaasError``
family they raise. Importing it pulls in httpx and pydantic, never the server's stack.
"""

from maas.client import AsyncClient, Client
from maas.client._base import package_version as _package_version
from maas.errors import (
    AliasNotFoundError,
    AlreadyExistsError,
    AuthenticationError,
    ConflictError,
    IntegrityError,
    InvalidInputError,
    InvalidNameError,
    InvalidParameterError,
    JobNotFoundError,
    KeyNotFoundError,
    LimitExceededError,
    MaasError,
    MalformedRequestError,
    ModelExecutionError,
    ModelNotFoundError,
    ModelTimeoutError,
    NotFittedError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    PredictionNotFoundError,
    RateLimitedError,
    SchemaMismatchError,
    TenantNotFoundError,
    UnsupportedFormatError,
    UnsupportedMediaTypeError,
    VersionNotFoundError,
)

__version__ = _package_version()

__all__ = [
    "AliasNotFoundError",
    "AlreadyExistsError",
    "AsyncClient",
    "AuthenticationError",
    "Client",
    "ConflictError",
    "IntegrityError",
    "InvalidInputError",
    "InvalidNameError",
    "InvalidParameterError",
    "JobNotFoundError",
    "KeyNotFoundError",
    "LimitExceededError",
    "MaasError",
    "MalformedRequestError",
    "ModelExecutionError",
    "ModelNotFoundError",
    "ModelTimeoutError",
    "NotFittedError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "PredictionNotFoundError",
    "RateLimitedError",
    "SchemaMismatchError",
    "TenantNotFoundError",
    "UnsupportedFormatError",
    "UnsupportedMediaTypeError",
    "VersionNotFoundError",
    "__version__",
]
