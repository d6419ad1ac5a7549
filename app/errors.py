"""The service's errors, mirroring the envelopes the contract documents.

    AuthServiceError
     ├── FailError                  {status: "fail", message, errorCode, data: {errorName}}
     │    ├── RequestValidationError     400 VALIDATION_ERROR
     │    ├── UserAlreadyOnboarded       400 INVALID (the seed's body, exactly)
     │    ├── DuplicateEmail             400 INVALID (create/patch, as published)
     │    ├── UnknownSubrole             400 INVALID
     │    ├── CustomerDoesNotExist       400 INVALID (subroles, as published)
     │    ├── InvitationNotAccepted      400 INVITATION_NOT_ACCEPTED
     │    ├── PasswordRejected           400 INVALID (accept, the published rules)
     │    ├── InvalidInvitation          400 INVALID_INVITATION (accept: one answer for every case)
     │    ├── SignInFailed               400 INVALID (sign-in: one answer for every case)
     │    ├── RefreshTokenRequired       400 INVALID (refresh without a token, as published)
     │    ├── InvalidRefreshToken        400 INVALID (refresh: one answer for every case)
     │    ├── InvalidResetLink           400 INVALID (reset: one answer for every case, as published)
     │    ├── NotFound                   404 NOT_FOUND
     │    │    └── CustomerUserNotFound       404 NOT_FOUND (get, as published)
     │    ├── CustomerUserDoesNotExist   404 INVALID (patch, as published)
     │    ├── MethodNotAllowed           405 METHOD_NOT_ALLOWED (+ Allow)
     │    └── RateLimited                429 RATE_LIMITED (+ Retry-After; resend, as published)
     │         ├── InviteMailsLimited         429 (create: the customer's invitation mails)
     │         └── TooManyAttempts            429 (password work from one client address)
     ├── Unauthorized               401 {message, errorCode: ERR_UNAUTHORIZED}
     ├── Forbidden                  403 {message, errorCode: ERR_FORBIDDEN}
     └── InternalError              500 {message, errorCode: ERR_INTERNAL_SERVER}

Messages are fixed per class or chosen by our own code: no exception text, token or e-mail address
from the outside world ever reaches a response body.
"""

from __future__ import annotations

from typing import Any, ClassVar


class AuthServiceError(Exception):
    """An error with a documented status and envelope."""

    status: ClassVar[int] = 500
    error_code: ClassVar[str] = "ERR_INTERNAL_SERVER"
    default_message: ClassVar[str] = "Internal Server Error"

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        return {"message": self.message, "errorCode": self.error_code}

    def headers(self) -> dict[str, str]:
        return {}


class FailError(AuthServiceError):
    """A 4xx in the contract's `fail` envelope."""

    error_name: ClassVar[str] = "ApiError"

    def body(self) -> dict[str, Any]:
        return {
            "status": "fail",
            "message": self.message,
            "errorCode": self.error_code,
            "data": {"errorName": self.error_name},
        }


class RequestValidationError(FailError):
    status = 400
    error_code = "VALIDATION_ERROR"
    error_name = "RequestValidationError"
    default_message = "The request is malformed"


class UserAlreadyOnboarded(FailError):
    status = 400
    error_code = "INVALID"
    error_name = "CustomersApiError"
    default_message = "Customer has already onboarded the platform"


class DuplicateEmail(FailError):
    status = 400
    error_code = "INVALID"
    error_name = "CustomersApiError"
    default_message = "Another customer user exists with the same email."


class UnknownSubrole(FailError):
    status = 400
    error_code = "INVALID"
    error_name = "CustomersApiError"
    default_message = "Subrole does not exist for this customer"


class CustomerDoesNotExist(FailError):
    status = 400
    error_code = "INVALID"
    error_name = "CustomersApiError"
    default_message = "Customer does not exists"  # sic, as published


class InvitationNotAccepted(FailError):
    status = 400
    error_code = "INVITATION_NOT_ACCEPTED"
    error_name = "CustomersApiError"
    default_message = "An invited user becomes active only by accepting the invitation"


class PasswordRejected(FailError):
    """The message lists the broken rules (authsvc.security.passwords), as published."""

    status = 400
    error_code = "INVALID"
    error_name = "ValidationMiddlewareError"
    default_message = "password does not meet the requirements"


class InvalidInvitation(FailError):
    """Unknown, superseded, expired or used: deliberately the same answer for each."""

    status = 400
    error_code = "INVALID_INVITATION"
    error_name = "InvitationError"
    default_message = "This invitation is invalid or has expired"


class SignInFailed(FailError):
    """Wrong password, unknown e-mail, invited or inactive user: the same bytes for each."""

    status = 400
    error_code = "INVALID"
    error_name = "SignInApiError"
    default_message = "Incorrect username or password."


class RefreshTokenRequired(FailError):
    status = 400
    error_code = "INVALID"
    error_name = "SignInApiError"
    default_message = "Refresh Token is Required"


class InvalidRefreshToken(FailError):
    """Unknown, expired, rotated, reused, revoked, of an ended session or an inactive user."""

    status = 400
    error_code = "INVALID"
    error_name = "SignInApiError"
    default_message = "Refresh Token is invalid or has expired"


class InvalidResetLink(FailError):
    """Unknown, expired, used or superseded: the published message for each."""

    status = 400
    error_code = "INVALID"
    error_name = "SignInApiError"
    default_message = "This reset password link has expired"


class CustomerUserDoesNotExist(FailError):
    status = 404
    error_code = "INVALID"
    error_name = "CustomersApiError"
    default_message = "Customer user does not exist"


class NotFound(FailError):
    status = 404
    error_code = "NOT_FOUND"
    error_name = "NotFoundError"
    default_message = "Not found"


class CustomerUserNotFound(NotFound):
    error_name = "CustomersApiError"
    default_message = "Customer user Not Found"


class MethodNotAllowed(FailError):
    status = 405
    error_code = "METHOD_NOT_ALLOWED"
    error_name = "MethodNotAllowedError"
    default_message = "Method not allowed"

    def __init__(self, allow: str = "", message: str | None = None) -> None:
        super().__init__(message)
        self.allow = allow

    def headers(self) -> dict[str, str]:
        return {"Allow": self.allow} if self.allow else {}


class RateLimited(FailError):
    status = 429
    error_code = "RATE_LIMITED"
    error_name = "RateLimitError"
    default_message = "Too many invite resends for this user; try again later"

    def __init__(self, retry_after_seconds: int, message: str | None = None) -> None:
        super().__init__(message)
        self.retry_after_seconds = max(1, int(retry_after_seconds))

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_seconds)}


class InviteMailsLimited(RateLimited):
    """The customer's invitation mails (create and resend) reached the configured limit."""

    default_message = "Too many invitation mails for this customer; try again later"


class TooManyAttempts(RateLimited):
    """Unauthenticated password work from one client address reached the configured limit."""

    default_message = "Too many attempts from this address; try again later"


class SignInThrottled(RateLimited):
    """Too many failed sign-ins for the submitted e-mail or from the client address."""

    default_message = "Too many sign-in attempts; try again later"


class Unauthorized(AuthServiceError):
    status = 401
    error_code = "ERR_UNAUTHORIZED"
    default_message = "Unauthorized"

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": "Bearer"}


class Forbidden(AuthServiceError):
    status = 403
    error_code = "ERR_FORBIDDEN"
    default_message = "Forbidden"


class InternalError(AuthServiceError):
    status = 500
    error_code = "ERR_INTERNAL_SERVER"
    default_message = "Internal Server Error"


class ServiceUnavailable(InternalError):
    """The database (or another dependency) did not answer in time; still the documented 500."""

    default_message = "Internal Server Error"


class ConfigError(Exception):
    """The configuration is invalid; each problem names the environment variable (or option)."""

    def __init__(self, *problems: str) -> None:
        super().__init__("; ".join(problems))
        self.problems: tuple[str, ...] = problems or ("invalid configuration",)
