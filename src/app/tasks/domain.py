from app.core.domain import Domain
from app.tasks.router import router
from app.tasks.settings import TaskSettings
from app.tasks.tasks import sample_background_task

domain = Domain(name="tasks", router=router, jobs=(sample_background_task,), settings=TaskSettings)
