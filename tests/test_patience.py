"""benchmarks.patience's rules, on hand-made rows: the default patience they pick."""

from benchmarks import patience


def _rows(model, table):
    """Rows of goa_ls results: table[(N, p)] = list of (no_worse, gap_pct)."""
    return [{"interference": model, "n_users": n, "patience": p, "method": "goa_ls",
             "no_worse": ok, "gap_pct": gap}
            for (n, p), results in table.items() for ok, gap in results]


def test_full_rule_picks_the_smallest_c():
    """p*(N) is the smallest patience reaching the share at N, and c the smallest multiple of
    10 with max(3, ceil(c / N)) >= p*(N) everywhere: here p*(50) = 5 needs c = 210."""
    table = {(50, 3): [(True, 0), (False, 0)], (50, 5): [(True, 0), (True, 0)],
             (120, 3): [(True, 0), (True, 0)], (120, 5): [(True, 0), (True, 0)]}
    need, c = patience.full_rule(_rows("full", table), 90.0)
    assert need == {50: 5, 120: 3} and c == 210
    # a size that no patience of the grid serves gives no default
    table[(120, 3)] = table[(120, 5)] = [(False, 0), (True, 0)]
    assert patience.full_rule(_rows("full", table), 90.0)[1] is None


def test_none_rule_needs_the_goal_at_every_n():
    """The smallest patience whose mean gap meets the goal at every N (not on average)."""
    table = {(10, 10): [(True, 0.0)], (60, 10): [(False, 0.08)],
             (10, 30): [(True, 0.0)], (60, 30): [(False, 0.04)]}
    assert patience.none_rule(_rows("none", table), 0.05) == 30
    assert patience.none_rule(_rows("none", table), 0.01) is None
