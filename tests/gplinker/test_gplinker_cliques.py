"""The bitset Bron–Kerbosch returns exactly what the post's recursive search (and networkx) returns; its
step bound cuts an enumeration short without inventing cliques."""
import itertools

import networkx as nx

from hypothesis import given, settings
from hypothesis import strategies as st

from kexue.gplinker.cliques import clique_search, events_of, maximal_cliques


def _adj(edges):
    return lambda u, v: (u, v) in edges or (v, u) in edges


def test_the_posts_eight_node_example():
    # A..H: {A, B, C, D} and {D, E, F, G, H} complete, B and E (among others) not adjacent
    left, right = "ABCD", "DEFGH"
    edges = set(itertools.combinations(left, 2)) | set(itertools.combinations(right, 2))
    want = {frozenset(left), frozenset(right)}
    assert set(events_of("ABCDEFGH", _adj(edges))) == want
    assert set(clique_search(list("ABCDEFGH"), _adj(edges))) == want
    # order does not matter
    assert set(clique_search(list("HGFEDCBA"), _adj(edges))) == want


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 8).flatmap(lambda n: st.tuples(
    st.just(n), st.sets(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)).filter(lambda e: e[0] < e[1])))))
def test_maximal_cliques_equal_the_posts_recursion(graph):
    n, edges = graph
    ours = events_of(range(n), _adj(edges))
    post = clique_search(list(range(n)), _adj(edges))
    assert len(ours) == len(set(ours))
    assert set(ours) == set(post)
    graph = nx.Graph()
    graph.add_nodes_from(range(n))
    graph.add_edges_from(edges)
    assert set(ours) == {frozenset(c) for c in nx.find_cliques(graph)}


def test_the_step_bound_returns_a_prefix_of_the_cliques():
    # the complement of a perfect matching on 2k nodes has 2^k maximal cliques (one node of each pair)
    k = 8
    adj = [sum(1 << b for b in range(2 * k) if b != a and b != a ^ 1) for a in range(2 * k)]
    full = maximal_cliques(adj)
    assert full.complete and len(full.cliques) == 2 ** k
    part = maximal_cliques(adj, max_steps=full.steps // 2)
    assert not part.complete and part.steps == full.steps // 2
    assert 0 < len(part.cliques) < 2 ** k and part.cliques == full.cliques[:len(part.cliques)]
