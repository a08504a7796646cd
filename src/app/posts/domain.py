from pathlib import Path

from app.core.domain import Domain
from app.core.queue import CronJob
from app.posts.models import Post
from app.posts.permissions import DELETE_ANY, PURGE
from app.posts.router import LIST_PATTERN, POST_PATTERN, router
from app.posts.tasks import purge_deleted_posts

domain = Domain(
    name="posts",
    router=router,
    models=(Post,),
    jobs=(purge_deleted_posts,),
    cron_jobs=(CronJob(purge_deleted_posts, name="purge_deleted_posts_daily", hour=3, minute=0),),
    user_cache_patterns=(LIST_PATTERN, POST_PATTERN),
    permissions=(DELETE_ANY, PURGE),
    migrations=Path(__file__).with_name("migrations"),
)
