from pathlib import Path

from app.core.domain import Domain
from app.platform.cache import forget_pages
from app.platform.queue import CronJob
from app.posts.admin import PostAdmin
from app.posts.events import PostDeleted, PostPurged, PostRestored, PostUpdated
from app.posts.models import Post
from app.posts.permissions import DELETE_ANY, PURGE
from app.posts.router import LIST_PATTERN, POST_KEY, POST_PATTERN, router
from app.posts.tasks import purge_deleted_posts
from app.users.events import UserDeleted, UserPurged, UserRenamed, UserRestored

domain = Domain(
    name="posts",
    router=router,
    models=(Post,),
    jobs=(purge_deleted_posts,),
    cron_jobs=(CronJob(purge_deleted_posts, name="purge_deleted_posts_daily", hour=3, minute=0),),
    permissions=(DELETE_ANY, PURGE),
    migrations=Path(__file__).with_name("migrations"),
    handlers=(
        # A post changed or gone: its own page and its author's lists.
        *forget_pages(
            POST_KEY + ":{post_id}",
            LIST_PATTERN,
            on=(PostUpdated, PostDeleted, PostRestored, PostPurged),
        ),
        # Its author deleted, restored, renamed or purged: every page filed under the name.
        *forget_pages(
            POST_PATTERN, LIST_PATTERN, on=(UserDeleted, UserRestored, UserRenamed, UserPurged)
        ),
    ),
    admin_views=(PostAdmin,),
)
