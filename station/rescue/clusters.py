"""How long scattered bad clusters are, learned while trimming, to find their far edge cheaply.

Trimming finds a small failed block's bad cluster from both sides, one failed read each.  Once
a few clusters were trimmed to both edges, the far side of the next one is probed instead: a
read as far past its first bad sector as the longest cluster seen, forward from there; when it
reads, the cluster's far edge was found without a failed read (the few good sectors stepped
over are trimmed later, after the slow pass if there is one: per failed read, they are the
slowest data on the drive).  A probe that lands in the cluster costs the failed read it meant
to save, so probing stops once misses outnumber hits by two; a miss that teaches a longer
cluster is not counted (that is how the length is learned).
"""

from __future__ import annotations

LEARN_FROM = 2  # clusters trimmed to both edges before the first probe


class ClusterSpans:
    """The spans of scattered bad clusters (shorter than a cluster read), and how probes fared."""

    def __init__(self, cluster: int) -> None:
        self.cluster = cluster
        self.longest = 0
        self.learned = 0
        self.hits = 0
        self.misses = 0
        self._missed = False  # the last probe missed: the cluster it met is learned next

    def learn(self, span: int) -> None:
        """A bad cluster found from both sides spans `span` bytes (first to last bad sector)."""
        if 0 < span < self.cluster:
            if self._missed and span > self.longest:
                self.misses -= 1  # the miss taught a longer cluster
            self.longest = max(self.longest, span)
            self.learned += 1
        self._missed = False

    def probe_length(self) -> int | None:
        """How far past a cluster's first bad sector to probe, or None while guessing does not pay."""
        if self.learned < LEARN_FROM or self.misses > self.hits + 1:
            return None
        return self.longest

    def hit(self) -> None:
        self.hits += 1

    def miss(self) -> None:
        self.misses += 1
        self._missed = True
