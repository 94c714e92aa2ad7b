"""FairScheduler: turns between members, limits, places in line, removal and resumed jobs."""

from __future__ import annotations

from dataclasses import dataclass

from wanbot.jobs.scheduler import DEFAULT_PAUSE_S, MAX_PAUSE_S, FairScheduler, Limits, Ticket

A = (1, 100)
B = (1, 200)
C = (2, 100)  # same user id, another guild: a different member


def ticket(job_id: str, user: tuple[int, int], provider: str = "p1") -> Ticket:
    return Ticket(job_id, user, provider)


def drain_one_at_a_time(scheduler: FairScheduler) -> list[str]:
    """Start, then finish, one job at a time; the order jobs started in."""
    order: list[str] = []
    while len(scheduler):
        started = scheduler.take_ready()
        assert len(started) == 1
        order.append(started[0].job_id)
        scheduler.finish(started[0].job_id)
    return order


def test_round_robin_does_not_starve_a_later_member() -> None:
    scheduler = FairScheduler(Limits(total=1, per_provider=5, per_user=5))
    for i in range(10):
        scheduler.push(ticket(f"a{i}", A))
    scheduler.push(ticket("b0", B))
    scheduler.push(ticket("b1", B))
    assert len(scheduler) == 12
    order = drain_one_at_a_time(scheduler)
    assert order[:4] == ["a0", "b0", "a1", "b1"]
    assert order[4:] == [f"a{i}" for i in range(2, 10)]


def test_one_turn_starts_one_job_per_member() -> None:
    scheduler = FairScheduler(Limits(total=10, per_provider=10, per_user=10))
    for i in range(3):
        scheduler.push(ticket(f"a{i}", A))
    scheduler.push(ticket("b0", B))
    scheduler.push(ticket("c0", C))
    started = [t.job_id for t in scheduler.take_ready()]
    assert started[:3] == ["a0", "b0", "c0"]
    assert started[3:] == ["a1", "a2"]
    assert scheduler.running_count == 5 and len(scheduler) == 0


def test_global_limit() -> None:
    scheduler = FairScheduler(Limits(total=3, per_provider=10, per_user=10))
    for i in range(5):
        scheduler.push(ticket(f"j{i}", (1, i)))
    assert [t.job_id for t in scheduler.take_ready()] == ["j0", "j1", "j2"]
    assert scheduler.take_ready() == []
    scheduler.finish("j1")
    assert [t.job_id for t in scheduler.take_ready()] == ["j3"]
    assert scheduler.running_count == 3
    scheduler.finish("unknown")  # finishing a job it never ran is harmless
    assert scheduler.running_count == 3


def test_per_provider_limit() -> None:
    scheduler = FairScheduler(Limits(total=10, per_provider=2, per_user=10))
    for i in range(3):
        scheduler.push(ticket(f"a{i}", A, "x"))
        scheduler.push(ticket(f"b{i}", B, "x"))
    scheduler.push(ticket("c0", C, "y"))
    started = scheduler.take_ready()
    assert sorted(t.job_id for t in started) == ["a0", "b0", "c0"]
    assert sum(t.provider == "x" for t in started) == 2
    assert scheduler.take_ready() == []
    scheduler.finish("c0")  # another provider's slot does not help provider x
    assert scheduler.take_ready() == []
    scheduler.finish("a0")
    assert [t.job_id for t in scheduler.take_ready()] == ["a1"]


def test_per_user_limit() -> None:
    scheduler = FairScheduler(Limits(total=10, per_provider=10, per_user=2))
    for i in range(5):
        scheduler.push(ticket(f"a{i}", A))
    scheduler.push(ticket("b0", B))
    started = [t.job_id for t in scheduler.take_ready()]
    assert sorted(started) == ["a0", "a1", "b0"]
    assert scheduler.take_ready() == []
    scheduler.finish("b0")
    assert scheduler.take_ready() == []  # B's slot is no use to A
    scheduler.finish("a0")
    assert [t.job_id for t in scheduler.take_ready()] == ["a2"]


def test_positions_follow_the_start_order() -> None:
    scheduler = FairScheduler(Limits(total=1, per_provider=1, per_user=1))
    pushes = [("a0", A), ("a1", A), ("b0", B), ("a2", A), ("c0", C), ("b1", B), ("a3", A)]
    for job_id, user in pushes:
        scheduler.push(ticket(job_id, user))
    positions = scheduler.positions()
    assert sorted(positions.values()) == list(range(1, len(pushes) + 1))
    by_place = sorted(positions, key=positions.__getitem__)
    assert by_place == ["a0", "b0", "c0", "a1", "b1", "a2", "a3"]

    # After each start the places are renumbered and still predict what comes next.
    order: list[str] = []
    while len(scheduler):
        positions = scheduler.positions()
        expected_next = min(positions, key=positions.__getitem__)
        (started,) = scheduler.take_ready()
        assert started.job_id == expected_next
        assert started.job_id not in scheduler.positions()
        assert sorted(scheduler.positions().values()) == list(range(1, len(scheduler) + 1))
        order.append(started.job_id)
        scheduler.finish(started.job_id)
    assert order == by_place


def test_remove_queued_job() -> None:
    scheduler = FairScheduler(Limits(total=1, per_provider=5, per_user=5))
    scheduler.push(ticket("a0", A))
    scheduler.push(ticket("a1", A))
    scheduler.push(ticket("b0", B))
    assert scheduler.remove("a1")
    assert not scheduler.remove("a1")
    assert not scheduler.remove("never")
    assert scheduler.positions() == {"a0": 1, "b0": 2}
    assert scheduler.remove("b0")  # B's only job: B leaves the turn order
    assert len(scheduler) == 1
    (started,) = scheduler.take_ready()
    assert started.job_id == "a0"
    assert not scheduler.remove("a0")  # running, not queued
    scheduler.finish("a0")
    assert scheduler.take_ready() == [] and scheduler.running_count == 0


def test_mark_running_counts_resumed_jobs() -> None:
    scheduler = FairScheduler(Limits(total=2, per_provider=5, per_user=1))
    scheduler.mark_running(ticket("resumed-a", A))
    scheduler.push(ticket("a0", A))
    scheduler.push(ticket("b0", B))
    scheduler.push(ticket("c0", C))
    assert scheduler.running_count == 1
    assert [t.job_id for t in scheduler.take_ready()] == ["b0"]  # A is at its own limit
    assert scheduler.take_ready() == []  # total of 2 reached
    scheduler.finish("resumed-a")
    assert [t.job_id for t in scheduler.take_ready()] == ["a0"]
    scheduler.finish("b0")
    assert [t.job_id for t in scheduler.take_ready()] == ["c0"]


# -- per-host windows (AIMD) -------------------------------------------------------------------


@dataclass
class Clock:
    now: float = 100.0

    def __call__(self) -> float:
        return self.now


def adaptive(floor: int = 2, ceiling: int = 16, clock: Clock | None = None) -> FairScheduler:
    limits = Limits(total=100, per_provider=ceiling, per_user=100, host_floor=floor)
    return FairScheduler(limits, clock=clock or Clock())


def fill(scheduler: FairScheduler, count: int, provider: str = "x") -> None:
    for i in range(count):
        scheduler.push(ticket(f"{provider}{i}", (1, i), provider))


def test_a_host_window_starts_at_its_floor_and_grows_per_accepted_submission() -> None:
    scheduler = adaptive(floor=2, ceiling=5)
    fill(scheduler, 10)
    started = scheduler.take_ready()
    assert [t.job_id for t in started] == ["x0", "x1"]
    assert scheduler.window("x") == 2
    for _ in started:
        scheduler.host_accepted("x")
    assert scheduler.window("x") == 4
    assert [t.job_id for t in scheduler.take_ready()] == ["x2", "x3"]
    for _ in range(10):
        scheduler.host_accepted("x")
    assert scheduler.window("x") == 5  # never above max_jobs_per_provider
    assert [t.job_id for t in scheduler.take_ready()] == ["x4"]
    assert scheduler.running_count == 5


def test_a_throttled_host_halves_once_per_window_and_never_below_the_floor() -> None:
    clock = Clock()
    scheduler = adaptive(floor=2, ceiling=16, clock=clock)
    fill(scheduler, 40)
    for _ in range(14):
        scheduler.host_accepted("x")
    assert scheduler.window("x") == 16
    started = scheduler.take_ready()
    assert len(started) == 16
    # The host refuses the last four together: one cut, not four.
    for t in started[-4:]:
        scheduler.host_throttled("x", t.job_id)
        assert scheduler.requeue(t.job_id)
    assert scheduler.window("x") == 8
    # A refusal of a job started after the cut is news: cut again.
    scheduler.finish(started[0].job_id)
    scheduler.finish(started[1].job_id)
    assert scheduler.take_ready() == []  # 10 still running, window 8
    for t in started[2:12]:
        scheduler.finish(t.job_id)
    clock.now += DEFAULT_PAUSE_S  # the refusal paused the host for a second
    again = scheduler.take_ready()
    assert len(again) == 8
    scheduler.host_throttled("x", again[0].job_id)
    assert scheduler.window("x") == 4
    for _ in range(5):
        scheduler.host_throttled("x")
    assert scheduler.window("x") == 2  # the floor


def test_a_refused_job_goes_back_to_the_head_of_the_line_and_positions_stay_true() -> None:
    clock = Clock()
    scheduler = adaptive(floor=1, ceiling=4, clock=clock)
    scheduler.push(ticket("a0", A))
    scheduler.push(ticket("a1", A))
    scheduler.push(ticket("b0", B))
    (first,) = scheduler.take_ready()
    assert first.job_id == "a0"
    assert scheduler.positions() == {"b0": 1, "a1": 2}
    scheduler.host_throttled("p1", "a0")
    assert scheduler.requeue("a0")
    assert scheduler.running_count == 0
    assert scheduler.positions() == {"a0": 1, "b0": 2, "a1": 3}
    assert not scheduler.requeue("a0")  # not running any more
    assert scheduler.take_ready() == []  # the host asked for a pause
    clock.now += DEFAULT_PAUSE_S
    (again,) = scheduler.take_ready()
    assert again.job_id == "a0"


def test_a_member_with_nothing_else_queued_is_first_again_after_a_refusal() -> None:
    scheduler = adaptive(floor=1, ceiling=4)
    scheduler.push(ticket("a0", A))
    (first,) = scheduler.take_ready()
    scheduler.push(ticket("b0", B))
    assert scheduler.requeue(first.job_id)
    assert scheduler.positions() == {"a0": 1, "b0": 2}


def test_hosts_have_their_own_windows_and_no_floor_means_fixed() -> None:
    scheduler = adaptive(floor=2, ceiling=8)
    scheduler.host_accepted("x")
    scheduler.host_throttled("y")
    assert (scheduler.window("x"), scheduler.window("y"), scheduler.window("z")) == (3, 2, 2)
    fixed = FairScheduler(Limits(total=10, per_provider=6, per_user=10))
    fixed.host_throttled("x")
    assert fixed.window("x") == 6


def test_a_refusal_pauses_the_host_for_its_retry_after_and_others_go_on() -> None:
    clock = Clock()
    scheduler = adaptive(floor=2, ceiling=8, clock=clock)
    fill(scheduler, 6, "x")
    fill(scheduler, 2, "y")
    first = scheduler.take_ready()
    assert sorted(t.job_id for t in first) == ["x0", "x1", "y0", "y1"]
    scheduler.host_throttled("x", "x1", retry_after=3.0)
    assert scheduler.requeue("x1")
    scheduler.finish("x0")
    assert scheduler.take_ready() == []  # x has room (window 2, none running) but is paused
    assert scheduler.paused_for() == 3.0
    clock.now += 2.9
    assert scheduler.take_ready() == []
    clock.now += 0.1
    assert scheduler.paused_for() is None
    assert [t.job_id for t in scheduler.take_ready()] == ["x1", "x2"]
    # A host's Retry-After is not trusted with the queue; no Retry-After is a second.
    scheduler.host_throttled("y", retry_after=1e9)
    assert scheduler.paused_for() is None  # nothing of y's waits
    scheduler.push(ticket("y9", (9, 9), "y"))
    assert scheduler.paused_for() == MAX_PAUSE_S


def test_after_the_first_cut_the_window_grows_one_per_window_of_accepts() -> None:
    scheduler = adaptive(floor=2, ceiling=32)
    for _ in range(6):
        scheduler.host_accepted("x")  # slow start: one per accept
    assert scheduler.window("x") == 8
    scheduler.host_throttled("x")
    assert scheduler.window("x") == 4
    sizes = []
    for _ in range(4 + 5 + 6):
        scheduler.host_accepted("x")
        sizes.append(scheduler.window("x"))
    assert sizes[3] == 5 and sizes[8] == 6 and sizes[14] == 7
    assert scheduler.host_figures("x")["cuts"] == 1


def test_a_job_whose_results_are_in_frees_its_place_at_the_host_not_the_member() -> None:
    scheduler = FairScheduler(Limits(total=10, per_provider=1, per_user=2))
    scheduler.push(ticket("a0", A))
    scheduler.push(ticket("a1", A))
    scheduler.push(ticket("a2", A))
    assert [t.job_id for t in scheduler.take_ready()] == ["a0"]
    scheduler.left_host("a0")  # delivering: the host has room again
    assert [t.job_id for t in scheduler.take_ready()] == ["a1"]
    scheduler.left_host("a1")
    assert scheduler.take_ready() == []  # the member has two running (one delivering)
    scheduler.finish("a0")
    assert [t.job_id for t in scheduler.take_ready()] == ["a2"]
    assert scheduler.host_figures("p1")["in_flight"] == 1
