"""Statistics fixtures: the public service (events go in through its real endpoints and the
events service), the API and the admin apps (statistics come out through them)."""

from tests.admin.conftest import admin_app, owner  # noqa: F401
from tests.api.conftest import api_app  # noqa: F401
from tests.public.conftest import public, world, world_factory  # noqa: F401
