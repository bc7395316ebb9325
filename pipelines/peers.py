"""Peer Japanese sentiment analyzers (asari, oseti) on texts from stdin, one JSON label per line on stdout.

Runs inside its own virtualenv (`make peers` → data/peers-venv) because the peers pin old dependencies;
`pipelines.evaluate` calls it as a subprocess, so koe's environment never imports them.

    data/peers-venv/bin/python pipelines/peers.py asari < texts.jsonl
"""

from __future__ import annotations

import json
import sys


def asari_labels(texts: list[str]) -> list[str]:
    from asari.api import Sonar

    sonar = Sonar()
    return [sonar.ping(text=t or " ")["top_class"] for t in texts]


def oseti_labels(texts: list[str]) -> list[str]:
    import ipadic
    import oseti

    analyzer = oseti.Analyzer(mecab_args=ipadic.MECAB_ARGS)  # oseti's lexicon is keyed on IPADIC forms
    labels = []
    for text in texts:
        scores = analyzer.analyze(text) if text.strip() else []
        total = sum(scores)
        labels.append("positive" if total > 0 else "negative" if total < 0 else "neutral")
    return labels


def main() -> None:
    texts = [json.loads(line)["text"] for line in sys.stdin if line.strip()]
    labels = {"asari": asari_labels, "oseti": oseti_labels}[sys.argv[1]](texts)
    for label in labels:
        print(json.dumps(label))


if __name__ == "__main__":
    main()
