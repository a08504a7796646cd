"""What several test modules share. Test modules import from here, never from each other (nor
from conftest.py, which holds only fixtures):

- `settings`: the settings apps and processes run with (`make_settings`, `app_env`, the run's
  Redis database, the test secret key and password);
- `database`: creating, dropping and migrating databases, and SQL beside the app;
- `http`: an app started in-process and its client, registering and signing in, the shared
  assertions on error responses;
- `cache`: waiting out the cache's write fence, Redis clients;
- `mail`: an app whose mail lands as .eml files in a folder, and reading them (links, parts);
- `smtp`: a real SMTP server and a real worker that sends to it;
- `features`: which optional features are installed, for tests that need one they do not
  belong to (`needs`);
- `processes`: commands run as processes of their own, free ports;
- `worker`: `app worker` beside a Redis that comes and goes (its environment, healthcheck,
  log lines);
- `admin`: signing in to the admin panel, the headers of its origin check, `needs_admin`;
- `deploy`: nginx (installed when missing) and the local nginx configuration filled in;
- `features`: which optional features are installed (`needs`, `installed`).
"""
