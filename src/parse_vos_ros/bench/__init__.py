"""Performance benchmarks (issue 8) and the soak run (issue 9).

The code lives in the installed package so ``parse-vos bench`` works from any checkout;
``benchmarks/*.py`` are thin runnable entry points. Nothing here is a timed unit test: every
figure goes to JSON, with a pass/fail per target (see ``targets``).
"""
