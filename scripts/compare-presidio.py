#!/usr/bin/env python3
"""Scores Presidio's pattern recognizers on the PII harness's corpus, beside llmwatch.

A one-off comparison, not part of scripts/check: presidio-analyzer is large, and its NLP
engine needs a spaCy model that PyPI does not carry from its publisher (spaCy's models are
released on GitHub; the PyPI packages named en-core-web-* are third-party re-uploads, not
used here). Presidio therefore runs without an NLP engine: its pattern recognizers need
none. Produce the corpus and run it with:

    .venv-pii/bin/python -c 'import sys; sys.path.insert(0, "tests/python"); import pii_harness as h, json; \
        [print(json.dumps(i, ensure_ascii=False)) for i in h.corpus(13, 600)]' > /tmp/pii-corpus.jsonl
    python3 -m venv /tmp/presidio && /tmp/presidio/bin/pip install presidio-analyzer==2.2.366
    /tmp/presidio/bin/python scripts/compare-presidio.py /tmp/pii-corpus.jsonl

The rule is the harness's: a positive is found when a result of its entity overlaps the
value; a negative is kept when no result at all overlaps it. Types Presidio has no
recognizer for (llmwatch's vendor secrets) are reported as such. Score >= 0.4.
"""

import json
import sys
from collections import defaultdict

from presidio_analyzer.predefined_recognizers import (
    CreditCardRecognizer,
    EmailRecognizer,
    IbanRecognizer,
    IpRecognizer,
    PhoneRecognizer,
    UsSsnRecognizer,
)

ENTITY_OF = {
    "email": "EMAIL_ADDRESS",
    "phone": "PHONE_NUMBER",
    "card": "CREDIT_CARD",
    "ssn": "US_SSN",
    "ipv4": "IP_ADDRESS",
    "ipv6": "IP_ADDRESS",
    "iban": "IBAN_CODE",
}
RECOGNIZERS = [EmailRecognizer(), PhoneRecognizer(), CreditCardRecognizer(), UsSsnRecognizer(),
               IpRecognizer(), IbanRecognizer()]


def main(path):
    score = defaultdict(lambda: [0, 0])  # ok, n
    for line in open(path, encoding="utf-8"):
        item = json.loads(line)
        label, text, value = item["label"], item["text"], item["value"]
        start = text.index(value)
        end = start + len(value)
        results = []
        for r in RECOGNIZERS:
            results += [x for x in r.analyze(text, r.supported_entities, None) if x.score >= 0.4]
        overlapping = [x for x in results if x.start < end and start < x.end]
        if label == "negative":
            ok = not overlapping
        elif label in ENTITY_OF:
            ok = any(x.entity_type == ENTITY_OF[label] for x in overlapping)
        else:
            ok = False  # no recognizer: reported as such below
        row = score[label]
        row[1] += 1
        row[0] += ok
    print(f"{'type':<10} {'n':>6} {'presidio':>9}")
    for label in sorted(score):
        ok, n = score[label]
        known = label == "negative" or label in ENTITY_OF
        print(f"{label:<10} {n:>6} {f'{ok / n:.4f}' if known else 'no recognizer':>9}")


if __name__ == "__main__":
    main(sys.argv[1])
