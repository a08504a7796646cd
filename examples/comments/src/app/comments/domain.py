from pathlib import Path

from app.comments.admin import CommentAdmin
from app.comments.events import CommentAdded, CommentDeleted
from app.comments.models import Comment
from app.comments.pages import (
    AUTHOR_PAGES,
    POST_PAGES,
    drop_purged_comments,
    forget_commenter_pages,
)
from app.comments.permissions import DELETE_ANY
from app.comments.router import router
from app.core.domain import Domain
from app.core.events import Handler, OnCommit
from app.platform.cache import forget_pages
from app.posts.events import PostDeleted, PostPurged
from app.users.events import UserDeleted, UserPurged, UserRenamed, UserRestored

domain = Domain(
    name="comments",
    router=router,
    models=(Comment,),
    permissions=(DELETE_ANY,),
    migrations=Path(__file__).with_name("migrations"),
    handlers=(
        # A comment added or deleted, its post deleted or purged: the post's pages.
        *forget_pages(POST_PAGES, on=(CommentAdded, CommentDeleted, PostDeleted, PostPurged)),
        # The post's author deleted, restored, renamed or purged: the pages under the name.
        *forget_pages(AUTHOR_PAGES, on=(UserDeleted, UserRestored, UserRenamed, UserPurged)),
        # A commenter deleted, restored or renamed: the pages their comments are on (pages.py).
        OnCommit(UserDeleted, forget_commenter_pages),
        OnCommit(UserRestored, forget_commenter_pages),
        OnCommit(UserRenamed, forget_commenter_pages),
        # A commenter purged: their comments, and the pages they were on.
        Handler(UserPurged, drop_purged_comments),
    ),
    admin_views=(CommentAdmin,),
)
