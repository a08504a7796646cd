"""What servers import: `uvicorn app.main:app`. Everything else uses `create_app()`."""

from app.factory import create_app

app = create_app()
