from app.core.domain import Domain
from app.users.models import User
from app.users.router import router

domain = Domain(name="users", router=router, models=(User,))
