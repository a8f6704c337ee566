"""networkx's maximal cliques are exactly what the post's recursive search returns."""
import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from kexue.gplinker.cliques import clique_search, events_of


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
