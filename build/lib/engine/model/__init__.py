"""Typed data shared by every stage.

Errors, exact money, the input contract, the rule book, decision rules, results and the
trace. Imports nothing else of the engine.
"""
