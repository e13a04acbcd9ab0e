#!/usr/bin/env python3
"""What goes wrong in answers from notes written in the short style.

Usage: scripts/short_from_notes_errors.py [--notes-factors [--reversed-changes]] SAMPLES_JSONL

SAMPLES_JSONL is the file `eval-demo --samples` writes for a model trained
with `--short-from-notes`. Each wrong answer from notes is put in the first
class that fits: for a sum or difference (" G+T:26+15~14", or " G=26+T=15~14"
with --short-named-operands), a name other than
the question's, the reversed result not being the operands' sum or
difference, else a wrong operand value; for a hypothetical (" R=32-30~2"), a
wrong reversed result, a change equal to the asked amount where the answer
needs a multiple of it (a factor on the path from the changed quantity left
out), another wrong change, else a wrong value. With --short-factors
(" R=32-2:30~2") a hypothetical's classes are a wrong reversed result (of
value and change as written), factor 1 where the path multiplies, a factor
where it does not, another wrong factor, a change other than the asked
amount times the factor, else a wrong value; each also counted by the
factor the answer needs. With --short-paths (" R=32-C*2T+:30~2") the
factor is the product of the k's the written path gives its "*k" relations,
and the classes are those of --short-factors, with "a path" for "a factor"
(the path itself needs the context, which the samples file does not hold:
a path that multiplies as much as the right one is counted right); with
--compact-paths too (" R=122V+T*2+6~821") the same. With --notes-factors
(" T=239R*6+42~182", the factor read from the notes' line for T) a factor
named for a quantity other than the one the question changes comes first,
then the classes of --short-factors; with --reversed-changes too
(" T=239R*6+24~182") the change is read digits last-first. Traces that
do not have the step's shape are "malformed". models/README.md quotes this
output.
"""
import collections
import json
import re
import sys

COMBINATION = re.compile(r" ([A-Z])([-+])([A-Z]):(\d+)([-+])(\d+)~(\d+)")
# --short-named-operands: " G=26+T=15~14", rewritten to the form above.
NAMED_COMBINATION = re.compile(r" ([A-Z])=(\d+)([-+])([A-Z])=(\d+)~(\d+)")
HYPOTHETICAL = re.compile(r" ([A-Z])=(\d+)([-+])(\d+)~(\d+)")
FACTOR_HYPOTHETICAL = re.compile(r" ([A-Z])=(\d+)([-+])(\d+):(\d+)~(\d+)")
PATH_HYPOTHETICAL = re.compile(r" ([A-Z])=(\d+)([-+])((?:[A-Z](?:[-+]|\*\d+))+):(\d+)~(\d+)")
# --compact-paths: " R=122V+T*2+6~821", rewritten to the form above.
COMPACT_PATH_HYPOTHETICAL = re.compile(r" ([A-Z])=(\d+)((?:[A-Z](?:[-+]|\*\d+))+)([-+])(\d+)~(\d+)")


def kind_of(question):
    if question.startswith("If "):
        return "hypothetical"
    if question.startswith("How many does "):
        return "value"
    return "combination"


NOTES_FACTOR_HYPOTHETICAL = re.compile(r" ([A-Z])=(\d+)([A-Z])\*(\d+)([-+])(\d+)~(\d+)")


def classify(row, notes_factors=False, reversed_changes=False):
    question, text = row["question"], row["text"]
    kind = kind_of(question)
    factor_step = NOTES_FACTOR_HYPOTHETICAL.match(text) if notes_factors and kind == "hypothetical" else None
    if factor_step:
        _, value, changed, factor, op, change, result = factor_step.groups()
        if reversed_changes:
            change = change[::-1]
        if row["parsed"] != row["gold"] and changed != re.search(r"If ([A-Z]) had", question).group(1):
            return kind, "the factor of a quantity the question does not change"
        tag = classify_factor(row, int(value), op, int(factor), int(change), result, "a factor")
        return kind, tag
    compact = COMPACT_PATH_HYPOTHETICAL.match(text)
    if compact:
        name, value, path, op, change, result = compact.groups()
        text = f" {name}={value}{op}{path}:{change}~{result}"
    if row["parsed"] == row["gold"] and not (FACTOR_HYPOTHETICAL.match(text) or PATH_HYPOTHETICAL.match(text)):
        return kind, "right"
    if kind == "value":
        return kind, "wrong"
    if kind == "combination":
        named = NAMED_COMBINATION.match(text)
        if named:
            a, va, op, b, vb, r = named.groups()
            text = f" {a}{op}{b}:{va}{op}{vb}~{r}"
        m = COMBINATION.match(text)
        if not m:
            return kind, "malformed"
        asked = re.findall(r"\b([A-Z])\b", question)[:2]
        if [m.group(1), m.group(3)] != asked:
            return kind, "a name other than the question's"
        a, b = int(m.group(4)), int(m.group(6))
        result = int(m.group(7)[::-1])
        if (a + b if m.group(2) == "+" else a - b) != result:
            return kind, "arithmetic"
        return kind, "a wrong operand value"
    m = FACTOR_HYPOTHETICAL.match(text)
    if m:
        value, factor, change = (int(m.group(i)) for i in (2, 4, 5))
        return kind, classify_factor(row, value, m.group(3), factor, change, m.group(6), "a factor")
    m = PATH_HYPOTHETICAL.match(text)
    if m:
        factor = 1
        for k in re.findall(r"\*(\d+)", m.group(4)):
            factor *= int(k)
        value, change = int(m.group(2)), int(m.group(5))
        return kind, classify_factor(row, value, m.group(3), factor, change, m.group(6), "a path")
    m = HYPOTHETICAL.match(text)
    if not m:
        return kind, "malformed"
    value, change, result = int(m.group(2)), int(m.group(4)), int(m.group(5)[::-1])
    if (value + change if m.group(3) == "+" else value - change) != result:
        return kind, "arithmetic"
    amount = int(re.search(r"had (\d+)", question).group(1))
    needed = abs(row["gold"] - value)
    if change != needed and change == amount and needed % amount == 0:
        return kind, "the amount itself where a factor multiplies it"
    if change != needed:
        return kind, "another wrong change"
    return kind, "a wrong value"


def classify_factor(row, value, op, factor, change, reversed_result, what):
    result = int(reversed_result[::-1])
    asked_amount = int(re.search(r"had (\d+)", row["question"]).group(1))
    # The factor the answer needs, from the value as written (a wrong value
    # is its own class below).
    needed = abs(row["gold"] - value) / asked_amount
    tag = f" (needs factor {needed:g})" if needed == int(needed) else " (needs no whole factor)"
    if row["parsed"] == row["gold"]:
        return "right" + tag
    if (value + change if op == "+" else value - change) != result:
        return "arithmetic" + tag
    if factor != needed and needed > 1 and factor == 1:
        return f"{what} that does not multiply where the right one does" + tag
    if factor != needed and needed == 1:
        return f"{what} that multiplies where the right one does not" + tag
    if factor != needed:
        return f"{what} that multiplies by another factor" + tag
    if change != asked_amount * factor:
        return "a wrong product" + tag
    return "a wrong value" + tag


def main():
    args = sys.argv[1:]
    notes_factors = "--notes-factors" in args
    reversed_changes = "--reversed-changes" in args
    args = [a for a in args if a not in ("--notes-factors", "--reversed-changes")]
    if len(args) != 1:
        sys.exit(__doc__)
    counts = collections.Counter()
    with open(args[0], encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            if row["mode"] == "notes":
                counts[classify(row, notes_factors, reversed_changes)] += 1
    for kind in ("value", "combination", "hypothetical"):
        total = sum(n for (k, _), n in counts.items() if k == kind)
        print(f"{kind}: {total} queries")
        for (k, what), n in sorted(counts.items(), key=lambda kv: -kv[1]):
            if k == kind:
                print(f"  {what}: {n}")


if __name__ == "__main__":
    main()
