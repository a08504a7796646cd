"""The cached pages of comments, and how each change that shows on them forgets them.

A page shows a post's comments, each with its writer's username, and is filed under the post's
author: `{username}_comments:post_{post_id}:...`. The namespace, `{username}_comments`, holds
the pages of all that author's posts. A page goes

- when a comment is added or deleted, or its post deleted or purged: the post's pages
  (`forget_pages(POST_PAGES, ...)` in domain.py: the events carry the author and the post);
- when the post's author is deleted, restored, renamed or purged: every page filed under the
  name (`forget_pages(AUTHOR_PAGES, ...)` on users' events);
- when a commenter is deleted, restored or renamed: the pages of every author whose posts
  they commented on (`forget_commenter_pages`), looked up once the change has committed, so
  that a comment that committed meanwhile is seen too;
- when a commenter is purged: the purge leaves their comments without a writer (ON DELETE
  SET NULL, models.py), and `drop_purged_comments`, in the purge's transaction, reads whose
  posts they were under, deletes them, and forgets those authors' pages once the purge has
  committed. ON DELETE CASCADE would leave nothing to say where they were.
"""

from __future__ import annotations

from app.comments.repository import CommentRepository
from app.core.db import unit_of_work
from app.core.events import EventContext
from app.core.state import Resources
from app.platform.cache import invalidate_after_commit, invalidate_now
from app.users.events import UserDeleted, UserPurged, UserRenamed, UserRestored

PAGE_KEY = "{username}_comments:post_{post_id}:page_{page}:items_per_page_{items_per_page}"
POST_PAGES = "{username}_comments:post_{post_id}:*"
AUTHOR_PAGES = "{username}_comments:*"


def _pages_of(authors: list[str]) -> list[str]:
    # Usernames are [a-z0-9]+ (users/schemas.py): nothing in them to escape in a pattern.
    return [AUTHOR_PAGES.format(username=author) for author in authors]


async def forget_commenter_pages(
    resources: Resources, event: UserDeleted | UserRestored | UserRenamed
) -> None:
    """The pages that show the user's comments, once the change has committed (a unit of
    work of its own that only reads: one statement, no transaction)."""
    async with unit_of_work(resources) as db:
        authors = await CommentRepository(db).commented_under(event.user_id)
    await invalidate_now(resources.cache, [], _pages_of(authors))


async def drop_purged_comments(context: EventContext, event: UserPurged) -> None:
    """The comments the purge left without a writer go, in its transaction; the pages they
    were on go once it commits."""
    authors = await CommentRepository(context.db).delete_ownerless()
    invalidate_after_commit(context.db, context.resources.cache, [], _pages_of(authors))
