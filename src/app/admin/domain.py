from app.admin.permissions import ACCESS
from app.admin.settings import AdminSettings
from app.admin.setup import install_admin
from app.core.domain import Domain

# No router and no models of its own: the panel is mounted beside the API (`install_admin`,
# setup.py) and shows the views the other domains declare.
domain = Domain(name="admin", permissions=(ACCESS,), settings=AdminSettings, on_app=install_admin)
