"""``python -m services.admin``: serve the admin web service."""

from shared.config import get_settings
from shared.web import serve

if __name__ == "__main__":
    serve("services.admin.app:create_app", service="admin", port=get_settings().admin_port)
