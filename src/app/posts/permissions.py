from app.core.permissions import Permission

DELETE_ANY = Permission("posts.delete_any", "Delete (soft delete) any user's post")
PURGE = Permission("posts.purge", "Remove any post from the database")
