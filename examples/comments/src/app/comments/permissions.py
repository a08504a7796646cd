from app.core.permissions import Permission

DELETE_ANY = Permission("comments.delete_any", "Delete any user's comment (moderators)")
