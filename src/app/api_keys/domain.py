from pathlib import Path

from app.api_keys.admin import ApiKeyAdmin
from app.api_keys.authenticator import KEYS
from app.api_keys.events import HANDLERS
from app.api_keys.models import ApiKey
from app.api_keys.router import router
from app.core.domain import Domain

domain = Domain(
    name="api_keys",
    router=router,
    models=(ApiKey,),
    handlers=HANDLERS,
    migrations=Path(__file__).with_name("migrations"),
    admin_views=(ApiKeyAdmin,),
    authenticators=(KEYS,),
)
