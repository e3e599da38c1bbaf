"""Texts of deadline nudges, their digest, stale and overdue notices, escalations, snooze and
leave (/away)."""

ZH: dict[str, str] = {
    "nudge.one": "⏰ <b>截止提醒</b>：#{task_id} {left}\n{card}",
    "nudge.resume": "⏰ <b>稍后提醒到了</b>：#{task_id} {left}\n{card}",
    "nudge.digest": "⏰ <b>{count} 个任务临近截止</b>，最紧的在前：\n{lines}",
    "nudge.stale": "❓ <b>#{task_id} 进展如何？</b> 已 {days} 天没有更新。\n{card}",
    "nudge.overdue": "🔴 <b>#{task_id} 已逾期</b>，尚未提交，请尽快处理或说明情况。\n{card}",
    "nudge.overdue_leader": "🔴 您分管的 <b>#{task_id} {title}</b> 已逾期{days}天，尚未提交"
                            "（责任人 {official}，截止 {due}）。",
    "nudge.escalation": "⚠️ <b>#{task_id} {title}</b> 截止前一天的提醒已发出 {hours} 小时，"
                        "责任人 {official} 仍未回应（截止 {due}，{status} {progress}%）。",
    "button.digest_submitted": "#{task_id} 已提交",
    "button.digest_progress": "#{task_id} 进度",
    "button.digest_snooze": "#{task_id} 稍后",
    "button.digest_blocked": "#{task_id} 困难",
    "snooze.pick": "#{task_id} 多久后再提醒？",
    "snooze.days": "{days}天",
    "snoozed": "已记录 #{task_id} 稍后提醒：{until} 前不再提醒。",
    "menu.away": "休假（暂停提醒）",
    "help.away": "/away 5 — 休假 5 天，期间暂停提醒（/away 0 结束休假；管理员：/away 李明 5）",
    "away_set": "已记录：{name} 休假至 {until}，期间暂停截止提醒；逾期和升级仍会告知包抓领导。",
    "away_back": "已记录：{name} 结束休假，截止提醒恢复。",
    "away_usage": "用法：/away 天数（例如 /away 5；/away 0 结束休假）；管理员可写 /away 姓名 天数。",
    "away_days_invalid": "天数「{value}」应为 0–{limit} 的整数。",
}

EN: dict[str, str] = {
    "nudge.one": "⏰ <b>Deadline reminder</b>: #{task_id} {left}\n{card}",
    "nudge.resume": "⏰ <b>Reminding you as asked</b>: #{task_id} {left}\n{card}",
    "nudge.digest": "⏰ <b>{count} tasks due soon</b>, most urgent first:\n{lines}",
    "nudge.stale": "❓ <b>#{task_id}: how is it going?</b> No update for {days} days.\n{card}",
    "nudge.overdue": "🔴 <b>#{task_id} is overdue</b> and not submitted; please act or explain."
                     "\n{card}",
    "nudge.overdue_leader": "🔴 <b>#{task_id} {title}</b> in your portfolio is {days}d overdue "
                            "and not submitted (official {official}, due {due}).",
    "nudge.escalation": "⚠️ <b>#{task_id} {title}</b>: the day-before reminder went out {hours} "
                        "hours ago and {official} has not answered (due {due}, {status} "
                        "{progress}%).",
    "button.digest_submitted": "#{task_id} submitted",
    "button.digest_progress": "#{task_id} progress",
    "button.digest_snooze": "#{task_id} later",
    "button.digest_blocked": "#{task_id} problem",
    "snooze.pick": "Remind you about #{task_id} again in…",
    "snooze.days": "{days} d",
    "snoozed": "Recorded #{task_id}: no reminders before {until}.",
    "menu.away": "On leave (pause reminders)",
    "help.away": "/away 5 — on leave for 5 days, reminders paused (/away 0 to come back; admins: "
                 "/away Li Ming 5)",
    "away_set": "Recorded: {name} is away until {until}; deadline reminders are paused. Overdue "
                "tasks and escalations still reach the leader.",
    "away_back": "Recorded: {name} is back; deadline reminders resume.",
    "away_usage": "Usage: /away DAYS (e.g. /away 5; /away 0 to come back); admins may write "
                  "/away NAME DAYS.",
    "away_days_invalid": "Days \"{value}\" should be a whole number from 0 to {limit}.",
}
