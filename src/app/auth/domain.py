from app.auth.models import RevokedToken
from app.auth.router import router
from app.core.domain import Domain

domain = Domain(name="auth", router=router, models=(RevokedToken,))
