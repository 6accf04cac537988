"""The domain's exceptions: what went wrong, by meaning, with no HTTP in them.

The tree (``api/problems.py`` maps each branch to an HTTP status; the SDK maps the stable
``code`` back to the same class)::

    MaasError
    ├── NotFoundError
    │   ├── ModelNotFoundError
    │   ├── VersionNotFoundError
    │   ├── AliasNotFoundError
    │   ├── KeyNotFoundError
    │   ├── JobNotFoundError
    │   ├── TenantNotFoundError
    │   └── PredictionNotFoundError
    ├── ConflictError
    │   └── AlreadyExistsError
    ├── InvalidInputError (also ValueError)
    │   ├── SchemaMismatchError
    │   ├── InvalidParameterError
    │   ├── InvalidNameError
    │   ├── UnsupportedFormatError
    │   ├── UnsupportedMediaTypeError
    │   └── MalformedRequestError
    ├── AuthenticationError
    ├── PermissionDeniedError
    ├── LimitExceededError
    │   ├── PayloadTooLargeError
    │   ├── RateLimitedError
    │   └── ModelTimeoutError
    ├── IntegrityError
    ├── NotFittedError (also ValueError, AttributeError)
    └── ModelExecutionError
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "AliasNotFoundError",
    "AlreadyExistsError",
    "AuthenticationError",
    "ConflictError",
    "IntegrityError",
    "InvalidInputError",
    "InvalidNameError",
    "InvalidParameterError",
    "JobNotFoundError",
    "KeyNotFoundError",
    "LimitExceededError",
    "MalformedRequestError",
    "MaasError",
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
    "all_error_classes",
]


class MaasError(Exception):
    """Base of every error the platform raises on purpose.

    Attributes:
        code: a stable machine-readable code, unique per class.
        title: a short human summary of the class of problem.
        field: where the problem is (a column, a parameter, a JSON path), if anywhere.
        expected: what was expected there.
        received: what came instead.
        details: extra structured facts (for example several field errors).
    """

    code: ClassVar[str] = "maas_error"
    title: ClassVar[str] = "Error"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        expected: Any = None,
        received: Any = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.expected = expected
        self.received = received
        self.details = details or {}


class NotFoundError(MaasError):
    code = "not_found"
    title = "Not found"


class ModelNotFoundError(NotFoundError):
    code = "model_not_found"
    title = "Model not found"


class VersionNotFoundError(NotFoundError):
    code = "version_not_found"
    title = "Model version not found"


class AliasNotFoundError(NotFoundError):
    code = "alias_not_found"
    title = "Alias not found"


class KeyNotFoundError(NotFoundError):
    code = "key_not_found"
    title = "API key not found"


class JobNotFoundError(NotFoundError):
    code = "job_not_found"
    title = "Job not found"


class TenantNotFoundError(NotFoundError):
    code = "tenant_not_found"
    title = "Tenant not found"


class PredictionNotFoundError(NotFoundError):
    """No logged prediction has this id for the caller's tenant (never logged — the log was
    full or only samples are logged — pruned by retention, or another tenant's)."""

    code = "prediction_not_found"
    title = "Prediction not found"


class ConflictError(MaasError):
    code = "conflict"
    title = "Conflict"


class AlreadyExistsError(ConflictError):
    code = "already_exists"
    title = "Already exists"


class InvalidInputError(MaasError, ValueError):
    code = "invalid_input"
    title = "Invalid input"


class SchemaMismatchError(InvalidInputError):
    code = "schema_mismatch"
    title = "Input does not match the model's signature"


class InvalidParameterError(InvalidInputError):
    code = "invalid_parameter"
    title = "Invalid parameter"


class InvalidNameError(InvalidInputError):
    code = "invalid_name"
    title = "Invalid name"


class UnsupportedFormatError(InvalidInputError):
    code = "unsupported_format"
    title = "Unsupported format"


class UnsupportedMediaTypeError(InvalidInputError):
    """The request body's content type is not one the route reads."""

    code = "unsupported_media_type"
    title = "Unsupported media type"


class MalformedRequestError(InvalidInputError):
    """The request body cannot be parsed at all (not JSON, truncated, ...)."""

    code = "malformed_request"
    title = "Malformed request"


class AuthenticationError(MaasError):
    code = "unauthenticated"
    title = "Authentication required"


class PermissionDeniedError(MaasError):
    code = "permission_denied"
    title = "Permission denied"


class LimitExceededError(MaasError):
    code = "limit_exceeded"
    title = "Limit exceeded"


class PayloadTooLargeError(LimitExceededError):
    code = "payload_too_large"
    title = "Payload too large"


class RateLimitedError(LimitExceededError):
    code = "rate_limited"
    title = "Too many requests"

    def __init__(self, message: str, *, retry_after: float = 1.0, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ModelTimeoutError(LimitExceededError):
    """A prediction ran longer than the configured timeout."""

    code = "model_timeout"
    title = "Model execution timed out"


class IntegrityError(MaasError):
    """Stored bytes do not match their recorded checksum, or cannot be decrypted."""

    code = "integrity_error"
    title = "Stored data failed its integrity check"


class NotFittedError(MaasError, ValueError, AttributeError):
    code = "not_fitted"
    title = "Estimator not fitted"


class ModelExecutionError(MaasError):
    """The model itself failed on input that passed the signature check."""

    code = "model_execution_failed"
    title = "Model execution failed"


def all_error_classes() -> list[type[MaasError]]:
    """Every ``MaasError`` class defined here, the base included, parents before children."""
    seen: list[type[MaasError]] = []
    stack: list[type[MaasError]] = [MaasError]
    while stack:
        cls = stack.pop(0)
        if cls not in seen:
            seen.append(cls)
            stack.extend(cls.__subclasses__())
    return seen
