"""The one table of which role each route needs, keyed by the route's operation id."""

from __future__ import annotations

from maas.domain.roles import Role

__all__ = ["ANY_KEY", "PUBLIC", "ROUTE_ROLES", "needed_role"]

PUBLIC = frozenset(
    {
        "live",
        "ready",
        "metrics",
        "oip_server_live",
        "oip_server_ready",
        "ui_index",
        "ui_asset",
    }
)
"""Routes that answer without a key: health, metrics, and the dashboard's static files (its
pages then call ``/v1`` with the user's key)."""

ANY_KEY = frozenset(
    {
        "server_info",
        "oip_server_metadata",
        "oip_model_metadata",
        "oip_model_version_metadata",
        "oip_model_ready",
        "oip_model_version_ready",
    }
)
"""Routes any valid key may call: who am I, and the v2 metadata that v2 clients read first."""

ROUTE_ROLES: dict[str, Role] = {
    # registry: reading
    "list_models": Role.VIEWER,
    "get_model": Role.VIEWER,
    "list_versions": Role.VIEWER,
    "get_version": Role.VIEWER,
    "list_aliases": Role.VIEWER,
    "alias_history": Role.VIEWER,
    # registry: changing
    "create_model": Role.DEVELOPER,
    "update_model": Role.DEVELOPER,
    "delete_model": Role.DEVELOPER,
    "upload_version": Role.DEVELOPER,
    "update_version": Role.DEVELOPER,
    "set_alias": Role.DEVELOPER,
    "delete_alias": Role.DEVELOPER,
    "rollback_alias": Role.DEVELOPER,
    # datasets
    "list_datasets": Role.VIEWER,
    "get_dataset": Role.VIEWER,
    "list_dataset_versions": Role.VIEWER,
    "get_dataset_version": Role.VIEWER,
    "preview_dataset": Role.VIEWER,
    "upload_dataset": Role.DEVELOPER,
    "append_dataset": Role.DEVELOPER,
    "delete_dataset": Role.DEVELOPER,
    # prediction
    "predict": Role.CONSUMER,
    "oip_infer": Role.CONSUMER,
    "oip_infer_version": Role.CONSUMER,
    # tenants (admins of the default tenant only; checked again in the service)
    "list_tenants": Role.ADMIN,
    "create_tenant": Role.ADMIN,
    # training jobs
    "train_model": Role.DEVELOPER,
    "retrain_model": Role.DEVELOPER,
    "list_jobs": Role.VIEWER,
    "get_job": Role.VIEWER,
    "cancel_job": Role.DEVELOPER,
    "batch_predict": Role.DEVELOPER,
    "job_results": Role.VIEWER,
    # monitoring
    "get_traffic": Role.VIEWER,
    "list_predictions": Role.VIEWER,
    "submit_feedback": Role.CONSUMER,
    "live_metrics": Role.VIEWER,
    "get_drift": Role.VIEWER,
    "check_drift": Role.DEVELOPER,
    "get_monitoring": Role.VIEWER,
    "set_monitoring": Role.DEVELOPER,
    # audit
    "export_audit": Role.ADMIN,
    # keys
    "list_keys": Role.ADMIN,
    "create_key": Role.ADMIN,
    "revoke_key": Role.ADMIN,
}
"""The least role each other route needs (see ``Role.allows``)."""


def needed_role(route_name: str) -> Role | None:
    """The role ``route_name`` needs; ``None`` when any valid key may call it.

    Raises:
        KeyError: the route has no rule (the app refuses to start with such a route).
    """
    if route_name in ANY_KEY:
        return None
    return ROUTE_ROLES[route_name]
