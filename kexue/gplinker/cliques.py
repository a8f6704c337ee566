"""Splitting the arguments of one event type into events: the maximal cliques of the link graph.

kexue.fm/archives/8926, "搜索算法". Arguments are nodes; two are adjacent iff the model links them.
An event is a complete subgraph, and an argument may belong to several events. The post's recursion:
(1) if every pair of nodes is adjacent, the node set is one event; (2) otherwise, for every
non-adjacent pair (u, v), recurse on N[u] and on N[v] (each node with its neighbours), and
deduplicate. `clique_search` is that recursion, kept as the reference; `events_of` uses networkx's
maximal-clique search (Bron–Kerbosch with pivoting), which returns the same sets: a maximal clique C
of S ≠ C misses some x, x is non-adjacent to some c ∈ C, so C ⊆ N[c] and the recursion on N[c] finds
it; and every clique the recursion returns contains its host u, so a node adjacent to all of it lies
in N[u]: it is maximal in S too. tests/gplinker/test_cliques.py checks this on random graphs.

Where we depart: bojone's `neighbors` can list a node twice when two arguments share one span (the
diagonal head/tail link of a span with itself); graph nodes are unique, so we never do.
"""
from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable

import networkx as nx

Node = Hashable


def events_of(nodes: Iterable[Node], adjacent: Callable[[Node, Node], bool]) -> list[frozenset]:
    """The maximal cliques of the graph on `nodes` (an isolated node is a clique of one), sorted."""
    nodes = list(dict.fromkeys(nodes))
    graph = nx.Graph()
    graph.add_nodes_from(nodes)
    graph.add_edges_from((u, v) for a, u in enumerate(nodes) for v in nodes[a + 1:] if adjacent(u, v))
    return sorted((frozenset(c) for c in nx.find_cliques(graph)), key=lambda c: sorted(map(repr, c)))


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
