"""JWT verification and authorization: the only part of the service that imports `jwt`.

Submodules are imported explicitly (`authsvc.security.tokens`, `authsvc.security.policy`, ...); this package
re-exports nothing so that importing the policy never drags in the JWT and key machinery.
"""
