"""The `/api/v1` router: every domain registers its router here, in one place."""

from __future__ import annotations

from fastapi import APIRouter

from app.auth.router import router as auth_router
from app.posts.router import router as posts_router
from app.tasks.router import router as tasks_router
from app.tiers.router import router as tiers_router
from app.users.router import router as users_router

api_router = APIRouter(prefix="/api/v1")
api_router.include_router(auth_router)
api_router.include_router(users_router)
api_router.include_router(tiers_router)
api_router.include_router(tasks_router)
# Last: its paths start with a free {username} segment.
api_router.include_router(posts_router)
