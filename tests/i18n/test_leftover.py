"""The checker that finds English left in a zh-CN message."""

from __future__ import annotations

import pytest

from tests.i18n.leftover import assert_chinese, english_left


@pytest.mark.parametrize(
    "text",
    [
        "🎨 a red fox\n排队中 · 第 3 位 · PixelDojo · 2 × 16:9 · 2K",
        "生成中 · 已用时 0:12 · 预计约 0:18 后完成（<t:1763740000:R>）",
        "a red fox — 为 <@123> 生成\n16:9 · 2K · 种子 1234567 · skills.video · 4 积分，剩余 46",
        "第 1 张：以 JPEG 3840×2160 显示，8.9 MB；原图 PNG 为 14 MB",
        "这个提示词不能在 <#42> 使用：它命中了本服务器的屏蔽词（`bad word`）。未扣除任何积分。",
        "DashScope 不支持配色。试试 /画图 服务商:pixeldojo，或去掉配色。",
        "来自 https://discord.com/channels/1/2/3 · 配色 #FF0000:50% #00FF00:50%",
        "无法下载 photo.png（Discord 返回 404）。",
        "Mock 没能生成这张图（内容被拒绝）。你的 4 积分已退回。",
        "用 /设置 宽高比:... 数量:... 修改，或用 /设置 重置:true 全部清除。",
    ],
)
def test_chinese_messages_pass(text: str) -> None:
    assert english_left(text, echoed=["a red fox"]) == []


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("提示词被拒绝。Nothing was charged.", "Nothing was charged"),
        ("🎨 狐狸\nQueued · 第 3 位 · PixelDojo", None),
        ("第 2-3 张，共 12 张 · images of", "images of"),
        ("images 11-12 of 12", "images of"),
        ("16:9 · 2K · seed 1234 · thinking on", "thinking on"),
        ("你的额度 refills <t:1:R> every day", "refills every day"),
        ("PixelDojo couldn't make this one", "couldn't make this one"),
    ],
)
def test_english_left_is_found(text: str, phrase: str | None) -> None:
    left = english_left(text)
    if phrase is None:  # a single English word is allowed: the heuristic wants a run of two
        assert left == []
    else:
        assert phrase in left, left


def test_the_echoed_prompt_may_be_english_even_when_escaped() -> None:
    prompt = "a  red_fox   in *snow*"
    shown = "a red\\_fox in \\*snow\\* — 为 <@1> 生成"
    assert english_left(shown, echoed=[prompt]) == []
    assert english_left(shown) != []


def test_assert_chinese_names_what_is_left() -> None:
    assert_chinese("已保存。你的默认设置：16:9 · 2K")
    with pytest.raises(AssertionError, match="public results"):
        assert_chinese("已保存。你的默认设置：16:9 · 2K · public results")
