"""Test domains: groups of test cases that run against a Machine."""
