"""Splitting the arguments of one event type into events: the maximal cliques of the link graph.

kexue.fm/archives/8926, "搜索算法". Arguments are nodes; two are adjacent iff the model links them.
An event is a complete subgraph, and an argument may belong to several events. The post's recursion:
(1) if every pair of nodes is adjacent, the node set is one event; (2) otherwise, for every
non-adjacent pair (u, v), recurse on N[u] and on N[v] (each node with its neighbours), and
deduplicate. `clique_search` is that recursion, kept as the reference; `maximal_cliques` is
Bron–Kerbosch with Tomita's pivot on bitsets, which returns the same sets: a maximal clique C of
S ≠ C misses some x, x is non-adjacent to some c ∈ C, so C ⊆ N[c] and the recursion on N[c] finds it;
and every clique the recursion returns contains its host u, so a node adjacent to all of it lies in
N[u]: it is maximal in S too. tests/gplinker/test_gplinker_cliques.py checks this on random graphs
(and against networkx's find_cliques).

Where we depart: bojone's `neighbors` can list a node twice when two arguments share one span (the
diagonal head/tail link of a span with itself); graph nodes are unique, so we never do. And the
search counts its steps (one per call of the recursion) and stops after `max_steps`, returning the
cliques found so far: an ordinary graph needs a few hundred steps, a near-random dense one (an
untrained model's) exponentially many (GPLinker_pytorch #3), and a bounded answer is the only one
there is time for; it also stops once `max_cliques` are found (the decoder's cap on events, caps.py). `BoundedCliques.complete` says whether the search ran to the end.
"""
from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass

Node = Hashable


@dataclass
class BoundedCliques:
    cliques: list[int]  # bitsets of node indices, in the search's (deterministic) order
    steps: int  # calls of the recursion made
    complete: bool  # False when the search stopped at max_steps


def maximal_cliques(adj: Sequence[int], max_steps: int | None = None,
                    max_cliques: int | None = None) -> BoundedCliques:
    """Every maximal clique of the graph whose node a has the neighbour bitset adj[a] (no self loops),
    by Bron–Kerbosch with pivoting, stopping after `max_steps` calls or `max_cliques` cliques (None: never)."""
    n = len(adj)
    out: list[int] = []
    steps = 0
    # (R, P, X): the clique so far, the nodes that may extend it, the nodes that would make it non-maximal
    stack = [(0, (1 << n) - 1, 0)]
    while stack:
        if (max_steps is not None and steps >= max_steps) or (max_cliques is not None and len(out) >= max_cliques):
            return BoundedCliques(out, steps, False)
        r, p, x = stack.pop()
        steps += 1
        if not p:
            if not x:
                out.append(r)
            continue
        # the pivot u ∈ P ∪ X with the most neighbours in P: only P \ N(u) need be tried
        u = max(members(p | x), key=lambda w: (p & adj[w]).bit_count())
        children = []
        for v in members(p & ~adj[u]):
            bit = 1 << v
            # BK(R ∪ {v}, P ∩ N(v), X ∩ N(v)); then P ← P \ {v}, X ← X ∪ {v}
            children.append((r | bit, p & adj[v], x & adj[v]))
            p, x = p & ~bit, x | bit
        stack.extend(reversed(children))  # depth first, in node order
    return BoundedCliques(out, steps, True)


def events_of(nodes: Iterable[Node], adjacent: Callable[[Node, Node], bool],
              max_steps: int | None = None) -> list[frozenset]:
    """The maximal cliques of the graph on `nodes` (an isolated node is a clique of one), sorted."""
    nodes = list(dict.fromkeys(nodes))
    adj = [sum(1 << b for b, v in enumerate(nodes) if b != a and adjacent(u, v)) for a, u in enumerate(nodes)]
    found = maximal_cliques(adj, max_steps).cliques
    return sorted((frozenset(nodes[b] for b in members(c)) for c in found), key=lambda c: sorted(map(repr, c)))


def members(s: int) -> list[int]:
    """The indices of the set bits of s, ascending."""
    out = []
    while s:
        low = s & -s
        out.append(low.bit_length() - 1)
        s ^= low
    return out


def clique_search(nodes: list[Node], adjacent: Callable[[Node, Node], bool]) -> list[frozenset]:
    """The post's recursive search, as written in the post (reference for the tests; exponential)."""
    nodes = list(dict.fromkeys(nodes))
    found: list[frozenset] = []
    for a, u in enumerate(nodes):
        for v in nodes[a + 1:]:
            if not adjacent(u, v):
                # N[u] and N[v] within the current nodes
                for host in (u, v):
                    hood = frozenset([host] + [w for w in nodes if w != host and adjacent(host, w)])
                    if hood not in found:
                        found.append(hood)
    if not found:
        return [frozenset(nodes)]
    out: list[frozenset] = []
    for hood in found:
        for clique in clique_search(sorted(hood, key=repr), adjacent):
            if clique not in out:
                out.append(clique)
    return out
