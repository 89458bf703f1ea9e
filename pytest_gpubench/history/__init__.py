"""The speedup history: saved runs across commits, their change points, and the reports.

``series`` turns a storage into series of points in first-parent order, ``changepoints``
finds steps in a series of numbers (pure functions), ``analysis`` joins them and names the
commits, ``report`` and ``page`` render the result. ``pytest-gpubench history`` runs it all.
"""
