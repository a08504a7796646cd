"""The machinery behind the kit: the response cache, the job queue, rate limiting, password
hashing and tokens, logging, and the HTTP edge (the one ASGI middleware and the uvicorn
protocol). Features use it; `app.core` never imports it at run time (type annotations may name
it); it imports the kit and no feature."""
