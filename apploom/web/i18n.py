"""Chinese and English for the screens: the chrome's words here, the apps' words in
their definitions (``{en, zh}`` labels)."""
from __future__ import annotations

from flask import request, session

from apploom.engine.definitions.model import Label

LANGUAGES = ("en", "zh")

ZH = {
    "Sign in": "登录", "Sign out": "退出", "Username": "用户名", "Password": "密码",
    "Wrong username or password.": "用户名或密码不正确。",
    "Apps": "应用", "Home": "首页", "Search": "搜索", "Search…": "搜索…",
    "New": "新建", "Edit": "编辑", "Delete": "删除", "Save": "保存", "Cancel": "取消",
    "Back": "返回", "Filters": "筛选", "Clear": "清除", "from": "从", "to": "至",
    "Any": "全部", "Yes": "是", "No": "否", "Previous": "上一页", "Next": "下一页",
    "records": "条记录", "Export CSV": "导出 CSV", "Export Excel": "导出 Excel",
    "Delete selected": "删除所选", "Delete the selected records?": "确定删除所选记录？",
    "Delete this record?": "确定删除此记录？", "Add row": "添加行", "Remove": "移除",
    "Timeline": "动态", "Comment": "评论", "Add comment": "添加评论",
    "created": "创建了", "changed": "修改了", "deleted": "删除了", "commented": "评论",
    "Nothing here yet.": "这里还没有记录。", "Create the first one": "新建第一条",
    "No records match these filters.": "没有符合筛选条件的记录。",
    "Please correct the fields marked below.": "请修正下面标出的字段。",
    "Someone else changed this record while you were editing it.":
        "在你编辑期间，其他人修改了这条记录。",
    "Your values are kept in the form; theirs are shown next to each field. Save again to "
    "keep yours.": "表单中保留了你的修改，每个字段旁显示对方的值。再次保存将以你的修改为准。",
    "Theirs": "对方", "Saved.": "已保存。", "Deleted.": "已删除。",
    "Order": "订单", "History": "进度", "Total": "合计", "Dates": "日期",
    "Studio": "应用工作室", "versions": "个版本", "line": "第", "No problems.": "没有问题。",
    "Definition": "定义", "Preview": "预览", "Apply": "应用", "Why this change": "修改原因",
    "Changes against the live version": "与当前版本的差异", "(no change)": "（无变化）",
    "What applying it does": "应用后的变化", "(no schema change)": "（无结构变化）",
    "This release changes the definition this app is built on.": "新版本更新了此应用所基于的定义。",
    "Preview the merge with your changes": "预览与你的修改合并的结果",
    "Changed by you and by the release": "你和新版本都修改了的设置",
    "Up to date with this release.": "已是本版本的定义。",
    "Arrange a form or a list; who may do what": "调整表单、列表和权限",
    "Permissions": "权限", "Role": "角色", "read": "查看", "create": "新建", "update": "修改",
    "delete": "删除", "own": "仅本人", "all": "全部", "List": "列表", "Columns": "列",
    "Search in": "搜索字段",
    "Sorted by": "排序",
    "What each role may do with every record of the app; “own” means only the records the "
    "user created.": "各角色对应用中记录可做的操作；“仅本人”指只限本人创建的记录。",
    "Field names, separated by commas, in order; sort by -name for the newest or largest "
    "first.": "字段名，用逗号分隔并按顺序；排序写 -字段名 表示从新到旧或从大到小。",
    "Change a status or a transition": "修改状态或流转", "Change the status": "修改状态",
    "Change the transition": "修改流转", "Add an entity": "添加实体", "Add the entity": "添加实体",
    "Add a rule": "添加规则", "Add the rule": "添加规则", "Add a report": "添加报表",
    "Add the report": "添加报表", "on the dashboard": "放到仪表盘",
    "a record is created": "新建记录时", "a record is changed": "修改记录时",
    "a record is deleted": "删除记录时", "notify roles": "通知角色", "send an email": "发送邮件",
    "set a field": "设置字段", "take a transition": "执行流转",
    "Add a field": "添加字段", "Add the field": "添加字段", "Add a status": "添加状态",
    "Add the status": "添加状态", "Change or retire a field": "修改或停用字段",
    "Change the field": "修改字段", "Retire the field (its data is kept)": "停用字段（数据保留）",
    "Arrange a form": "调整表单布局", "Form": "表单", "Section": "分组", "+ Row": "+ 行",
    "Not on the form": "未放入表单",
    "Drag fields between rows and sections; a row holds the fields shown side by side.":
        "在行和分组之间拖动字段；同一行的字段并排显示。",
    "Roll back to": "回滚到", "Move them to…": "移动到…",
    "Value for the empty rows": "空值填为", "Versions": "版本", "live": "当前", "Compare": "比较",
    "change the apps: their fields, forms, statuses, rules and reports":
        "修改应用：字段、表单、状态、规则和报表",
    "Change what the apps hold and how they work; every change is a new version, "
    "previewed before it applies.":
        "修改应用的数据和运作方式；每次修改都是一个新版本，应用前先预览。",
    "Flow": "流程分析", "Period": "周期", "week": "按周", "month": "按月", "quarter": "按季度",
    "Waiting longer than": "等待超过", "Where records are, and how long they stay":
        "各状态的记录数与停留时长", "State": "状态", "Now": "当前", "Passed through": "经过",
    "Average hours": "平均小时", "90% within (hours)": "90%在(小时)内",
    "Finished per period": "每期完成数", "Since": "自", "Hours": "小时",
    "Last 30 days": "最近30天", "Last 12 months": "最近12个月", "This year": "今年",
    "All time": "全部时间",
    "Import": "导入", "Importing": "正在导入", "Imported": "已导入", "Dry run": "试运行",
    "A CSV or Excel (.xlsx) file, with a header row": "CSV 或 Excel (.xlsx) 文件，首行为表头",
    "Child rows (an order's lines) go one per row, repeating the record's own columns.":
        "明细行（如订单行）每行一条，并重复填写单据本身的列。",
    "rows": "行", "would be created": "条将被创建", "already there": "条已存在",
    "problems": "个问题", "Row": "行号", "Column": "列", "Problem": "问题",
    "Goes to": "导入到", "First rows": "前几行", "(skip)": "（不导入）",
    "Then, for each new record": "导入后，对每条新记录", "(nothing)": "（不操作）",
    "Language": "语言", "Created": "创建时间", "Updated": "更新时间",
    "by": "由", "Version": "版本", "Select all": "全选", "Selected": "已选",
    "You may not do that.": "你没有权限执行此操作。", "Not found": "未找到",
    "Something went wrong on our side; the error has been logged.":
        "系统出错，错误已记录。",
    "The form expired; please try again.": "表单已过期，请重试。",
    "The whole app": "整个应用", "Now: as the app says.": "目前：沿用应用的权限。",
    "Use the app’s permissions": "沿用应用的权限",
    "When": "何时", "Then": "然后", "Condition": "条件", "On": "启用", "off": "已停用",
    "Detail": "详情", "Setting": "设置", "Which records": "哪些记录",
    "on a schedule": "按计划时间", "a webhook is called": "收到 Webhook 调用",
    "changed: which fields; schedule: e.g. 0 8 * * *; webhook: its name":
        "修改时：哪些字段；计划：如 0 8 * * *；Webhook：名称",
    "(no new action)": "（不添加动作）", "(change it in the text)": "（请在文本中修改）",
    "Change, turn off or remove a rule": "修改、停用或删除规则",
    "Remove this action": "删除此动作", "Then also": "再添加一个动作",
    "Remove the rule": "删除规则", "new English label": "新的英文名称",
    "Relabel an entity or change its icon": "修改实体名称或图标",
    "icon (empty: keep it)": "图标（留空不变）", "Change the entity": "修改实体",
    "Change or remove a report; arrange the dashboard": "修改或删除报表；调整仪表盘",
    "Remove the report": "删除报表", "Dashboard": "仪表盘", "Add a tile": "添加卡片",
    "Place": "位置", "Drag the tiles into their order, or number their places.":
        "拖动卡片调整顺序，或填写位置序号。",
    "Width": "宽度", "Dates shown at first": "默认日期范围",
    "Grouped by": "分组", "Across": "交叉分组", "Viewer filters": "查看者筛选",
    "Only records where": "仅统计", "Sort": "排序", "Top": "前N名",
    "Only groups where": "仅显示分组", "Measure": "指标", "Of": "对象",
    "Format": "格式", "Only where": "仅当", "new measure": "新指标", "Source": "数据来源",
    "Who may do what with this entity’s records. When set, this replaces the app’s "
    "permissions for it; “own” means only the records the user created.":
        "各角色对此实体记录的权限。设置后将替代应用的权限；“own”表示仅限本人创建的记录。",
    "Type to search": "输入以搜索", "Download": "下载", "Roles": "角色",
    "Rows": "行", "Showing": "显示", "of": "共", "Transition": "流转",
    "Apply to selected": "应用到所选", "moved it": "流转了",
    "Notifications": "通知", "Mark all read": "全部标为已读", "set off a rule": "触发了规则",
    "condition": "条件", "done": "已执行", "skipped": "已跳过", "failed": "失败",
    "Outbox": "发件箱", "Dead letters": "发送失败", "Waiting": "待发送", "Sending": "发送中",
    "Sent": "已发送", "All": "全部", "Kind": "类型", "Status": "状态", "Attempts": "尝试次数",
    "To": "收件方", "Last error": "最近错误", "Send again": "重新发送",
    "emails and webhooks waiting or given up on": "待发送或发送失败的邮件与回调",
}


def current_language() -> str:
    chosen = session.get("lang")
    if chosen in LANGUAGES:
        return chosen
    return request.accept_languages.best_match(LANGUAGES, default="en") or "en"


def translate(text: str) -> str:
    return ZH.get(text, text) if current_language() == "zh" else text


def label(value: Label | None) -> str:
    return value.get(current_language()) if value else ""
