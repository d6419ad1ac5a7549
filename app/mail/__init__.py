"""Mail that is never lost: compose, enqueue in the caller's transaction, deliver from the outbox.

compose   -> the invite's subject, text and HTML (Jinja2 templates)
outbox    -> `enqueue`: one row in the caller's session, with its stable Message-ID
transport -> SMTP (URL-configured) or `.eml` files; what leaves the process
leases    -> claiming, renewing and settling outbox rows across workers
worker    -> the delivery loop, in a thread (`authsvc serve`) or a process (`authsvc worker`)
"""
