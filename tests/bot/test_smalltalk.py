import pytest

from edudesk.bot.smalltalk import recognise


@pytest.mark.parametrize(("text", "intent"), [
    ("你好", "greeting"), ("老师您好呀", "greeting"), ("在吗？", "greeting"), ("Hello!", "greeting"),
    ("谢谢", "thanks"), ("好的，谢谢啦", "thanks"), ("感谢老师", "thanks"),
    ("再见", "goodbye"), ("拜拜～", "goodbye"),
    ("你是机器人吗", "robot"), ("你是真人吗？", "robot"), ("你是谁", "robot"),
    ("好的", "ok"), ("知道了", "ok"),
])
def test_small_talk_is_recognised(text: str, intent: str) -> None:
    found = recognise(text)
    assert found is not None and found.intent == intent
    assert found.reply


@pytest.mark.parametrize("text", [
    "你好，请问一年级数学一期多少钱", "谢谢，那试听课怎么约", "人工智能编程课", "机器人编程课几岁能学",
    "", "   ", "。。。", "好" * 40,
])
def test_questions_that_start_with_small_talk_go_on_to_the_faq(text: str) -> None:
    assert recognise(text) is None
