"""The account flows that mail a link: email verification (and, optionally, refusing sign-in
until it is done), email change that waits for the new address, password reset.

It plugs into users and sign-in through their extension point (users/verification.py), sends
its mail as `Mail` events (core/messages.py) that the mail feature delivers, and retires reset
links when auth says the password changed. It needs app/mail (its settings decide whether the
flows may run outside local); deleting this package with its line in app/domains.py leaves
registration, sign-in and password change working, with addresses taken as given.
"""
