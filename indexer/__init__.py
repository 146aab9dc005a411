"""tropesearch.indexer: trope pages in, passages and a published index out.

Data flows one way: formats (parsers) -> page model -> chunking -> embeddings -> storage.
"""
