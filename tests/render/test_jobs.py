"""What a job shows without Discord: the placeholder, the caption of its results, and how it ended
with what came back."""

from __future__ import annotations

from pathlib import Path

from cogs.render.jobs import caption, failure, placeholder
from wanbot.jobs.ports import DeliveredFile, Delivery, FailureReason, JobOutcome, Progress
from wanbot.providers.models import GenerationRequest
from wanbot.store.base import Job

REQUEST = GenerationRequest(prompt="a fox \u202eevil", aspect_ratio="16:9", size="2K", n=2, seed=7)
JOB = Job(
    id="j" * 32,
    kind="imagine",
    guild_id=1,
    channel_id=2,
    user_id=3,
    application_id=4,
    interaction_token="t",
    token_expires_at=0.0,
    request=REQUEST,
    provider="mock",
    image_cost=2,
    deadline_at=0.0,
)


def files(count: int, note: str | None = None) -> list[DeliveredFile]:
    return [DeliveredFile(Path(f"{i}.png"), f"{i}.png", 64, 64, 100, note) for i in range(count)]


def test_caption_says_who_what_and_what_it_cost_and_cannot_be_spoofed() -> None:
    delivery = Delivery(files(2), charged=4, balance_after=46, provider_label="Mock")
    text = caption(JOB, delivery, part=1, parts=1, first=1, last=2, total=2, mention=False)
    head, detail = text.splitlines()
    assert head == "a fox evil — for <@3>"  # the override is gone: "for <@3>" reads as written
    assert detail == "16:9 · 2K · seed 7 · Mock · 4 credits, 46 left"


def test_caption_of_a_partial_image_set_and_of_fitted_files() -> None:
    delivery = Delivery(files(1, "re-encoded"), charged=2, balance_after=48, provider_label="Mock")
    text = caption(JOB, delivery, part=1, parts=1, first=1, last=1, total=1, mention=True)
    assert text.startswith("<@3> your images are ready: a fox evil")
    assert "The model made 1 of the 2 asked for; you paid for 1." in text
    assert "image 1: re-encoded" in text


def test_placeholder_while_queued_and_running() -> None:
    queued = placeholder(REQUEST, Progress(phase="queued", provider_label="Mock", queue_position=3))
    assert queued.splitlines()[1] == "Queued · 3rd in line · Mock · 2 × 16:9 · 2K"
    running = placeholder(
        REQUEST,
        Progress(phase="running", provider_label="Mock", elapsed_s=12, eta_s=18, eta_basis=20),
        now=1_750_000_000.0,
    )
    lines = running.splitlines()
    assert lines[1].startswith("Generating · 0:12 elapsed · ready about 0:18 from now")
    assert lines[2].startswith("▰▰▰▰▱▱▱▱▱▱")
    assert "\u202e" not in running


def test_how_a_job_ended_says_what_came_back() -> None:
    cancelled = JobOutcome(FailureReason.CANCELLED, "Mock", refunded=4)
    assert failure(cancelled) == "Cancelled. Your 4 credits are back."
    host = JobOutcome(FailureReason.HOST_FAILED, "PixelDojo", refunded=1, host_problem="timed_out")
    assert failure(host) == (
        "PixelDojo couldn't make this one (the image host took too long). Your 1 credit is back."
    )
    free = JobOutcome(FailureReason.DEADLINE, "Mock", refunded=0)
    assert failure(free) == "It took longer than this bot waits. Nothing was charged."
    for reason in FailureReason:
        text = failure(JobOutcome(reason, "Mock", refunded=2, host_problem="unavailable"))
        assert text.endswith("Your 2 credits are back."), reason
