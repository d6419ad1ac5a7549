"""Use cases. Each owns its transaction: state change, outbox row and audit event commit together."""
