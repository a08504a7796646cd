from app.core.permissions import Permission

READ_PRIVATE = Permission("users.read_private", "See any user's private fields (email, tier)")
PURGE = Permission("users.purge", "Remove a user and all they own from the database")
