"""In-context learning: demonstration pools, embedders, selectors and orderings.

Import the submodules directly (``agentkit.icl.embed``); this package imports
nothing, so ``import agentkit`` stays fast.
"""
