"""Bisect: the first commit of a module's git history that turns the selected tests red.

history.py reads the user's repository (never changing it) and exports a revision into scratch;
search.py narrows the commits between a good and a bad end, skipping those that do not build;
judge.py turns a step's run into good, bad or skip; bisection.py drives it all on one warm VM and
record.py keeps what each step found, as bisect.json and bisect.txt.
"""
