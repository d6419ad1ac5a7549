"""Mail that is never lost, and whose links are never at rest in the clear.

compose   -> the templates: subject, text and HTML (Jinja2), rendered at delivery
sealing   -> the key (outside the database) that seals each queued mail's secret token
outbox    -> `enqueue`: one row in the caller's transaction (template, parameters, sealed token,
             a stable Message-ID); `render_queued`: the mail, at delivery
transport -> SMTP (URL-configured) or `.eml` files; what leaves the process
leases    -> claiming, renewing and settling outbox rows across workers, a batch at a time
worker    -> the delivery loop, in a thread (`authsvc serve`) or a process (`authsvc worker`)
"""
