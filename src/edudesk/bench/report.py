"""The result of a run as a table for people and as JSON for scripts."""

from __future__ import annotations

import json
from typing import Any

from rich.table import Table


def _fmt(value: Any, unit: str = "") -> str:
    return "—" if value is None else f"{value}{unit}"


def render_table(result: dict[str, Any]) -> Table:
    c, m, r, s, cl = (result["connections"], result["messages"], result["reply_ms"], result["server"],
                      result["client"])
    table = Table("指标", "数值", title=f"edudesk bench：{result['visitors']} 位访客，"
                                       f"目标 {result['target_rate']} 条/秒，{result['duration_seconds']} 秒")
    table.add_row("连接 建立 / 保持 / 失败",
                  f"{c['opened']} / {c['held']} / {c['failed']}（用时 {c['open_seconds']} 秒）")
    table.add_row("消息 发送 / 收到回复", f"{m['sent']} / {m['answered']}")
    table.add_row("实际速率（发送 / 回复）", f"{m['sent_per_second']} / {m['answered_per_second']} 条/秒")
    table.add_row("机器人回复往返 p50 / p95 / p99",
                  f"{_fmt(r['p50'])} / {_fmt(r['p95'])} / {_fmt(r['p99'])} 毫秒")
    table.add_row("机器人回复往返 最大 / 平均", f"{_fmt(r['max'])} / {_fmt(r['mean'])} 毫秒")
    first = result["first_reply_ms"]
    if first["answered"]:
        table.add_row("开场消息（开启会话，建连时发送，不计入上面）往返 p50 / p99",
                      f"{_fmt(first['p50'])} / {_fmt(first['p99'])} 毫秒（{first['answered']} 条）")
    errors = {k: v for k, v in result["errors"].items() if k != "total"}
    table.add_row("错误", str(result["errors"]["total"]) + (
        "（" + "，".join(f"{k} {v}" for k, v in errors.items()) + "）" if errors else ""))
    if m["handed_off_visitors"]:
        table.add_row("被转人工的访客", str(m["handed_off_visitors"]))
    if s["pid"] is not None:
        procs = f"（{s['processes']} 个进程合计）" if (s["processes"] or 1) > 1 else ""
        table.add_row(f"服务进程内存 RSS{procs} 起始 / 连接后 / 峰值 / 结束",
                      f"{_fmt(s['rss_mb_start'])} / {_fmt(s['rss_mb_connected'])} / {_fmt(s['rss_mb_peak'])} / "
                      f"{_fmt(s['rss_mb_final'])} MB")
        table.add_row("服务进程 CPU / 每条回复",
                      f"{_fmt(s['cpu_percent'], '%')} / {_fmt(s['cpu_ms_per_answered'])} 毫秒")
    table.add_row("压测进程 CPU / 发送延迟 p99", f"{_fmt(cl['cpu_percent'], '%')} / {_fmt(cl['send_lag_ms_p99'])} 毫秒")
    mc = result["machine"]
    table.add_row(f"整机 CPU（{mc['cpus']} 核）/ 其他进程", f"{_fmt(mc['cpu_percent'], '%')} / "
                  f"{_fmt(mc['others_cpu_percent'], '%')}（以单核为 100%；负载 {mc['load_average_1m']}）")
    table.add_row("单核速度（100 万次 Python 加法）", f"{_fmt(mc['python_core_ms'])} 毫秒")
    for note in result["notes"]:
        table.add_row("注意", note)
    return table


def to_json(result: dict[str, Any]) -> str:
    return json.dumps(result, ensure_ascii=False)
