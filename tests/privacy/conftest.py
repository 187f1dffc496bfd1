"""The API fixtures (tenant, other) for the privacy tests."""

from tests.api.conftest import api_app, other, tenant  # noqa: F401
