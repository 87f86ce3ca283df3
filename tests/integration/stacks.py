#!/usr/bin/env python3
"""Reads folded stacks ("root;...;leaf COUNT" lines) and answers questions
about them for the integration tests:

  stacks.py FILE share FUNC [UNDER]   percent of samples whose stack holds FUNC
                                      (below UNDER, when given)
  stacks.py FILE reach ROOT...        percent of samples whose stack holds one of ROOTs
  stacks.py FILE path A B C           percent of samples whose stack holds the
                                      frames A, B, C in that order (gaps allowed)
  stacks.py FILE rooted [FUNC]        percent of samples (holding FUNC, when given)
                                      whose stack starts at a real frame, not at
                                      [truncated]/[unknown]
  stacks.py FILE gap A B              percent of samples whose stack holds A, later B,
                                      and at least one frame between them
  stacks.py FILE self-top N           the N functions with most self samples, with %
  stacks.py FILE total                the number of samples
"""
import sys


def load(path):
    stacks = []
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            stack, _, count = line.rpartition(" ")
            stacks.append((stack.split(";"), int(count)))
    return stacks


def pct(part, whole):
    return 100.0 * part / whole if whole else 0.0


def holds_in_order(frames, wanted):
    i = 0
    for f in frames:
        if i < len(wanted) and f == wanted[i]:
            i += 1
    return i == len(wanted)


def main():
    stacks = load(sys.argv[1])
    what = sys.argv[2]
    args = sys.argv[3:]
    total = sum(c for _, c in stacks)
    if what == "total":
        print(total)
    elif what == "share":
        func = args[0]
        under = args[1] if len(args) > 1 else None
        n = sum(c for s, c in stacks
                if func in s and (under is None or holds_in_order(s, [under, func])))
        print("%.2f" % pct(n, total))
    elif what == "reach":
        n = sum(c for s, c in stacks if any(r in s for r in args))
        print("%.2f" % pct(n, total))
    elif what == "path":
        n = sum(c for s, c in stacks if holds_in_order(s, args))
        print("%.2f" % pct(n, total))
    elif what == "rooted":
        markers = ("[truncated]", "[unknown]")
        n = sum(c for s, c in stacks
                if (not args or args[0] in s) and s[0] not in markers)
        print("%.2f" % pct(n, total))
    elif what == "gap":
        def gap(s):
            if args[0] not in s:
                return False
            i = s.index(args[0])
            return args[1] in s[i + 2:]
        n = sum(c for s, c in stacks if gap(s))
        print("%.2f" % pct(n, total))
    elif what == "self-top":
        self = {}
        for s, c in stacks:
            self[s[-1]] = self.get(s[-1], 0) + c
        for name, c in sorted(self.items(), key=lambda kv: -kv[1])[:int(args[0])]:
            print("%.2f %s" % (pct(c, total), name))
    else:
        sys.exit("unknown question " + what)


main()
