"""The one error type that business rules raise; the edges turn it into a 4xx, a form message or a CLI line."""

from __future__ import annotations


class DomainError(ValueError):
    status_code = 400

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field

    def as_dict(self) -> dict[str, str | None]:
        return {"code": self.code, "message": self.message, "field": self.field}
