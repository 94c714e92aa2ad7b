"""Every kind of message in zh-CN has no English sentence left in it, and in English no Chinese.

The samples (samples.py, samples_account.py) call every public function of cogs/render's
message modules in each of its shapes; a new render function without a sample fails here.
"""

from __future__ import annotations

import inspect
import re
from types import ModuleType

import pytest

from cogs.render import (
    account,
    admin,
    audit,
    jobs,
    operators,
    prompts,
    queue,
    refusals,
    wallets,
)
from cogs.ui.actions import ACTIONS, JobButton, progress_view, result_view
from cogs.ui.edit import EditModal, ImageSource, VarySelect
from cogs.ui.remix import RemixModal
from tests.i18n.leftover import assert_chinese
from tests.i18n.samples import (
    ADMIN_INPUT_DETAILS,
    BAD_OPTION_DETAILS,
    ISSUE_CASES,
    REASON_DETAILS,
    Sample,
    job_samples,
)
from tests.i18n.samples_account import account_samples
from tests.i18n.samples_members import SUFFIX_DETAILS, WALLET_ADMIN_DETAILS, member_samples
from wanbot.errors import RefusalReason
from wanbot.inputs import Offered
from wanbot.providers.capabilities import ISSUE_TEXT

ZH, EN = "zh-CN", "en-US"
SAMPLES: list[Sample] = [*job_samples(), *account_samples(), *member_samples()]
RENDER_MODULES: tuple[ModuleType, ...] = (
    jobs,
    refusals,
    account,
    admin,
    audit,
    wallets,
    queue,
    prompts,
    operators,
)
CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")
UNFILLED = re.compile(r"%\(\w+\)|%%")


def _public_functions(module: ModuleType) -> set[str]:
    short = module.__name__.rsplit(".", 1)[1]
    return {
        f"{short}.{name}"
        for name, value in vars(module).items()
        if inspect.isfunction(value)
        and value.__module__ == module.__name__
        and not name.startswith("_")
    }


def test_every_render_function_has_a_sample() -> None:
    sampled = {label.split()[0] for label, _, _ in SAMPLES}
    wanted = set().union(*(_public_functions(m) for m in RENDER_MODULES))
    assert len(wanted) > 50
    assert wanted - sampled == set()


def test_every_reason_problem_and_issue_has_a_sample() -> None:
    assert set(REASON_DETAILS) == set(RefusalReason)
    assert set(BAD_OPTION_DETAILS) == set(refusals._BAD_OPTION)
    assert set(ISSUE_CASES) == set(ISSUE_TEXT)
    assert set(SUFFIX_DETAILS) == set(prompts._SUFFIX_PROBLEMS)
    assert set(WALLET_ADMIN_DETAILS) == set(wallets._ADMIN_PROBLEMS)
    keys = {
        (d["problem"], d["action"]) if "action" in d else d["problem"] for d in ADMIN_INPUT_DETAILS
    }
    assert keys == set(refusals._ADMIN_INPUT)


@pytest.mark.parametrize(("label", "render", "echoed"), SAMPLES, ids=[s[0] for s in SAMPLES])
def test_in_chinese(label: str, render: object, echoed: tuple[str, ...]) -> None:
    assert callable(render)
    text = render(ZH)
    assert isinstance(text, str) and text.strip(), label
    assert not UNFILLED.search(text), text
    assert_chinese(text, echoed=echoed)


@pytest.mark.parametrize(("label", "render", "echoed"), SAMPLES, ids=[s[0] for s in SAMPLES])
def test_in_english(label: str, render: object, echoed: tuple[str, ...]) -> None:
    assert callable(render)
    text = render(EN)
    assert isinstance(text, str) and text.strip(), label
    assert not UNFILLED.search(text), text
    assert not CJK.search(text), text
    assert render(None) == text  # no locale: English
    assert render("fr") == text  # any other locale: English


def test_chinese_reads_naturally() -> None:
    """Spot checks of the wording: numbers as Chinese writes them, one plural form."""
    by_label = {label: render for label, render, _ in SAMPLES}
    summary = by_label["account.credits_summary daily"](ZH)
    assert summary.startswith("1,046 积分 · 额度每天 50 · <t:")
    assert "4 积分被未完成的任务占用" in summary
    assert "−4 /画图 “a red fox in the sn…”" in summary
    caption = by_label["jobs.caption one message"](ZH)
    assert caption.splitlines()[1] == "16:9 · 2K · 种子 1234567 · PixelDojo · 4 积分，剩余 1,046"
    placeholder = by_label["jobs.placeholder queued 3rd"](ZH)
    assert placeholder.splitlines()[1] == "排队中 · 第 3 位 · PixelDojo · 1:1 · 2K"
    english = by_label["jobs.placeholder queued 3rd"](EN)
    assert english.splitlines()[1] == "Queued · 3rd in line · PixelDojo · 1:1 · 2K"
    assert by_label["jobs.refund"](ZH) == "你的 2 积分已退回。"
    assert by_label["jobs.refund"](EN) == "Your 2 credits are back."
    assert by_label["admin.granted one, no reason"](EN).startswith("Gave <@33> 1 credit. ")
    listing = by_label["refusals.refusal bad option size"]
    assert "1K、2K 或 4K" in listing(ZH) and "1K, 2K or 4K" in listing(EN)


async def test_buttons_modal_and_menu_in_chinese() -> None:
    job_id = "0" * 32
    labels = {JobButton(a, job_id, ZH).item.label for a in ACTIONS}
    assert labels == {"取消", "重新生成", "变体", "重混", "编辑", "删除"}
    assert {JobButton(a, job_id).item.label for a in ACTIONS} == {
        "Cancel",
        "Reroll",
        "Vary",
        "Remix",
        "Edit",
        "Delete",
    }
    shown = [c for c in result_view(job_id, ZH).children if isinstance(c, JobButton)]
    assert [b.item.label for b in shown] == ["重新生成", "变体", "重混", "编辑", "删除"]
    [cancel] = progress_view(job_id, ZH).children
    assert isinstance(cancel, JobButton) and cancel.item.label == "取消"

    async def run(*_: object) -> None:
        return None

    source = ImageSource("https://cdn.discordapp.com/x.png", Offered("x.png", 1, None, 1, 1))
    modal = EditModal(run, [source], None, ZH)
    assert modal.title == "编辑图片"
    rows = modal.to_dict()["components"]
    assert [row["components"][0]["label"] for row in rows] == ["要改什么？", "生成几张图（1-4）"]
    assert EditModal(run, [source], None).title == "Edit image"
    menu = VarySelect(run, job_id, "a fox", [source, source], ZH)
    assert menu.placeholder == "对哪张图做变体？"
    assert [o.label for o in menu.options] == ["变体：第 1 张", "变体：第 2 张"]
    with_remix = VarySelect(run, job_id, "a fox", [source, source], ZH, run)
    assert [o.label for o in with_remix.options][-1] == "重混：修改提示词"
    remix = RemixModal(run, job_id, "a fox", None, ask_negative=True, locale=ZH)
    assert remix.title == "重混"
    remix_rows = remix.to_dict()["components"]
    assert [row["components"][0]["label"] for row in remix_rows] == [
        "提示词",
        "反向提示词（留空则不用）",
    ]
