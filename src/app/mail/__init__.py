"""Mail: the transport behind the `Mail` event (core/messages.py). Each published message goes
into the outbox (`mail_outbox`) in the publisher's transaction and is sent by a job once that
commits, through SMTP, the log or .eml files (`MAIL_BACKEND`, `SMTP_*`: settings.py).

No other package imports this one: domains render and publish `Mail`, and deleting this
package (with its line in app/domains.py) leaves them publishing to nobody.
"""
