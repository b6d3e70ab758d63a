#!/usr/bin/env python3
"""Writes the sticky-assignment golden file for ExperimentTest, independently of the Java code.

A user's position in an experiment is the first 8 bytes of SHA-256(experiment name + "\\n" + user)
read as a big-endian unsigned integer, shifted right by 11 (53 bits) and divided by 2^53. With
variants base (weight 90) and tuned (weight 10), in that order, positions below 0.9 go to base.
The Java code must give every user here the same position and variant: assignment then stays the
same across processes, restarts and implementations.

Run from the repository root:  python3 src/test/python/make_assignment_golden.py
"""
import hashlib
import json
import os

OUT = "src/test/resources/experiments/assignment-golden.json"
EXPERIMENT = "support-ab"


def position(experiment, user):
    digest = hashlib.sha256((experiment + "\n" + user).encode("utf-8")).digest()
    return (int.from_bytes(digest[:8], "big") >> 11) / 2.0 ** 53


def main():
    users = ["alice", "bob", "carol", "user-0001", "user-0002", "user-0042", "Zoë", "用户", " ", "a\nb",
             "user@example.com"] + ["u%d" % i for i in range(40)]
    rows = []
    for user in users:
        p = position(EXPERIMENT, user)
        rows.append({"user": user, "position": p, "variant": "base" if p < 0.9 else "tuned"})
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump({"experiment": EXPERIMENT, "weights": {"base": 90, "tuned": 10}, "users": rows}, f,
                  indent=1, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
