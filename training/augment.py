"""Label noise as OCR and careless exports make it: look-alike characters, dropped and truncated
label characters, spaces breaking words. Tags stay aligned with the characters that survive."""
from __future__ import annotations

import random
from dataclasses import dataclass, replace

from .tagging import OUTSIDE, TaggedSequence

# Pairs of characters PP-OCR and scanned prints confuse (形近字), both directions.
_LOOKALIKE_PAIRS = (
    "公么 开幵 予子 以似 政故 信言 息自 处外 理埋 密蜜 秘泌 申中 请清 数教 量最 结给 转专 总忠 计汁 复夏 议仪 "
    "诉诹 讼松 维堆 持特 纠叫 正止 审宙 规观 章竟 范苑 性姓 件伴 许午 可司 罚罸 强弹 制刺 收牧 费废 采釆 购构 "
    "无天 法去 提捉 供洪 不下 掌堂 握屋 补朴 访仿 举拳 报抿 投没 重垂 版板 物吻 认队 出山 具县 获茯 取耴 其具 "
    "他她 属厲 于干 国囯 家冢 危厄 及乃 安妄 全金 稳隐 定走 第弟 三二 方万 合会 权杈 益盖 内肉 部郜 事亊 务各 "
    "四网 类娄 程呈 行仃 执热 案桉 卷券 查杳 询洵 项顶 本木 年午 新亲 上土 度庋 办为 分兮 区匹 一- 二= 人入 "
    "已己 己巳 未末 士土 日曰 目自 员贝 问间 作做 告吿 况兄 情晴 管菅 施旋 务矛"
)
LOOKALIKE: dict[str, str] = {}
for pair in _LOOKALIKE_PAIRS.split():
    a, b = pair[0], pair[1]
    LOOKALIKE.setdefault(a, b)
    LOOKALIKE.setdefault(b, a)


@dataclass(frozen=True)
class NoiseOptions:
    substitute: float = 0.08   # chance a label character becomes its look-alike
    random_char: float = 0.02  # chance a label character becomes a random CJK character
    delete: float = 0.03       # chance a label character is dropped
    truncate: float = 0.15     # chance a label loses its last 1-3 characters
    break_word: float = 0.05   # chance a new-cell flag appears inside a label (a space in the export)


def _is_label(tag: str) -> bool:
    return tag != OUTSIDE and not tag.endswith("VALUE")


def add_label_noise(seq: TaggedSequence, rng: random.Random, options: NoiseOptions = NoiseOptions()) -> TaggedSequence:
    chars, starts, boxes, tags = list(seq.chars), list(seq.starts), list(seq.boxes), list(seq.tags)
    # Truncations first: drop the tail of some label spans.
    keep = [True] * len(chars)
    i = 0
    while i < len(tags):
        if tags[i].startswith("B-") and _is_label(tags[i]):
            j = i + 1
            while j < len(tags) and tags[j] == "I-" + tags[i][2:]:
                j += 1
            if j - i > 3 and rng.random() < options.truncate:
                for k in range(j - rng.randint(1, 3), j):
                    keep[k] = False
            i = j
        else:
            i += 1
    out_c, out_s, out_b, out_t = [], [], [], []
    for c, s, b, t, k in zip(chars, starts, boxes, tags, keep):
        if not k:
            continue
        if _is_label(t):
            r = rng.random()
            if r < options.delete:
                continue
            if r < options.delete + options.substitute and c in LOOKALIKE:
                c = LOOKALIKE[c]
            elif r < options.delete + options.substitute + options.random_char:
                c = chr(rng.randint(0x4E00, 0x9FA5))
            if t.startswith("I-") and rng.random() < options.break_word:
                s = 1
        out_c.append(c)
        out_s.append(s)
        out_b.append(b)
        out_t.append(t)
    # A span whose B- was dropped starts at its first surviving character.
    for i, t in enumerate(out_t):
        if t.startswith("I-") and (i == 0 or out_t[i - 1][2:] != t[2:]):
            out_t[i] = "B-" + t[2:]
    return replace(seq, chars="".join(out_c), starts=out_s, boxes=out_b, tags=out_t,
                   meta={**seq.meta, "noise": True})
