#!/usr/bin/env python3
"""Where the demo model's reasoning goes wrong, from an eval-demo run.

Usage: scripts/trace_errors.py EVAL_DB SAMPLES_JSONL

EVAL_DB is the eval's database (DIR/eval-demo/eval.db of `sleeptime -d DIR
eval-demo`; its `contexts` table holds every context), SAMPLES_JSONL the file
written by `eval-demo --samples`. Each step "C=B*2." of a reasoned answer that
looks up a name the context defines by a relation is compared with that fact:
which operators it writes for which, whether the fact's place in the context
or its source's other uses matter, and where a wrong operator and constant
come from. Each computation "=17*2=34." of a reasoned answer or of the notes
is checked too, and so is the final line of each sum or difference
("R+T=80+239=319.", or "R+T =..." with value lines): whether each operand is
the value the answer itself stated for that name last. models/README.md
quotes this output.
"""
import collections
import json
import re
import sqlite3
import sys

LOOKUP = re.compile(r"([A-Z])=([A-Z])([-+*])(\d+)")
RELATION = re.compile(r"([A-Z])([-+*])(\d+)")
COMPUTATION = re.compile(r"=(\d+)([-+*])(\d+)=(?:~\d+=)?(\d+)\.")
COMBINATION = re.compile(r"(?:^| )([A-Z])([-+])([A-Z]) ?=(\d+)[-+](\d+)=(?:~\d+=)?(-?\d+)\.")


def last_stated(text, name):
    """The value the latest statement "X=...=v." or "X=v." of `name` in `text` gives, or None."""
    values = re.findall(r"(?:^| )%s=(?:[^ ]*=)?(-?\d+)\." % name, text)
    return int(values[-1]) if values else None


def context_facts(text):
    """[(name, right side)] in context order: "C=B*2. A=12." -> [("C", "B*2"), ("A", "12")]."""
    return [tuple(s.rstrip(".").split("=", 1)) for s in text.split(". ")]


def main(db_path, samples_path):
    contexts = {row[0]: row[1] for row in sqlite3.connect(db_path).execute("select id, text from contexts")}
    ops = collections.Counter()  # (true op, written op)
    constant_given_op = collections.Counter()  # constant right when the operator is
    by_place = collections.Counter()  # (place, right)
    by_fan_out = collections.Counter()  # (facts sharing the source, right)
    wrong_tail = collections.Counter()  # where a wrong operator + constant come from
    distance = collections.Counter()  # places from the right fact to the nearest fact with that tail
    arithmetic = collections.Counter()  # (operator, right)
    combination = collections.Counter()  # (which part, right)
    for line in open(samples_path):
        sample = json.loads(line)
        if sample["mode"] in ("reasoned", "sleep"):
            for m in COMPUTATION.finditer(sample["text"]):
                a, op, b, result = int(m[1]), m[2], int(m[3]), int(m[4])
                arithmetic[(op, {"+": a + b, "-": a - b, "*": a * b}[op] == result)] += 1
        if sample["mode"] != "reasoned":
            continue
        for m in COMBINATION.finditer(sample["text"]):
            before = sample["text"][: m.start()]
            a, b, result = int(m[4]), int(m[5]), int(m[6])
            combination[("first operand", last_stated(before, m[1]) == a)] += 1
            combination[("second operand", last_stated(before, m[3]) == b)] += 1
            combination[("result", (a + b if m[2] == "+" else a - b) == result)] += 1
        facts = context_facts(contexts[sample["context_id"]])
        place = {name: i for i, (name, _) in enumerate(facts)}
        relations = {name: RELATION.fullmatch(rhs) for name, rhs in facts}
        sources = collections.Counter(m.group(1) for m in relations.values() if m)
        for step in sample["text"].split(". "):
            m = LOOKUP.fullmatch(step.strip().rstrip("."))
            if not m or not relations.get(m.group(1)):
                continue
            name, src, op, k = m.groups()
            want = relations[name]
            right = (src, op, k) == want.groups()
            ops[(want.group(2), op)] += 1
            if want.group(2) == op:
                constant_given_op[k == want.group(3)] += 1
            by_place[(place[name], right)] += 1
            by_fan_out[(sources[want.group(1)], right)] += 1
            if op == want.group(2) and k == want.group(3):
                continue
            tail = op + k
            others = [i for i, (n, rhs) in enumerate(facts) if n != name and rhs[1:] == tail and relations[n]]
            own = relations.get(src)
            if own and own.group(2) + own.group(3) == tail:
                wrong_tail["the source's own definition (B=A+5)"] += 1
            elif others:
                wrong_tail["another fact's"] += 1
            else:
                wrong_tail["no fact's"] += 1
            if others:
                distance[min((i - place[name] for i in others), key=abs)] += 1

    def share(counter, key, what="lookups"):
        right, wrong = counter[(key, True)], counter[(key, False)]
        return f"{right + wrong} {what}, {100 * right / max(1, right + wrong):.1f}% right"

    print("operator written, by the fact's operator:")
    for want in "+-*":
        row = {w: ops[(want, w)] for w in "+-*"}
        total = sum(row.values())
        print(f"  {want}: {row}  right {100 * row[want] / max(1, total):.1f}%")
    print(f"constant right when the operator is: {constant_given_op[True]} of "
          f"{constant_given_op[True] + constant_given_op[False]}")
    print("by the fact's place in the context:")
    for p in sorted({p for p, _ in by_place}):
        print(f"  #{p + 1}: {share(by_place, p)}")
    print("by how many facts share the fact's source:")
    for f in sorted({f for f, _ in by_fan_out}):
        print(f"  {f}: {share(by_fan_out, f)}")
    print("wrong operator or constant: the pair is")
    for what, n in wrong_tail.most_common():
        print(f"  {what}: {n}")
    print("places from the right fact to the nearest fact holding the written pair:",
          dict(sorted(distance.items())))
    print("computations (reasoned answers and notes):")
    for op in "+-*":
        print(f"  {op}: {share(arithmetic, op, 'computations')}")
    print("final lines of sums and differences (reasoned answers): the value the answer stated last for")
    for part in ("first operand", "second operand"):
        print(f"  the {part}'s name: {share(combination, part, 'lines')}")
    print(f"  and the result computed from the operands written: {share(combination, 'result', 'lines')}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
