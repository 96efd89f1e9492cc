"""Evaluation harness: data set loaders (``loaders``) and metrics (``metrics``).

Import the submodules directly; this package imports nothing so ``import agentkit`` stays fast.
"""
