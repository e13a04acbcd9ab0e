#!/usr/bin/env python3
"""Plots train-demo logs (log.jsonl) as an SVG: loss and held-out accuracy against tokens seen.

usage: scripts/plot_training.py LOG.jsonl [LOG2.jsonl ...] OUT.svg
Several logs are stages of one model (a fine-tune after its base, as scripts/train_demo.sh runs them):
each continues where the previous one ended, and a dashed line marks where. Steps a resumed run
repeated (those after its last checkpoint) are drawn once. Standard library only; the SVG is drawn by hand.
"""
import json
import sys


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    loss, acc, direct, lookups, computations = [], [], [], [], []
    boundaries = []
    offset = 0
    for log in sys.argv[1:-1]:
        events = []
        with open(log) as f:
            for line in f:
                e = json.loads(line)
                if e.get("event") == "start":
                    # A resume restarts at its checkpoint: forget what came after it.
                    events = [x for x in events if x["step"] <= e["step"]]
                elif e.get("event") in ("loss", "eval"):
                    events.append(e)
        if not events:
            sys.exit("no loss events in " + log)
        for e in events:
            t = offset + e["tokens_seen"]
            if e["event"] == "loss":
                loss.append((t, e["loss"]))
            else:
                acc.append((t, e["reasoned_acc"]))
                direct.append((t, e["direct_acc"]))
                if e.get("lookups_n"):
                    lookups.append((t, e["lookup_acc"]))
                if e.get("computations_n"):
                    computations.append((t, e["computation_acc"]))
        offset += max(e["tokens_seen"] for e in events)
        boundaries.append(offset)
    if not loss:
        sys.exit("no loss events")
    loss.sort()
    acc.sort()
    direct.sort()
    lookups.sort()
    computations.sort()
    w, h, pad = 720, 300, 50
    x_max = max(t for t, _ in loss)
    l_max = max(v for _, v in loss)

    def x(t):
        return pad + (w - 2 * pad) * t / x_max

    def y_loss(v):
        return h - pad - (h - 2 * pad) * v / l_max

    def y_acc(v):
        return h - pad - (h - 2 * pad) * v

    def path(points, fy):
        return " ".join(("M" if i == 0 else "L") + f"{x(t):.1f},{fy(v):.1f}" for i, (t, v) in enumerate(points))

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="11">',
           f'<rect width="{w}" height="{h}" fill="white"/>',
           f'<line x1="{pad}" y1="{h-pad}" x2="{w-pad}" y2="{h-pad}" stroke="black"/>',
           f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{h-pad}" stroke="black"/>',
           f'<line x1="{w-pad}" y1="{pad}" x2="{w-pad}" y2="{h-pad}" stroke="black"/>']
    for i in range(6):
        t = x_max * i / 5
        out.append(f'<text x="{x(t):.0f}" y="{h-pad+15}" text-anchor="middle">{t/1e6:.1f}M</text>')
        out.append(f'<text x="{pad-5}" y="{y_loss(l_max*i/5)+4:.0f}" text-anchor="end">{l_max*i/5:.1f}</text>')
        out.append(f'<text x="{w-pad+5}" y="{y_acc(i/5)+4:.0f}">{100*i/5:.0f}%</text>')
    out.append(f'<text x="{w/2}" y="{h-10}" text-anchor="middle">tokens seen</text>')
    for i, b in enumerate(boundaries[:-1]):
        out.append(f'<line x1="{x(b):.1f}" y1="{pad}" x2="{x(b):.1f}" y2="{h-pad}" stroke="#555" stroke-dasharray="2,4"/>')
        out.append(f'<text x="{x(b)+4:.1f}" y="{pad+12}" fill="#555">stage {i + 2}</text>')
    out.append(f'<path d="{path(loss, y_loss)}" fill="none" stroke="#1f77b4" stroke-width="1.5"/>')
    if acc:
        out.append(f'<path d="{path(acc, y_acc)}" fill="none" stroke="#d62728" stroke-width="2"/>')
        out.append(f'<path d="{path(direct, y_acc)}" fill="none" stroke="#7f7f7f" stroke-width="1.5" stroke-dasharray="4,3"/>')
    if lookups:
        out.append(f'<path d="{path(lookups, y_acc)}" fill="none" stroke="#2ca02c" stroke-width="1.5"/>')
        out.append(f'<text x="{pad+500}" y="{pad-20}" fill="#2ca02c">lookups right (right)</text>')
    if computations:
        out.append(f'<path d="{path(computations, y_acc)}" fill="none" stroke="#9467bd" stroke-width="1.5"/>')
        out.append(f'<text x="{pad+500}" y="{pad-6}" fill="#9467bd">computations right (right)</text>')
    out.append(f'<text x="{pad+10}" y="{pad-20}" fill="#1f77b4">training loss (left axis)</text>')
    out.append(f'<text x="{pad+180}" y="{pad-20}" fill="#d62728">held-out accuracy, reasoned (right)</text>')
    out.append(f'<text x="{pad+420}" y="{pad-20}" fill="#7f7f7f">direct (right)</text>')
    out.append("</svg>")
    with open(sys.argv[-1], "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
