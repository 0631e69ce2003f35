"""Grouping unanswered questions, without a database: the default bigram grouper and the summaries."""

from __future__ import annotations

import datetime as dt

from edudesk.kb.miss_groups import MissItem, bigram_groups, group_indices, match_key, summarise

T0 = dt.datetime(2026, 11, 20, 2, 0, tzinfo=dt.UTC)


def groups_of(texts: list[str]) -> list[set[str]]:
    return [{texts[i] for i in g} for g in group_indices(texts)]


def test_wordings_of_one_question_share_a_group() -> None:
    texts = ["学费多少钱", "学费多少钱？", "学费是多少钱", "你们学费多少", "暑假班几号开课", "暑假班什么时候开课",
             "能停车吗", "有没有停车位", "老师是几年级的"]
    found = groups_of(texts)
    assert {"学费多少钱", "学费多少钱？", "学费是多少钱", "你们学费多少"} in found
    assert {"暑假班几号开课", "暑假班什么时候开课"} in found
    assert {"老师是几年级的"} in found
    assert sum(len(g) for g in found) == len(texts)


def test_leaders_keep_a_chain_of_small_steps_apart() -> None:
    # Each neighbour shares most bigrams with the next, but the ends have nothing in common.
    texts = ["英语一对一多少钱", "英语一对一怎么上", "一对一怎么上课", "上课怎么请假", "请假怎么补课"]
    found = groups_of(texts)
    assert not any({"英语一对一多少钱", "请假怎么补课"} <= g for g in found)


def test_punctuation_case_and_width_do_not_separate() -> None:
    assert match_key("Ｗi-Fi 密码？") == match_key("wifi密码") == "wifi密码"
    assert bigram_groups(["Ｗi-Fi 密码？", "wifi密码", "？？？", "!!!"]) == [[0, 1], [2, 3]]


def test_a_plugged_in_grouper_is_repaired() -> None:
    texts = ["a", "b", "c", "d"]

    def sloppy(items: list[str]) -> list[list[int]]:
        return [[0, 1, 1], [1, 2, 9, -1], []]  # a repeat, an index twice, out of range, empty; 3 forgotten

    assert group_indices(texts, sloppy) == [[0, 1], [2], [3]]
    assert group_indices([], sloppy) == []
    assert group_indices(["x", "y"], lambda items: [[1, 0]]) == [[1, 0]]


def item(i: int, text: str, minutes: int, reason: str = "unanswered", entry_id: int | None = None) -> MissItem:
    return MissItem(id=i, text=text, created_at=T0 + dt.timedelta(minutes=minutes), reason=reason,
                    entry_id=entry_id)


def test_summaries_pick_the_most_frequent_wording_and_order_by_size() -> None:
    items = [item(1, "试听收费吗", 0), item(2, "试听要钱吗", 5, "downvoted", 42), item(3, "试听要钱吗", 9),
             item(4, "有停车位吗", 30), item(5, "试听收费吗", 1)]
    groups = summarise(items, [[0, 1, 2, 4], [3]])
    first, second = groups
    assert (first.count, first.miss_ids, first.latest_at) == (4, (1, 2, 3, 5), T0 + dt.timedelta(minutes=9))
    # Two wordings twice each: the more recently asked one represents the group.
    assert first.representative == "试听要钱吗" and first.examples == ("试听要钱吗", "试听收费吗")
    assert first.reasons == (("unanswered", 3), ("downvoted", 1)) and first.entry_ids == (42,)
    assert (second.count, second.representative) == (1, "有停车位吗")
    same = summarise([item(1, "能停车吗", 0), item(2, "能停车吗？", 0), item(3, "可以停车吗", 0)], [[0, 1, 2]])[0]
    assert same.examples == ("能停车吗？", "可以停车吗")  # punctuation alone is not another wording
    assert summarise([], []) == []
