"""What the members' slash commands share: how they are declared, and their options' help.

`server_command` declares a command used only in servers, its options described from a table:
one per command with many options, built from shared entries where an option means the same in
several commands, so it is described alike everywhere. A command with one or two options
describes them where it declares them. English here; the catalog translates every string under
msgctxt "command" (see scripts/update_catalogs.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from discord import app_commands

if TYPE_CHECKING:
    from discord.app_commands.commands import CommandCallback

P = ParamSpec("P")
T = TypeVar("T")


def server_command(
    name: str, description: str, options: Mapping[str, str] | None = None
) -> Callable[[CommandCallback[Any, P, T]], app_commands.Command[Any, P, T]]:
    """`@app_commands.command`, `guild_only` and `describe(**options)` in one decorator."""

    def declare(callback: CommandCallback[Any, P, T]) -> app_commands.Command[Any, P, T]:
        # On the callback, as the decorators stacked would: the command wraps the descriptions
        # it finds there for translation, and would not wrap ones given to it afterwards.
        described = app_commands.describe(**options)(callback) if options else callback
        declared = app_commands.command(name=name, description=description)
        return declared(app_commands.guild_only(described))

    return declare


# Options every image command takes and means alike.
_IMAGE_JOB = {
    "seed": "Same seed and prompt give similar images",
    "provider": "Which image host to use",
    "private": "Only you see the result",
}

IMAGINE = {
    "prompt": "What to draw",
    "negative_prompt": "What to keep out of the image",
    "aspect_ratio": "Shape of the image",
    "size": "Resolution tier",
    "n": "How many images (1-4, up to 12 with image_set)",
    "thinking": "The model's thinking mode: better quality, slower",
    "image_set": "A coherent set of related images, up to n",
    "palette": "3-10 colours like #FF0000 #00FF00 #0000FF (optionally #RRGGBB:NN%)",
    **_IMAGE_JOB,
}

EDIT = {
    "prompt": "What should change",
    "image": "The image to edit",
    **dict.fromkeys(["image2", "image3", "image4"], "Another reference image"),
    "n": "How many images (1-4)",
    **_IMAGE_JOB,
}

# /set: the saved defaults of the image options above.
SET_DEFAULTS = {
    "aspect_ratio": "Default shape of the image",
    "size": "Default resolution tier",
    "n": "Default number of images (1-4)",
    "negative_prompt": 'What to keep out of your images by default ("none" clears it)',
    "thinking": "The model's thinking mode by default",
    "private": "Only you see your results by default",
    "reset": "Forget every default (options given with it are then saved)",
    "suffix": 'Words added to the end of every prompt of yours, like a style ("none" clears)',
}

BLOCKLIST = {
    "action": "add, remove or list",
    "term": "A word or phrase (matched as whole words, any case), or a regex with regex:true",
    "regex": "Treat term as a regular expression",
}

WALLET_CREATE = {
    "name": "What members see it called",
    "role": "Members with this role spend from it before their own credits",
    "amount": "Credits it holds, and refills to each period",
    "period": "How often it refills (default: as members' own allowance)",
}
