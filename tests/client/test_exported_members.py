"""``maas.__all__`` is the SDK surface: complete, sorted, and nothing else."""

from __future__ import annotations

import types

import maas
import maas.client
from maas.errors import all_error_classes


def test_all_is_sorted_and_unique():
    assert maas.__all__ == sorted(set(maas.__all__))


def test_all_names_the_clients_every_error_class_and_the_version():
    expected = {"Client", "AsyncClient", "__version__"} | {c.__name__ for c in all_error_classes()}
    assert set(maas.__all__) == expected


def test_every_public_name_is_exported():
    public = {
        name
        for name, value in vars(maas).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public <= set(maas.__all__)
    for name in maas.__all__:
        assert getattr(maas, name) is not None


def test_version_is_a_string():
    assert isinstance(maas.__version__, str)
    assert maas.__version__ != ""


def test_client_package_exports():
    assert maas.client.__all__ == ["USE_CLIENT_DEFAULT", "AsyncClient", "Client"]
    assert maas.Client is maas.client.Client
