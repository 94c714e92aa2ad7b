"""WebhookRegistry: unguessable per-job paths; forged, unknown and repeated pushes do nothing."""

from __future__ import annotations

import asyncio

import pytest

from wanbot.http.hooks import Push, WebhookRegistry


async def test_first_push_wakes_the_waiter_and_repeats_change_nothing() -> None:
    registry = WebhookRegistry()
    hook = registry.register("pixeldojo")
    waiter = asyncio.create_task(hook.wait())
    await asyncio.sleep(0)
    assert registry.push("pixeldojo", hook.token, {"status": "completed"}) is Push.DELIVERED
    assert await asyncio.wait_for(waiter, 1) == {"status": "completed"}
    assert registry.push("pixeldojo", hook.token, {"status": "failed"}) is Push.REPEATED
    assert await hook.wait() == {"status": "completed"}


async def test_paths_are_unguessable_and_unique() -> None:
    registry = WebhookRegistry()
    hooks = [registry.register("pixeldojo") for _ in range(50)]
    tokens = {h.token for h in hooks}
    assert len(tokens) == 50
    assert all(len(t) >= 43 for t in tokens)  # 32 random bytes, base64url
    assert hooks[0].path == f"/hooks/pixeldojo/{hooks[0].token}"
    assert hooks[0].url("https://bot.example.org/") == (
        f"https://bot.example.org/hooks/pixeldojo/{hooks[0].token}"
    )


async def test_forged_and_cross_provider_pushes_are_unknown() -> None:
    registry = WebhookRegistry()
    hook = registry.register("pixeldojo")
    assert registry.push("pixeldojo", "forged" + hook.token[6:], {}) is Push.UNKNOWN
    assert registry.push("skillsvideo", hook.token, {}) is Push.UNKNOWN
    assert not hook.pushed


async def test_closed_hook_is_forgotten() -> None:
    registry = WebhookRegistry()
    with registry.register("pixeldojo") as hook:
        assert len(registry) == 1
    assert len(registry) == 0
    assert registry.push("pixeldojo", hook.token, {}) is Push.UNKNOWN
    with pytest.raises(asyncio.CancelledError):
        await hook.wait()


def test_provider_names_cannot_break_the_path() -> None:
    async def make(name: str) -> None:
        WebhookRegistry().register(name)

    for bad in ("", "a/b"):
        with pytest.raises(ValueError):
            asyncio.run(make(bad))
