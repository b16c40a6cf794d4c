"""What a failed delivery tells the outbox."""

from __future__ import annotations


class DeliveryError(Exception):
    """A message did not reach its destination.

    `permanent`: the destination refused this message for good (an SMTP 5xx, an HTTP 4xx other than 408/429);
    sending it again unchanged cannot help, so it goes to the dead-letter list at once. Anything else
    (unreachable, timeouts, 4xx SMTP, HTTP 5xx) is retried with back-off. `retry_after`: seconds the
    destination asked us to wait (HTTP Retry-After), if it said so.
    """

    def __init__(self, message: str, *, permanent: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after
