"""Characteristic terms of a segment against the rest (or another segment), and their co-occurrence pairs.

Method: the log-odds ratio with an informative Dirichlet prior (Monroe, Colaresi & Quinn 2008, "Fightin'
Words"), divided by its standard error, on document frequencies. The prior is the pooled frequency of both
sides scaled to PRIOR_STRENGTH pseudo-documents, which keeps rare terms from topping the list by chance."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from itertools import combinations

from sqlalchemy.orm import Session

from app.db.repositories import analytics as repo
from app.db.repositories.filters import FeedbackFilter
from app.schemas.analytics import KeywordsPublic, Term, TermPair

SAMPLE_LIMIT = 3_000  # newest documents read per side: bounds latency on any table size
PRIOR_STRENGTH = 500.0
MIN_COUNT = 3
METHOD = (
    "log-odds ratio, informative Dirichlet prior (Monroe et al. 2008), document frequency, "
    f"newest ≤ {SAMPLE_LIMIT:,} docs"
)


def characteristic_terms(
    *,
    session: Session,
    tenant_id: str,
    segment: FeedbackFilter,
    against: FeedbackFilter | None = None,
    stopwords: frozenset[str] = frozenset(),
    limit: int = 30,
    pairs: int = 40,
) -> KeywordsPublic:
    """`against=None` compares the segment with the rest of the tenant in the same period."""
    docs = _documents(repo.recent_terms(session, tenant_id=tenant_id, f=segment, limit=SAMPLE_LIMIT), stopwords)
    rest_rows = (
        repo.recent_terms(session, tenant_id=tenant_id, f=segment, limit=SAMPLE_LIMIT, complement=True)
        if against is None
        else repo.recent_terms(session, tenant_id=tenant_id, f=against, limit=SAMPLE_LIMIT)
    )
    rest = _documents(rest_rows, stopwords)
    terms = score_terms(docs, rest)[:limit]
    return KeywordsPublic(
        documents=len(docs),
        rest_documents=len(rest),
        method=METHOD,
        terms=terms,
        pairs=co_occurrences(docs, [t.term for t in terms], pairs),
    )


def _documents(rows: Sequence[list[str]], stopwords: frozenset[str]) -> list[set[str]]:
    return [{t for t in terms if t not in stopwords} for terms in rows]


def score_terms(docs: Sequence[set[str]], rest: Sequence[set[str]]) -> list[Term]:
    """Terms over-represented in `docs`, best first (z > 0 only)."""
    count, rest_count = Counter(t for d in docs for t in d), Counter(t for d in rest for t in d)
    n, m = len(docs), len(rest)
    if n == 0:
        return []
    pooled_total = n + m
    out = []
    for term, y in count.items():
        if y < MIN_COUNT:
            continue
        z_rest = rest_count.get(term, 0)
        alpha = PRIOR_STRENGTH * (y + z_rest) / pooled_total
        # Each document either uses the term or not: a binomial per side, smoothed by the prior.
        log_odds = math.log((y + alpha) / (n - y + PRIOR_STRENGTH - alpha)) - math.log(
            (z_rest + alpha) / (m - z_rest + PRIOR_STRENGTH - alpha)
        )
        z = log_odds / math.sqrt(1 / (y + alpha) + 1 / (z_rest + alpha))
        if z > 0:
            out.append(
                Term(
                    term=term,
                    count=y,
                    rest_count=z_rest,
                    share=round(y / n, 4),
                    rest_share=round(z_rest / m, 4) if m else 0.0,
                    z=round(z, 3),
                )
            )
    return sorted(out, key=lambda t: (-t.z, t.term))


def co_occurrences(docs: Sequence[set[str]], terms: Sequence[str], limit: int) -> list[TermPair]:
    """Pairs of the given terms used in the same document, for a network view; ranked by count."""
    wanted = set(terms)
    together: Counter[tuple[str, str]] = Counter()
    alone: Counter[str] = Counter()
    for doc in docs:
        present = sorted(doc & wanted)
        alone.update(present)
        together.update(combinations(present, 2))
    pairs = [
        TermPair(a=a, b=b, count=c, jaccard=round(c / (alone[a] + alone[b] - c), 4))
        for (a, b), c in together.items()
        if c >= MIN_COUNT
    ]
    return sorted(pairs, key=lambda p: (-p.count, -p.jaccard, p.a, p.b))[:limit]
