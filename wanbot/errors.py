"""Errors that end an action with a message for the member, and nothing charged."""

from __future__ import annotations


class UserFacingError(Exception):
    """The action was refused; `user_message` says why in plain words, as shown to the member."""

    def __init__(self, user_message: str) -> None:
        super().__init__(user_message)
        self.user_message = user_message


class InsufficientCredits(UserFacingError):
    def __init__(self, balance: int, needed: int, per_image: int, refill_hint: str = "") -> None:
        credit = "credit" if balance == 1 else "credits"
        message = (
            f"You have {balance} {credit} left and this needs {needed} ({per_image} per image)."
        )
        if refill_hint:
            message += f" {refill_hint}"
        super().__init__(message)
        self.balance = balance
        self.needed = needed


class SpendCapReached(UserFacingError):
    def __init__(self, scope: str) -> None:
        where = "this server's" if scope == "guild" else "the bot's"
        super().__init__(
            f"The bot has reached {where} daily spending limit. Try again tomorrow. "
            "Nothing was charged."
        )
        self.scope = scope


class QueueFull(UserFacingError):
    def __init__(self, limit: int) -> None:
        super().__init__(
            f"You already have {limit} images waiting. Let one finish first. Nothing was charged."
        )
        self.limit = limit
