from app.admin.permissions import ACCESS
from app.core.domain import Domain

# No router and no models of its own: the panel is mounted by `install_admin` (setup.py) and
# shows the other domains' models.
domain = Domain(name="admin", permissions=(ACCESS,))
